import numpy as np
import pytest

from skysense import bistatic as bs


def test_default_numerology():
    sc = bs.Scenario()
    assert sc.csi_shape == (8, 10, 64)
    assert sc.wavelength_m == pytest.approx(0.01)
    assert sc.toa_resolution_s == pytest.approx(16.276e-9, rel=1e-4)
    assert sc.cyclic_prefix_s == pytest.approx(260.4e-9, rel=1e-3)
    assert sc.subframe_s == pytest.approx(10 * 1.25 / 960e3)
    assert np.rad2deg(sc.half_power_beamwidth_rx_rad) == pytest.approx(10.15, abs=0.01)


def test_steering_conventions():
    sc = bs.Scenario(n_tx=3, n_rx=4, n_subcarriers=5)
    a = sc.steering_rx([np.pi / 6])
    np.testing.assert_allclose(a[:, 0], np.exp(-1j * np.pi * 0.5 * np.arange(4)))
    c = sc.delay_response([1.0 / (4 * sc.subcarrier_spacing_hz)])
    np.testing.assert_allclose(c[:, 0], (-1j) ** np.arange(5), atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tx": 0}, "n_tx"),
        ({"n_subcarriers": 1}, "n_subcarriers"),
        ({"subcarrier_spacing_hz": -1.0}, "subcarrier_spacing_hz"),
        ({"spacing_rx_wavelengths": float("nan")}, "spacing_rx_wavelengths"),
    ],
)
def test_scenario_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bs.Scenario(**kwargs)


def test_paths_validation():
    p = bs.Paths([0.1, 0.2], [0.0, -0.3], [1e-8, 2e-9], [1, 1j])
    assert p.n_paths == 2 and p.gain.dtype == np.complex128
    np.testing.assert_array_equal(p.sorted().toa_s, [2e-9, 1e-8])
    np.testing.assert_array_equal(p.doppler_hz, 0.0)
    with pytest.raises(ValueError, match="aod_rad must have shape"):
        bs.Paths([0.1, 0.2], [0.0], [0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"\[-pi/2, pi/2\]"):
        bs.Paths([2.0], [0.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="toa_s must be >= 0"):
        bs.Paths([0.0], [0.0], [-1e-9], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        bs.Paths([np.nan], [0.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="at least one path"):
        bs.Paths([], [], [], [])


def test_random_paths_inside_bistatic_window(rng):
    sc = bs.Scenario()
    for _ in range(20):
        p = bs.random_paths(sc, rng=rng, max_speed_mps=30.0)
        assert p.n_paths == 4
        assert p.toa_s[0] == 0.0  # the LoS path, synchronised
        assert np.all(p.toa_s <= sc.cyclic_prefix_s)
        assert np.min(np.diff(p.toa_s)) >= sc.toa_resolution_s
        assert np.all(np.abs(p.aoa_rad[1:]) <= np.deg2rad(60))
        assert np.all(np.abs(p.aod_rad[1:]) <= np.deg2rad(60))
        np.testing.assert_allclose(np.abs(p.gain), 1.0)
        # |f_D| <= 2 v / lambda
        assert np.all(np.abs(p.doppler_hz) <= 2 * 30.0 / sc.wavelength_m)
    los = bs.random_paths(sc, rng=1, n_targets=0)
    np.testing.assert_allclose([los.aoa_rad[0], los.aod_rad[0]], np.deg2rad([-10, 10]))


def test_random_paths_seeded_and_radar_gains(rng):
    sc = bs.Scenario()
    a, b = bs.random_paths(sc, rng=7), bs.random_paths(sc, rng=7)
    np.testing.assert_array_equal(a.toa_s, b.toa_s)
    p = bs.random_paths(sc, rng=rng, gain_model="radar")
    assert np.max(np.abs(p.gain)) == pytest.approx(1.0)
    assert np.abs(p.gain[0]) == pytest.approx(1.0)  # the LoS path dominates
    with pytest.raises(ValueError, match="gain_model"):
        bs.random_paths(sc, rng=rng, gain_model="rcs")
    with pytest.raises(RuntimeError, match="no target position"):
        bs.random_paths(sc, rng=rng, n_targets=40)
