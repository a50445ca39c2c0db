"""The streaming BP tracker on synthetic detections: behaviour, engines, randomness, bad input."""

import numpy as np
import pytest

from skysense.metrics import tracking_scores
from skysense.tracking import (
    BPAssociator,
    BPTracker,
    Detections,
    ExistencePruner,
    GaussianTargets,
    KalmanInitiator,
    KalmanPredictor,
    KalmanUpdater,
    ParticlePredictor,
    SurveillanceRegion,
    TrackerConfig,
)
from skysense.tracking.baselines import PerFrameTracker
from skysense.tracking.run import track_frames

REGION = SurveillanceRegion((-60.0, -60.0, 40.0), (60.0, 60.0, 40.0))
REGION_3D = SurveillanceRegion((-50.0, -50.0, 40.0), (50.0, 50.0, 120.0))


def _synthetic_run(rng, region=REGION, n_frames=60, n_targets=3, p_d=0.8, clutter=1.0, std=1.5):
    """Straight-line targets crossing the region, noisy detections with misses and clutter."""
    d = region.n_dims
    lo, hi = np.asarray(region.lower_m), np.asarray(region.upper_m)
    start = rng.uniform(lo[:d] + 20, hi[:d] - 20, (n_targets, d))
    vel = rng.normal(0, 4, (n_targets, d))
    truth, ids, dets = [], [], []
    for f in range(n_frames):
        p = np.zeros((n_targets, 3))
        p[:, :d] = start + 0.1 * f * vel
        if d == 2:
            p[:, 2] = lo[2]
        p = np.clip(p, lo, hi)
        truth.append(p)
        ids.append(np.arange(n_targets))
        keep = rng.uniform(size=n_targets) < p_d
        z = p[keep].copy()
        z[:, :d] += rng.normal(0, std, (keep.sum(), d))
        n_c = rng.poisson(clutter)
        c = np.zeros((n_c, 3))
        c[:, :d] = rng.uniform(lo[:d], hi[:d], (n_c, d))
        c[:, 2] = lo[2] if d == 2 else c[:, 2]
        pos = np.clip(np.concatenate([z, c]), lo, hi)
        cov = np.zeros((pos.shape[0], 3, 3))
        cov[:, :d, :d] = std**2 * np.eye(d)
        dets.append(Detections(pos, cov, np.ones(pos.shape[0])))
    return truth, ids, dets


def _config(region=REGION, **kw):
    base = {
        "detection_probability": 0.8,
        "clutter_rate": 1.0,
        "survival_probability": 0.99,
        "confirm_threshold": 0.5,
    }
    return TrackerConfig(region, **{**base, **kw})


@pytest.mark.parametrize("belief", ["gaussian", "particles"])
@pytest.mark.parametrize("region", [REGION, REGION_3D], ids=["2d", "3d"])
def test_tracking_beats_per_frame_detections(rng, belief, region):
    truth, ids, dets = _synthetic_run(rng, region)
    tracker = BPTracker.from_config(_config(region), belief=belief, n_particles=500, rng=1)
    bp = track_frames(tracker, dets)
    pf = track_frames(PerFrameTracker(), dets)
    s_bp = tracking_scores(bp.positions_m, bp.track_id, truth, ids, cutoff_m=10.0)
    s_pf = tracking_scores(pf.positions_m, pf.track_id, truth, ids, cutoff_m=10.0)
    assert s_bp.gospa_m < 0.6 * s_pf.gospa_m
    assert s_bp.rmse_m < 0.8 * s_pf.rmse_m
    assert s_bp.n_switches == 0
    # three confirmed tracks at the end, with three different identities
    assert len(set(bp.track_id[-1].tolist())) == 3
    assert bp.positions_m[-1].dtype == np.float64


def test_gaussian_engines_agree(rng):
    _, _, dets = _synthetic_run(rng, n_frames=30)
    runs = [
        track_frames(BPTracker.from_config(_config(), engine=e), dets) for e in ("cpp", "numpy")
    ]
    for a, b in zip(runs[0].positions_m, runs[1].positions_m, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)
    for a, b in zip(runs[0].track_id, runs[1].track_id, strict=True):
        np.testing.assert_array_equal(a, b)


