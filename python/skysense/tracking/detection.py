"""Detections from images: one per connected blob, refined off the voxel grid, with a
measurement covariance calibrated on simulated frames.

Rule (docs/tracking.md, "Detections"): ``rule="peaks"`` gives one detection per local maximum
of the image above ``threshold`` (a voxel not below any of its 8/26 neighbours, the first in
C order on a plateau), ``rule="blobs"`` one per connected blob of voxels above ``threshold``
(full 8/26-connectivity) at the blob's peak voxel. Peaks keep two UAVs whose responses touch
apart; blobs merge them. Each detection is moved off the grid by ``refine``:

* ``"quadratic"``: per axis, the vertex of the parabola through the peak and its two
  neighbours, ``delta = (I[-1] - I[+1]) / (2 (I[-1] - 2 I[0] + I[+1]))`` voxels, clipped to
  +-1/2 (neighbours outside the grid count as 0; an axis of length 1 is not moved);
* ``"centroid"``: the intensity-weighted mean of the voxels above ``threshold`` within one
  voxel of the peak;
* ``"peak"``: the peak voxel's centre.

The covariance is ``diag(std ** 2)``: ``std = position_std_m`` for every detection, or, with an
``error_model`` (:class:`PositionErrorModel`), the RMS error per axis of detections of the same
intensity (brighter detections are more accurate). :func:`calibrate_detector` measures both
(detections matched to the true UAVs), with the detection probability and the clutter rate
the tracker needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from skysense._results import Result
from skysense._validation import as_array, check_count, check_finite_scalar, check_positive
from skysense.tracking import _imaging_adapter as adapter
from skysense.tracking.models import IntensityModel
from skysense.tracking.state import Detections

if TYPE_CHECKING:
    from skysense.imaging import Scenario

__all__ = [
    "DETECTION_RULES",
    "REFINEMENTS",
    "BlobDetector",
    "DetectorCalibration",
    "PositionErrorModel",
    "calibrate_detector",
    "detection_nees",
]

#: Off-grid refinement rules of :class:`BlobDetector`.
REFINEMENTS = ("quadratic", "centroid", "peak")
#: Detection rules of :class:`BlobDetector`.
DETECTION_RULES = ("peaks", "blobs")


@dataclass(frozen=True)
class PositionErrorModel:
    """Position error std of a detection as a function of its intensity (piecewise constant).

    A detection of intensity ``a`` in bin ``b`` (``edges[b] <= a < edges[b + 1]``, clamped to
    the outer bins) has the covariance ``diag(std_m[b] ** 2)``.

    Parameters
    ----------
    edges : tuple of float
        Increasing bin edges (n_bins + 1 of them).
    std_m : tuple of tuple of 3 float
        Error std per bin and axis [m] (z may be 0 for a 2-D ROI).

    Examples
    --------
    >>> m = PositionErrorModel((0.0, 0.5, 1.0), ((2.0, 2.0, 0.0), (1.0, 1.0, 0.0)))
    >>> m.covariance_m2([0.2, 0.9])[:, 0, 0].tolist()
    [4.0, 1.0]
    """

    edges: tuple[float, ...]
    std_m: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        e = as_array(self.edges, "edges", ndim=1, kind="fiu", dtype=np.float64)
        if e.size < 2 or np.any(np.diff(e) <= 0):
            raise ValueError(f"edges must hold >= 2 increasing values, got {e.tolist()}")
        s = as_array(self.std_m, "std_m", shape=(e.size - 1, 3), kind="fiu", dtype=np.float64)
        if np.any(s < 0):
            raise ValueError(f"std_m must be >= 0, got {s.tolist()}")
        object.__setattr__(self, "edges", tuple(float(v) for v in e))
        object.__setattr__(self, "std_m", tuple(tuple(float(v) for v in row) for row in s))

    def std(self, intensity: npt.ArrayLike) -> np.ndarray:
        """Error std per axis of detections of these intensities.

        Parameters
        ----------
        intensity : array_like, shape (n,)
            Detection intensities (image values at the detections).

        Returns
        -------
        ndarray, shape (n, 3), float64, [m]
            The std of each detection's bin.
        """
        a = np.asarray(intensity, dtype=float).reshape(-1)
        b = np.clip(np.searchsorted(self.edges, a, side="right") - 1, 0, len(self.std_m) - 1)
        return np.asarray(self.std_m)[b]

    def covariance_m2(self, intensity: npt.ArrayLike) -> np.ndarray:
        """Covariances ``diag(std ** 2)`` of detections of these intensities.

        Parameters
        ----------
        intensity : array_like, shape (n,)
            Detection intensities.

        Returns
        -------
        ndarray, shape (n, 3, 3), float64, [m^2]
            Diagonal covariance of each detection.
        """
        s2 = self.std(intensity) ** 2
        out = np.zeros((s2.shape[0], 3, 3))
        out[:, [0, 1, 2], [0, 1, 2]] = s2
        return out


@dataclass(frozen=True)
class BlobDetector:
    """Blob detections on images of a scenario's voxel grid.

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
        Gives the voxel centres.
    threshold : float
        Only voxels strictly above this are detected.
    rule : {"peaks", "blobs"}
        One detection per local maximum, or per connected blob (module docstring).
    refine : {"quadratic", "centroid", "peak"}
        Off-grid refinement (module docstring).
    position_std_m : tuple of 3 float
        Measurement std per axis [m] (z may be 0 for a 2-D ROI); default: a voxel / sqrt(12)
        (the error of a uniform off-grid position on the voxel centre) until calibrated.
    error_model : PositionErrorModel, optional
        Intensity-dependent error std (from :func:`calibrate_detector`); when given it sets
        each detection's covariance and ``position_std_m`` is not used.
    """

    scenario: Scenario
    threshold: float = 0.1
    rule: str = "blobs"
    refine: str = "quadratic"
    position_std_m: tuple[float, float, float] | None = None
    error_model: PositionErrorModel | None = None

    def __post_init__(self) -> None:
        adapter.check_scenario(self.scenario)
        check_finite_scalar(self.threshold, "threshold")
        if self.rule not in DETECTION_RULES:
            raise ValueError(f"rule must be one of {DETECTION_RULES}, got {self.rule!r}")
        if self.refine not in REFINEMENTS:
            raise ValueError(f"refine must be one of {REFINEMENTS}, got {self.refine!r}")
        std: Any
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
        if self.error_model is not None and not isinstance(self.error_model, PositionErrorModel):
            raise TypeError(
                f"error_model must be a PositionErrorModel, got {type(self.error_model).__name__}"
            )

    def replace(self, **changes: Any) -> BlobDetector:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def covariance_m2(self) -> np.ndarray:
        """Measurement covariance ``diag(position_std_m ** 2)``, shape (3, 3) [m^2] (of every
        detection unless an ``error_model`` is set)."""
        return np.diag(np.square(np.asarray(self.position_std_m, dtype=float)))

    def detect(self, images: npt.ArrayLike) -> list[Detections]:
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

    def _detect_one(
        self, image: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> Detections:
        mask = image > self.threshold
        full = np.ones((3, 3, 3), dtype=bool)
        if self.rule == "blobs":
            labels, n = ndimage.label(mask, structure=full)
            if n == 0:
                return Detections.empty()
            peaks = np.asarray(
                ndimage.maximum_position(image, labels, index=np.arange(1, n + 1)), dtype=np.int64
            ).reshape(n, 3)
        else:
            # local maxima; on a plateau keep the first voxel in C order
            peak = mask & (image >= ndimage.maximum_filter(image, footprint=full, mode="constant"))
            labels, n = ndimage.label(peak, structure=full)
            if n == 0:
                return Detections.empty()
            first = ndimage.minimum(
                np.arange(image.size).reshape(image.shape), labels, index=np.arange(1, n + 1)
            )
            peaks = np.stack(
                np.unravel_index(np.asarray(first, dtype=np.int64), image.shape), axis=1
            )
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
                w = np.where(mask[win], image[win], 0.0)
                grids = np.meshgrid(*(axes[a][win[a]] for a in range(3)), indexing="ij")
                pos[b] = [
                    np.sum(w * g) / np.sum(w) if shape[a] > 1 else axes[a][0]
                    for a, g in enumerate(grids)
                ]
        intensity = image[tuple(peaks.T)]
        if self.error_model is not None:
            cov = self.error_model.covariance_m2(intensity)
        else:
            cov = np.broadcast_to(self.covariance_m2, (n, 3, 3)).copy()
        return Detections(pos, cov, intensity)


def _error_model(err: np.ndarray, intensity: np.ndarray, n_bins: int) -> PositionErrorModel:
    """RMS error per axis in quantile bins of the intensity (fewer bins when few matches)."""
    n_bins = max(1, min(n_bins, err.shape[0] // 8))
    edges = np.unique(np.quantile(intensity, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([intensity.min(), intensity.min() + 1.0])
    b = np.clip(np.searchsorted(edges, intensity, side="right") - 1, 0, edges.size - 2)
    overall = np.sqrt(np.mean(err**2, axis=0))
    std = np.array(
        [
            np.sqrt(np.mean(err[b == k] ** 2, axis=0)) if np.sum(b == k) >= 2 else overall
            for k in range(edges.size - 1)
        ]
    )
    return PositionErrorModel(tuple(edges), tuple(tuple(row) for row in std))


def detection_nees(errors_m: npt.ArrayLike, std_m: npt.ArrayLike) -> float:
    """Mean NEES ``sum_a (e_a / std_a)^2`` over axes with ``std_a > 0`` of diagonal covariances.

    Parameters
    ----------
    errors_m : array_like, shape (n, 3), [m]
        Position errors (estimate - truth).
    std_m : array_like, shape (n, 3) or (3,), [m]
        The error std each estimate claims per axis (0: an untracked axis, skipped).

    Returns
    -------
    float
        The mean over the n estimates; calibrated covariances give the number of tracked axes.

    Examples
    --------
    >>> detection_nees([[1.0, -1.0, 0.0], [2.0, 0.0, 0.0]], [1.0, 1.0, 0.0])
    3.0
    """
    e = as_array(errors_m, "errors_m", shape=(None, 3), kind="fiu", dtype=np.float64)
    s = np.broadcast_to(np.asarray(std_m, dtype=float), e.shape)
    if e.shape[0] == 0:
        raise ValueError("errors_m must hold at least one error")
    used = s > 0
    z = np.where(used, e / np.where(used, s, 1.0), 0.0)
    return float(np.mean(np.sum(z**2, axis=1)))


def _intensity_model(target: np.ndarray, clutter: np.ndarray) -> IntensityModel | None:
    if target.size < 2 or clutter.size < 2:
        return None
    return IntensityModel.fit(target, clutter)


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
        False detections per frame as the association sees them: their density within
        ``clutter_radius_m`` of the true UAVs, times the ROI area (2-D) or volume (3-D). False
        detections of an imager gather around the UAVs (sidelobe ghosts), so this exceeds
        ``false_per_frame``, the plain count.
    false_per_frame : float
        Unmatched detections per frame.
    intensity : IntensityModel or None
        Intensity likelihood ratio of matched against false detections (None with fewer than
        two false or two matched detections).
    error_model : PositionErrorModel
        RMS error per axis of matched detections in ``n_error_bins`` intensity bins
        (quantiles of the matched intensities; one bin with fewer than 8 matches per bin).
    nees : float
        Mean normalised estimation error squared ``e^T R^-1 e`` of the matched detections
        under ``error_model`` over the tracked axes (the number of tracked axes if the
        covariances are calibrated; evaluate on other frames to check).
    n_frames, n_matched : int
    """

    position_std_m: np.ndarray
    detection_probability: float
    clutter_rate: float
    false_per_frame: float
    intensity: IntensityModel | None
    error_model: PositionErrorModel
    nees: float
    n_frames: int
    n_matched: int


