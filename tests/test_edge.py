import numpy as np
import pytest

from skysense.edge import BackProjector, LatencyStats, SPImager, StreamProcessor
from skysense.imaging import Scenario, simulate, subspace_pursuit

S = Scenario(roi_size_m=(21.0, 21.0, 0.0), n_antennas_side=3)


@pytest.fixture(scope="module")
def frames():
    return simulate(S, 7, 2, rng=3, dtype=np.complex64).measurements


@pytest.mark.parametrize("batch_size", [1, 3, 7, 10])
def test_stream_equals_batch_call(frames, batch_size):
    imager = SPImager(S, 2, threshold=None)
    proc = StreamProcessor(imager, imager.n_measurements, batch_size=batch_size)
    streamed = list(proc.process(iter(frames)))
    direct = subspace_pursuit(imager.operator, frames, 2, gram=imager.gram)
    assert len(streamed) == 7
    for i, res in enumerate(streamed):
        np.testing.assert_array_equal(res.support, direct.support[i])
        scale = np.abs(direct.image).max()
        np.testing.assert_allclose(res.image, direct.image[i], rtol=0, atol=1e-6 * scale)
    stats = proc.latency()
    assert stats.n_frames == 7 and 0 < stats.p50_s <= stats.max_s


def test_backprojector_and_ring_buffer(frames):
    bp = BackProjector(S)
    proc = StreamProcessor(bp, bp.n_measurements, history_size=4)
    out = np.stack(list(proc.process([frames[:3], frames[3:]])))  # chunks of frames
    np.testing.assert_allclose(out, bp.operator.rmatvec(frames), rtol=1e-6)
    assert proc.latency().n_frames == 7 and proc._latency.size == 4  # bounded history
    assert bp.memory_usage() > 0


def test_stream_rejects_bad_frames(frames):
    bp = BackProjector(S)
    proc = StreamProcessor(bp, bp.n_measurements)
    bad = frames[1].copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="frame 1 contains NaN"):
        list(proc.process([frames[0], bad]))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        list(proc.process([frames[0][:-1]]))
    with pytest.raises(ValueError, match="no frame processed"):
        StreamProcessor(bp, bp.n_measurements).latency()
    with pytest.raises(TypeError, match="callable"):
        StreamProcessor(None, 3)


def test_latency_stats_reset_and_repr(frames):
    bp = BackProjector(S)
    proc = StreamProcessor(bp, bp.n_measurements, batch_size=2)
    list(proc.process(frames))
    stats = proc.latency()
    assert isinstance(stats, LatencyStats)
    ms = stats.as_ms()
    assert ms["n_frames"] == 7 and ms["max_ms"] == pytest.approx(1e3 * stats.max_s)
    assert set(ms) == {"n_frames", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
    assert repr(stats).startswith("LatencyStats(") and len(repr(stats).splitlines()) == 8
    proc.reset()
    with pytest.raises(ValueError, match="no frame processed"):
        proc.latency()
    list(proc.process(frames[:3]))
    assert proc.latency().n_frames == 3


def test_estimators_follow_set_workers(frames):
    import skysense

    ref = SPImager(S, 2, threshold=None, workers=1)(frames)
    imager = SPImager(S, 2, threshold=None)  # workers=None: the default, read at each call
    with skysense.set_workers(2):
        inside = imager(frames)
    np.testing.assert_array_equal(inside.image, ref.image)
    np.testing.assert_array_equal(inside.support, ref.support)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        SPImager(S, 2, workers=0)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_results_do_not_alias_the_micro_batch_buffer(batch_size):
    """An estimator that returns its input (views of the buffer) must not see later frames."""
    frames = np.arange(5, dtype=np.complex64)[:, None] * np.ones((1, 4), np.complex64)

    def identity(x):
        return x

    def pair(x):
        return x, x[:, :2]

    out = list(StreamProcessor(identity, 4, batch_size=batch_size).process(frames))
    np.testing.assert_array_equal(np.array(out), frames)
    out = list(StreamProcessor(pair, 4, batch_size=batch_size).process(frames))
    np.testing.assert_array_equal(np.array([o[0] for o in out]), frames)
    np.testing.assert_array_equal(np.array([o[1] for o in out]), frames[:, :2])


def test_sp_imager_uses_the_operators_cached_gram(frames):
    imager = SPImager(S, 2, threshold=None)
    assert imager.gram is imager.operator.gram()
    assert imager.memory_usage() == imager.operator.memory_usage()
    assert imager.memory_usage() > imager.gram.nbytes
