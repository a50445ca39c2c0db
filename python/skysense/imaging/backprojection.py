"""Back-projection ``A^H y`` (the matched filter, imaging paper, eq. (20)).

Also holds the coercion shared by the imaging solvers: a sensing matrix is either a dense
ndarray ``A``, a :class:`scipy.sparse.linalg.LinearOperator` (such as
:class:`~skysense.imaging.SensingOperator`), or any object with ``shape``, ``dtype`` and a
row-batched ``rmatvec`` (and ``gram`` for the Gram-form solvers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg.blas import get_blas_funcs
from scipy.sparse.linalg import LinearOperator

from skysense._validation import as_array, as_batch

__all__ = ["backproject"]

_SINGLE = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.complex64))

#: Largest single GEMM of the dense products [complex multiply-adds], about 8.6 GFlop (60 ms
#: complex64, ~120 ms complex128 on one core here): a long product runs as several, so Ctrl-C
#: (seen between Python-level calls) stops it promptly.  Smaller chunks cost GEMM efficiency:
#: 256 frames of 6250 x 1600 took 1.10x one GEMM in voxel slabs of 256, 1.03x in slabs of 640.
GEMM_CHUNK_MACS = 1 << 30
#: Fewest voxels or measurements per GEMM of a chunked product, and the multiple that row
#: blocks are rounded to (GEMM inner blocks of 256: a block of 257 rows runs as 256 + 1).
_MIN_BLOCK = 256
#: Voxel slabs of the chunked product are rounded down to a multiple of this many voxels.
_SLAB_ALIGN = 64
#: Scales beyond 2**(+-_SAFE_EXPONENT) are brought to unit scale before a product.
_SAFE_EXPONENT = 64

ComplexArray = npt.NDArray[np.complexfloating[Any, Any]]


def is_operator(a: object) -> bool:
    """True for a matrix-free operator (anything but an array with ``rmatvec`` and ``shape``)."""
    return (
        not isinstance(a, np.ndarray)
        and callable(getattr(a, "rmatvec", None))
        and hasattr(a, "shape")
    )


def working_dtype(*dtypes: npt.DTypeLike) -> np.dtype[Any]:
    """complex64 when every input is single precision (float16/32, complex64), else complex128."""
    single = all(np.dtype(d) in _SINGLE for d in dtypes)
    return np.dtype(np.complex64 if single else np.complex128)


def as_sensing(a: Any) -> tuple[Any, tuple[int, int], np.dtype[Any]]:
    """Validate a sensing matrix: returns ``(a, shape, dtype)``, ``a`` an ndarray or the operator.

    A dense ``a`` is not scanned for NaN/Inf here: :func:`backproject_frames` finds them
    through ``A^H y`` at a fraction of the cost (a scan of A costs more than the GEMV).
    """
    if is_operator(a):
        shape = tuple(int(s) for s in a.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"a.shape must be (n_measurements, n_voxels) >= 1, got {a.shape}")
        dtype = getattr(a, "dtype", None)
        return a, (shape[0], shape[1]), np.dtype(np.complex128 if dtype is None else dtype)
    arr = as_array(a, "a", ndim=2, kind="fciu", check_finite=False)
    if min(arr.shape) < 1:
        raise ValueError(
            f"a must be a non-empty (n_measurements, n_voxels) matrix, got {arr.shape}"
        )
    return arr, (arr.shape[0], arr.shape[1]), arr.dtype


def as_frames(
    y: npt.ArrayLike, n_measurements: int, *, check_finite: bool = True
) -> tuple[npt.NDArray[Any], bool]:
    """Validate measurements: returns ``(y2, single)`` with ``y2`` of shape (n_frames, n)."""
    return as_batch(
        y, n_measurements, "y", check_finite=check_finite, hint=" to match the rows of a"
    )


def backproject_frames(
    a: Any, y2: npt.NDArray[Any], dtype: np.dtype[Any], *, check_finite: bool = True
) -> ComplexArray:
    """``A^H y`` for validated frames ``y2`` (n_frames, n_measurements), in ``dtype``.

    A dense ``a`` is applied by GEMMs of at most :data:`GEMM_CHUNK_MACS` multiply-adds over
    blocks of frames and voxels (no conjugated copy of A). A SciPy ``LinearOperator`` is
    applied to the frames as the columns of ``rmatmat`` (for
    :class:`~skysense.imaging.SensingOperator` the same batched product as its row-batched
    ``rmatvec``); other operators through their row-batched ``rmatvec``.

    With ``check_finite`` (and a finite ``y2``), a NaN/Inf in ``a`` that reaches the result
    raises: IEEE products propagate it (``NaN * 0`` and ``Inf * 0`` are NaN), so a non-finite
    entry of A shows up in ``A^H y`` unless BLAS skipped it as multiplied by an exact zero of
    ``y``, where it cannot affect this result.
    """
    y2 = np.ascontiguousarray(y2, dtype=dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite results are checked below
        if isinstance(a, np.ndarray):
            z = _adjoint_dense(a.astype(dtype, copy=False), y2)
        else:
            if isinstance(a, LinearOperator):
                z = np.asarray(a.rmatmat(y2.T)).T
            else:
                z = np.asarray(a.rmatvec(y2)).reshape(y2.shape[0], -1)
            z = np.ascontiguousarray(z, dtype=dtype)
    if check_finite and not np.isfinite(z).all():
        raise ValueError(_nonfinite_adjoint_message(a, dtype))
    return z


def _adjoint_dense(a: npt.NDArray[Any], y2: npt.NDArray[Any]) -> ComplexArray:
    """``conj(conj(Y) A)`` in GEMMs of at most about :data:`GEMM_CHUNK_MACS` multiply-adds.

    A long product is split along the voxels (slabs of A, each written once) when a slab of at
    least :data:`_MIN_BLOCK` voxels fits the budget with every frame and measurement, else along
    the measurements (``sum_blocks conj(Y[:, rows]) A[rows]``, blocks of a multiple of
    :data:`_MIN_BLOCK` rows), and along the frames only when a batch is too large for either:
    each GEMM then packs its share of A and Y about once, as one GEMM would.
    """
    n, m = y2.shape
    nv = a.shape[1]
    yc = np.conj(y2)
    if n * m * nv <= GEMM_CHUNK_MACS:
        return np.ascontiguousarray(np.conj(yc @ a))
    if n * m * _MIN_BLOCK <= GEMM_CHUNK_MACS:
        z = np.empty((n, nv), np.result_type(yc, a))
        width = GEMM_CHUNK_MACS // (n * m)
        if width >= 2 * _SLAB_ALIGN:  # whole cache lines of A per row of a slab
            width -= width % _SLAB_ALIGN
        for v0 in range(0, nv, width):  # into the slab of z (no temporary)
            np.matmul(yc, a[:, v0 : v0 + width], out=z[:, v0 : v0 + width])
        np.conj(z, out=z)
        return z
    z = np.zeros((n, nv), np.result_type(yc, a))
    # Row blocks accumulate in place (BLAS gemm with beta = 1 on the transposed, Fortran-ordered
    # views): ``out += block @ a_rows`` would write and re-read a temporary of the whole output
    # block per GEMM (+10% on 256 frames of 6250 x 1600).
    gemm = get_blas_funcs("gemm", dtype=z.dtype)
    frames = max(1, min(n, GEMM_CHUNK_MACS // (_MIN_BLOCK * nv)))
    for f0 in range(0, n, frames):
        block = yc[f0 : f0 + frames]
        rows = max(1, GEMM_CHUNK_MACS // (block.shape[0] * nv * _MIN_BLOCK)) * _MIN_BLOCK
        out_t = z[f0 : f0 + frames].T  # (nv, frames), Fortran-contiguous
        for r0 in range(0, m, rows):
            # out^T += a_rows^T block_rows^T
            a_t, y_t = a[r0 : r0 + rows].T, block[:, r0 : r0 + rows].T
            res = gemm(1.0, a_t, y_t, beta=1.0, c=out_t, overwrite_c=1)
            if not np.shares_memory(res, out_t):  # pragma: no cover - BLAS copied c
                out_t[...] = res
    np.conj(z, out=z)
    return z


def _nonfinite_adjoint_message(a: Any, dtype: np.dtype[Any]) -> str:
    """Why ``A^H y`` is not finite (``y`` is): a NaN/Inf in a dense ``a``, or an overflow."""
    if isinstance(a, np.ndarray):
        with np.errstate(invalid="ignore"):
            if not np.isfinite(a).all():
                return "a contains NaN or Inf (found in A^H y)"
        return (
            f"A^H y overflows {np.dtype(dtype)}: |a| * |y| too large (max |a| = "
            f"{far_peak(a):.3g}); scale a or y down"
        )
    return (
        f"the adjoint of a ({type(a).__name__}) returned NaN or Inf: a contains NaN or Inf, "
        f"or A^H y overflows {np.dtype(dtype)}"
    )


def far_exponent(value: Any) -> int:
    """Binary exponent of ``value`` if it lies outside the safe range, else 0 (0 for 0/NaN)."""
    value = float(value)
    if value == 0.0 or not np.isfinite(value):
        return 0
    exponent = int(np.frexp(value)[1])
    return exponent if abs(exponent) > _SAFE_EXPONENT else 0


def far_exponents(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """:func:`far_exponent` of each value, vectorised (int64)."""
    values = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore"):
        exponent = np.frexp(np.where(np.isfinite(values), values, 0.0))[1].astype(np.int64)
    return np.where(np.abs(exponent) > _SAFE_EXPONENT, exponent, 0)


def frame_peaks(y2: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """max(|Re|, |Im|) of each row of a 2-D array, by two reductions over a real view (no
    temporaries for contiguous input)."""
    flat = np.ascontiguousarray(y2)
    if flat.dtype.kind == "c":
        flat = flat.view(flat.real.dtype)
    return np.maximum(flat.max(axis=1), -flat.min(axis=1))


def far_peak(arr: npt.NDArray[Any]) -> float:
    """max(|Re|, |Im|) over an array, by two reductions (no temporaries for contiguous input)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.kind == "c":
        flat = flat.view(flat.real.dtype)
    if flat.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        return float(max(np.max(flat), -np.min(flat)))


