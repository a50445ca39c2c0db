"""Streaming inference next to a BS: CSI frames in, estimates out, bounded memory, latency.

:class:`StreamProcessor` drives any *frame estimator* (a callable mapping a batch of frames
``(n, m)`` to per-frame results with a leading axis ``n``) over an iterable of frames. It
copies frames into one preallocated buffer, runs the estimator on micro-batches and keeps
the last ``history`` per-frame latencies in a ring buffer, so memory does not grow with the
length of the stream. Estimators here:

==================  ==============================================================
``SPImager``        subspace pursuit on the Gram form (matrix-free A, precomputed G)
``BackProjector``   ``A^H y`` through the matrix-free operator
==================  ==============================================================

A stateful estimator (``skysense.tracking.StreamingTracker``) returns a list with one
result per frame.

The learned stages export to ONNX (``skysense.learn``) and plug in the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from skysense._validation import as_batch, check_count, complex_dtype

__all__ = ["BackProjector", "LatencyStats", "SPImager", "StreamProcessor"]


@dataclass(frozen=True)
class LatencyStats:
    """Per-frame latency over the retained history [s] (a frame's share of its micro-batch)."""

    n_frames: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def as_ms(self) -> dict:
        """The statistics in milliseconds (JSON-ready)."""
        return {
            "n_frames": self.n_frames,
            **{k: 1e3 * getattr(self, k) for k in ("mean", "p50", "p95", "p99", "max")},
        }


class StreamProcessor:
    """Run a frame estimator over a stream of CSI frames with bounded memory.

    Parameters
    ----------
    estimator : callable
        ``estimator(frames) -> results``; ``frames`` has shape (n, n_measurements) and the
        results a leading axis of length n (an array, a tuple/dataclass of arrays, or a list
        of n per-frame results).
    n_measurements : int
        Length of one CSI frame.
    dtype : {complex64, complex128}
        dtype frames are copied into (the estimator's working precision).
    batch_size : int
        Frames per estimator call: 1 for the lowest latency, more for throughput.
    history : int
        Latencies kept for :meth:`latency` (a ring buffer).
    """

    def __init__(
        self, estimator, n_measurements, *, dtype=np.complex64, batch_size=1, history=10_000
    ):
        if not callable(estimator):
            raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
        self.estimator = estimator
        self.n_measurements = check_count(n_measurements, "n_measurements")
        self.dtype = complex_dtype(dtype)
        self.batch_size = check_count(batch_size, "batch_size")
        self._buffer = np.empty((self.batch_size, self.n_measurements), self.dtype)
        self._latency = np.zeros(check_count(history, "history"))
        self._count = 0

    def process(self, frames: Iterable) -> Iterator:
        """Yield one result per frame (in order) for an iterable of frames.

        Each frame is an array of shape (n_measurements,) (or (k, n_measurements), taken as
        k frames). NaN/Inf frames raise ``ValueError`` naming the frame's index.
        """
        filled = 0
        index = 0
        for frame in frames:
            rows, _ = as_batch(frame, self.n_measurements, f"frame {index}")
            for row in rows:
                self._buffer[filled] = row
                filled += 1
                index += 1
                if filled == self.batch_size:
                    yield from self._run(filled)
                    filled = 0
        if filled:
            yield from self._run(filled)

    def _run(self, n):
        t0 = time.perf_counter()
        results = self.estimator(self._buffer[:n])
        per_frame = (time.perf_counter() - t0) / n
        for _ in range(n):
            self._latency[self._count % self._latency.size] = per_frame
            self._count += 1
        for i in range(n):
            yield _take(results, i)

    def latency(self) -> LatencyStats:
        """Statistics of the retained per-frame latencies."""
        if self._count == 0:
            raise ValueError("no frame processed yet")
        kept = self._latency[: min(self._count, self._latency.size)]
        p50, p95, p99 = np.percentile(kept, [50, 95, 99])
        return LatencyStats(
            self._count, float(kept.mean()), float(p50), float(p95), float(p99), float(kept.max())
        )


def _take(results, i):
    """Frame ``i`` of batched results (array, tuple of arrays or dataclass of arrays)."""
    if isinstance(results, np.ndarray | list):  # a list: one (ragged) result per frame
        return results[i]
    if isinstance(results, tuple):
        return tuple(_take(r, i) for r in results)
    if hasattr(results, "__dataclass_fields__"):
        fields = {k: _take(getattr(results, k), i) for k in results.__dataclass_fields__}
        return type(results)(**fields)
    raise TypeError(f"cannot split estimator results of type {type(results).__name__}")


class SPImager:
    """Subspace-pursuit imager for streaming: matrix-free A, Gram formed once.

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
    sparsity : int
        SP support size.
    dtype : {complex64, complex128}
        Working precision (complex64 halves the Gram's memory; see ``subspace_pursuit``).
    threshold : None, float or "max/5"
        Post-SP threshold (``subspace_pursuit``).
    workers : int
        Threads over the frames of a micro-batch (1 keeps a core free for I/O).
    """

    def __init__(self, scenario, sparsity, *, dtype=np.complex64, threshold="max/5", workers=1):
        from skysense.imaging import SensingOperator

        self.operator = SensingOperator(scenario, dtype, workers=workers)
        self.gram = self.operator.gram()
        self.sparsity = check_count(sparsity, "sparsity")
        self.threshold = threshold
        self.workers = workers

    @property
    def n_measurements(self) -> int:
        return self.operator.shape[0]

    def __call__(self, frames):
        from skysense.imaging import subspace_pursuit

        return subspace_pursuit(
            self.operator,
            frames,
            self.sparsity,
            gram=self.gram,
            threshold=self.threshold,
            workers=self.workers,
        )

    def memory_usage(self) -> int:
        """Bytes held (links and Gram)."""
        return self.operator.memory_usage() + self.gram.nbytes


class BackProjector:
    """``A^H y`` (the matched-filter image) through the matrix-free operator."""

    def __init__(self, scenario, *, dtype=np.complex64, workers=1):
        from skysense.imaging import SensingOperator

        self.operator = SensingOperator(scenario, dtype, workers=workers)

    @property
    def n_measurements(self) -> int:
        return self.operator.shape[0]

    def __call__(self, frames):
        return self.operator.rmatvec(frames)

    def memory_usage(self) -> int:
        """Bytes held (the link matrices)."""
        return self.operator.memory_usage()
