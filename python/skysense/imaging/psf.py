"""Point-spread function and off-grid error of the imaging model (eqs. 16-17)."""

from __future__ import annotations

import numpy as np

from skysense._validation import as_array, check_memory
from skysense.imaging.scenario import Scenario

__all__ = ["max_sidelobe", "offgrid_error", "psf"]


def _check_sensing(a):
    """Validate a dense A (2-D, finite) or an operator with ``gram`` and ``column_norms``."""
    if isinstance(a, np.ndarray):
        return as_array(a, "A", ndim=2)
    if not (hasattr(a, "gram") and hasattr(a, "column_norms") and hasattr(a, "shape")):
        raise TypeError(
            f"A must be an ndarray or an operator with gram/column_norms, got {type(a).__name__}"
        )
    return a


def _psf_rows(a, cols, norms, max_bytes):
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


def _column_norms(a):
    norms = np.linalg.norm(a, axis=0) if isinstance(a, np.ndarray) else a.column_norms()
    if np.any(norms == 0):
        raise ValueError("A has an all-zero column; the PSF is undefined there")
    return norms


def _columns(columns, n):
    if columns is None:
        return np.arange(n)
    cols = np.atleast_1d(as_array(columns, "columns", ndim=(0, 1), kind="iu")).astype(np.intp)
    if cols.size == 0 or cols.min() < 0 or cols.max() >= n:
        raise ValueError(f"columns must be non-empty voxel indices in [0, {n})")
    return cols


def psf(a, columns=None, *, max_bytes=None):
    """Point-spread function ``|<A[:, n1], A[:, n2]>| / (||A[:, n1]|| ||A[:, n2]||)`` (eq. 16).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or SensingOperator
    columns : array_like of int, shape (k,), optional
        The voxels n1 (rows of the result); all by default.
    max_bytes : float, optional
        Memory limit of the Gram computation [bytes].

    Returns
    -------
    ndarray, shape (k, n_voxels), float64
        ``out[i, n2] = PSF(columns[i], n2)``, in [0, 1] with ones at ``n2 = columns[i]``.
    """
    a = _check_sensing(a)
    cols = _columns(columns, a.shape[1])
    return _psf_rows(a, cols, _column_norms(a), max_bytes)


def max_sidelobe(a, columns=None, *, chunk=512, max_bytes=None):
    """Maximum PSF sidelobe ``P(n1) = max_{n2 != n1} PSF(n1, n2)``.

    Parameters
    ----------
    a : ndarray or SensingOperator
    columns : array_like of int, shape (k,), optional
        Voxels n1; all by default.
    chunk : int
        Voxels per Gram block (bounds memory to ``n_voxels * chunk`` entries).

    Returns
    -------
    ndarray, shape (k,), float64
    """
    a = _check_sensing(a)
    cols = _columns(columns, a.shape[1])
    norms = _column_norms(a)
    out = np.empty(cols.size)
    for lo in range(0, cols.size, chunk):
        sub = cols[lo : lo + chunk]
        rows = _psf_rows(a, sub, norms, max_bytes)
        rows[np.arange(sub.size), sub] = -np.inf
        out[lo : lo + chunk] = rows.max(axis=1)
    return out


def offgrid_error(scenario, points, *, dtype=np.complex128):
    """Steering-vector mismatch between true positions and their nearest voxel centres (eq. 17).

    Parameters
    ----------
    scenario : Scenario
    points : array_like, shape (n_points, 3), [m]
        True positions inside the ROI.

    Returns
    -------
    delta_b : ndarray, shape (n_points,)
        ``||b - b*|| / ||b||`` (linear; ``10 log10`` gives the paper's dB scale).
    delta_p : ndarray, shape (n_points,), [m]
        Distance to the nearest voxel centre.
    """
    from skysense.imaging.sensing import steering_matrix

    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    pts = as_array(points, "points", shape=(None, 3), kind="fiu", dtype=np.float64)
    vox = scenario.voxel_index(pts)
    if np.any(vox < 0):
        raise ValueError(f"{int(np.sum(vox < 0))} point(s) lie outside the ROI")
    nearest = scenario.voxel_centers()[vox]
    b = steering_matrix(scenario, pts, dtype=dtype)
    b_star = steering_matrix(scenario, nearest, dtype=dtype)
    delta_b = np.linalg.norm(b - b_star, axis=0) / np.linalg.norm(b, axis=0)
    return delta_b, np.linalg.norm(pts - nearest, axis=1)
