"""CSI in, tracks out: ``StreamingTracker`` alone and inside ``skysense.edge.StreamProcessor``."""

import doctest
import importlib

import numpy as np
import pytest

from skysense.edge import StreamProcessor
from skysense.imaging import Scenario
from skysense.tracking import (
    BlobDetector,
    BPTracker,
    PerFrameTracker,
    PursuitImager,
    StreamingTracker,
    SurveillanceRegion,
    TrackerConfig,
    TrackingScenario,
    simulate_csi,
    simulate_trajectories,
)

SMALL = Scenario(n_antennas_side=2, voxel_size_m=6.0)  # 20 x 20 grid, cheap SP


@pytest.fixture(scope="module")
def run():
    sc = TrackingScenario(imaging=SMALL, n_frames=12, n_uavs=3, n_initial=2)
    truth = simulate_trajectories(sc, rng=5)
    return simulate_csi(sc, truth.positions_m, truth.coefficients, rng=6)


def _stream(tracker=None):
    region = SurveillanceRegion.from_scenario(SMALL)
    tracker = tracker or BPTracker.from_config(TrackerConfig(region, clutter_rate=0.5))
    return StreamingTracker(PursuitImager(SMALL, sparsity=6), BlobDetector(SMALL, 0.0), tracker)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.track_id, y.track_id)
        np.testing.assert_allclose(x.positions_m, y.positions_m, rtol=1e-12, atol=1e-9)
        assert x.time_s == y.time_s


@pytest.mark.parametrize("batch_size", [1, 5])
def test_stream_processor_equals_one_update_per_frame(run, batch_size):
    """Through StreamProcessor (micro-batches of frames) the tracks are those of one
    ``update`` per frame: the batch is stepped through in order."""
    stream = _stream()
    expected = [stream.update(frame) for frame in run]
    stream.reset()
    proc = StreamProcessor(
        stream, stream.n_measurements, dtype=np.complex128, batch_size=batch_size
    )
    got = list(proc.process(run))
    _same(got, expected)
    assert proc.latency().n_frames == run.shape[0]
    assert [t.time_s for t in got] == pytest.approx(0.1 * np.arange(run.shape[0]))
    assert any(t.n_tracks > 0 for t in got)  # the SP detections do make tracks


def test_reset_restarts_the_ids(run):
    stream = _stream()
    first = [stream.update(frame) for frame in run]
    stream.reset()
    _same([stream.update(frame) for frame in run], first)


def test_baseline_tracker_plugs_in(run):
    """Any object with update/reset (here the per-frame baseline) can be the tracker."""
    stream = _stream(PerFrameTracker())
    tracks = [stream.update(frame) for frame in run[:3]]
    images = stream.imager.image(run[:3])
    n_det = [d.n_detections for d in stream.detector.detect(images)]
    assert [t.n_tracks for t in tracks] == n_det


def test_bad_input(run):
    stream = _stream()
    with pytest.raises(ValueError, match="csi"):
        stream.update(run[:2])  # a batch: call the object instead
    with pytest.raises(ValueError, match="csi"):
        stream.update(run[0, :-1])
    bad = run[0].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="csi"):
        stream.update(bad)
    with pytest.raises(TypeError, match="complex"):
        stream.update(run[0].real)
    other = Scenario(n_antennas_side=2, voxel_size_m=10.0)
    with pytest.raises(ValueError, match="grid"):
        StreamingTracker(PursuitImager(SMALL), BlobDetector(other), stream.tracker)
    with pytest.raises(TypeError, match="detector"):
        StreamingTracker(PursuitImager(SMALL), object(), stream.tracker)
    with pytest.raises(TypeError, match="update"):
        StreamingTracker(PursuitImager(SMALL), BlobDetector(SMALL), object())


@pytest.mark.parametrize(
    "name",
    [
        "skysense.tracking.scenario",
        "skysense.tracking.streaming",
        "skysense.tracking.tracker",
        "skysense.metrics.tracking",
    ],
)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_pursuit_images_do_not_depend_on_workers(run):
    one = PursuitImager(SMALL, sparsity=6, workers=1).image(run[:4])
    two = PursuitImager(SMALL, sparsity=6, workers=2).image(run[:4])
    np.testing.assert_array_equal(one, two)
    assert one.shape == (4, *SMALL.grid_shape) and one.max() == 1.0
    with pytest.raises(ValueError, match="workers must be"):
        PursuitImager(SMALL, workers=0)


def test_learned_imager_shape_range_and_workers():
    pytest.importorskip("torch", reason="the learned imager needs torch")
    from skysense.tracking import LearnedImager

    imager = LearnedImager.default(workers=1)
    sc = TrackingScenario(imaging=imager.scenario, n_frames=3, n_uavs=2)
    truth = simulate_trajectories(sc, rng=0)
    csi = simulate_csi(sc, truth.positions_m, truth.coefficients, rng=1)
    images = imager.image(csi)
    assert images.shape == (3, *imager.grid_shape) and images.dtype == np.float64
    assert images.min() >= 0.0 and images.max() <= 1.0
    # complex64 front end and float32 network: one frame takes another product path than a
    # batch, other thread counts reorder the convolution sums (1e-6 relative)
    np.testing.assert_allclose(images[0], imager.image(csi[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        images, LearnedImager.default(workers=2).image(csi), rtol=1e-5, atol=1e-6
    )


def test_learned_imager_is_the_shipped_detector():
    """The image is the detector's heat map: its peaks above the detector's threshold are
    exactly the detector's own read-out (``OffGridImager.image``)."""
    pytest.importorskip("torch", reason="the learned imager needs torch")
    from skysense.tracking import BlobDetector, LearnedImager

    imager = LearnedImager.default(workers=1)
    assert imager.imager.is_detector
    assert imager.threshold == imager.imager.model.config.threshold
    sc = TrackingScenario(imaging=imager.scenario, n_frames=4, n_uavs=5, n_initial=5)
    truth = simulate_trajectories(sc, rng=3)
    csi = simulate_csi(sc, truth.positions_m, truth.coefficients, rng=4)
    heat = imager.image(csi)
    assert len(np.unique(heat)) > 10  # a heat map, not a binary image
    det = BlobDetector(imager.scenario, threshold=imager.threshold, rule="peaks", refine="peak")
    own = imager.imager.image(csi)  # 1 on each detected voxel
    for d, img in zip(det.detect(heat), own, strict=True):
        centres = imager.scenario.voxel_centers_m()[np.flatnonzero(img.ravel() > 0.5)]
        np.testing.assert_allclose(
            d.positions_m[np.lexsort(d.positions_m.T[::-1])],
            centres[np.lexsort(centres.T[::-1])],
        )
