from functools import partial

import numpy as np
import pytest

from skysense import bistatic as bs

SC = bs.Scenario(n_tx=5, n_rx=7, n_subcarriers=17, n_symbols=5)
GRID = bs.Grid.uniform(SC, angle_step_rad=np.deg2rad(3.0))

GRID_METHODS = {
    "bartlett": partial(bs.bartlett, scenario=SC, grid=GRID),
    "music": partial(bs.music, scenario=SC, grid=GRID),
    "dml": partial(bs.dml, scenario=SC, grid=GRID),
}


@pytest.fixture(params=sorted(GRID_METHODS))
def method(request):
    return GRID_METHODS[request.param]


def _on_grid(idx):
    ia, ip, idl = np.asarray(idx).T
    gain = np.array([1.0, 0.8j, -0.6, 0.7 + 0.2j])[: len(ia)]
    return bs.Paths(GRID.aoa_rad[ia], GRID.aod_rad[ip], GRID.toa_s[idl], gain).sorted()


def test_single_path_on_grid_exact(method):
    p = _on_grid([(40, 20, 7)])
    est = method(SC.channel(p), 1)
    np.testing.assert_array_equal(est.aoa_rad, p.aoa_rad)
    np.testing.assert_array_equal(est.aod_rad, p.aod_rad)
    np.testing.assert_array_equal(est.toa_s, p.toa_s)
    np.testing.assert_allclose(est.gain, p.gain, atol=1e-12)


@pytest.mark.parametrize("name", ["music", "dml"])
def test_three_paths_on_grid_exact(name):
    """(Bartlett's sidelobes can hide the weakest path on this small array.)"""
    p = _on_grid([(40, 20, 2), (12, 50, 9), (55, 33, 16)])
    est = GRID_METHODS[name](SC.channel(p), 3)
    np.testing.assert_allclose(est.aoa_rad, p.aoa_rad, atol=1e-12)
    np.testing.assert_allclose(est.aod_rad, p.aod_rad, atol=1e-12)
    np.testing.assert_allclose(est.toa_s, p.toa_s, atol=1e-18)
    np.testing.assert_allclose(est.gain, p.gain, atol=1e-9)


def test_off_grid_within_half_a_step(method, rng):
    aoa, aod = np.deg2rad(rng.uniform(-60, 60, 2))
    tau = rng.uniform(0.2, 0.8) * SC.cyclic_prefix_s
    p = bs.Paths([aoa], [aod], [tau], [1.0])
    est = method(SC.channel(p), 1)
    step = GRID.aoa_rad[1] - GRID.aoa_rad[0]
    assert abs(est.aoa_rad[0] - aoa) <= step / 2 + 1e-12
    assert abs(est.aod_rad[0] - aod) <= step / 2 + 1e-12
    assert abs(est.toa_s[0] - tau) <= (GRID.toa_s[1] - GRID.toa_s[0]) / 2 + 1e-18


def test_batch_shape(method, rng):
    p = _on_grid([(40, 20, 2), (12, 50, 9)])
    csi = np.stack(
        [bs.simulate(SC, p, 30.0, rng=s, pilots="orthogonal").csi[0] for s in range(4)]
    ).reshape(2, 2, *SC.csi_shape)
    est = method(csi, 2)
    assert est.toa_s.shape == (2, 2, 2) and est.n_paths.shape == (2, 2)
    assert est.gain.dtype == np.complex128


def test_spectra_peak_at_the_path():
    p = _on_grid([(40, 20, 7)])
    h = SC.channel(p)
    for spec in (
        bs.bartlett_spectrum(h, scenario=SC, grid=GRID),
        bs.music_spectrum(h, 1, scenario=SC, grid=GRID),
    ):
        assert spec.shape == GRID.shape
        assert np.unravel_index(np.argmax(spec), spec.shape) == (40, 20, 7)
    assert bs.bartlett_spectrum(h, scenario=SC, grid=GRID).max() == pytest.approx(h.size)


def test_root_music_2d_noise_free_off_grid(rng):
    aoa = np.deg2rad([-41.3, 7.7, 52.9])
    p = bs.Paths(aoa, np.deg2rad([12.1, -33.4, 60.5]), [20e-9, 90e-9, 170e-9], [1, 0.7j, -0.5])
    est = bs.root_music_2d(SC.channel(p), 3, scenario=SC)
    np.testing.assert_allclose(est.aoa_rad, aoa, atol=1e-6)
    np.testing.assert_allclose(est.aod_rad, p.aod_rad, atol=1e-6)
    assert est.toa_s is None and est.gain is None  # not estimated: absent, not NaN


