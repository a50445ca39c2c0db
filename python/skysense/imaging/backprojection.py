"""Back-projection ``A^H y`` (the matched filter, eq. (20) of Huang et al., TWC 2026).

Also holds the coercion shared by the imaging solvers: a sensing matrix is either a dense
ndarray ``A`` or an operator with ``shape``, ``dtype`` and ``rmatvec`` (and ``gram`` for the
Gram-form solvers), such as :class:`~skysense.imaging.SensingOperator`.
"""

from __future__ import annotations

import numpy as np

from skysense._validation import as_array, as_batch

__all__ = ["backproject"]

_SINGLE = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.complex64))


def is_operator(a) -> bool:
    """True for a matrix-free operator (anything but an array with ``rmatvec`` and ``shape``)."""
    return (
        not isinstance(a, np.ndarray)
        and callable(getattr(a, "rmatvec", None))
        and hasattr(a, "shape")
    )


def working_dtype(*dtypes) -> np.dtype:
    """complex64 when every input is single precision (float16/32, complex64), else complex128."""
    return np.dtype(np.complex64 if all(np.dtype(d) in _SINGLE for d in dtypes) else np.complex128)


def as_sensing(a):
    """Validate a sensing matrix: returns ``(a, shape, dtype)``, ``a`` an ndarray or the operator.

    A dense ``a`` is not scanned for NaN/Inf here: :func:`backproject_frames` finds them
    through ``A^H y`` at a fraction of the cost (a scan of A costs more than the GEMV).
    """
    if is_operator(a):
        shape = tuple(int(s) for s in a.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"a.shape must be (n_measurements, n_voxels) >= 1, got {a.shape}")
        return a, shape, np.dtype(getattr(a, "dtype", np.complex128))
    arr = as_array(a, "a", ndim=2, kind="fciu", check_finite=False)
    if min(arr.shape) < 1:
        raise ValueError(
            f"a must be a non-empty (n_measurements, n_voxels) matrix, got {arr.shape}"
        )
    return arr, arr.shape, arr.dtype


def as_frames(y, n_measurements: int, *, check_finite=True):
    """Validate measurements: returns ``(y2, single)`` with ``y2`` of shape (n_frames, n)."""
    return as_batch(
        y, n_measurements, "y", check_finite=check_finite, hint=" to match the rows of a"
    )


def backproject_frames(a, y2, dtype, *, check_finite=True):
    """``A^H y`` for validated frames ``y2`` (n_frames, n_measurements), in ``dtype``.

    With ``check_finite`` (and a finite ``y2``), a NaN/Inf in ``a`` that reaches the result
    raises: IEEE products propagate it (``NaN * 0`` and ``Inf * 0`` are NaN), so a non-finite
    entry of A shows up in ``A^H y`` unless BLAS skipped it as multiplied by an exact zero of
    ``y``, where it cannot affect this result.
    """
    y2 = np.ascontiguousarray(y2, dtype=dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite results are checked below
        if isinstance(a, np.ndarray):
            # conj(conj(y) A): one GEMV/GEMM that reads A once, without a conjugated copy of A.
            z = np.ascontiguousarray(np.conj(np.conj(y2) @ a.astype(dtype, copy=False)))
        else:
            z = np.asarray(a.rmatvec(y2)).reshape(y2.shape[0], -1)
            z = np.ascontiguousarray(z, dtype=dtype)
    if check_finite and not np.isfinite(z).all():
        raise ValueError("a contains NaN or Inf, or A^H y overflows (found in A^H y)")
    return z


def backproject(a, y, *, check_finite=True):
    """Back-projection ``A^H y`` of one frame or a batch.

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or operator
        Dense sensing matrix, or an operator with ``shape`` and ``rmatvec`` (e.g.
        :class:`SensingOperator`, whose ``rmatvec`` never forms A).
    y : array_like, shape (n_measurements,) or (n_frames, n_measurements)
        Measurements [sqrt(W)].
    check_finite : bool
        Reject NaN/Inf in ``y``, and in ``a`` where they reach the result (checked on
        ``A^H y``, which costs ``n_voxels`` per frame instead of a pass over A).

    Returns
    -------
    ndarray, shape (n_voxels,) or (n_frames, n_voxels), complex
        complex64 when ``a`` and ``y`` are both single precision, else complex128 (an operator
        returns its own ``dtype``).

    Notes
    -----
    A batch is one GEMM (dense) or the operator's batched ``rmatvec``.
    """
    a, shape, a_dtype = as_sensing(a)
    y2, single = as_frames(y, shape[0], check_finite=check_finite)
    dtype = working_dtype(a_dtype, y2.dtype) if isinstance(a, np.ndarray) else a_dtype
    z = backproject_frames(a, y2, dtype, check_finite=check_finite)
    return z[0] if single else z
