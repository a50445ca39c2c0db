"""Subspace pursuit (SP), the on-grid imager of the imaging paper (Sec. IV-A, Algorithm 1).

The C++ kernel has two forms. The Gram form: ``z = A^H y`` (one GEMM for a batch) and
``G = A^H A`` are formed once, and every iteration only reads ``K`` rows of ``G`` and solves
systems of order ``<= 2K``, so A is never read again. The residual form: every iteration is
one adjoint product ``A^H r`` (a GEMV over a dense A, or small GEMMs over the matrix-free
operator's link matrices), and no ``n_voxels**2`` Gram is formed. ``method="auto"`` picks the
cheaper for the call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._results import Result
from skysense._validation import (
    DEFAULT_MAX_BYTES,
    as_array,
    check_count,
    check_finite_scalar,
    check_memory,
    check_positive,
    resolve_workers,
)
from skysense.imaging.backprojection import (
    GEMM_CHUNK_MACS,
    as_frames,
    as_sensing,
    backproject_frames,
    far_exponent,
    far_exponents,
    far_peak,
    frame_peaks,
    ldexp,
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
    method: str = "auto",
    check_finite: bool = True,
    workers: int | None = None,
) -> PursuitResult:
    """Sparse image of one frame or a batch by subspace pursuit (C++ kernel).

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), or operator
        Dense sensing matrix A, :class:`SensingOperator`, or another operator (a SciPy
        ``LinearOperator``, or an object with ``shape``, ``dtype`` and a row-batched
        ``rmatvec``); another operator needs ``gram=`` or a ``gram()`` method.
    y : array_like, shape (n_measurements,) or (n_frames, n_measurements)
        Measurements [sqrt(W)].
    sparsity : int
        Support size K (the paper's prior-based M°), ``1 <= K <= n_voxels``.
    rtol : float
        Stop when ``||r|| / ||y|| <= rtol``. In the Gram form the ratio comes from the Gram
        identity and is accurate to about ``sqrt(eps)`` of the working precision only, so the
        default 1e-10 (the authors') in effect stops on a stable support.
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
        Precomputed ``A^H A`` (Hermitian; not scanned: the kernel checks the rows it reads).
        Cast to the working dtype (pass it in that dtype to avoid a copy). Implies
        ``method="gram"``.
    method : {"auto", "gram", "residual"}
        ``"gram"``: SP on ``G = A^H A`` (given, cached by a :class:`SensingOperator`, or formed
        for this call): O(K n_voxels) per iteration once G exists. ``"residual"``: SP on A
        itself, one adjoint product ``A^H r`` per iteration (a GEMV over a dense A, or small
        GEMMs over the operator's link matrices) and no ``n_voxels**2`` Gram. ``"auto"`` picks
        the cheaper by the cost model of Notes. Both give the same supports; images agree to
        rounding, and ``relative_residual`` to about ``sqrt(eps)`` (see ``rtol``); pin the
        method for bit-reproducible runs.
    check_finite : bool
        Reject NaN/Inf in ``y`` (a scan of y), and in ``a`` and ``gram`` where SP reads them
        (``A^H y``, the Gram rows or columns of the supports visited, the correlations): no
        pass over A or G is spent on it. With ``check_finite=False`` a frame whose data hold a
        NaN/Inf where SP reads them returns a NaN ``image`` and ``relative_residual`` and a
        support of -1 (never a "perfect fit").
    workers : int, optional
        Threads over frames (a single frame uses them for its products); ``None`` means the
        current default (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers`
        says otherwise), ``-1`` every CPU. Results do not depend on it.

    Returns
    -------
    PursuitResult
        ``image`` is complex64 when ``a`` and ``y`` are both single precision, else
        complex128.

    Raises
    ------
    ValueError
        With ``check_finite``, for NaN/Inf in ``y``, or met by SP in ``a`` or ``gram``, and
        for an image that overflows the working dtype.

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

    with :math:`z = A^H y`, :math:`G = A^H A`. The residual form gathers the support's
    columns of A (or generates them from the links), forms :math:`G_{SS}` from them and the
    residual :math:`r = y - A_S x_S` exactly; the right-hand sides :math:`A_S^H y` come from
    the same columns. On a dense complex128 A of at least 8 MiB the residual form makes one
    pass over A to write a copy in IEEE half precision (rows scaled by powers of two, so any
    scale of A fits; a quarter of A's bytes, kept between calls and reused) and takes every
    correlation :math:`A^H r` from the copy, with a rigorous bound on its error: the voxels
    whose rank among the K largest the bound cannot settle are recomputed from A in double,
    so the selected voxels, and every output bit for bit, are those of the double-precision
    products (tested). Each small system is solved in double precision
    by Cholesky, falling back to the minimum-norm solution from an eigen-decomposition
    (LAPACK) when a pivot is at the rounding level of :math:`G_{SS}` (nearly collinear
    adjacent voxels); use complex128 on ill-conditioned grids (float32 is fine for
    ``A^H y``, not for SP). Ties in every "K largest" go to the smaller voxel index.

    Cost model of ``method="auto"`` (per call, in flop-equivalents, memory traffic counted at
    :data:`_FLOP_PER_BYTE` flop per byte): the residual form costs ``n_frames * (iterations
    + 1)`` adjoint products (``iterations = min(max_iter, 4)``, SP's typical count here; on the
    half-precision copy, 4 bytes per entry of A plus one pass to write the copy); the
    Gram form costs forming G (``4 n_measurements n_voxels**2`` for a dense A; the link
    kernel's count for a :class:`SensingOperator`; nothing when given or cached) plus the GEMM
    ``A^H Y``. A Gram above 1 GiB is not formed. A :class:`SensingOperator` keeps a Gram it
    formed (:meth:`SensingOperator.gram`), so later calls find it free. A dense ndarray's Gram
    is never cached (the array may change between calls): pass ``gram=`` when calling
    repeatedly with the same A.

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
    # NaN/Inf in y: found from the frame peaks below (one scan of y fewer)
    y2, single = as_frames(y, m, check_finite=False)
    sparsity = check_count(sparsity, "sparsity")
    if sparsity > nv:
        raise ValueError(f"sparsity must be <= n_voxels = {nv}, got {sparsity}")
    rtol = check_positive(rtol, "rtol", strict=False)
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    if max_iter > _MAX_ITER:
        raise ValueError(f"max_iter must be <= {_MAX_ITER}, got {max_iter}")
    if final not in _FINALS:
        raise ValueError(f"final must be one of {_FINALS}, got {final!r}")
    frac = _threshold_fraction(threshold)
    n_threads = resolve_workers(workers)
    dtype = working_dtype(a_dtype, y2.dtype)
    form = _resolve_method(method, a, gram, y2.shape[0], sparsity, max_iter, dtype)
    # SP is invariant to the scale of A and of each frame: frames far from unit scale are scaled
    # by exact powers of two (frame n by 2**-y_exp[n]) so that ||y||^2 neither overflows nor
    # underflows; the Gram form scales A by 2**-a_exp likewise (the residual form does it per
    # frame inside the kernel); x is scaled back.
    y2 = np.ascontiguousarray(y2, dtype=dtype)
    peaks = frame_peaks(y2)  # NaN or Inf where the frame holds one (max/min propagate NaN)
    if check_finite and not np.isfinite(peaks).all():
        raise ValueError("y contains NaN or Inf")
    y_exp = far_exponents(peaks)
    y2 = ldexp(y2, -y_exp[:, None])
    n = y2.shape[0]
    x = np.empty((n, nv), dtype)
    support = np.empty((n, sparsity), np.int64)
    n_iter = np.empty(n, np.int64)
    residual = np.empty(n, np.float64)
    status = np.empty(n, np.int64)
    keep_last = final == "last"
    a_exp = 0
    # The three kernels share their trailing keyword arguments; they are spelled out in each
    # call (not passed as **kwargs) so that mypy checks every one against _core.pyi.
    if form == "residual" and isinstance(a, np.ndarray):
        matrix = np.ascontiguousarray(a, dtype=dtype)
        _core.subspace_pursuit_matrix(
            matrix=matrix,
            measurements=y2,
            sparsity=sparsity,
            rtol=rtol,
            max_iter=max_iter,
            keep_last=keep_last,
            threshold=frac,
            image=x,
            support=support,
            n_iter=n_iter,
            relative_residual=residual,
            status=status,
            n_threads=n_threads,
            half_copy=_use_half_copy(matrix.size, matrix.itemsize),
        )
    elif form == "residual":
        links, pairs, amplitude = a._link_arrays(dtype)
        _core.subspace_pursuit_links(
            links=links,
            pairs=pairs,
            amplitude=amplitude,
            measurements=y2,
            sparsity=sparsity,
            rtol=rtol,
            max_iter=max_iter,
            keep_last=keep_last,
            threshold=frac,
            image=x,
            support=support,
            n_iter=n_iter,
            relative_residual=residual,
            status=status,
            n_threads=n_threads,
        )
    else:
        g, a_exp = _gram_for(a, gram, nv, dtype)
        z = ldexp(backproject_frames(a, y2, dtype, check_finite=check_finite), -a_exp)
        _core.subspace_pursuit_gram(
            gram=g,
            backprojection=z,
            measurements=y2,
            sparsity=sparsity,
            rtol=rtol,
            max_iter=max_iter,
            keep_last=keep_last,
            threshold=frac,
            image=x,
            support=support,
            n_iter=n_iter,
            relative_residual=residual,
            status=status,
            n_threads=n_threads,
        )
    bad = np.flatnonzero(status != 0)
    if check_finite and bad.size:
        source = "gram" if gram is not None else "a"
        raise ValueError(
            f"{source} contains NaN or Inf, or its products overflow (met by SP in frame(s) "
            f"{bad[:8].tolist()}{' ...' if bad.size > 8 else ''})"
        )
    with np.errstate(over="ignore"):  # reported just below
        x = ldexp(x, (y_exp - a_exp)[:, None])
    if check_finite and not np.isfinite(x).all():
        raise ValueError(
            f"the least-squares image overflows {dtype}: |y| / |a| too large (max |y| = "
            f"{float(peaks.max()):.3g})"
        )
    if single:
        return PursuitResult(
            image=x[0], support=support[0], n_iter=n_iter[0], relative_residual=residual[0]
        )
    return PursuitResult(image=x, support=support, n_iter=n_iter, relative_residual=residual)


_METHODS = ("auto", "gram", "residual")
#: Largest max_iter (the kernel counts in int64; beyond this SP has long stopped anyway).
_MAX_ITER = 2**31 - 1
#: Machine balance of the cost model [flop per byte]: a GEMM-bound kernel does this many flops
#: in the time a memory-bound one moves a byte (about 4 on one x86-64 core with AVX-512 and
#: 15 GB/s of bandwidth).
_FLOP_PER_BYTE = 4.0
#: Iterations the cost model expects (SP's typical count on the imaging problems: 2 to 7).
_TYPICAL_ITERATIONS = 4
#: Largest Gram the "auto" method forms [bytes].
_GRAM_LIMIT_BYTES = 1 << 30
#: Smallest complex128 A [bytes] whose residual form correlates on a half-precision copy
#: (A no longer in the CPU's mid-level caches: each pass is then paced by the bytes it moves).
_HALF_COPY_MIN_BYTES = 8 << 20


def _use_half_copy(n_entries: int, itemsize: int) -> bool:
    """Whether the residual form on a dense A of ``n_entries`` in a working dtype of
    ``itemsize`` bytes correlates on a half-precision copy (Notes): complex128, at least
    :data:`_HALF_COPY_MIN_BYTES`, the copy (4 bytes per entry) within the memory limit."""
    return (
        itemsize == 16
        and n_entries * 16 >= _HALF_COPY_MIN_BYTES
        and n_entries * 4 <= DEFAULT_MAX_BYTES
    )


def _resolve_method(
    method: Any, a: Any, gram: Any, n_frames: int, sparsity: int, max_iter: int, dtype: Any
) -> str:
    """``"gram"`` or ``"residual"`` for this call (see :func:`subspace_pursuit`)."""
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    residual_ok = isinstance(a, np.ndarray) or callable(getattr(a, "_link_arrays", None))
    if gram is not None:
        if method == "residual":
            raise ValueError("gram= is used by method='gram' only; drop it for method='residual'")
        return "gram"
    if method == "residual" and not residual_ok:
        raise TypeError(
            f"method='residual' needs a dense ndarray or a SensingOperator, got {type(a).__name__}"
        )
    if method != "auto":
        return method
    if not residual_ok:
        return "gram"
    costs = _method_costs(a, n_frames, max_iter, np.dtype(dtype).itemsize)
    return "gram" if costs["gram"] <= costs["residual"] else "residual"


def _method_costs(a: Any, n_frames: int, max_iter: int, itemsize: int) -> dict[str, float]:
    """Estimated cost of each SP form for this call [flop-equivalents] (see Notes above)."""
    m, nv = (int(s) for s in a.shape)
    products = n_frames * (min(max_iter, _TYPICAL_ITERATIONS) + 1)
    backprojection = 8.0 * m * nv * n_frames  # the GEMM A^H Y of the Gram form
    setup = 0.0
    if isinstance(a, np.ndarray):
        adjoint = max(8.0 * m * nv, _FLOP_PER_BYTE * itemsize * m * nv)  # a memory-bound GEMV
        forming = 4.0 * m * nv * nv  # Hermitian rank-m update
        if _use_half_copy(m * nv, itemsize):  # passes over the copy: 4 bytes per entry
            adjoint = max(8.0 * m * nv, _FLOP_PER_BYTE * 4 * m * nv)
            setup = _FLOP_PER_BYTE * (16 + 4) * m * nv  # read A, write the copy
    else:
        adjoint = a._adjoint_flops()
        forming = 0.0 if a._gram_cache is not None else a._gram_flops()
    if nv * nv * itemsize > _GRAM_LIMIT_BYTES and forming > 0:
        forming = np.inf
    return {"gram": forming + backprojection, "residual": setup + products * adjoint}


def _gram_for(a: Any, gram: Any, nv: int, dtype: Any) -> tuple[npt.NDArray[Any], int]:
    """The Gram form's G in ``dtype``, scaled by ``2**(-2 a_exp)``, and ``a_exp``."""
    if gram is not None:
        # Not scanned for NaN/Inf: the kernel checks every entry it reads.
        g = as_array(gram, "gram", shape=(nv, nv), kind="fciu", dtype=dtype, check_finite=False)
        with np.errstate(invalid="ignore"):
            a_exp = far_exponent(np.sqrt(np.abs(g.diagonal()).max()))
        return ldexp(g, -2 * a_exp), a_exp
    if isinstance(a, np.ndarray):
        a_work = a.astype(dtype, copy=False)
        a_exp = far_exponent(far_peak(a_work))
        g = _dense_gram(ldexp(a_work, -a_exp))
        return g, a_exp
    if not callable(getattr(a, "gram", None)):
        raise TypeError(f"a ({type(a).__name__}) has no gram(); pass gram=A^H A")
    g = np.ascontiguousarray(a.gram(), dtype=dtype)
    if g.shape != (nv, nv):
        raise ValueError(f"a.gram() must have shape ({nv}, {nv}), got {g.shape}")
    with np.errstate(invalid="ignore"):
        a_exp = far_exponent(np.sqrt(np.abs(g.diagonal()).max()))
    return ldexp(g, -2 * a_exp), a_exp


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
    """``A^H A`` of a dense complex A: the upper triangle in column blocks, then mirrored.

    Each block ``G[:hi, lo:hi] = conj(A[:, :hi]^T conj(A[:, lo:hi]))`` is one GEMM of at most
    :data:`~skysense.imaging.backprojection.GEMM_CHUNK_MACS` multiply-adds (the flops of a
    Hermitian rank-m update in all, no conjugated copy of A), so Ctrl-C stops it between
    blocks.
    """
    m, nv = a.shape
    check_memory(
        nv * nv * a.dtype.itemsize,
        f"Gram matrix ({nv}, {nv}) {a.dtype}",
        None,
        "gram= (precomputed), method='residual' or a SensingOperator",
    )
    gram = np.empty((nv, nv), a.dtype)
    lo = 0
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf: flagged by the SP kernel
        while lo < nv:
            # width w of the block G[:lo + w, lo:lo + w]: m (lo + w) w <= GEMM_CHUNK_MACS
            width = int((math.sqrt(lo * lo + 4.0 * GEMM_CHUNK_MACS / m) - lo) / 2.0)
            hi = lo + max(1, min(nv - lo, width))
            block = np.conj(a[:, lo:hi])
            gram[:hi, lo:hi] = np.conj(a[:, :hi].T @ block)
            lo = hi
    step = 256
    for lo in range(0, nv, step):  # lower triangle = conj(upper)^T, block by block
        hi = min(nv, lo + step)
        gram[lo:hi, :lo] = np.conj(gram[:lo, lo:hi].T)
        diag = gram[lo:hi, lo:hi]
        lower = np.tril_indices(hi - lo, -1)
        diag[lower] = np.conj(diag.T[lower])
        diag[np.diag_indices(hi - lo)] = diag.diagonal().real
    return gram
