import numpy as np
import pytest

from skysense.bistatic import Paths, Scenario
from skysense.bistatic.ifft_windows import (
    delay_taps,
    find_peak_rows,
    ls_gains,
    normalize_windows,
    peak_windows,
)

SMALL = Scenario(n_tx=3, n_rx=4, n_subcarriers=17)


def _paths(delay_taps_, scenario=SMALL, rng=None):
    q = len(delay_taps_)
    rng = np.random.default_rng(0) if rng is None else rng
    return Paths(
        rng.uniform(-1.2, 1.2, q),
        rng.uniform(-1.2, 1.2, q),
        np.asarray(delay_taps_, float) * scenario.toa_resolution_s,
        np.exp(2j * np.pi * rng.uniform(size=q)),
    )


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_delay_taps_is_unitary_idft(rng, dtype):
    csi = (
        rng.standard_normal((2, *SMALL.csi_shape)) + 1j * rng.standard_normal((2, *SMALL.csi_shape))
    ).astype(dtype)
    n = SMALL.n_subcarriers
    f = np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n) / np.sqrt(n)  # [F]_{n,k}
    expected = np.einsum("nk,btrn->btrk", f.conj(), csi.astype(np.complex128))
    taps = delay_taps(csi, scenario=SMALL)
    assert taps.dtype == dtype
    np.testing.assert_allclose(taps, expected, atol=1e-5 if dtype == np.complex64 else 1e-12)


def test_integer_delay_is_a_single_tap():
    """Eq. (19): an on-grid delay m gives sqrt(N) gamma a_t (x) a_r on tap m only."""
    paths = _paths([5.0])
    taps = delay_taps(SMALL.channel(paths), scenario=SMALL)
    power = np.sum(np.abs(taps) ** 2, axis=(0, 1))
    assert np.argmax(power) == 5
    np.testing.assert_allclose(np.delete(power, 5), 0, atol=1e-20)
    expected = (
        np.sqrt(17)
        * paths.gain[0]
        * np.outer(SMALL.steering_tx(paths.aod_rad)[:, 0], SMALL.steering_rx(paths.aoa_rad)[:, 0])
    )
    np.testing.assert_allclose(taps[..., 5], expected, atol=1e-12)


def test_peak_rows_fractional_and_wrapped():
    paths = _paths([0.0, 4.3, 9.6])
    taps = delay_taps(SMALL.channel(paths), scenario=SMALL)
    np.testing.assert_array_equal(find_peak_rows(taps, 3), [0, 4, 10])
    # A batch: rows come back per CSI, ascending.
    b = np.stack([taps, np.roll(taps, 3, axis=-1)])
    np.testing.assert_array_equal(find_peak_rows(b, 3), [[0, 4, 10], [3, 7, 13]])


def test_peak_rows_too_few_peaks():
    taps = delay_taps(SMALL.channel(_paths([4.0])), scenario=SMALL)
    with pytest.raises(ValueError, match="found 1 delay peaks but n_paths = 2"):
        find_peak_rows(taps, 2)
    flat = np.ones((*SMALL.csi_shape,), complex)  # constant profile: no strict local maximum
    with pytest.raises(ValueError, match="found 0 delay peaks"):
        find_peak_rows(flat, 1)
    with pytest.raises(ValueError, match="NaN"):
        find_peak_rows(np.full(SMALL.csi_shape, np.nan + 0j), 1)


def test_peak_windows_circular_rows(rng):
    taps = rng.standard_normal((2, *SMALL.csi_shape)) + 1j * rng.standard_normal(
        (2, *SMALL.csi_shape)
    )
    rows = np.array([[0, 8], [16, 3]])
    win = peak_windows(taps, rows, 3)
    assert win.shape == (2, 2, 3, 3, 4)
    for b in range(2):
        for i in range(2):
            for w in range(3):
                k = (rows[b, i] - 1 + w) % 17
                np.testing.assert_array_equal(win[b, i, w], taps[b, :, :, k])
    with pytest.raises(ValueError, match="odd"):
        peak_windows(taps, rows, 4)
    with pytest.raises(ValueError, match="rows must be integers"):
        peak_windows(taps, rows[:1], 3)


def test_normalize_windows_removes_gain(rng):
    win = rng.standard_normal((5, 3, 3, 4)) + 1j * rng.standard_normal((5, 3, 3, 4))
    g = 3.7 * np.exp(1.1j)
    a, b = normalize_windows(win), normalize_windows(g * win)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(np.mean(np.abs(a) ** 2, axis=(1, 2, 3)), 1.0)
    np.testing.assert_allclose(np.angle(a[:, 1, 0, 0]), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="zero"):
        normalize_windows(np.zeros((1, 3, 3, 4), complex))


def test_ls_gains_exact_on_noise_free_csi(rng):
    paths = _paths([0.0, 4.3, 9.6], rng=rng)
    csi = SMALL.channel(paths)
    g = ls_gains(csi, paths.toa_s, paths.aoa_rad, paths.aod_rad, scenario=SMALL)
    np.testing.assert_allclose(g, paths.gain, atol=1e-10)
    batch = np.stack([csi, 2 * csi])
    rep = [np.stack([v, v]) for v in (paths.toa_s, paths.aoa_rad, paths.aod_rad)]
    np.testing.assert_allclose(
        ls_gains(batch, *rep, scenario=SMALL), [paths.gain, 2 * paths.gain], atol=1e-10
    )


def test_ls_gains_bad_input():
    paths = _paths([1.0, 4.0])
    csi = SMALL.channel(paths)
    same = np.full(2, 0.3)
    with pytest.raises(ValueError, match="linearly dependent"):
        ls_gains(csi, np.zeros(2), same, same, scenario=SMALL)
    with pytest.raises(ValueError, match="aoa_rad must have shape"):
        ls_gains(csi, np.zeros(3), np.zeros(2), np.zeros(2), scenario=SMALL)
    with pytest.raises(ValueError, match="aoa_rad contains NaN"):
        ls_gains(csi, paths.toa_s, [np.nan, 0.1], paths.aod_rad, scenario=SMALL)
    with pytest.raises(ValueError, match="csi must end in"):
        ls_gains(csi[:, :, :5], paths.toa_s, paths.aoa_rad, paths.aod_rad, scenario=SMALL)
