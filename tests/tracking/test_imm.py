"""The IMM tracker against a NumPy reference of the IMM recursion inside BP (float64), its
reduction to the single-model tracker, IMM smoothing and fixed-lag confirmation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2, multivariate_normal

from skysense.tracking import (
    BPTracker,
    ConstantVelocity,
    Detections,
    IMMPredictor,
    IMMTargets,
    IMMUpdater,
    ModeSwitching,
    PositionSensor,
    SurveillanceRegion,
    TrackerConfig,
    smooth_history,
    track_frames,
)
from skysense.tracking.models import Measurements

REGION = SurveillanceRegion((-50.0, -50.0, 30.0), (50.0, 50.0, 30.0))
T = 0.1


def _random_targets(gen: np.random.Generator, k: int, m: int, d: int = 2) -> IMMTargets:
    s = 2 * d
    x = gen.normal(0.0, 5.0, (k, m, s))
    a = gen.normal(size=(k, m, s, s))
    p = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(s)
    mu = gen.dirichlet(np.ones(m), size=k)
    return IMMTargets(x, p, mu, gen.uniform(0.2, 0.9, k), np.arange(k))


def _random_switching(gen: np.random.Generator, m: int) -> ModeSwitching:
    p = gen.dirichlet(np.ones(m), size=m)
    p /= p.sum(axis=1, keepdims=True)
    q = gen.uniform(0.3, 5.0, m)
    return ModeSwitching(tuple(ConstantVelocity(float(v)) for v in q), tuple(map(tuple, p)))


def _ref_predict(t: IMMTargets, motion: ModeSwitching, ps: float):
    """The IMM interaction and per-mode prediction, one target and one mode at a time."""
    k_count, m_count, s = t.mode_states.shape
    f, q = motion.matrices(T, s // 2)
    p_sw = np.array(motion.switching)
    xs, ps_out, cs = np.zeros_like(t.mode_states), np.zeros_like(t.mode_covariances), []
    for k in range(k_count):
        mu = t.mode_probabilities[k]
        c = np.array([sum(p_sw[i, j] * mu[i] for i in range(m_count)) for j in range(m_count)])
        for j in range(m_count):
            w = [p_sw[i, j] * mu[i] / c[j] for i in range(m_count)]
            x0 = sum(w[i] * t.mode_states[k, i] for i in range(m_count))
            p0 = sum(
                w[i]
                * (
                    t.mode_covariances[k, i]
                    + np.outer(t.mode_states[k, i] - x0, t.mode_states[k, i] - x0)
                )
                for i in range(m_count)
            )
            xs[k, j] = f[j] @ x0
            ps_out[k, j] = f[j] @ p0 @ f[j].T + q[j]
        cs.append(c)
    return xs, ps_out, np.array(cs), ps * t.existence


def _ref_evaluate_update(t: IMMTargets, meas: Measurements, pd: float, gate: float, kappa):
    """Mode-conditioned likelihoods, their mixture, and the per-mode BP update."""
    k_count, m_count, s = t.mode_states.shape
    d = s // 2
    h = np.eye(d, s)
    z, r_m, lam = meas.positions_m, meas.covariance_m2, meas.clutter_intensity
    lik = np.zeros((k_count, m_count, z.shape[0]))
    for k in range(k_count):
        for j in range(m_count):
            for m in range(z.shape[0]):
                s_cov = h @ t.mode_covariances[k, j] @ h.T + r_m[m]
                v = z[m] - h @ t.mode_states[k, j]
                if v @ np.linalg.inv(s_cov) @ v <= gate:
                    lik[k, j, m] = pd * multivariate_normal(np.zeros(d), s_cov).pdf(v) / lam[m]
    ratio = np.einsum("km,kmz->kz", t.mode_probabilities, lik)
    x_out = np.zeros_like(t.mode_states)
    p_out = np.zeros_like(t.mode_covariances)
    mu_out = np.zeros_like(t.mode_probabilities)
    r_out = np.zeros(k_count)
    for k in range(k_count):
        big_w = np.zeros(m_count)
        for j in range(m_count):
            x, p = t.mode_states[k, j], t.mode_covariances[k, j]
            comps = [(1.0 - pd, x, p)]
            for m in range(z.shape[0]):
                w = kappa[k, m] * lik[k, j, m]
                if w > 0:
                    s_cov = h @ p @ h.T + r_m[m]
                    g = p @ h.T @ np.linalg.inv(s_cov)
                    comps.append((w, x + g @ (z[m] - h @ x), (np.eye(s) - g @ h) @ p))
            big_w[j] = sum(c[0] for c in comps)
            mean = sum(c[0] * c[1] for c in comps) / big_w[j]
            cov = sum(c[0] * (c[2] + np.outer(c[1] - mean, c[1] - mean)) for c in comps)
            x_out[k, j], p_out[k, j] = mean, cov / big_w[j]
        mu = t.mode_probabilities[k]
        total = float(mu @ big_w)
        mu_out[k] = mu * big_w / total
        r = t.existence[k]
        r_out[k] = r * total / (r * total + 1.0 - r)
    return ratio, x_out, p_out, mu_out, r_out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_modes", [1, 2, 3])
def test_imm_matches_numpy_reference(seed: int, n_modes: int) -> None:
    gen = np.random.default_rng(seed)
    k, nz, d = 4, 5, 2
    targets = _random_targets(gen, k, n_modes, d)
    motion = _random_switching(gen, n_modes)
    pred = IMMPredictor(motion, 0.97).predict(targets, T)
    xs, ps, cs, rs = _ref_predict(targets, motion, 0.97)
    np.testing.assert_allclose(pred.mode_states, xs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.mode_covariances, ps, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.mode_probabilities, cs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pred.existence, rs, rtol=1e-14)
    np.testing.assert_allclose(pred.mode_probabilities.sum(axis=1), 1.0, rtol=1e-14)

    # measurements near the predicted targets (most inside the gate), random BP messages
    z = pred.states[gen.integers(0, k, nz), :d] + gen.normal(0.0, 2.0, (nz, d))
    a = gen.normal(size=(nz, d, d))
    meas = Measurements(z, a @ np.swapaxes(a, 1, 2) + np.eye(d), gen.uniform(1e-4, 1e-3, nz))
    sensor = PositionSensor(REGION, 0.8, 1.0, 0.999)
    for engine in ("cpp", "numpy"):
        upd = IMMUpdater(sensor, engine)
        ev = upd.evaluate(pred, meas)
        kappa = gen.uniform(0.1, 2.0, (k, nz))
        ratio, x, p, mu, r = _ref_evaluate_update(pred, meas, 0.8, chi2.ppf(0.999, d), kappa)
        np.testing.assert_allclose(ev.likelihood_ratio, ratio, rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(ev.association_weights[:, 1:], pred.existence[:, None] * ratio)
        post = upd.update(pred, meas, ev, kappa)
        np.testing.assert_allclose(post.mode_states, x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(post.mode_covariances, p, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(post.mode_probabilities, mu, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(post.existence, r, rtol=1e-12)
        np.testing.assert_allclose(post.mode_probabilities.sum(axis=1), 1.0, rtol=1e-13)


def _run(d: int, seed: int) -> list[Detections]:
    gen = np.random.default_rng(seed)
    frames = []
    for f in range(25):
        pos = np.array([[-30.0 + 2.0 * f, 5.0 * np.sin(0.3 * f)], [20.0, -20.0 + 1.5 * f]])
        pos = pos[gen.uniform(size=2) < 0.85] + gen.normal(0.0, 1.0, (0, 2)).sum()
        clutter = gen.uniform(-49.0, 49.0, (gen.poisson(0.5), 2))
        p = np.concatenate([pos + gen.normal(0.0, 1.0, pos.shape), clutter])
        xyz = np.c_[p, np.full(len(p), 30.0)]
        cov = np.broadcast_to(np.diag([1.0, 1.0, 0.0]), (len(p), 3, 3))
        frames.append(Detections(xyz, cov, np.ones(len(p))))
    return frames


def test_one_mode_is_the_single_model_tracker() -> None:
    frames = _run(2, 3)
    cfg = TrackerConfig(REGION, detection_probability=0.85, clutter_rate=0.5)
    one = ModeSwitching((ConstantVelocity(cfg.acceleration_std_mps2),), ((1.0,),))
    h_cv = track_frames(BPTracker.from_config(cfg), frames)
    h_imm = track_frames(BPTracker.from_config(cfg.replace(modes=one)), frames)
    for f in range(len(frames)):
        np.testing.assert_array_equal(h_cv.track_id[f], h_imm.track_id[f])
        np.testing.assert_allclose(h_cv.positions_m[f], h_imm.positions_m[f], rtol=1e-12)
        np.testing.assert_allclose(h_cv.existence[f], h_imm.existence[f], rtol=1e-12)
        np.testing.assert_allclose(
            h_cv.state_covariance[f], h_imm.state_covariance[f], rtol=1e-10, atol=1e-12
        )
    assert sum(len(i) for i in h_cv.track_id) > 20  # the run has tracks to compare
    s_cv = smooth_history(h_cv, cfg.motion(), cfg.interval_s, lag_frames=4)
    s_imm = smooth_history(h_imm, one, cfg.interval_s, lag_frames=4)
    for a, b in zip(s_cv.positions_m, s_imm.positions_m, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_imm_tracker_follows_a_turn_and_reports_modes() -> None:
    frames = _run(2, 5)
    modes = ModeSwitching(
        (ConstantVelocity(0.5), ConstantVelocity(6.0)), ((0.95, 0.05), (0.1, 0.9))
    )
    cfg = TrackerConfig(REGION, detection_probability=0.85, clutter_rate=0.5, modes=modes)
    h = track_frames(BPTracker.from_config(cfg), frames)
    assert len(h.track_id[-1]) == 2
    for mu in h.mode_probabilities:
        assert mu is not None
        np.testing.assert_allclose(mu.sum(axis=1), 1.0, rtol=1e-12)
    # smoothing with identical modes equals single-model smoothing of the same history
    same = ModeSwitching((ConstantVelocity(2.0), ConstantVelocity(2.0)), modes.switching)
    a = smooth_history(h, same, cfg.interval_s, lag_frames=5)
    b = smooth_history(h, ConstantVelocity(2.0), cfg.interval_s, lag_frames=5)
    for pa, pb in zip(a.positions_m, b.positions_m, strict=True):
        np.testing.assert_allclose(pa, pb, rtol=1e-10, atol=1e-10)
    cv_hist = track_frames(BPTracker.from_config(cfg.replace(modes=None)), frames)
    with pytest.raises(ValueError, match="no mode probabilities"):
        smooth_history(cv_hist, modes, cfg.interval_s)


def test_fixed_lag_confirmation_reports_tracks_from_their_first_frames() -> None:
    frames = _run(2, 7)
    cfg = TrackerConfig(REGION, detection_probability=0.85, clutter_rate=0.5)
    confirmed = track_frames(BPTracker.from_config(cfg), frames)
    tentative = track_frames(BPTracker.from_config(cfg.replace(confirm_threshold=0.01)), frames)
    motion = cfg.motion()
    s = smooth_history(tentative, motion, cfg.interval_s, lag_frames=5, confirm_threshold=0.8)
    first = {
        i: min(f for f in range(len(frames)) if i in h.track_id[f])
        for h in (confirmed,)
        for i in np.concatenate(h.track_id)
    }
    for i, f0 in first.items():
        fs = [f for f in range(len(frames)) if i in s.track_id[f]]
        assert fs and fs[0] < f0  # reported before the filter confirms it
    # without confirm_threshold every row stays; lag 0 with a threshold is the filter's report
    same = smooth_history(confirmed, motion, cfg.interval_s, lag_frames=5)
    assert [len(i) for i in same.track_id] == [len(i) for i in confirmed.track_id]
    lag0 = smooth_history(tentative, motion, cfg.interval_s, lag_frames=0, confirm_threshold=0.8)
    for a, b in zip(lag0.track_id, confirmed.track_id, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ModeSwitching((ConstantVelocity(),), ((0.5,),)), "stochastic matrix"),
        (
            lambda: ModeSwitching(
                (ConstantVelocity(), ConstantVelocity()), ((1.2, -0.2), (0.5, 0.5))
            ),
            "stochastic matrix",
        ),
        (lambda: ModeSwitching((), ()), "at least one motion mode"),
        (lambda: ModeSwitching((ConstantVelocity(),), ((1.0,),), (0.5,)), "summing to 1"),
        (lambda: ModeSwitching((ConstantVelocity(),), ((1.0, 0.0),)), "switching must have"),
        (lambda: ConstantVelocity(-1.0), "acceleration_std_mps2 must be >= 0"),
    ],
)
def test_bad_modes(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_modes_need_gaussian_beliefs() -> None:
    modes = ModeSwitching((ConstantVelocity(),), ((1.0,),))
    with pytest.raises(ValueError, match="belief='gaussian'"):
        BPTracker.from_config(TrackerConfig(REGION, modes=modes), belief="particles")
    with pytest.raises(TypeError, match=r"modes\[0\] must be a ConstantVelocity"):
        ModeSwitching((1.0,), ((1.0,),))  # type: ignore[arg-type]
