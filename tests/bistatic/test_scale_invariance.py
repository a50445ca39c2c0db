"""Scale invariance (hypothesis): every bistatic estimator gives the same ToAs and angles for
``c * csi``, c from 1e-300 to 1e300, and gains scaled by c; simulate and crb follow the gain
scale exactly; where a result genuinely leaves float64, the error names the parameter.

On the main of issue 18: PARAMING (method="svd") returned NaN at 1e300, Root-MUSIC-2D NaN at
1e-300, MUSIC every angle pi/2 at 1e-300, DML at both ends, and simulate all-NaN CSI for a gain
of 1e300."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skysense import bistatic as bs

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SC = bs.Scenario(n_tx=4, n_rx=5, n_subcarriers=16)
GRID = bs.Grid.uniform(SC, angle_step_rad=np.deg2rad(6.0))
ESTIMATORS = {
    "paraming": lambda h: bs.paraming(h, 2, scenario=SC),
    "paraming svd": lambda h: bs.paraming(h, 2, scenario=SC, method="svd", refine=False),
    "paraming gram": lambda h: bs.paraming(h, 2, scenario=SC, method="gram"),
    "paraming glrt": lambda h: bs.paraming(h, "glrt", scenario=SC, max_paths=3),
    "music": lambda h: bs.music(h, 2, scenario=SC, grid=GRID),
    "dml": lambda h: bs.dml(h, 2, scenario=SC, grid=GRID),
    "bartlett": lambda h: bs.bartlett(h, 2, scenario=SC, grid=GRID),
    "root_music_2d": lambda h: bs.root_music_2d(h, 2, scenario=SC),
}


def _csi(seed):
    """A noisy two-path CSI scaled to max |h| = 1."""
    rng = np.random.default_rng(seed)
    p = bs.Paths(
        rng.uniform(-0.8, 0.8, 2),
        rng.uniform(-0.8, 0.8, 2),
        [0.0, rng.uniform(2, 10) * SC.toa_resolution_s],
        [1.0, 0.8 * np.exp(2j * np.pi * rng.uniform())],
    )
    h = bs.simulate(SC, p, 20.0, rng=rng, pilots="orthogonal").csi[0]
    return h / np.abs(h).max()


@SETTINGS
@given(log10_scale=st.floats(-300.0, 300.0), seed=st.integers(0, 2**16))
@example(log10_scale=-300.0, seed=1)
@example(log10_scale=300.0, seed=1)
@example(log10_scale=float(np.log10(np.finfo(float).max / 1.5)), seed=2)
def test_every_estimator_is_scale_invariant(log10_scale, seed):
    h = _csi(seed)
    c = 10.0**log10_scale
    for name, estimate in ESTIMATORS.items():
        ref, got = estimate(h), estimate(h * c)
        for field in ("toa_s", "aoa_rad", "aod_rad"):
            a, b = getattr(ref, field), getattr(got, field)
            if a is None:
                assert b is None
                continue
            assert np.all(np.isfinite(b[..., : int(ref.n_paths)])), (name, field, b)
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-9, err_msg=f"{name} {field}")
        if ref.gain is not None:
            np.testing.assert_allclose(got.gain / c, ref.gain, rtol=1e-8, err_msg=name)
        np.testing.assert_array_equal(got.n_paths, ref.n_paths)


@SETTINGS
@given(log10_scale=st.floats(-300.0, 300.0), seed=st.integers(0, 2**16))
def test_spectra_are_scale_invariant(log10_scale, seed):
    """MUSIC's pseudo-spectrum does not depend on the scale; Bartlett's scales with c^2 and
    raises (naming csi) where that leaves float64."""
    h = _csi(seed)
    c = 10.0**log10_scale
    np.testing.assert_allclose(
        bs.music_spectrum(h * c, 2, scenario=SC, grid=GRID),
        bs.music_spectrum(h, 2, scenario=SC, grid=GRID),
        rtol=1e-8,
    )
    ref = bs.bartlett_spectrum(h, scenario=SC, grid=GRID)
    if abs(log10_scale) < 150:
        got = bs.bartlett_spectrum(h * c, scenario=SC, grid=GRID)
        np.testing.assert_allclose(got / c**2, ref, rtol=1e-9)
    elif log10_scale > 160:
        with pytest.raises(ValueError, match="csi: the Bartlett spectrum"):
            bs.bartlett_spectrum(h * c, scenario=SC, grid=GRID)


@SETTINGS
@given(exponent=st.integers(-450, 450), seed=st.integers(0, 2**16))
def test_simulate_and_crb_follow_the_gain_scale(exponent, seed):
    """Gains times 2^k: the same CSI times 2^k (bit for bit, same draws), sigma^2 times 4^k,
    the same angle and ToA bounds, gain_var times 4^k."""
    p = bs.Paths([0.2, -0.5], [0.3, 0.1], [0.0, 5e-8], [1.0, 0.5j])
    big = bs.Paths(
        p.aoa_rad,
        p.aod_rad,
        p.toa_s,
        np.ldexp(p.gain.real, exponent) + 1j * np.ldexp(p.gain.imag, exponent),
    )
    m, mk = bs.simulate(SC, p, 20.0, rng=seed), bs.simulate(SC, big, 20.0, rng=seed)
    np.testing.assert_array_equal(mk.csi.real, np.ldexp(m.csi.real, exponent))
    np.testing.assert_array_equal(mk.csi.imag, np.ldexp(m.csi.imag, exponent))
    np.testing.assert_allclose(mk.noise_var, np.ldexp(m.noise_var, 2 * exponent), rtol=1e-14)
    c, ck = bs.crb(SC, p, 20.0), bs.crb(SC, big, 20.0)
    for field in ("aoa_var_rad2", "aod_var_rad2", "toa_var_s2"):
        np.testing.assert_allclose(getattr(ck, field), getattr(c, field), rtol=1e-12)
    np.testing.assert_allclose(ck.gain_var, np.ldexp(c.gain_var, 2 * exponent), rtol=1e-12)


def test_genuine_overflow_names_the_parameter():
    p = bs.Paths([0.2], [0.3], [0.0], [1e300])
    with pytest.raises(ValueError, match="gain, snr_db: the noise variance .* overflows"):
        bs.simulate(SC, p, 20.0, rng=0)
    with pytest.raises(ValueError, match="gain, snr_db: the noise variance .* underflows"):
        bs.simulate(SC, bs.Paths([0.2], [0.3], [0.0], [1e-300]), 20.0, rng=0)
    with pytest.raises(ValueError, match=r"snr_db must be in \[-3000, 3000\] dB.*got 1e\+300"):
        bs.noise_variance(SC, bs.Paths([0.2], [0.3], [0.0], [1.0]), 1e300)
    with pytest.raises(ValueError, match="gain: path 1 has zero gain"):
        bs.crb(SC, bs.Paths([0.2, 0.1], [0.3, 0.0], [0.0, 1e-7], [1.0, 0.0]), 10.0)
    with pytest.raises(ValueError, match="gain: every path gain is zero"):
        bs.crb(SC, bs.Paths([0.2], [0.3], [0.0], [0.0]), 10.0)
    with pytest.raises(ValueError, match="paths: the Fisher information is singular"):
        bs.crb(SC, bs.Paths([0.2, 0.2], [0.3, 0.3], [0.0, 0.0], [1.0, 1j]), 10.0)
    # a gain estimate beyond float64 at the CSI's scale (the helper every estimator uses)
    from skysense.bistatic._common import unscale_gain

    with pytest.raises(ValueError, match="csi: a gain estimate overflows float64"):
        unscale_gain(np.array([[1.5 + 0j]]), np.array([1024]))
    np.testing.assert_array_equal(
        unscale_gain(np.array([[0.75j]]), np.array([1024])), [[1j * np.ldexp(0.75, 1024)]]
    )
