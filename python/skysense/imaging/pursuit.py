"""Subspace pursuit (SP), the on-grid imager of the imaging paper (Sec. IV-A, Algorithm 1).

The C++ kernel works on the Gram form: ``z = A^H y`` (one GEMM for a batch) and
``G = A^H A`` are formed once, and every iteration only reads ``K`` rows of ``G`` and solves
systems of order ``<= 2K``, so A is never read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._results import Result
from skysense._validation import (
    as_array,
    check_count,
    check_finite_scalar,
    check_memory,
    check_positive,
    resolve_workers,
)
from skysense.imaging.backprojection import (
    as_frames,
    as_sensing,
    backproject_frames,
    working_dtype,
)

__all__ = ["PursuitResult", "subspace_pursuit"]

_FINALS = ("best", "last")
#: ``threshold="max/5"``: the authors' post-processing (main.m zeroes |x| < max|x| / 5).
_MAX_OVER_5 = 0.2


@dataclass(frozen=True, repr=False, eq=False)
class PursuitResult(Result):
    """Output of :func:`subspace_pursuit` (leading axis only for a batch of frames).

    Attributes
    ----------
    image : ndarray, shape (n_frames, n_voxels) or (n_voxels,), complex64 or complex128
        Estimated scattering coefficients: least squares on ``support`` (after the optional
        threshold), zero elsewhere.
    support : ndarray, shape (n_frames, sparsity) or (sparsity,), int64
        Final SP support, ascending voxel indices (before the threshold).
    n_iter : ndarray, shape (n_frames,) or (), int64
        Iterations run, a final discarded one included.
    relative_residual : ndarray, shape (n_frames,) or (), float64
        ``||y - A x|| / ||y||`` of the least-squares ``x`` (before the threshold), from the Gram
        identity; 0 for an all-zero frame.

    Examples
    --------
    >>> from skysense.imaging import Scenario, SensingOperator, simulate, subspace_pursuit
    >>> s = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=3)
    >>> result = subspace_pursuit(SensingOperator(s), simulate(s, 8, 2, rng=0).measurements, 2)
    >>> result  # doctest: +ELLIPSIS
    PursuitResult(
      image=complex128[8, 100] [...],
      support=int64[8, 2] [...],
      n_iter=int64[8] [...],
      relative_residual=float64[8] [...],
    )
    """

    image: npt.NDArray[np.complexfloating[Any, Any]]
    support: npt.NDArray[np.int64]
    n_iter: npt.NDArray[np.int64]
    relative_residual: npt.NDArray[np.float64]


def subspace_pursuit(
    a: Any,
    y: npt.ArrayLike,
    sparsity: int,
    *,
    rtol: float = 1e-10,
    max_iter: int = 100,
    final: str = "best",
    threshold: float | str | None = None,
    gram: npt.ArrayLike | None = None,
    check_finite: bool = True,
    workers: int | None = None,
) -> PursuitResult:
    """Sparse image of one frame or a batch by subspace pursuit (C++ kernel).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or operator
        Dense sensing matrix A, :class:`SensingOperator`, or another operator (a SciPy
        ``LinearOperator``, or an object with ``shape``, ``dtype`` and a row-batched
        ``rmatvec``); an operator without a ``gram()`` method needs ``gram=``.
    y : array_like, shape (n_measurements,) or (n_frames, n_measurements)
        Measurements [sqrt(W)].
    sparsity : int
        Support size K (the paper's prior-based M°), ``1 <= K <= n_voxels``.
    rtol : float
        Stop when ``||r|| / ||y|| <= rtol``. The ratio comes from the Gram identity and is
        accurate to about ``sqrt(eps)`` of the working precision only, so the default 1e-10
        (the authors') in effect stops on a stable support.
    max_iter : int
        Cap on the iterations (the authors' code has none); 0 returns the initial support.
    final : {"best", "last"}
        What is returned when an iteration does not lower the residual. ``"best"`` (SP as
        published by Dai & Milenkovic): stop and keep the previous iterate, so the result has
        the smallest residual seen. ``"last"`` (the authors' CS_SP.m): stop but return the new,
        worse iterate; the first iteration is compared against a ratio of 1, not that of the
        initial support.
    threshold : None, float in [0, 1] or "max/5"
        Zero the entries with ``|x| < threshold * max|x|`` per frame. ``"max/5"`` (= 0.2) is
        the authors' post-processing. ``None`` keeps the least-squares values.
    gram : ndarray, shape (n_voxels, n_voxels), optional
        Precomputed ``A^H A`` (Hermitian; not checked). Forming it costs
        ``O(n_measurements n_voxels^2)`` for a dense ``a`` (about a second for 6250 x 1600)
        and ``O(N0^2 n_voxels^2)`` per BS through ``SensingOperator.gram``: pass it when
        calling repeatedly. Cast to the working dtype (pass it in that dtype to avoid a copy).
    check_finite : bool
        Reject NaN/Inf in ``y``, ``gram`` and ``a``; ``a`` is checked through ``A^H y`` (and
        the diagonal of the Gram matrix formed from it), not by a pass over A.
    workers : int, optional
        Threads over frames; ``None`` means the current default (:func:`skysense.get_workers`,
        1 unless :func:`skysense.set_workers` says otherwise), ``-1`` every CPU. Results do
        not depend on it.

    Returns
    -------
    PursuitResult
        ``image`` is complex64 when ``a`` and ``y`` are both single precision, else
        complex128.

    Notes
    -----
    Initial support :math:`S_0`: the K largest :math:`|A^H y|`. Each iteration takes the K
    largest :math:`|A^H r|`, solves least squares on their union with :math:`S` (at most 2K
    columns), keeps the K largest coefficients as the new :math:`S` and solves least squares
    on it. It stops when :math:`\\|r\\|/\\|y\\| \\le` ``rtol``, when the ratio does not decrease
    (which covers a stable support), or after ``max_iter`` iterations. On the Gram form

    .. math::

        A^H r = z - G_{:,S} x_S, \\qquad G_{SS} x_S = z_S, \\qquad
        \\|r\\|^2 = \\|y\\|^2 - 2\\,\\mathrm{Re}(x_S^H z_S) + x_S^H G_{SS} x_S,

    with :math:`z = A^H y`, :math:`G = A^H A`. Each small system is solved in double precision
    by Cholesky, falling back to the minimum-norm solution from an eigen-decomposition
    (LAPACK) when a pivot is at the rounding level of G (nearly collinear adjacent voxels).
    Squaring the condition number this way is the price of never touching A again; use
    complex128 on ill-conditioned grids (float32 is fine for ``A^H y``, not for SP).
    Ties in every "K largest" go to the smaller voxel index.

    References
    ----------
    W. Dai and O. Milenkovic, "Subspace pursuit for compressive sensing signal
    reconstruction", IEEE Trans. Inf. Theory 55(5), 2009.
    Y. Huang et al., "Learned off-grid imager for low-altitude economy with cooperative ISAC
    network", IEEE Trans. Wireless Commun. 25, 2026 (Algorithm 1).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.imaging import Scenario, SensingOperator, simulate, subspace_pursuit
    >>> s = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=3)
    >>> batch = simulate(s, 2, 2, noise_model="none", rng=0)
    >>> result = subspace_pursuit(SensingOperator(s), batch.measurements, 2)
    >>> result.image.shape, result.support.shape
    ((2, 100), (2, 2))
    >>> bool((result.support == np.sort(batch.voxel_index, axis=1)).all())
    True
    """
    a, (m, nv), a_dtype = as_sensing(a)
    y2, single = as_frames(y, m, check_finite=check_finite)
    sparsity = check_count(sparsity, "sparsity")
    if sparsity > nv:
        raise ValueError(f"sparsity must be <= n_voxels = {nv}, got {sparsity}")
    rtol = check_positive(rtol, "rtol", strict=False)
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    if final not in _FINALS:
        raise ValueError(f"final must be one of {_FINALS}, got {final!r}")
    frac = _threshold_fraction(threshold)
    n_threads = resolve_workers(workers)
    dtype = working_dtype(a_dtype, y2.dtype)
    # SP is invariant to the scale of A and of each frame: problems far from unit scale are
    # scaled by exact powers of two (A by 2**-a_exp, frame n by 2**-y_exp[n]) so that the
    # Gram identity's ||y||^2 and G neither overflow nor underflow; x is scaled back.
    if gram is not None:
        gram = as_array(
            gram, "gram", shape=(nv, nv), kind="fciu", dtype=dtype, check_finite=check_finite
        )
        a_exp = _far_exponent(np.sqrt(np.abs(gram.diagonal()).max()))
        gram = _ldexp(gram, -2 * a_exp)
    elif isinstance(a, np.ndarray):
        a_work = a.astype(dtype, copy=False)
        with np.errstate(invalid="ignore"):  # NaN/Inf are reported below
            a_exp = _far_exponent(_component_peak(a_work).max())
        gram = _dense_gram(_ldexp(a_work, -a_exp))  # the pass over A is small beside G
        # G[v, v] = ||A[:, v]||^2 is NaN/Inf iff column v of A has a NaN/Inf.
        if check_finite and not np.isfinite(gram.diagonal()).all():
            raise ValueError("a contains NaN or Inf")
    else:
        if not callable(getattr(a, "gram", None)):
            raise TypeError(f"a ({type(a).__name__}) has no gram(); pass gram=A^H A")
        gram = np.ascontiguousarray(a.gram(), dtype=dtype)
        if gram.shape != (nv, nv):
            raise ValueError(f"a.gram() must have shape ({nv}, {nv}), got {gram.shape}")
        a_exp = _far_exponent(np.sqrt(np.abs(gram.diagonal()).max()))
        gram = _ldexp(gram, -2 * a_exp)

    y2 = np.ascontiguousarray(y2, dtype=dtype)
    peaks = _component_peak(y2).max(axis=1)
    y_exp = np.array([_far_exponent(p) for p in peaks], dtype=np.int64)
    y2 = _ldexp(y2, -y_exp[:, None])
    z = _ldexp(backproject_frames(a, y2, dtype, check_finite=check_finite), -a_exp)
    n = y2.shape[0]
    x = np.empty((n, nv), dtype)
    support = np.empty((n, sparsity), np.int64)
    n_iter = np.empty(n, np.int64)
    residual = np.empty(n, np.float64)
    _core.subspace_pursuit(
        gram=gram,
        backprojection=z,
        measurements=y2,
        sparsity=sparsity,
        rtol=rtol,
        max_iter=max_iter,
        keep_last=final == "last",
        threshold=frac,
        image=x,
        support=support,
        n_iter=n_iter,
        relative_residual=residual,
        n_threads=n_threads,
    )
    with np.errstate(over="ignore"):  # reported just below
        x = _ldexp(x, (y_exp - a_exp)[:, None])
    if check_finite and not np.isfinite(x).all():
        raise ValueError(f"the least-squares image overflows {dtype} (|y| / |A| too large)")
    if single:
        return PursuitResult(
            image=x[0], support=support[0], n_iter=n_iter[0], relative_residual=residual[0]
        )
    return PursuitResult(image=x, support=support, n_iter=n_iter, relative_residual=residual)


#: Scales beyond 2**(+-_SAFE_EXPONENT) are brought to unit scale (see subspace_pursuit).
_SAFE_EXPONENT = 64


def _far_exponent(value: Any) -> int:
    """Binary exponent of ``value`` if it lies outside the safe range, else 0 (0 for 0/NaN)."""
    value = float(value)
    if value == 0.0 or not np.isfinite(value):
        return 0
    exponent = int(np.frexp(value)[1])
    return exponent if abs(exponent) > _SAFE_EXPONENT else 0


def _component_peak(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """max(|Re|, |Im|) elementwise: within sqrt(2) of |arr|, but finite wherever arr is."""
    if arr.dtype.kind == "c":
        return np.maximum(np.abs(arr.real), np.abs(arr.imag))
    return np.abs(arr)


def _ldexp(arr: npt.NDArray[Any], exponent: Any) -> npt.NDArray[Any]:
    """``arr * 2**exponent`` exactly (complex-aware); ``arr`` itself when no exponent is set."""
    exponent = np.asarray(exponent)
    if not exponent.any():
        return arr
    if arr.dtype.kind == "c":
        out = np.ldexp(arr.real, exponent) + 1j * np.ldexp(arr.imag, exponent)
    else:
        out = np.ldexp(arr, exponent)
    return np.ascontiguousarray(out, dtype=arr.dtype)


def _threshold_fraction(threshold: float | str | None) -> float:
    if threshold is None:
        return 0.0
    if isinstance(threshold, str):
        if threshold != "max/5":
            raise ValueError(
                f"threshold must be None, a float in [0, 1] or 'max/5', got {threshold!r}"
            )
        return _MAX_OVER_5
    frac = check_finite_scalar(threshold, "threshold")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {frac}")
    return frac


def _dense_gram(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``A^H A`` of a dense complex A by one Hermitian rank-k update (half a GEMM)."""
    from scipy.linalg import blas

    nv = a.shape[1]
    check_memory(
        nv * nv * a.dtype.itemsize,
        f"Gram matrix ({nv}, {nv}) {a.dtype}",
        None,
        "gram= (precomputed) or a SensingOperator",
    )
    herk = blas.cherk if a.dtype == np.complex64 else blas.zherk
    # a.T is Fortran-ordered (nv, m): herk gives C = a.T a.T^H = conj(A^H A), upper triangle.
    c = herk(1.0, a.T, trans=0, lower=0)
    upper = np.triu(c)
    gram = np.conj(upper)
    gram += np.triu(upper, 1).T
    return np.ascontiguousarray(gram)