def ldexp(arr: npt.NDArray[Any], exponent: Any) -> npt.NDArray[Any]:
    """``arr * 2**exponent`` exactly (complex-aware); ``arr`` itself when no exponent is set."""
    exponent = np.asarray(exponent)
    if not exponent.any():
        return arr
    if arr.dtype.kind == "c":
        out = np.ldexp(arr.real, exponent) + 1j * np.ldexp(arr.imag, exponent)
    else:
        out = np.ldexp(arr, exponent)
    return np.ascontiguousarray(out, dtype=arr.dtype)


def backproject(a: Any, y: npt.ArrayLike, *, check_finite: bool = True) -> ComplexArray:
    """Back-projection ``A^H y`` (eq. (20)) of one frame or a batch.

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or LinearOperator
        Dense sensing matrix, a :class:`scipy.sparse.linalg.LinearOperator` such as
        :class:`SensingOperator` (whose adjoint never forms A), or an object with ``shape``,
        ``dtype`` and a row-batched ``rmatvec``.
    y : array_like, shape (n_measurements,) or (n_frames, n_measurements)
        Measurements [sqrt(W)].
    check_finite : bool
        Reject NaN/Inf in ``y``, and in ``a`` where they reach the result (checked on
        ``A^H y``, which costs ``n_voxels`` per frame instead of a pass over A), and a result
        that overflows the dtype.

    Returns
    -------
    ndarray, shape (n_voxels,) or (n_frames, n_voxels), complex
        complex64 when ``a`` and ``y`` are both single precision, else complex128 (an operator
        returns its own ``dtype``).

    Notes
    -----
    A batch is one GEMM (dense) or the operator's batched adjoint.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.imaging import Scenario, SensingOperator, backproject, simulate
    >>> s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    >>> batch = simulate(s, 3, 1, rng=0)
    >>> image = backproject(SensingOperator(s), batch.measurements)
    >>> image.shape, image.dtype
    ((3, 9), dtype('complex128'))
    """
    a, shape, a_dtype = as_sensing(a)
    y2, single = as_frames(y, shape[0], check_finite=check_finite)
    dtype = working_dtype(a_dtype, y2.dtype) if isinstance(a, np.ndarray) else a_dtype
    # Linear in y: frames far from unit scale are scaled by exact powers of two, so that the
    # products neither overflow nor underflow where the result itself does not.
    y2 = np.ascontiguousarray(y2, dtype=dtype)
    with np.errstate(invalid="ignore"):
        y_exp = far_exponents(frame_peaks(y2))
    z = backproject_frames(a, ldexp(y2, -y_exp[:, None]), dtype, check_finite=check_finite)
    with np.errstate(over="ignore"):  # reported below
        z = ldexp(z, y_exp[:, None])
    if check_finite and not np.isfinite(z).all():
        raise ValueError(
            f"A^H y overflows {np.dtype(dtype)}: y too large for a (max |y| = "
            f"{float(np.ldexp(1.0, int(y_exp.max()))):.3g}); scale y down"
        )
    return z[0] if single else z
