"""Detection rate (DR) and false-alarm rate (FAR) of thresholded images."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import check_finite_scalar
from skysense.metrics._common import (
    as_frames,
    check_same_shape,
    frame_chunks,
    label_blobs,
    to_grid,
)

__all__ = ["DETECTION_RULES", "DetectionResult", "detection_rates"]

#: ``"blob"``: the authors' ``cal_detect_rate`` (3 x 3 neighbourhood, 8-connected blobs);
#: ``"exact"``: voxel-by-voxel match of the thresholded support.
DETECTION_RULES = ("blob", "exact")

IntArray = npt.NDArray[np.int64]


def _ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``num / den`` elementwise with 0 / 0 = 0, float64."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


@dataclass(frozen=True, repr=False, eq=False)
class DetectionResult(Result):
    """Per-frame detection counts of :func:`detection_rates`.

    Attributes
    ----------
    n_detected : ndarray, shape (n_frames,), int64
        Detections: matched blobs (``"blob"``) or true-positive voxels (``"exact"``).
    n_true : ndarray, shape (n_frames,), int64
        True targets (label voxels ``>= label_threshold``).
    n_false_alarms : ndarray, shape (n_frames,), int64
        Unmatched blobs (``"blob"``) or false-positive voxels (``"exact"``).

    Notes
    -----
    ``detection_rate`` and ``false_alarm_rate`` (the paper's DR and FAR) pool the counts over
    all frames; 0 / 0 is defined as 0, so an all-zero prediction has DR = 0 and FAR = 0
    (Table IV, Net-4/6). The authors average per-batch ratios weighted by batch size
    instead, which differs only in rounding for equal-size batches of many frames.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import DetectionResult
    >>> counts = DetectionResult(
    ...     n_detected=np.array([1, 2]), n_true=np.array([2, 2]), n_false_alarms=np.array([1, 0])
    ... )
    >>> counts.detection_rate, counts.false_alarm_rate, counts.detection_rate_per_frame.tolist()
    (0.75, 0.25, [0.5, 1.0])
    """

    n_detected: IntArray
    n_true: IntArray
    n_false_alarms: IntArray

    def __len__(self) -> int:
        return int(self.n_detected.shape[0])

    @property
    def detection_rate(self) -> float:
        """Pooled detection rate (DR) ``sum(n_detected) / sum(n_true)``, in [0, 1]."""
        return float(_ratio(self.n_detected.sum(), self.n_true.sum()))

    @property
    def false_alarm_rate(self) -> float:
        """Pooled false-alarm rate (FAR) ``sum(false) / (sum(false) + sum(detected))``, in [0, 1]."""
        false = self.n_false_alarms.sum()
        return float(_ratio(false, false + self.n_detected.sum()))

    @property
    def detection_rate_per_frame(self) -> npt.NDArray[np.float64]:
        """Detection rate of each frame, shape (n_frames,), float64."""
        return _ratio(self.n_detected, self.n_true)

    @property
    def false_alarm_rate_per_frame(self) -> npt.NDArray[np.float64]:
        """False-alarm rate of each frame, shape (n_frames,), float64."""
        return _ratio(self.n_false_alarms, self.n_false_alarms + self.n_detected)


def detection_rates(
    pred: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    rule: str = "blob",
    threshold: float = 0.1,
    label_threshold: float = 0.1,
    grid_shape: tuple[int, ...] | None = None,
) -> DetectionResult:
    """Count detections and false alarms of each frame.

    Parameters
    ----------
    pred : array_like, shape (n_frames, n_x, n_y) or (n_frames, n_x, n_y, n_z), float32 or float64
        Estimated images (the first axis always indexes frames; ``image[None]`` for
        one). Flat ``(n_frames, n_voxels)`` rows, C-order over the grid axes, with
        ``grid_shape``. A voxel is predicted positive if ``pred > threshold``.
    labels : array_like, same shape as ``pred``, bool or float
        Ground truth; a voxel holds a target if ``labels >= label_threshold``.
    rule : {"blob", "exact"}
        See Notes.
    threshold : float
        Detection threshold on ``pred`` (strict; 0.1 on the sigmoid output).
    label_threshold : float
        Target threshold on ``labels`` (inclusive; bool labels count as 0/1).
    grid_shape : tuple of 2 or 3 int, optional
        Grid of flat input (``Scenario.grid_shape``).

    Returns
    -------
    DetectionResult
        Per-frame counts with pooled ``detection_rate`` and ``false_alarm_rate``.

    Notes
    -----
    ``"blob"`` is the authors' ``cal_detect_rate``: predicted positives form
    8-connected blobs (26-connected in 3-D). True targets are visited in C order;
    each scans its 3 x 3 (3 x 3 x 3) neighbourhood, clipped at the grid border, in C
    order, and the first voxel of a not-yet-used blob makes it detected and marks the
    whole blob used. So two targets merged into one blob count once, a blob touching a
    target diagonally counts, and every blob left unused is one false alarm.

    ``"exact"`` compares supports voxel by voxel: predicted positives on a target
    voxel are detections, all other predicted positives false alarms.

    Grid axes of length 1 change nothing, so ``(n_x, n_y, 1)`` grids behave as 2-D.
    The blob matching runs in a numba kernel (compiled on first use).

    References
    ----------
    Huang et al., IEEE TWC 25 (2026), Sec. V-A; ``utils.py`` of kiwi1944/LAEImager.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import detection_rates
    >>> labels = np.zeros((1, 5, 5), bool)
    >>> labels[0, 1, 1] = labels[0, 3, 3] = True
    >>> pred = np.zeros((1, 5, 5))
    >>> pred[0, 1, 2] = pred[0, 0, 4] = 1.0  # one hit next to a target, one false alarm
    >>> result = detection_rates(pred, labels)
    >>> result.detection_rate, result.false_alarm_rate
    (0.5, 0.5)
    """
    if rule not in DETECTION_RULES:
        raise ValueError(f"rule must be one of {DETECTION_RULES}, got {rule!r}")
    threshold = check_finite_scalar(threshold, "threshold")
    label_threshold = check_finite_scalar(label_threshold, "label_threshold")
    p = as_frames(pred, "pred")
    t = as_frames(labels, "labels")
    check_same_shape(p, t, "pred", "labels")
    p = to_grid(p, "pred", grid_shape)
    t = to_grid(t, "labels", grid_shape)

    n_frames = p.shape[0]
    detected = np.empty(n_frames, dtype=np.int64)
    n_true = np.empty(n_frames, dtype=np.int64)
    false = np.empty(n_frames, dtype=np.int64)
    for sl in frame_chunks(n_frames, math.prod(p.shape[1:])):
        pos = p[sl] > threshold
        tgt = t[sl] >= label_threshold
        n_true[sl] = tgt.reshape(tgt.shape[0], -1).sum(axis=1)
        if rule == "exact":
            detected[sl] = (pos & tgt).reshape(pos.shape[0], -1).sum(axis=1)
            false[sl] = (pos & ~tgt).reshape(pos.shape[0], -1).sum(axis=1)
        else:
            detected[sl], false[sl] = _blob_counts(pos, tgt)
    return DetectionResult(n_detected=detected, n_true=n_true, n_false_alarms=false)


def _blob_counts(
    pos: npt.NDArray[np.bool_], tgt: npt.NDArray[np.bool_]
) -> tuple[IntArray, IntArray]:
    from skysense.metrics import _detection_numba

    match_blobs = cast(Any, _detection_numba.match_blobs)  # a numba dispatcher
    blobs, offsets = label_blobs(pos, None)
    grid = pos.shape[1:] + (1,) * (3 - (pos.ndim - 1))
    used = np.zeros(int(offsets[-1]) + 1, dtype=np.bool_)
    detected = match_blobs(
        blobs.reshape(pos.shape[0], -1), tgt.reshape(tgt.shape[0], -1), *grid, used
    )
    return detected, np.diff(offsets) - detected
