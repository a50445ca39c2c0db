"""Target positions from images: one point per connected blob above a threshold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from skysense._validation import check_finite_scalar
from skysense.metrics._common import as_frames, frame_chunks, label_blobs, to_grid

__all__ = ["POSITION_METHODS", "positions_from_image"]

#: ``"centroid"``: mean voxel centre of the blob; ``"weighted"``: intensity-weighted mean;
#: ``"peak"``: centre of the blob's largest voxel (first in C order on ties).
POSITION_METHODS = ("centroid", "weighted", "peak")


def _axis_centers(grid: Any) -> tuple[npt.NDArray[np.float64], ...]:
    if callable(getattr(grid, "axis_centers_m", None)):  # a skysense.imaging.Scenario
        grid = grid.axis_centers_m()
    if isinstance(grid, np.ndarray) or not isinstance(grid, tuple | list):
        raise TypeError(
            "grid must be a Scenario or a tuple of 2 or 3 1-D arrays of voxel-centre "
            f"coordinates, got {type(grid).__name__}"
        )
    if len(grid) not in (2, 3):
        raise ValueError(f"grid must hold 2 or 3 axes of voxel centres, got {len(grid)}")
    out = []
    for k, c in enumerate(grid):
        arr = np.asarray(c)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "fiu":
            raise ValueError(f"grid[{k}] must be a non-empty 1-D real array, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"grid[{k}] contains NaN or Inf")
        out.append(arr.astype(np.float64))
    return tuple(out)


def positions_from_image(
    image: npt.ArrayLike,
    grid: Any,
    *,
    threshold: float = 0.1,
    connectivity: int | None = None,
    method: str = "centroid",
) -> list[npt.NDArray[np.float64]]:
    """Estimated target positions: one point per connected blob of voxels ``> threshold``.

    Parameters
    ----------
    image : array_like, shape (n_frames, *grid_shape) or (n_frames, n_voxels), float32 or float64
        Images on the voxel grid (the first axis always indexes frames; ``image[None]``
        for a single one). For a 2-D :class:`~skysense.imaging.Scenario` the shape
        ``(n_frames, n_x, n_y)`` is accepted as well as ``(n_frames, n_x, n_y, 1)``.
    grid : Scenario or tuple of 2 or 3 ndarray, shape (n_x,), (n_y,)[, (n_z,)], [m]
        Voxel-centre coordinates per axis (``Scenario.axis_centers_m()``).
    threshold : float
        A voxel belongs to a blob if its value is strictly above ``threshold`` (0.1,
        as the authors' ``cal_detect_rate``).
    connectivity : int, optional
        4 or 8 on 2-D grids, 6, 18 or 26 on 3-D grids; ``None`` (default) is the full
        8 / 26 neighbourhood. Grid axes of length 1 are ignored.
    method : {"centroid", "weighted", "peak"}
        See :data:`POSITION_METHODS`. ``"weighted"`` needs ``threshold >= 0``.

    Returns
    -------
    list of ndarray, length n_frames, each shape (n_blobs_f, n_axes), float64, [m]
        Blob positions per frame in the order of each blob's first voxel (C order);
        ``n_axes`` is 3 for a Scenario (z included for a 2-D ROI).

    Notes
    -----
    The imaging paper does not say how estimated positions enter the OSPA (eq. (25)); blob
    centroids above the authors' detection threshold 0.1 (their ``cal_detect_rate``) are
    the reconstruction used here.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import positions_from_image
    >>> image = np.zeros((1, 4, 4))
    >>> image[0, 1, 1:3] = 1.0  # one blob of two voxels
    >>> grid = (np.arange(4.0), np.arange(4.0))
    >>> positions_from_image(image, grid)[0].tolist()
    [[1.0, 1.5]]
    """
    centers = _axis_centers(grid)
    gshape = tuple(c.size for c in centers)
    threshold = check_finite_scalar(threshold, "threshold")
    if method not in POSITION_METHODS:
        raise ValueError(f"method must be one of {POSITION_METHODS}, got {method!r}")
    if method == "weighted" and threshold < 0:
        raise ValueError(f"method='weighted' needs threshold >= 0, got {threshold}")
    img = to_grid(as_frames(image, "image"), "image", gshape)

    out: list[np.ndarray] = []
    for sl in frame_chunks(img.shape[0], math.prod(gshape)):
        out.extend(_blob_positions(img[sl], centers, threshold, connectivity, method))
    return out


def _blob_positions(
    img: npt.NDArray[Any],
    centers: tuple[npt.NDArray[np.float64], ...],
    threshold: float,
    connectivity: int | None,
    method: str,
) -> list[npt.NDArray[np.float64]]:
    labels, offsets = label_blobs(img > threshold, connectivity)
    n_blobs = int(offsets[-1])
    if n_blobs == 0:
        return [np.empty((0, len(centers))) for _ in range(img.shape[0])]
    flat = labels.reshape(img.shape[0], -1)
    if method == "peak":
        peaks = ndimage.maximum_position(img, labels, index=np.arange(1, n_blobs + 1))
        idx = np.asarray(peaks, dtype=np.intp)[:, 1:]  # drop the frame index
        pos = np.stack([c[idx[:, k]] for k, c in enumerate(centers)], axis=1)
    else:
        frame, vox = np.nonzero(flat)
        lab = flat[frame, vox]
        sub = np.unravel_index(vox, img.shape[1:])
        weights = img[(frame,) + tuple(sub)].astype(np.float64) if method == "weighted" else None
        total = np.bincount(lab, weights=weights, minlength=n_blobs + 1)[1:]
        pos = np.stack(
            [
                np.bincount(
                    lab, weights=c[s] if weights is None else c[s] * weights, minlength=n_blobs + 1
                )[1:]
                / total
                for c, s in zip(centers, sub, strict=True)
            ],
            axis=1,
        )
    return [pos[offsets[f] : offsets[f + 1]] for f in range(img.shape[0])]