def test_particles_reproducible_and_independent_of_workers(rng):
    _, _, dets = _synthetic_run(rng, n_frames=15)
    runs = [
        track_frames(
            BPTracker.from_config(_config(), belief="particles", n_particles=200, workers=w, rng=7),
            dets,
        )
        for w in (1, 2, 1)
    ]
    for a, b, c in zip(*(r.positions_m for r in runs), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_empty_frame_is_a_prediction_step():
    tracker = BPTracker.from_config(_config(clutter_rate=0.1))
    cov = np.diag([1.0, 1.0, 0.0])[None]
    for t in range(8):
        tracks = tracker.update(Detections([[2.0 * t, 0.0, 40.0]], cov, [1.0]))
    before = tracker.targets
    assert tracks.n_tracks == 1
    after_tracks = tracker.update(Detections.empty())
    after = tracker.targets
    keep = np.isin(before.track_id, after.track_id)
    k = np.flatnonzero(keep)[np.argmax(before.existence[keep])]
    j = np.flatnonzero(after.track_id == before.track_id[k])[0]
    # (T1) then (T8) with W = 1 - p_d: r' = p_s r (1 - p_d) / (p_s r (1 - p_d) + 1 - p_s r)
    r = 0.99 * before.existence[k]
    np.testing.assert_allclose(after.existence[j], r * 0.2 / (r * 0.2 + 1 - r), rtol=1e-12)
    # the state moves by its velocity over 0.1 s
    np.testing.assert_allclose(
        after.states[j, :2], before.states[k, :2] + 0.1 * before.states[k, 2:], rtol=1e-12
    )
    assert after_tracks.n_tracks in (0, 1)
    assert tracker.update(None).time_s == pytest.approx(0.9)
    assert tracker.frame_index == 10


def test_reset_restarts_ids():
    tracker = BPTracker.from_config(_config())
    cov = np.diag([1.0, 1.0, 0.0])[None]
    for _ in range(5):
        tracker.update(Detections([[0.0, 0.0, 40.0]], cov, [1.0]))
    assert tracker.frame_index == 5
    tracker.reset()
    assert tracker.frame_index == 0 and tracker.targets.n_targets == 0
    for _ in range(5):
        tracks = tracker.update(Detections([[0.0, 0.0, 40.0]], cov, [1.0]))
    assert tracks.track_id.tolist() == [0]


def test_float32_detections_give_float64_tracks():
    tracker = BPTracker.from_config(_config())
    cov = np.diag([1.0, 1.0, 0.0]).astype(np.float32)[None]
    for t in range(5):
        tracks = tracker.update(
            Detections(np.array([[float(t), 0.0, 40.0]], np.float32), cov, np.ones(1, np.float32))
        )
    assert tracks.positions_m.dtype == np.float64


def test_components_compose():
    cfg = _config()
    sensor = cfg.sensor()
    tracker = BPTracker(
        predictor=KalmanPredictor(),
        updater=KalmanUpdater(sensor),
        associator=BPAssociator(),
        initiator=KalmanInitiator(sensor),
        pruner=ExistencePruner(),
        region=REGION,
    )
    assert isinstance(tracker.targets, GaussianTargets)
    with pytest.raises(TypeError, match="predictor must be a Predictor"):
        BPTracker(
            predictor=object(),
            updater=KalmanUpdater(sensor),
            associator=BPAssociator(),
            initiator=KalmanInitiator(sensor),
            pruner=ExistencePruner(),
            region=REGION,
        )
    # a particle predictor with Gaussian targets is a type error, not a silent mix
    mixed = BPTracker(
        predictor=ParticlePredictor(),
        updater=KalmanUpdater(sensor),
        associator=BPAssociator(),
        initiator=KalmanInitiator(sensor),
        pruner=ExistencePruner(),
        region=REGION,
        rng=0,
    )
    mixed._state.targets = GaussianTargets.empty(2)
    with pytest.raises(TypeError, match="ParticleTargets"):
        mixed.update(None)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"frame_rate_hz": 0.0}, ValueError, "frame_rate_hz must be > 0"),
        ({"detection_probability": 1.0}, ValueError, r"detection_probability must lie in \(0, 1\)"),
        ({"clutter_rate": -1.0}, ValueError, "clutter_rate must be > 0"),
        ({"prune_threshold": 0.9}, ValueError, "prune_threshold"),
        ({"birth_rate": float("nan")}, ValueError, "birth_rate must be finite"),
        ({"max_iter": 1.5}, TypeError, "max_iter must be an integer"),
    ],
)
def test_config_rejects_bad_values(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrackerConfig(REGION, **kwargs)


def test_bad_detections():
    tracker = BPTracker.from_config(_config())
    cov = np.diag([1.0, 1.0, 0.0])[None]
    with pytest.raises(ValueError, match=r"detections.positions_m\[0\].*outside the region"):
        tracker.update(Detections([[100.0, 0.0, 40.0]], cov, [1.0]))
    with pytest.raises(TypeError, match="detections must be Detections"):
        tracker.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="positions_m contains NaN or Inf"):
        Detections([[np.nan, 0.0, 40.0]], cov, [1.0])
    with pytest.raises(ValueError, match=r"covariance_m2 must have shape \(1, 3, 3\)"):
        Detections([[0.0, 0.0, 40.0]], np.eye(3), [1.0])
    with pytest.raises(ValueError, match=r"positions_m must have shape \(n, 3\)"):
        Detections([[0.0, 0.0]], cov, [1.0])


def test_region_validation():
    with pytest.raises(ValueError, match="upper_m must exceed lower_m"):
        SurveillanceRegion((0.0, 0.0, 0.0), (0.0, 10.0, 0.0))
    assert REGION.n_dims == 2 and REGION.measure == pytest.approx(14400.0)
    assert REGION_3D.n_dims == 3 and REGION_3D.measure == pytest.approx(800000.0)
