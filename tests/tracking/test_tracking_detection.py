"""Blob detections, off-grid refinement, calibration, intensity model; streaming pipeline."""

import numpy as np
import pytest

from skysense.edge import StreamProcessor
from skysense.imaging import Scenario
from skysense.tracking import (
    BlobDetector,
    BPTracker,
    IntensityModel,
    PositionErrorModel,
    PursuitImager,
    SurveillanceRegion,
    TrackerConfig,
    TrackingScenario,
    calibrate_detector,
    detection_nees,
    simulate_csi,
    simulate_trajectories,
)
from skysense.tracking.streaming import StreamingTracker

SMALL = Scenario(n_antennas_side=2, voxel_size_m=6.0)  # 20 x 20 grid, cheap SP


def _gaussian_image(positions, scenario, width_voxels=0.8):
    """Sum of Gaussian bumps at off-grid positions, on the scenario grid (n_x, n_y, 1)."""
    ax = scenario.axis_centers_m()
    gx, gy = np.meshgrid(ax[0], ax[1], indexing="ij")
    w = width_voxels * scenario.voxel_size_m
    img = np.zeros(gx.shape)
    for p in positions:
        img += np.exp(-((gx - p[0]) ** 2 + (gy - p[1]) ** 2) / (2 * w**2))
    return img[..., None]


def test_quadratic_refinement_recovers_off_grid_positions(rng):
    truth = np.c_[rng.uniform(-40, 40, (5, 2)), np.full(5, 40.0)]
    truth[:, 0] += np.arange(5) * 1e-3  # distinct
    truth = truth[np.argsort(truth[:, 0])]
    img = _gaussian_image(truth[:1], SMALL)[None]
    for refine, tol in (("quadratic", 0.15), ("centroid", 0.3), ("peak", 0.5)):
        det = BlobDetector(SMALL, threshold=0.1, refine=refine).detect(img)[0]
        assert det.n_detections == 1
        err = np.abs(det.positions_m[0, :2] - truth[0, :2]) / SMALL.voxel_size_m
        assert np.all(err <= tol), (refine, err)
        assert det.positions_m[0, 2] == 40.0


def test_peaks_split_touching_blobs():
    pair = np.array([[0.0, 0.0, 40.0], [13.0, 0.0, 40.0]])  # 2.2 voxels apart: one blob
    img = _gaussian_image(pair, SMALL, width_voxels=0.7)[None]
    blobs = BlobDetector(SMALL, threshold=0.2, rule="blobs").detect(img)[0]
    peaks = BlobDetector(SMALL, threshold=0.2, rule="peaks").detect(img)[0]
    assert blobs.n_detections == 1 and peaks.n_detections == 2
    # the overlapping bumps pull each peak towards the other by less than half a voxel
    np.testing.assert_allclose(np.sort(peaks.positions_m[:, 0]), pair[:, 0], atol=3.0)


def test_empty_image_gives_no_detection():
    det = BlobDetector(SMALL).detect(np.zeros((2, 20, 20)))
    assert [d.n_detections for d in det] == [0, 0]


def test_calibration_measures_known_noise(rng):
    n = 400
    truth = [np.array([[x, 0.0, 40.0]]) for x in rng.uniform(-40, 40, n)]
    images = np.stack([_gaussian_image(t, SMALL)[..., 0] for t in truth])
    cal = calibrate_detector(BlobDetector(SMALL, threshold=0.1), images, truth)
    assert cal.detection_probability == 1.0 and cal.clutter_rate == 0.0
    assert cal.position_std_m[0] < 0.15 * SMALL.voxel_size_m and cal.position_std_m[2] == 0.0