def calibrate_detector(
    detector: BlobDetector,
    images: npt.ArrayLike,
    truth_positions: Sequence[npt.ArrayLike],
    *,
    gate_m: float | None = None,
    clutter_radius_m: float | None = None,
    n_error_bins: int = 4,
) -> DetectorCalibration:
    """Measure a detector's position error, detection probability and clutter rate.

    Parameters
    ----------
    detector : BlobDetector
        The detector to measure (run on ``images``).
    images : array_like, shape (n_frames, grid...)
        Images of simulated frames.
    truth_positions : sequence of array_like, each shape (n_present, 3), [m]
        True UAV positions per frame.
    gate_m : float, optional
        A detection matches a UAV within this distance (optimal assignment); default 2 voxels.
    clutter_radius_m : float, optional
        Radius of the neighbourhood of the UAVs where the clutter density is measured;
        default 5 voxels.
    n_error_bins : int
        Intensity bins of the error model (quantiles of the matched detections' intensity).

    Returns
    -------
    DetectorCalibration
        Position error std, detection probability and clutter rate of the detector.
    """
    if not isinstance(detector, BlobDetector):
        raise TypeError(f"detector must be a BlobDetector, got {type(detector).__name__}")
    frames = detector.detect(images)
    if len(truth_positions) != len(frames):
        raise ValueError(f"truth_positions has {len(truth_positions)} frames, images {len(frames)}")
    d0 = detector.scenario.voxel_size_m
    gate = 2.0 * d0 if gate_m is None else check_positive(gate_m, "gate_m")
    radius = (
        5.0 * d0
        if clutter_radius_m is None
        else check_positive(clutter_radius_m, "clutter_radius_m")
    )
    # the measure of the UAVs' neighbourhood in each frame, from the voxel centres
    centres = adapter.voxel_centers(detector.scenario)
    lo, hi = adapter.roi_bounds(detector.scenario)
    extent = hi - lo
    measure = float(np.prod(extent[extent > 0]))
    n_bins = check_count(n_error_bins, "n_error_bins")
    errors: list[np.ndarray] = []
    matched_int: list[np.ndarray] = []
    n_true, n_false = 0, 0
    near_false, near_measure = 0, 0.0
    true_int: list[np.ndarray] = []
    false_int: list[np.ndarray] = []
    for det, truth in zip(frames, truth_positions, strict=True):
        t = np.asarray(truth, dtype=float).reshape(-1, 3)
        n_true += t.shape[0]
        matched = np.zeros(det.n_detections, dtype=bool)
        if det.n_detections and t.shape[0]:
            dist = np.linalg.norm(det.positions_m[:, None] - t[None], axis=-1)
            rows, cols = linear_sum_assignment(np.minimum(dist, 2 * gate))
            ok = dist[rows, cols] <= gate
            errors.append(det.positions_m[rows[ok]] - t[cols[ok]])
            matched_int.append(det.intensity[rows[ok]])
            matched[rows[ok]] = True
        n_false += int((~matched).sum())
        if t.shape[0]:
            covered = np.linalg.norm(centres[:, None] - t[None], axis=-1).min(axis=1) <= radius
            near_measure += measure * covered.mean()
            fa = det.positions_m[~matched]
            if fa.shape[0]:
                near_false += int(
                    (np.linalg.norm(fa[:, None] - t[None], axis=-1).min(axis=1) <= radius).sum()
                )
        true_int.append(det.intensity[matched])
        false_int.append(det.intensity[~matched])
    err = np.concatenate(errors) if errors else np.empty((0, 3))
    if err.shape[0] < 2:
        raise ValueError("too few matched detections to calibrate (need >= 2); use more frames")
    std = np.sqrt(np.mean(err**2, axis=0))
    error_model = _error_model(err, np.concatenate(matched_int), n_bins)
    return DetectorCalibration(
        position_std_m=std,
        detection_probability=float(err.shape[0] / max(n_true, 1)),
        clutter_rate=max(
            float(n_false / len(frames)), near_false / max(near_measure, 1e-300) * measure
        ),
        false_per_frame=float(n_false / len(frames)),
        intensity=_intensity_model(np.concatenate(true_int), np.concatenate(false_int)),
        error_model=error_model,
        nees=detection_nees(err, error_model.std(np.concatenate(matched_int))),
        n_frames=len(frames),
        n_matched=int(err.shape[0]),
    )
