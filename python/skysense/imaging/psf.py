"""Point-spread function and off-grid error of the imaging model (imaging paper, eqs. (16)-(17))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, check_count, check_memory
from skysense.imaging.backprojection import GEMM_CHUNK_MACS, far_peak
from skysense.imaging.scenario import Scenario

__all__ = ["OffgridError", "max_sidelobe", "offgrid_error", "psf"]

FloatArray = npt.NDArray[np.float64]

#: Bytes of A per block of rows in the passes over a dense A (bounds scratch and the time
#: of one NumPy call, so Ctrl-C is seen between blocks).
_CHUNK_BYTES = 8 << 20


class _Sensing:
    """A validated sensing matrix for the PSF: ``rows(cols)`` gives ``G[cols, :]`` and
    ``power`` the squared column norms, both for A scaled by a constant (the PSF does not see
    it), so that ``|A|^2`` neither overflows nor underflows."""

    def __init__(self, a: Any) -> None:
        if isinstance(a, np.ndarray):
            # NaN/Inf are found through the column powers (no separate pass over A)
            self.dense: npt.NDArray[Any] | None = as_array(
                a, "a", ndim=2, kind="fciu", check_finite=False
            )
            if min(self.dense.shape) < 1:
                raise ValueError(f"a must be a non-empty matrix, got shape {self.dense.shape}")
            rows = max(1, _CHUNK_BYTES // (self.dense.shape[1] * self.dense.itemsize))
            with np.errstate(invalid="ignore"):
                peak = max(far_peak(self.dense[r0 : r0 + rows]) for r0 in range(0, len(a), rows))
            # A scaled by 2**-exponent (exact) has its largest component in [0.5, 1).
            self.exponent = int(np.frexp(peak)[1]) if np.isfinite(peak) else 0
            with np.errstate(invalid="ignore", over="ignore"):
                self.power = self._dense_power(rows)
            if not np.isfinite(self.power).all():
                raise ValueError("a contains NaN or Inf")
        else:
            if not (hasattr(a, "gram") and hasattr(a, "column_norms") and hasattr(a, "shape")):
                raise TypeError(
                    f"a must be an ndarray or an operator with gram/column_norms, got "
                    f"{type(a).__name__}"
                )
            self.dense = None
            self.exponent = 0
            link_power = getattr(a, "_column_power", None)
            if callable(link_power):  # SensingOperator: amplitude-free Gram and norms
                self.power = np.asarray(link_power(), dtype=np.float64)
            else:
                self.power = np.asarray(a.column_norms(), dtype=np.float64) ** 2
        self.a = a
        self.n_voxels = int(a.shape[1])
        if np.any(self.power == 0):
            raise ValueError("a has an all-zero column; the PSF is undefined there")
        if not np.isfinite(self.power).all():
            raise ValueError("the column norms of a overflow; the PSF is undefined there")

    def _dense_power(self, rows: int) -> FloatArray:
        """Squared column norms of the scaled dense A, accumulated over blocks of rows."""
        a = self.dense
        assert a is not None
        power = np.zeros(a.shape[1])
        for r0 in range(0, a.shape[0], rows):
            block = a[r0 : r0 + rows]
            for part in (block.real, block.imag) if block.dtype.kind == "c" else (block,):
                power += (np.ldexp(part, -self.exponent) ** 2).sum(axis=0)
        return power

    def rows(self, cols: npt.NDArray[np.intp], max_bytes: Any) -> npt.NDArray[Any]:
        """``|G[cols, :]|`` of the scaled A, shape (k, n_voxels), float64."""
        nv = self.n_voxels
        check_memory(nv * cols.size * 16, "PSF rows", max_bytes)
        if self.dense is None:
            link_gram = getattr(self.a, "_link_gram", None)
            if callable(link_gram):
                return np.abs(link_gram(cols.astype(np.int64), 1.0)).T
            return np.abs(np.asarray(self.a.gram(cols, max_bytes=max_bytes))).T
        a = self.dense
        m = a.shape[0]
        # conj(2^-e A[:, cols])^T (k, m): |entries| < 1, so sub^H A is finite for finite A;
        # gathered in blocks of rows (Ctrl-C is seen between them)
        sub_h = np.empty((cols.size, m), np.result_type(a.dtype, np.complex64))
        step = max(1, _CHUNK_BYTES // (cols.size * sub_h.itemsize))
        for r0 in range(0, m, step):
            sub = a[r0 : r0 + step, cols]
            part = np.ldexp(sub.real, -self.exponent) - 1j * np.ldexp(sub.imag, -self.exponent)
            sub_h[:, r0 : r0 + step] = part.T
        out = np.empty((cols.size, nv))
        # one GEMM per voxel slab of A (Ctrl-C is seen between them)
        width = max(16, GEMM_CHUNK_MACS // (cols.size * m))
        for v0 in range(0, nv, width):
            block = sub_h @ a[:, v0 : v0 + width]
            out[:, v0 : v0 + width] = np.ldexp(np.abs(block), -self.exponent)
        return out


def _psf_rows(s: _Sensing, cols: npt.NDArray[np.intp], max_bytes: Any) -> FloatArray:
    """``PSF(cols[i], :)``: ``|G[c, v]| / sqrt(G[c, c] G[v, v])``, ones at ``v = c``."""
    out = s.rows(cols, max_bytes)
    out /= np.sqrt(s.power[cols, None]) * np.sqrt(s.power[None, :])
    np.minimum(out, 1.0, out=out)
    out[np.arange(cols.size), cols] = 1.0
    return np.asarray(out, dtype=np.float64)


def _columns(column_index: npt.ArrayLike | None, n: int) -> tuple[npt.NDArray[np.intp], bool]:
    """The voxel indices as a 1-D array, and whether ``column_index`` was 0-d."""
    if column_index is None:
        return np.arange(n), False
    scalar = np.ndim(column_index) == 0
    arr = as_array(column_index, "column_index", ndim=(0, 1), kind="iu")
    cols = np.atleast_1d(arr).astype(np.intp)
    if cols.size == 0 or cols.min() < 0 or cols.max() >= n:
        raise ValueError(
            f"column_index must be non-empty voxel indices in [0, {n}), got {cols.tolist()}"
        )
    return cols, scalar


def psf(
    a: Any, column_index: npt.ArrayLike | None = None, *, max_bytes: float | None = None
) -> FloatArray:
    """Point-spread function ``|<A[:, n1], A[:, n2]>| / (||A[:, n1]|| ||A[:, n2]||)`` (eq. (16)).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or SensingOperator
        The sensing matrix A, dense or matrix-free.
    column_index : int or array_like of int, shape (k,), optional
        The voxels n1 (rows of the result); all by default.
    max_bytes : float, optional
        Memory limit of the Gram computation [bytes].

    Returns
    -------
    ndarray, shape (k, n_voxels) (or (n_voxels,) for a scalar ``column_index``), float64
        ``out[i, n2] = PSF(column_index[i], n2)``, in [0, 1] with ones at
        ``n2 = column_index[i]``. Invariant to the scale of ``a`` (any finite scale: A is
        scaled by a power of two before its inner products).

    Examples
    --------
    >>> from skysense.imaging import Scenario, SensingOperator, psf
    >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> rows = psf(op, [4])
    >>> rows.shape, float(rows[0, 4])
    ((1, 9), 1.0)
    """
    s = _Sensing(a)
    cols, scalar = _columns(column_index, s.n_voxels)
    rows = _psf_rows(s, cols, max_bytes)
    return rows[0] if scalar else rows


def max_sidelobe(
    a: Any,
    column_index: npt.ArrayLike | None = None,
    *,
    chunk_size: int = 512,
    max_bytes: float | None = None,
) -> FloatArray:
    """Maximum PSF sidelobe ``P(n1) = max_{n2 != n1} PSF(n1, n2)`` (from eq. (16)).

    The largest normalised correlation of voxel ``n1``'s column with any other column: close
    to 1 means two voxels the imager cannot tell apart.

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or SensingOperator
        The sensing matrix A, dense or matrix-free.
    column_index : int or array_like of int, shape (k,), optional
        Voxels n1; all by default.
    chunk_size : int
        Voxels per Gram block, >= 1 (bounds memory to ``n_voxels * chunk_size`` entries).
    max_bytes : float, optional
        Memory limit of one Gram block [bytes].

    Returns
    -------
    ndarray, shape (k,) (or () for a scalar ``column_index``), float64
        Invariant to the scale of ``a``; 0 for a single-voxel grid (no sidelobe).

    Examples
    --------
    >>> from skysense.imaging import Scenario, SensingOperator, max_sidelobe
    >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> max_sidelobe(op).shape
    (9,)
    """
    chunk_size = check_count(chunk_size, "chunk_size")
    s = _Sensing(a)
    cols, scalar = _columns(column_index, s.n_voxels)
    out = np.zeros(cols.size)
    if s.n_voxels > 1:
        for lo in range(0, cols.size, chunk_size):
            sub = cols[lo : lo + chunk_size]
            rows = _psf_rows(s, sub, max_bytes)
            rows[np.arange(sub.size), sub] = -np.inf
            out[lo : lo + chunk_size] = rows.max(axis=1)
    return out.reshape(()) if scalar else out


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

    The model error an on-grid imager makes for an off-grid UAV: the relative distance between
    the UAV's steering vector and that of the voxel centre it is assigned to.

    Parameters
    ----------
    scenario : Scenario
        Base stations, arrays, subcarriers and voxel grid.
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
