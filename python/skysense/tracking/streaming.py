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
    >>> from skysense.edge import StreamProcessor                       # doctest: +SKIP
    >>> stream = StreamingTracker(imager, detector, tracker)            # doctest: +SKIP
    >>> proc = StreamProcessor(stream, stream.n_measurements)           # doctest: +SKIP
    >>> for tracks in proc.process(csi_frames): ...                     # doctest: +SKIP
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
