"""Streaming inference next to a BS: CSI frames in, estimates out, bounded memory, latency.

:class:`StreamProcessor` drives any *frame estimator* (a callable mapping a batch of frames
``(n, m)`` to per-frame results with a leading axis ``n``) over an iterable of frames. It
copies frames into one preallocated buffer, runs the estimator on micro-batches and keeps
the last ``history_size`` per-frame latencies in a ring buffer, so memory does not grow with
the length of the stream. Estimators here:

==================  ==============================================================
``SPImager``        subspace pursuit on the Gram form (matrix-free A, precomputed G)
``BackProjector``   ``A^H y`` through the matrix-free operator
``LatencyStats``    :meth:`StreamProcessor.latency`'s result: per-frame latency [s]
==================  ==============================================================

A stateful estimator (``skysense.tracking.StreamingTracker``) returns a list with one
result per frame.

The learned stages export to ONNX (``skysense.learn``) and plug in the same way.
``workers=None`` means :func:`skysense.get_workers` (1 unless :func:`skysense.set_workers`
says otherwise), read at each call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_batch, check_count, complex_dtype

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.imaging import PursuitResult, Scenario, SensingOperator

__all__ = ["BackProjector", "LatencyStats", "SPImager", "StreamProcessor"]


@dataclass(frozen=True, repr=False)
class LatencyStats(Result):
    """Per-frame latency over the retained history (a frame's share of its micro-batch).

    Attributes
    ----------
    n_frames : int
        Frames processed since the start (or the last :meth:`StreamProcessor.reset`).
    mean_s, p50_s, p95_s, p99_s, max_s : float
        Mean, median, 95th and 99th percentile and maximum over the retained latencies [s].

    Examples
    --------
    >>> from skysense.edge import LatencyStats
    >>> LatencyStats(n_frames=3, mean_s=0.002, p50_s=0.002, p95_s=0.003, p99_s=0.003, max_s=0.004)
    LatencyStats(
      n_frames=3,
      mean_s=0.002,
      p50_s=0.002,
      p95_s=0.003,
      p99_s=0.003,
      max_s=0.004,
    )
    """

    n_frames: int
    mean_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float

    def as_ms(self) -> dict[str, float | int]:
        """The statistics in milliseconds, JSON-ready: ``n_frames``, ``mean_ms``, ``p50_ms``,
        ``p95_ms``, ``p99_ms``, ``max_ms``.

        Examples
        --------
        >>> from skysense.edge import LatencyStats
        >>> LatencyStats(3, 0.002, 0.002, 0.003, 0.003, 0.004).as_ms()["max_ms"]
        4.0
        """
        out: dict[str, float | int] = {"n_frames": self.n_frames}
        for key in ("mean", "p50", "p95", "p99", "max"):
            out[f"{key}_ms"] = 1e3 * getattr(self, f"{key}_s")
        return out


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
    history_size : int
        Latencies kept for :meth:`latency` (a ring buffer).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.edge import BackProjector, StreamProcessor
    >>> from skysense.imaging import Scenario, simulate
    >>> s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    >>> estimator = BackProjector(s)
    >>> stream = StreamProcessor(estimator, estimator.n_measurements, batch_size=2)
    >>> frames = simulate(s, 5, 1, rng=0).measurements
    >>> images = list(stream.process(frames))
    >>> len(images), images[0].shape, stream.latency().n_frames
    (5, (9,), 5)
    """

    def __init__(
        self,
        estimator: Callable[[npt.NDArray[Any]], Any],
        n_measurements: int,
        *,
        dtype: npt.DTypeLike = np.complex64,
        batch_size: int = 1,
        history_size: int = 10_000,
    ) -> None:
        if not callable(estimator):
            raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
        self.estimator = estimator
        self.n_measurements = check_count(n_measurements, "n_measurements")
        self.dtype = complex_dtype(dtype)
        self.batch_size = check_count(batch_size, "batch_size")
        self._buffer = np.empty((self.batch_size, self.n_measurements), self.dtype)
        self._latency = np.zeros(check_count(history_size, "history_size"))
        self._count = 0

    def process(self, frames: Iterable[npt.ArrayLike]) -> Iterator[Any]:
        """Yield one result per frame (in order) for an iterable of frames.

        Each frame is an array of shape (n_measurements,) (or (k, n_measurements), taken as
        k frames). NaN/Inf frames raise ``ValueError`` naming the frame's index. Every
        yielded result owns its arrays (copies of the estimator's per-frame rows), so results
        kept across micro-batches never change.
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

    def _run(self, n: int) -> Iterator[Any]:
        t0 = time.perf_counter()
        results = self.estimator(self._buffer[:n])
        per_frame = (time.perf_counter() - t0) / n
        for _ in range(n):
            self._latency[self._count % self._latency.size] = per_frame
            self._count += 1
        for i in range(n):
            yield _take(results, i)

    def latency(self) -> LatencyStats:
        """Statistics of the retained per-frame latencies.

        Raises
        ------
        ValueError
            Before the first frame (or right after :meth:`reset`).
        """
        if self._count == 0:
            raise ValueError("no frame processed yet")
        kept = self._latency[: min(self._count, self._latency.size)]
        p50, p95, p99 = np.percentile(kept, [50, 95, 99])
        return LatencyStats(
            n_frames=self._count,
            mean_s=float(kept.mean()),
            p50_s=float(p50),
            p95_s=float(p95),
            p99_s=float(p99),
            max_s=float(kept.max()),
        )

    def reset(self) -> None:
        """Forget the latencies and the frame count (the estimator is kept)."""
        self._latency[:] = 0.0
        self._count = 0


def _take(results: Any, i: int) -> Any:
    """Frame ``i`` of batched results (array, tuple of arrays, dataclass of arrays, or a list
    of per-frame results); arrays are copied.

    The copy matters: an estimator may return views of the micro-batch buffer (an identity
    stage) or of its own reused output buffer, which the next micro-batch overwrites. A list
    holds one result per frame (a stateful estimator such as a tracker), each its own object.
    """
    if isinstance(results, np.ndarray):
        return results[i].copy()
    if isinstance(results, list):
        return results[i]
    if isinstance(results, tuple):
        return tuple(_take(r, i) for r in results)
    if dataclasses.is_dataclass(results) and not isinstance(results, type):
        fields = {f.name: _take(getattr(results, f.name), i) for f in dataclasses.fields(results)}
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
    workers : int, optional
        Threads over the frames of a micro-batch; ``None`` means the current default
        (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers` says otherwise),
        read at each call (1 keeps a core free for I/O). Results do not depend on it.

    Examples
    --------
    >>> from skysense.edge import SPImager
    >>> from skysense.imaging import Scenario, simulate
    >>> s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    >>> imager = SPImager(s, 1)
    >>> imager(simulate(s, 3, 1, rng=0).measurements).support.shape
    (3, 1)
    """

    def __init__(
        self,
        scenario: Scenario,
        sparsity: int,
        *,
        dtype: npt.DTypeLike = np.complex64,
        threshold: float | str | None = "max/5",
        workers: int | None = None,
    ) -> None:
        from skysense.imaging import SensingOperator

        self.operator: SensingOperator = SensingOperator(scenario, dtype, workers=workers)
        self.operator.gram()  # formed now, kept by the operator
        self.sparsity = check_count(sparsity, "sparsity")
        self.threshold = threshold
        self.workers = workers

    @property
    def n_measurements(self) -> int:
        """Length of one CSI frame."""
        return int(self.operator.shape[0])

    @property
    def gram(self) -> npt.NDArray[np.complexfloating[Any, Any]]:
        """The operator's cached ``A^H A`` (read-only), shape (n_voxels, n_voxels)."""
        return self.operator.gram()

    def __call__(self, frames: npt.ArrayLike) -> PursuitResult:
        """SP images of frames of shape (n, n_measurements) (see ``subspace_pursuit``)."""
        from skysense.imaging import subspace_pursuit

        return subspace_pursuit(
            self.operator,
            frames,
            self.sparsity,
            method="gram",
            threshold=self.threshold,
            workers=self.workers,
        )

    def memory_usage(self) -> int:
        """Bytes held (links and Gram)."""
        return self.operator.memory_usage()


class BackProjector:
    """``A^H y`` (the matched-filter image, eq. (20)) through the matrix-free operator.

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
    dtype : {complex64, complex128}
        Working precision.
    workers : int, optional
        Threads for building the operator's links; ``None`` means the current default
        (:func:`skysense.get_workers`).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.edge import BackProjector
    >>> from skysense.imaging import Scenario
    >>> projector = BackProjector(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> projector(np.ones((2, projector.n_measurements))).shape
    (2, 9)
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        dtype: npt.DTypeLike = np.complex64,
        workers: int | None = None,
    ) -> None:
        from skysense.imaging import SensingOperator

        self.operator: SensingOperator = SensingOperator(scenario, dtype, workers=workers)

    @property
    def n_measurements(self) -> int:
        """Length of one CSI frame."""
        return int(self.operator.shape[0])

    def __call__(self, frames: npt.ArrayLike) -> npt.NDArray[np.complexfloating[Any, Any]]:
        """``A^H y`` of frames of shape (n, n_measurements): shape (n, n_voxels)."""
        return self.operator.rmatvec(frames)

    def memory_usage(self) -> int:
        """Bytes held (the link matrices)."""
        return self.operator.memory_usage()
