"""CSI in, tracks out: imager, detector and tracker chained for a stream of frames."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from skysense._validation import as_batch
from skysense.tracking.base import FrameTracker
from skysense.tracking.detection import BlobDetector
from skysense.tracking.imagers import LearnedImager, PursuitImager
from skysense.tracking.state import Tracks

__all__ = ["StreamingTracker"]


class StreamingTracker:
    """A tracker fed one CSI frame (or a micro-batch) at a time.

    Parameters
    ----------
    imager : PursuitImager or LearnedImager
        CSI -> image.
    detector : BlobDetector
        Image -> detections (on the imager's grid).
    tracker : BPTracker (or a baseline with ``update`` and ``reset``)
        Detections -> tracks.

    Notes
    -----
    Use :meth:`update` for one frame, or pass the object to
    :class:`skysense.edge.StreamProcessor` as its estimator: a call with ``(n, n_measurements)``
    frames steps the tracker through them in order and returns the list of ``n`` Tracks.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.edge import StreamProcessor
    >>> from skysense.imaging import Scenario
    >>> from skysense.tracking import (BPTracker, BlobDetector, PursuitImager, StreamingTracker,
    ...     SurveillanceRegion, TrackerConfig, TrackingScenario, simulate_csi,
    ...     simulate_trajectories)
    >>> s = Scenario(n_antennas_side=2, voxel_size_m=6.0)
    >>> run = TrackingScenario(imaging=s, n_frames=10, n_uavs=2)
    >>> truth = simulate_trajectories(run, rng=0)
    >>> csi = simulate_csi(run, truth.positions_m, truth.coefficients, rng=1)
    >>> tracker = BPTracker.from_config(TrackerConfig(SurveillanceRegion.from_scenario(s)))
    >>> stream = StreamingTracker(PursuitImager(s), BlobDetector(s, threshold=0.0), tracker)
    >>> proc = StreamProcessor(stream, stream.n_measurements, dtype=np.complex128)
    >>> tracks = list(proc.process(csi))
    >>> len(tracks), tracks[-1].time_s, proc.latency().n_frames
    (10, 0.9, 10)
    """

    def __init__(
        self, imager: PursuitImager | LearnedImager, detector: BlobDetector, tracker: FrameTracker
    ) -> None:
        if not isinstance(detector, BlobDetector):
            raise TypeError(f"detector must be a BlobDetector, got {type(detector).__name__}")
        if tuple(detector.scenario.grid_shape) != tuple(imager.grid_shape):
            raise ValueError(
                f"detector grid {detector.scenario.grid_shape} differs from the imager grid "
                f"{imager.grid_shape}"
            )
        for name in ("update", "reset"):
            if not callable(getattr(tracker, name, None)):
                raise TypeError(f"tracker must have an {name}() method")
        self.imager, self.detector, self.tracker = imager, detector, tracker

    @property
    def n_measurements(self) -> int:
        """Length of one CSI frame."""
        return self.imager.n_measurements

    def reset(self) -> None:
        """Restart the tracker (forget every track)."""
        self.tracker.reset()

    def update(self, csi: npt.ArrayLike) -> Tracks:
        """Image, detect and track one frame.

        Parameters
        ----------
        csi : array_like, shape (n_measurements,), complex
            One CSI frame (rows ordered as the sensing matrix). NaN/Inf or a wrong length
            raise ValueError naming ``csi``.

        Returns
        -------
        Tracks
        """
        frames, single = as_batch(csi, self.n_measurements, "csi")
        if not single:
            raise ValueError(
                f"csi must be one frame of shape ({self.n_measurements},), got "
                f"{np.shape(csi)}; call the object with a batch"
            )
        return self(frames)[0]

    def __call__(self, frames: npt.ArrayLike) -> list[Tracks]:
        """Tracks after each of a batch of frames ``(n, n_measurements)``, in order."""
        images = self.imager.image(np.atleast_2d(frames))
        return [self.tracker.update(det) for det in self.detector.detect(images)]