def test_calibration_error_model_tracks_intensity(rng):
    """Bright detections are placed with 0.3 m noise, dim ones with 1.5 m: the calibrated
    error model finds both levels, the per-detection covariance follows, and its NEES on
    fresh frames is the number of tracked axes (2)."""

    def frames(n, gen):
        truth = [np.array([[x, y, 40.0]]) for x, y in gen.uniform(-35, 35, (n, 2))]
        bright = gen.random(n) < 0.5
        images, pos = [], []
        for t, b in zip(truth, bright, strict=True):
            p = t.copy()
            p[0, :2] += gen.normal(0.0, 0.3 if b else 1.5, 2)
            img = _gaussian_image(p, SMALL, width_voxels=1.0)[..., 0]
            images.append(img * (0.9 if b else 0.4))
            pos.append(p)
        return truth, np.stack(images)

    truth, images = frames(600, rng)
    det = BlobDetector(SMALL, threshold=0.1, refine="quadratic")
    cal = calibrate_detector(det, images, truth, n_error_bins=2)
    std = np.asarray(cal.error_model.std_m)
    assert std.shape == (2, 3) and np.all(std[:, 2] == 0.0)
    assert 1.2 < std[0, 0] < 1.9 and std[1, 0] < 0.6  # dim bin, bright bin
    assert abs(cal.nees - 2.0) < 0.05  # calibrated on these frames by construction
    fresh_truth, fresh = frames(400, np.random.default_rng(rng.integers(1 << 30)))
    dets = det.replace(error_model=cal.error_model).detect(fresh)
    err = np.concatenate([d.positions_m - t for d, t in zip(dets, fresh_truth, strict=True)])
    cov = np.concatenate([d.covariance_m2 for d in dets])
    std_each = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    assert 1.7 < detection_nees(err, std_each) < 2.3
    # a single covariance for all would be too wide for the bright and too narrow for the dim
    assert np.ptp(cov[:, 0, 0]) > 1.0


def test_position_error_model_and_nees_inputs():
    m = PositionErrorModel((0.0, 0.5, 1.0), ((2.0, 2.0, 0.0), (1.0, 1.0, 0.0)))
    np.testing.assert_array_equal(m.std([-1.0, 0.49, 0.5, 7.0])[:, 0], [2.0, 2.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="edges must hold >= 2 increasing values"):
        PositionErrorModel((1.0, 0.0), ((1.0, 1.0, 1.0),))
    with pytest.raises(ValueError, match="std_m must be >= 0"):
        PositionErrorModel((0.0, 1.0), ((-1.0, 1.0, 1.0),))
    with pytest.raises(ValueError, match="errors_m must hold at least one error"):
        detection_nees(np.empty((0, 3)), [1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="error_model must be a PositionErrorModel"):
        BlobDetector(SMALL, error_model=(0.0, 1.0))  # type: ignore[arg-type]


def test_intensity_model():
    model = IntensityModel.fit(np.full(50, 0.8), np.full(50, 0.2), n_bins=2)
    assert model([0.8])[0] > 1.0 > model([0.2])[0]
    with pytest.raises(ValueError, match="edges must hold >= 2 increasing values"):
        IntensityModel((0.5, 0.1), (0.0,))


def test_detector_rejects_bad_input():
    with pytest.raises(ValueError, match="refine must be one of"):
        BlobDetector(SMALL, refine="cubic")
    with pytest.raises(ValueError, match="rule must be one of"):
        BlobDetector(SMALL, rule="cc")
    with pytest.raises(ValueError, match=r"images must have shape \(n_frames, 20, 20, 1\)"):
        BlobDetector(SMALL).detect(np.zeros((1, 40, 40)))
    with pytest.raises(ValueError, match="images contains NaN or Inf"):
        BlobDetector(SMALL).detect(np.full((1, 20, 20), np.nan))


@pytest.fixture(scope="module")
def stream():
    sc = TrackingScenario(imaging=SMALL, n_frames=12, n_uavs=2, n_initial=2)
    tr = simulate_trajectories(sc, rng=5)
    csi = simulate_csi(sc, tr.positions_m, tr.coefficients, rng=6)
    imager = PursuitImager(SMALL, sparsity=4)
    config = TrackerConfig(SurveillanceRegion.from_scenario(SMALL), clutter_rate=0.5)
    return StreamingTracker(
        imager, BlobDetector(SMALL, threshold=0.0), BPTracker.from_config(config)
    ), csi


def test_streaming_tracker_in_stream_processor(stream):
    tracker, csi = stream
    tracker.reset()
    direct = [tracker.update(frame) for frame in csi]
    tracker.reset()
    proc = StreamProcessor(tracker, tracker.n_measurements, dtype=np.complex128, batch_size=3)
    streamed = list(proc.process(csi))
    assert len(streamed) == len(direct) == 12
    for a, b in zip(direct, streamed, strict=True):
        np.testing.assert_array_equal(a.track_id, b.track_id)
        np.testing.assert_allclose(a.positions_m, b.positions_m)
    assert proc.latency().n_frames == 12


def test_streaming_tracker_bad_frames(stream):
    tracker, csi = stream
    with pytest.raises(ValueError, match=r"csi has shape \(5,\), expected \(160,\)"):
        tracker.update(np.zeros(5, complex))
    with pytest.raises(ValueError, match="csi contains NaN or Inf"):
        tracker.update(np.full(csi.shape[1], np.nan, complex))
    with pytest.raises(ValueError, match="one frame of shape"):
        tracker.update(csi[:2])
