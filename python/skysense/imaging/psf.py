"""Point-spread function and off-grid error of the imaging model (imaging paper, eqs. (16)-(17))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, check_count, check_memory
from skysense.imaging.scenario import Scenario

__all__ = ["OffgridError", "max_sidelobe", "offgrid_error", "psf"]

FloatArray = npt.NDArray[np.float64]


def _check_sensing(a: Any) -> Any:
    """Validate a dense A (2-D, finite) or an operator with ``gram`` and ``column_norms``."""
    if isinstance(a, np.ndarray):
        return as_array(a, "a", ndim=2)
    if not (hasattr(a, "gram") and hasattr(a, "column_norms") and hasattr(a, "shape")):
        raise TypeError(
            f"a must be an ndarray or an operator with gram/column_norms, got {type(a).__name__}"
        )
    return a


def _psf_rows(a: Any, cols: npt.NDArray[np.intp], norms: FloatArray, max_bytes: Any) -> FloatArray:
    """``PSF(cols[i], :)`` for a validated A and its column norms."""
    if isinstance(a, np.ndarray):
        check_memory(a.shape[1] * cols.size * 16, "PSF rows", max_bytes)
        # A[:, cols]^H A: conjugates the (m, k) slice only, never a copy of the whole A.
        rows = a[:, cols].conj().T @ a
    else:
        rows = a.gram(cols, max_bytes=max_bytes).T
    out = np.abs(rows).astype(np.float64, copy=False)
    out /= norms[cols, None] * norms[None, :]
    return np.minimum(out, 1.0, out=out)


def _column_norms(a: Any) -> FloatArray:
    norms = np.linalg.norm(a, axis=0) if isinstance(a, np.ndarray) else a.column_norms()
    if np.any(norms == 0):
        raise ValueError("a has an all-zero column; the PSF is undefined there")
    return np.asarray(norms, dtype=np.float64)


def _columns(column_index: npt.ArrayLike | None, n: int) -> npt.NDArray[np.intp]:
    if column_index is None:
        return np.arange(n)
    arr = as_array(column_index, "column_index", ndim=(0, 1), kind="iu")
    cols = np.atleast_1d(arr).astype(np.intp)
    if cols.size == 0 or cols.min() < 0 or cols.max() >= n:
        raise ValueError(
            f"column_index must be non-empty voxel indices in [0, {n}), got {cols.tolist()}"
        )
    return cols


def psf(
    a: Any, column_index: npt.ArrayLike | None = None, *, max_bytes: float | None = None
) -> FloatArray:
    """Point-spread function ``|<A[:, n1], A[:, n2]>| / (||A[:, n1]|| ||A[:, n2]||)`` (eq. (16)).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or SensingOperator
    column_index : array_like of int, shape (k,), optional
        The voxels n1 (rows of the result); all by default.
    max_bytes : float, optional
        Memory limit of the Gram computation [bytes].

    Returns
    -------
    ndarray, shape (k, n_voxels), float64
        ``out[i, n2] = PSF(column_index[i], n2)``, in [0, 1] with ones at
        ``n2 = column_index[i]``.

    Examples
    --------
    >>> from skysense.imaging import Scenario, SensingOperator, psf
    >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> rows = psf(op, [4])
    >>> rows.shape, float(rows[0, 4])
    ((1, 9), 1.0)
    """
    a = _check_sensing(a)
    cols = _columns(column_index, a.shape[1])
    return _psf_rows(a, cols, _column_norms(a), max_bytes)


def max_sidelobe(
    a: Any,
    column_index: npt.ArrayLike | None = None,
    *,
    chunk_size: int = 512,
    max_bytes: float | None = None,
) -> FloatArray:
    """Maximum PSF sidelobe ``P(n1) = max_{n2 != n1} PSF(n1, n2)`` (from eq. (16)).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or SensingOperator
    column_index : array_like of int, shape (k,), optional
        Voxels n1; all by default.
    chunk_size : int
        Voxels per Gram block (bounds memory to ``n_voxels * chunk_size`` entries).
    max_bytes : float, optional
        Memory limit of one Gram block [bytes].

    Returns
    -------
    ndarray, shape (k,), float64

    Examples
    --------
    >>> from skysense.imaging import Scenario, SensingOperator, max_sidelobe
    >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> max_sidelobe(op).shape
    (9,)
    """
    a = _check_sensing(a)
    cols = _columns(column_index, a.shape[1])
    chunk_size = check_count(chunk_size, "chunk_size")
    norms = _column_norms(a)
    out = np.empty(cols.size)
    for lo in range(0, cols.size, chunk_size):
        sub = cols[lo : lo + chunk_size]
        rows = _psf_rows(a, sub, norms, max_bytes)
        rows[np.arange(sub.size), sub] = -np.inf
        out[lo : lo + chunk_size] = rows.max(axis=1)
    return out


@dataclass(frozen=True, repr=False, eq=False)
class OffgridError(Result):
    """Output of :func:`offgrid_error`.

    Attributes
    ----------
    steering_error : ndarray, shape (n_points,), float64
        ``Delta b = ||b - b*|| / ||b||`` (eq. (17), linear; ``10 log10`` gives the paper's dB).
    offset_m : ndarray, shape (n_points,), float64, [m]
        ``Delta p``: distance to the nearest voxel centre.

    Examples
    --------
    >>> from skysense.imaging import Scenario, offgrid_error
    >>> err = offgrid_error(Scenario(n_antennas_side=2), [[0.5, 0.5, 40.0], [1.5, 1.5, 40.0]])
    >>> err.offset_m.round(3).tolist(), float(err.steering_error[1])
    ([1.414, 0.0], 0.0)
    """

    steering_error: FloatArray
    offset_m: FloatArray


def offgrid_error(
    scenario: Scenario, points_m: npt.ArrayLike, *, dtype: npt.DTypeLike = np.complex128
) -> OffgridError:
    """Steering-vector mismatch between true positions and their nearest voxel centres (eq. (17)).

    Parameters
    ----------
    scenario : Scenario
    points_m : array_like, shape (n_points, 3), [m]
        True positions inside the ROI.
    dtype : {complex64, complex128}
        Precision of the steering vectors.

    Returns
    -------
    OffgridError
        ``steering_error`` (Delta b) and ``offset_m`` (Delta p) per point.

    Examples
    --------
    >>> from skysense.imaging import Scenario, offgrid_error
    >>> s = Scenario(n_antennas_side=2)
    >>> err = offgrid_error(s, [[0.5, 0.5, 40.0]])
    >>> err.offset_m.round(3).tolist()
    [1.414]
    """
    from skysense.imaging.sensing import steering_matrix

    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    pts = as_array(points_m, "points_m", shape=(None, 3), kind="fiu", dtype=np.float64)
    vox = scenario.voxel_index(pts)
    if np.any(vox < 0):
        raise ValueError(f"points_m: {int(np.sum(vox < 0))} point(s) lie outside the ROI")
    nearest = scenario.voxel_centers_m()[vox]
    b = steering_matrix(scenario, pts, dtype=dtype)
    b_star = steering_matrix(scenario, nearest, dtype=dtype)
    delta_b = np.linalg.norm(b - b_star, axis=0) / np.linalg.norm(b, axis=0)
    return OffgridError(
        steering_error=np.asarray(delta_b, dtype=np.float64),
        offset_m=np.linalg.norm(pts - nearest, axis=1),
    )
