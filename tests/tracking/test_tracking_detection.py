"""Blob detections, off-grid refinement, calibration, intensity model; streaming pipeline."""

import numpy as np
import pytest

from skysense.edge import StreamProcessor
from skysense.imaging import Scenario
from skysense.tracking import (
    BlobDetector,
    BPTracker,
    IntensityModel,
    PursuitImager,
    SurveillanceRegion,
    TrackerConfig,
    TrackingScenario,
    calibrate_detector,
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
