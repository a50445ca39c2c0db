import numpy as np
import pytest

from skysense.edge import BackProjector, SPImager, StreamProcessor
from skysense.imaging import Scenario, simulate, subspace_pursuit

S = Scenario(roi_size_m=(21.0, 21.0, 0.0), n_antennas_side=3)


@pytest.fixture(scope="module")
def frames():
    return simulate(S, 7, 2, seed=3, dtype=np.complex64)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 10])
def test_stream_equals_batch_call(frames, batch_size):
    imager = SPImager(S, 2, threshold=None)
    proc = StreamProcessor(imager, imager.n_measurements, batch_size=batch_size)
    streamed = list(proc.process(iter(frames.y)))
    direct = subspace_pursuit(imager.operator, frames.y, 2, gram=imager.gram)
    assert len(streamed) == 7
    for i, res in enumerate(streamed):
        np.testing.assert_array_equal(res.support, direct.support[i])
        np.testing.assert_allclose(res.x, direct.x[i], rtol=0, atol=1e-6 * np.abs(direct.x).max())
    stats = proc.latency()
    assert stats.n_frames == 7 and 0 < stats.p50 <= stats.max


def test_backprojector_and_ring_buffer(frames):
    bp = BackProjector(S)
    proc = StreamProcessor(bp, bp.n_measurements, history=4)
    out = np.stack(list(proc.process([frames.y[:3], frames.y[3:]])))  # chunks of frames
    np.testing.assert_allclose(out, bp.operator.rmatvec(frames.y), rtol=1e-6)
    assert proc.latency().n_frames == 7 and proc._latency.size == 4  # bounded history
    assert bp.memory_usage() > 0


def test_stream_rejects_bad_frames(frames):
    bp = BackProjector(S)
    proc = StreamProcessor(bp, bp.n_measurements)
    bad = frames.y[1].copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="frame 1 contains NaN"):
        list(proc.process([frames.y[0], bad]))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        list(proc.process([frames.y[0][:-1]]))
    with pytest.raises(ValueError, match="no frame processed"):
        StreamProcessor(bp, bp.n_measurements).latency()
    with pytest.raises(TypeError, match="callable"):
        StreamProcessor(None, 3)