def test_root_music_2d_noisy_batch(rng):
    p = bs.Paths(np.deg2rad([-20.0, 30.0]), np.deg2rad([10.0, -25.0]), [20e-9, 150e-9], [1, 1j])
    csi = np.stack([bs.simulate(SC, p, 25.0, rng=s, pilots="orthogonal").csi[0] for s in range(3)])
    est = bs.root_music_2d(csi, 2, scenario=SC)
    assert est.aoa_rad.shape == (3, 2)
    np.testing.assert_allclose(
        est.aoa_rad, np.broadcast_to(p.aoa_rad, (3, 2)), atol=np.deg2rad(0.3)
    )
    np.testing.assert_allclose(
        est.aod_rad, np.broadcast_to(p.aod_rad, (3, 2)), atol=np.deg2rad(0.3)
    )


@pytest.mark.parametrize("name", sorted(GRID_METHODS))
def test_grid_methods_float32_path(name, rng):
    """complex64 CSI runs in complex64 and returns float32/complex64; at 25 dB it picks the
    same voxels as complex128 and the gains agree to float32 LS accuracy."""
    p = bs.Paths(np.deg2rad([-20.0, 30.0]), np.deg2rad([10.0, -25.0]), [20e-9, 150e-9], [1, 1j])
    csi = np.stack(
        [bs.simulate(SC, p, 25.0, rng=rng, pilots="orthogonal").csi[0] for _ in range(2)]
    )
    e64 = GRID_METHODS[name](csi, 2)
    e32 = GRID_METHODS[name](csi.astype(np.complex64), 2)
    for key in ("toa_s", "aoa_rad", "aod_rad"):
        assert getattr(e32, key).dtype == np.float32
        np.testing.assert_array_equal(getattr(e32, key), getattr(e64, key).astype(np.float32))
    assert e32.gain.dtype == np.complex64
    np.testing.assert_allclose(e32.gain, e64.gain, rtol=1e-4, atol=1e-4)


def test_root_music_2d_float32_path(rng):
    p = bs.Paths(np.deg2rad([-20.0, 30.0]), np.deg2rad([10.0, -25.0]), [20e-9, 150e-9], [1, 1j])
    csi = np.stack(
        [bs.simulate(SC, p, 25.0, rng=rng, pilots="orthogonal").csi[0] for _ in range(2)]
    )
    e64 = bs.root_music_2d(csi, 2, scenario=SC)
    e32 = bs.root_music_2d(csi.astype(np.complex64), 2, scenario=SC)
    assert e32.aoa_rad.dtype == e32.aod_rad.dtype == np.float32 and e32.gain is None
    # float32 covariance and eigenvectors: angle error ~ 1e-4 rad beside the float64 path
    np.testing.assert_allclose(e32.aoa_rad, e64.aoa_rad, atol=2e-4)
    np.testing.assert_allclose(e32.aod_rad, e64.aod_rad, atol=2e-4)


def test_grid_validation():
    g = bs.Grid.uniform(bs.Scenario())
    assert g.shape == (181, 181, 65)
    with pytest.raises(ValueError, match="non-empty"):
        bs.Grid([], [0.0], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        bs.Grid([np.nan], [0.0], [0.0])


@pytest.mark.parametrize(
    ("fn", "q", "match"),
    [
        (partial(bs.bartlett, scenario=SC, grid="1deg"), 1, "Grid"),
        (partial(bs.music, scenario=SC, grid=GRID), 10_000, "n_paths must be <="),
        (partial(bs.dml, scenario=SC, grid=GRID), 0, "n_paths"),
        (partial(bs.root_music_2d, scenario=SC), 7, "n_rx - 1"),
        (partial(bs.music, subarrays=(9, 3, 4), scenario=SC, grid=GRID), 1, "do not fit"),
    ],
)
def test_bad_arguments(rng, fn, q, match):
    csi = rng.standard_normal(SC.csi_shape) + 1j * rng.standard_normal(SC.csi_shape)
    with pytest.raises((ValueError, TypeError), match=match):
        fn(csi, q)


def test_bad_csi(method):
    with pytest.raises(ValueError, match="all zero"):
        method(np.zeros(SC.csi_shape, complex), 1)
    with pytest.raises(ValueError, match="n_tx, n_rx, n_subcarriers"):
        method(np.ones((5, 7, 16), complex), 1)
