"""Dynamic scenario: paths, lifetimes, off-grid CSI from the forward model, bad input."""

import numpy as np
import pytest

from skysense.imaging import Scenario, steering_matrix
from skysense.tracking import TrackingScenario, simulate_csi, simulate_trajectories

SMALL = Scenario(n_antennas_side=2, voxel_size_m=6.0)


@pytest.mark.parametrize("three_d", [False, True], ids=["2d", "3d"])
def test_trajectories_stay_inside_and_are_smooth(three_d):
    sc = (
        TrackingScenario.paper_3d(n_frames=200, n_uavs=6, n_initial=2)
        if three_d
        else TrackingScenario(imaging=SMALL, n_frames=200, n_uavs=6, n_initial=2)
    )
    tr = simulate_trajectories(sc, rng=3)
    lo, hi = sc.imaging.roi_bounds_m()
    p = tr.positions_m[tr.present]
    assert np.all(p >= lo - 1e-9) and np.all(p <= hi + 1e-9)
    assert tr.positions_m.shape == (200, 6, 3)
    if not three_d:
        np.testing.assert_array_equal(p[:, 2], lo[2])
    # the first n_initial UAVs are there at frame 0, some appear later, absent ones are NaN
    assert tr.present[0, :2].all()
    assert tr.present[:, 2:].any(axis=0).all()
    assert np.isnan(tr.positions_m[~tr.present]).all()
    # smooth: speeds near speed_mps, no jumps between frames
    v = np.linalg.norm(tr.velocities_mps[tr.present], axis=-1)
    assert 0.7 * sc.speed_mps < np.median(v) < 1.3 * sc.speed_mps
    step = np.linalg.norm(np.diff(tr.positions_m, axis=0), axis=-1)
    assert np.nanmax(step) < 1.5 * 1.25 * sc.speed_mps / sc.frame_rate_hz
    positions, ids = tr.frames()
    assert len(positions) == 200 and positions[0].shape == (2, 3) and ids[0].tolist() == [0, 1]


def test_trajectories_are_seeded():
    sc = TrackingScenario(imaging=SMALL, n_frames=20, n_uavs=3)
    a = simulate_trajectories(sc, rng=11)
    b = simulate_trajectories(sc, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a.positions_m, b.positions_m)
    assert not np.array_equal(a.coefficients, simulate_trajectories(sc, rng=12).coefficients)


def test_csi_is_the_forward_model(rng):
    sc = TrackingScenario(imaging=SMALL, n_frames=21, n_uavs=4, n_initial=1)
    tr = simulate_trajectories(sc, rng=rng)
    y = simulate_csi(sc, tr.positions_m, tr.coefficients, noise=False)
    for f in (0, 10, 20):
        here = tr.present[f]
        a = steering_matrix(SMALL, tr.positions_m[f, here])
        np.testing.assert_allclose(y[f], a @ tr.coefficients[here], rtol=1e-12, atol=1e-20)
    y32 = simulate_csi(sc, tr.positions_m, tr.coefficients, noise=False, dtype=np.complex64)
    assert y32.dtype == np.complex64
    noisy = simulate_csi(sc, tr.positions_m, tr.coefficients, rng=1)
    assert np.var(noisy - y) == pytest.approx(SMALL.noise_power_w, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_uavs": 0}, ValueError, "n_uavs must be >= 1"),
        ({"frame_rate_hz": 0.0}, ValueError, "frame_rate_hz must be > 0"),
        ({"n_initial": 9, "n_uavs": 3}, ValueError, "n_initial must lie in"),
        ({"margin_m": 70.0}, ValueError, "margin_m=70.0 leaves no room"),
        ({"imaging": "paper"}, TypeError, "imaging must be a skysense.imaging.Scenario"),
    ],
)
def test_scenario_rejects_bad_values(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrackingScenario(**kwargs)


def test_csi_rejects_bad_positions():
    pos = np.zeros((2, 1, 3))
    pos[..., 2] = 40.0
    outside = pos.copy()
    outside[1, 0, 0] = 500.0
    with pytest.raises(ValueError, match=r"positions_m\[1, 0\] = .* lies outside the ROI"):
        simulate_csi(SMALL, outside, [0.1])
    partly_nan = pos.copy()
    partly_nan[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="partly-NaN"):
        simulate_csi(SMALL, partly_nan, [0.1])
    with pytest.raises(ValueError, match=r"coefficients must have shape \(1\), got \(2,\)"):
        simulate_csi(SMALL, pos, [0.1, 0.2])
    with pytest.raises(ValueError, match=r"positions_m must have shape \(n_frames, n_uavs, 3\)"):
        simulate_csi(SMALL, np.zeros((2, 1, 2)), [0.1])
