"""Validation and grid helpers shared by the metrics (private).

Every metric takes *batched* arrays whose first axis indexes frames: images of shape
``(n_frames, *grid)`` with a 2-D grid ``(n_x, n_y)`` or a 3-D grid ``(n_x, n_y, n_z)``, or
flat ``(n_frames, n_voxels)`` rows (C-order over the grid axes, as
:class:`skysense.imaging.ImagingBatch` stores them) together with ``grid_shape``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from skysense._validation import as_array, check_count

#: Connectivity of blobs per number of (non-singleton) grid axes: face, edge, full.
CONNECTIVITIES = {1: (2,), 2: (4, 8), 3: (6, 18, 26)}

#: Frames per chunk are chosen so that one float64 work array stays near this size [bytes].
CHUNK_BYTES = 1 << 23


def as_frames(
    x: npt.ArrayLike, name: str, *, kind: str = "fbiu", min_ndim: int = 2
) -> npt.NDArray[Any]:
    """Coerce a batched array ``(n_frames, ...)``; reject empty batches, complex and NaN/Inf."""
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got dtype object")
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must be batched with shape (n_frames, ...) and ndim >= {min_ndim}, "
            f"got shape {arr.shape}; pass x[None] for a single frame"
        )
    arr = as_array(arr, name, kind=kind)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (n_frames = 0), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} has no voxels, got shape {arr.shape}")
    return arr


def check_same_shape(a: npt.NDArray[Any], b: npt.NDArray[Any], name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}"
        )


def check_grid_shape(grid_shape: Any) -> tuple[int, ...]:
    """Validate ``grid_shape``: 2 or 3 positive ints."""
    if isinstance(grid_shape, int | np.integer) or not hasattr(grid_shape, "__len__"):
        raise TypeError(f"grid_shape must be a tuple of 2 or 3 ints, got {grid_shape!r}")
    if len(grid_shape) not in (2, 3):
        raise ValueError(f"grid_shape must have 2 or 3 entries, got {tuple(grid_shape)}")
    return tuple(check_count(n, f"grid_shape[{i}]") for i, n in enumerate(grid_shape))


def to_grid(arr: npt.NDArray[Any], name: str, grid_shape: Any) -> npt.NDArray[Any]:
    """Reshape ``arr`` to ``(n_frames, *grid)``.

    Without ``grid_shape`` the array must already be ``(n_frames, n_x, n_y)`` or
    ``(n_frames, n_x, n_y, n_z)``. With it, ``arr.shape[1:]`` may be ``grid_shape``, the
    same with its length-1 axes dropped, or ``(n_voxels,)``.
    """
    if grid_shape is None:
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"{name} must have shape (n_frames, n_x, n_y) or (n_frames, n_x, n_y, n_z), "
                f"got {arr.shape}; pass grid_shape for flat (n_frames, n_voxels) input"
            )
        return arr
    grid = check_grid_shape(grid_shape)
    tail = arr.shape[1:]
    squeezed = tuple(n for n in grid if n != 1)
    if tail not in (grid, squeezed, (math.prod(grid),)):
        raise ValueError(
            f"{name} must have shape (n_frames, {math.prod(grid)}) or (n_frames, *{grid}) "
            f"for grid_shape={grid}, got {arr.shape}"
        )
    return arr.reshape((arr.shape[0], *grid))


def frame_chunks(n_frames: int, frame_size: int, budget: int = CHUNK_BYTES) -> Iterator[slice]:
    """Slices over frames such that a float64 chunk holds about ``budget`` bytes."""
    step = max(1, budget // max(1, 8 * frame_size))
    for lo in range(0, n_frames, step):
        yield slice(lo, min(lo + step, n_frames))


def label_blobs(
    mask: npt.NDArray[np.bool_], connectivity: int | None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Connected components of each frame of ``mask`` ``(n_frames, *grid)``, bool.

    Length-1 grid axes are ignored for connectivity. Labels are unique over the batch and
    increase with the C-order position of each blob's first voxel, so frame ``f`` owns the
    labels ``offsets[f] + 1 .. offsets[f + 1]``.

    Returns
    -------
    labels : ndarray, shape of ``mask``, int32
    offsets : ndarray, shape (n_frames + 1,), int64
    """
    grid = mask.shape[1:]
    rank = sum(n != 1 for n in grid)
    conn = resolve_connectivity(connectivity, rank)
    squeezed = mask.reshape((mask.shape[0], *(n for n in grid if n != 1)))
    if rank == 0:
        labels = np.cumsum(squeezed, dtype=np.int64) * squeezed
    else:
        spatial = ndimage.generate_binary_structure(rank, conn)
        structure = np.zeros((3, *spatial.shape), dtype=bool)
        structure[1] = spatial  # no links across frames
        labels, _ = ndimage.label(squeezed, structure=structure)
    labels = labels.reshape(mask.shape).astype(np.int32, copy=False)
    per_frame_max = labels.reshape(mask.shape[0], -1).max(axis=1) if labels.size else np.zeros(0)
    offsets = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    offsets[1:] = np.maximum.accumulate(per_frame_max)
    return np.asarray(labels, dtype=np.int32), offsets


def resolve_connectivity(connectivity: int | None, rank: int) -> int:
    """Map 4/8 (2-D), 6/18/26 (3-D) or None (full) to scipy's 1..rank."""
    if rank == 0:
        return 1
    if connectivity is None:
        return rank
    allowed = CONNECTIVITIES[rank]
    if isinstance(connectivity, bool) or not isinstance(connectivity, int | np.integer):
        raise TypeError(f"connectivity must be an int or None, got {type(connectivity).__name__}")
    if connectivity not in allowed:
        raise ValueError(
            f"connectivity must be one of {allowed} (or None) for a {rank}-D grid, got {connectivity}"
        )
    return allowed.index(connectivity) + 1


REDUCTIONS = ("none", "mean")


def check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(values: npt.NDArray[np.float64], reduction: str) -> npt.NDArray[np.float64] | float:
    """``"none"``: the per-frame array; ``"mean"``: its mean as a Python float."""
    return values if reduction == "none" else float(values.mean())
