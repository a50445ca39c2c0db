"""Detections from images: one per connected blob, refined off the voxel grid, with a
measurement covariance calibrated on simulated frames.

Rule (docs/tracking.md, "Detections"): voxels above ``threshold`` form blobs (full
8/26-connectivity); each blob gives one detection at its peak voxel, moved off the grid by
``refine``:

* ``"quadratic"``: per axis, the vertex of the parabola through the peak and its two
  neighbours, ``delta = (I[-1] - I[+1]) / (2 (I[-1] - 2 I[0] + I[+1]))`` voxels, clipped to
  +-1/2 (neighbours outside the grid count as 0; an axis of length 1 is not moved);
* ``"centroid"``: the intensity-weighted mean of the blob's voxels within one voxel of the
  peak;
* ``"peak"``: the peak voxel's centre.

The covariance is ``diag(position_std_m ** 2)``; :func:`calibrate_detector` measures it (the
RMS error per axis of detections matched to the true UAVs), with the detection probability
and the clutter rate the tracker needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from skysense._results import Result
from skysense._validation import as_array, check_finite_scalar, check_positive
from skysense.tracking import _imaging_adapter as adapter
from skysense.tracking.state import Detections

__all__ = ["REFINEMENTS", "BlobDetector", "DetectorCalibration", "calibrate_detector"]

#: Off-grid refinement rules of :class:`BlobDetector`.
REFINEMENTS = ("quadratic", "centroid", "peak")


@dataclass(frozen=True)
class BlobDetector:
    """Blob detections on images of a scenario's voxel grid.

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
        Gives the voxel centres.
    threshold : float
        A voxel belongs to a blob if its image value is strictly above this.
    refine : {"quadratic", "centroid", "peak"}
        Off-grid refinement (module docstring).
    position_std_m : tuple of 3 float
        Measurement std per axis [m] (z may be 0 for a 2-D ROI); default: a voxel / sqrt(12)
        (the error of a uniform off-grid position on the voxel centre) until calibrated.
    """

    scenario: object
    threshold: float = 0.1
    refine: str = "quadratic"
    position_std_m: tuple[float, float, float] | None = None

    def __post_init__(self):
        adapter.check_scenario(self.scenario)
        check_finite_scalar(self.threshold, "threshold")
        if self.refine not in REFINEMENTS:
            raise ValueError(f"refine must be one of {REFINEMENTS}, got {self.refine!r}")
        if self.position_std_m is None:
            d0 = self.scenario.voxel_size_m
            std = [d0 / np.sqrt(12.0)] * 3
            if self.scenario.grid_shape[2] == 1 and self.scenario.roi_size_m[2] == 0:
                std[2] = 0.0
        else:
            std = as_array(self.position_std_m, "position_std_m", shape=(3,), kind="fiu")
            for i, v in enumerate(std):
                check_positive(v, f"position_std_m[{i}]", strict=False)
        object.__setattr__(self, "position_std_m", tuple(float(v) for v in std))

    def replace(self, **changes) -> BlobDetector:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def covariance_m2(self) -> np.ndarray:
        """Measurement covariance of every detection, shape (3, 3) [m^2]."""
        return np.diag(np.square(self.position_std_m))

    def detect(self, images) -> list[Detections]:
        """Detections of each image.

        Parameters
        ----------
        images : array_like, shape (n_frames, n_x, n_y, n_z) or (n_frames, n_x, n_y), float
            Non-negative images on the scenario's grid (``PursuitImager``, ``LearnedImager``).

        Returns
        -------
        list of Detections, length n_frames
        """
        grid = tuple(self.scenario.grid_shape)
        img = as_array(images, "images", ndim=(3, 4), kind="fiu", dtype=np.float64)
        if img.ndim == 3:
            img = img[..., None]
        if img.shape[1:] != grid:
            raise ValueError(
                f"images must have shape (n_frames, {', '.join(map(str, grid))}), got {img.shape}"
            )
        axes = adapter.grid_axes(self.scenario)
        return [self._detect_one(frame, axes) for frame in img]

    def _detect_one(self, image, axes) -> Detections:
        mask = image > self.threshold
        labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
        if n == 0:
            return Detections.empty()
        peaks = np.asarray(
            ndimage.maximum_position(image, labels, index=np.arange(1, n + 1)), dtype=np.int64
        ).reshape(n, 3)
        shape = np.asarray(image.shape)
        d0 = self.scenario.voxel_size_m
        pos = np.stack([axes[a][peaks[:, a]] for a in range(3)], axis=1)
        if self.refine == "quadratic":
            padded = np.pad(image, 1)
            for a in range(3):
                if shape[a] == 1:
                    continue
                step = np.zeros(3, dtype=np.int64)
                step[a] = 1
                c = peaks + 1
                i0 = padded[tuple(c.T)]
                im = padded[tuple((c - step).T)]
                ip = padded[tuple((c + step).T)]
                curv = im - 2 * i0 + ip
                with np.errstate(divide="ignore", invalid="ignore"):
                    delta = np.where(curv < 0, 0.5 * (im - ip) / curv, 0.0)
                pos[:, a] += d0 * np.clip(delta, -0.5, 0.5)
        elif self.refine == "centroid":
            for b in range(n):
                lo = np.maximum(peaks[b] - 1, 0)
                hi = np.minimum(peaks[b] + 2, shape)
                win = tuple(slice(lo[a], hi[a]) for a in range(3))
                w = np.where(labels[win] == b + 1, image[win], 0.0)
                grids = np.meshgrid(*(axes[a][win[a]] for a in range(3)), indexing="ij")
                pos[b] = [np.sum(w * g) / np.sum(w) for g in grids]
        intensity = image[tuple(peaks.T)]
        cov = np.broadcast_to(self.covariance_m2, (n, 3, 3)).copy()
        return Detections(pos, cov, intensity)


@dataclass(frozen=True, repr=False)
class DetectorCalibration(Result):
    """Statistics of detections against the true UAV positions.

    Attributes
    ----------
    position_std_m : ndarray, shape (3,), float64, [m]
        RMS error per axis of matched detections (0 on an untracked z axis).
    detection_probability : float
        Matched UAVs over present UAVs.
    clutter_rate : float
        Unmatched detections per frame.
    n_frames, n_matched : int
    """

    position_std_m: np.ndarray
    detection_probability: float
    clutter_rate: float
    n_frames: int
    n_matched: int


def calibrate_detector(detector: BlobDetector, images, truth_positions, *, gate_m=None):
    """Measure a detector's position error, detection probability and clutter rate.

    Parameters
    ----------
    detector : BlobDetector
    images : array_like, shape (n_frames, *grid)
        Images of simulated frames.
    truth_positions : sequence of array_like, each shape (n_present, 3), [m]
        True UAV positions per frame.
    gate_m : float, optional
        A detection matches a UAV within this distance (optimal assignment); default 2 voxels.

    Returns
    -------
    DetectorCalibration
    """
    if not isinstance(detector, BlobDetector):
        raise TypeError(f"detector must be a BlobDetector, got {type(detector).__name__}")
    frames = detector.detect(images)
    if len(truth_positions) != len(frames):
        raise ValueError(f"truth_positions has {len(truth_positions)} frames, images {len(frames)}")
    gate = (
        2.0 * detector.scenario.voxel_size_m if gate_m is None else check_positive(gate_m, "gate_m")
    )
    errors, n_true, n_false = [], 0, 0
    for det, truth in zip(frames, truth_positions, strict=True):
        t = np.asarray(truth, dtype=float).reshape(-1, 3)
        n_true += t.shape[0]
        if det.n_detections and t.shape[0]:
            dist = np.linalg.norm(det.positions_m[:, None] - t[None], axis=-1)
            rows, cols = linear_sum_assignment(np.minimum(dist, 2 * gate))
            ok = dist[rows, cols] <= gate
            errors.append(det.positions_m[rows[ok]] - t[cols[ok]])
            n_false += det.n_detections - int(ok.sum())
        else:
            n_false += det.n_detections
    err = np.concatenate(errors) if errors else np.empty((0, 3))
    if err.shape[0] < 2:
        raise ValueError("too few matched detections to calibrate (need >= 2); use more frames")
    std = np.sqrt(np.mean(err**2, axis=0))
    return DetectorCalibration(
        position_std_m=std,
        detection_probability=float(err.shape[0] / max(n_true, 1)),
        clutter_rate=float(n_false / len(frames)),
        n_frames=len(frames),
        n_matched=int(err.shape[0]),
    )
