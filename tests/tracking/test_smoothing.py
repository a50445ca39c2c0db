"""Fixed-lag RTS smoothing of a run's tracks against the batch least-squares smoother."""

import numpy as np
import pytest

from skysense.tracking import (
    BPTracker,
    ConstantVelocity,
    Detections,
    PerFrameTracker,
    SurveillanceRegion,
    TrackerConfig,
    TrackHistory,
    smooth_history,
    track_frames,
)

MOTION = ConstantVelocity(3.0)
T = 0.1


def _kalman_history(rng, n=30, d=2, r=4.0):
    """A plain Kalman filter on one target: its history, the measurements and the prior."""
    f, q = MOTION.matrices(T, d)
    h = np.eye(d, 2 * d)
    x = np.r_[rng.uniform(10, 50, d), rng.normal(0, 5, d)]
    m0, p0 = x + rng.normal(0, 1, 2 * d), np.diag([4.0] * d + [25.0] * d)
    z, means, covs = [], [], []
    m, p = m0, p0
    for t in range(n):
        if t:
            x = f @ x + rng.multivariate_normal(np.zeros(2 * d), q)
            m, p = f @ m, f @ p @ f.T + q
        z.append(h @ x + rng.normal(0, np.sqrt(r), d))
        s = h @ p @ h.T + r * np.eye(d)
        k = p @ h.T @ np.linalg.inv(s)
        m, p = m + k @ (z[-1] - h @ m), (np.eye(2 * d) - k @ h) @ p
        means.append(m)
        covs.append(p)
    pos = [np.r_[mm[:d], np.zeros(3 - d) + 7.0][None] for mm in means]
    vel = [np.r_[mm[d:], np.zeros(3 - d)][None] for mm in means]
    hist = TrackHistory(
        pos, [np.array([4])] * n, [np.ones(1)] * n, np.zeros(n), vel, [c[None] for c in covs]
    )
    return hist, np.array(z), m0, p0, r


def _batch_smoother(z, m0, p0, r, d):
    """Smoothed means of all states at once: the normal equations of the linear model."""
    f, q = MOTION.matrices(T, d)
    n, s = z.shape[0], 2 * d
    h = np.eye(d, s)
    info = np.zeros((n * s, n * s))
    vec = np.zeros(n * s)
    info[:s, :s] += np.linalg.inv(p0)
    vec[:s] += np.linalg.solve(p0, m0)
    qi = np.linalg.inv(q)
    for t in range(n):
        blk = slice(t * s, (t + 1) * s)
        info[blk, blk] += h.T @ h / r
        vec[blk] += h.T @ z[t] / r
        if t + 1 < n:
            nxt = slice((t + 1) * s, (t + 2) * s)
            info[blk, blk] += f.T @ qi @ f
            info[nxt, nxt] += qi
            info[blk, nxt] -= f.T @ qi
            info[nxt, blk] -= qi @ f
    return np.linalg.solve(info, vec).reshape(n, s)


@pytest.mark.parametrize("d", [2, 3])
def test_full_lag_equals_batch_smoother(rng, d):
    hist, z, m0, p0, r = _kalman_history(rng, d=d)
    out = smooth_history(hist, MOTION, T, lag_frames=hist.n_frames)
    ref = _batch_smoother(z, m0, p0, r, d)
    got = np.array(
        [
            np.r_[p[0, :d], v[0, :d]]
            for p, v in zip(out.positions_m, out.velocities_mps, strict=True)
        ]
    )
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)
    if d == 2:
        assert all(p[0, 2] == 7.0 for p in out.positions_m)  # the untracked z is kept


def test_fixed_lag_uses_the_next_frames_only(rng):
    hist, z, m0, p0, r = _kalman_history(rng, n=25)
    lag, t = 4, 10
    out = smooth_history(hist, MOTION, T, lag_frames=lag)
    ref = _batch_smoother(z[: t + lag + 1], m0, p0, r, 2)  # smoothing with frames <= t + lag
    np.testing.assert_allclose(out.positions_m[t][0, :2], ref[t, :2], rtol=1e-8, atol=1e-8)
    same = smooth_history(hist, MOTION, T, lag_frames=0)
    for a, b in zip(same.positions_m, hist.positions_m, strict=True):
        np.testing.assert_array_equal(a, b)
    # the smoothed error is below the filtered one on average (15 frames, one run)
    assert out.state_covariance[t][0, 0, 0] < hist.state_covariance[t][0, 0, 0]


def test_smoothing_a_bp_run_keeps_ids_and_rejects_baselines():
    region = SurveillanceRegion((0.0, 0.0, 50.0), (60.0, 60.0, 50.0))
    config = TrackerConfig(region, detection_probability=0.9, clutter_rate=0.1)
    frames = [
        Detections(np.array([[10.0 + f, 30.0, 50.0]]), np.diag([1.0, 1.0, 0.0])[None], np.ones(1))
        for f in range(15)
    ]
    h = track_frames(BPTracker.from_config(config), frames)
    assert h.state_covariance[-1].shape == (1, 4, 4)
    hp = track_frames(BPTracker.from_config(config, belief="particles", rng=0), frames)
    cov = hp.state_covariance[-1][0]
    assert cov.shape == (4, 4) and np.all(np.linalg.eigvalsh(cov) > 0)
    assert 0.1 < cov[0, 0] < 1.0  # near the Kalman posterior of 1 m^2 measurements
    s = smooth_history(h, ConstantVelocity(config.acceleration_std_mps2), config.interval_s)
    for a, b in zip(h.track_id, s.track_id, strict=True):
        np.testing.assert_array_equal(a, b)
    base = track_frames(PerFrameTracker(), frames)
    with pytest.raises(ValueError, match="history carries no state covariances"):
        smooth_history(base, MOTION, T)
    with pytest.raises(ValueError, match="lag_frames"):
        smooth_history(h, MOTION, T, lag_frames=-1)
    with pytest.raises(TypeError, match="motion must be a ConstantVelocity"):
        smooth_history(h, 3.0, T)  # type: ignore[arg-type]
