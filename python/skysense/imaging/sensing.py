"""Sensing matrix A of the cooperative-ISAC imaging model, dense or matrix-free.

Each row of A belongs to one (subcarrier, BS pair, rx antenna, tx antenna) and is the
element-wise product of a tx and an rx link row (imaging paper, eqs. (10)-(14)):

.. math::

    A[(f, q, r, t), v] = g \\, h(\\mathrm{tx}_t, p_v, f) \\, h(\\mathrm{rx}_r, p_v, f), \\qquad
    h(a, p, f) = \\frac{e^{-j 2 \\pi |a - p| / \\lambda_f}}{\\sqrt{4 \\pi} |a - p|},

with ``g = sqrt(P_s / N_f) sqrt(G_s) lambda_0 / sqrt(4 pi)`` (``Scenario.amplitude``).
Row order is documented in :mod:`skysense.imaging.scenario`; entries are in sqrt(W) per
unit scattering coefficient.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse.linalg import LinearOperator

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import (
    as_array,
    as_batch,
    check_count,
    check_memory,
    complex_dtype,
    resolve_workers,
)
from skysense.imaging._sensing_numba import accumulate_conj_products
from skysense.imaging.scenario import SPEED_OF_LIGHT, Scenario

__all__ = ["SensingOperator", "sensing_matrix", "steering_matrix"]

ComplexArray = npt.NDArray[np.complexfloating[Any, Any]]

#: Batches of at least this many frames take the GEMM-per-pair-block adjoint (measured
#: crossover on 2 cores: the numba multiply-reduce wins below ~16 frames).
_KHATRI_RAO_MIN_FRAMES = 16
#: Largest on-the-fly block of A^H in that path [bytes] (stays in L2/L3-friendly sizes).
_KHATRI_RAO_BLOCK_BYTES = 4 << 20

#: Frames per GEMM of that path (bounds one GEMM's time, so Ctrl-C is seen between them).
_KHATRI_RAO_MAX_FRAMES = 512
#: Fewest rows of A per block of that path (an efficient GEMM inner dimension).
_KHATRI_RAO_MIN_ROWS = 512

#: Gram weights (alpha, beta) of the sensing modes: sum over the mode's BS pairs (t, r) of
#: P_t o P_r = alpha S o S + beta Q, with S = sum_b P_b and Q = sum_b P_b o P_b.
_MODE_WEIGHTS = {"A": (0.5, 0.5), "B": (0.5, -0.5), "C": (0.0, 1.0)}

_GEOMETRY_HINT = "move the BSs (bs_positions_m, bs_height_m) or the ROI (roi_center_m)"


def _check_scenario(scenario: object) -> Scenario:
    if not isinstance(scenario, Scenario):
        raise TypeError(
            f"scenario must be a skysense.imaging.Scenario, got {type(scenario).__name__}"
        )
    return scenario


def _run_geometry_kernel(fn: Callable[..., None], **kwargs: Any) -> None:
    """Call a kernel by keyword; its zero-distance error becomes a message naming parameters."""
    try:
        fn(**kwargs)
    except ValueError as exc:
        if "zero distance" in str(exc):
            raise ValueError(f"impossible geometry: {exc}; {_GEOMETRY_HINT}") from exc
        raise


def steering_matrix(
    scenario: Scenario,
    points_m: npt.ArrayLike,
    *,
    dtype: npt.DTypeLike = np.complex128,
    max_bytes: float | None = None,
    workers: int | None = None,
) -> ComplexArray:
    """Compute columns of A for arbitrary scatterer positions (C++ kernel).

    Column ``j`` is the noise-free CSI of a unit scatterer at ``points_m[j]`` (eq. (14));
    :func:`sensing_matrix` is this function at the voxel centres.

    Parameters
    ----------
    scenario : Scenario
        Base stations, arrays, subcarriers and voxel grid.
    points_m : array_like, shape (n_points, 3), [m]
        Scatterer positions (need not be voxel centres).
    dtype : {complex64, complex128}
    max_bytes : float, optional
        Largest allowed result [bytes]; default 1 GiB.
    workers : int, optional
        Threads of the kernel; ``None`` means the current default
        (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers` says otherwise),
        ``-1`` every CPU. The result does not depend on it.

    Returns
    -------
    ndarray, shape (n_measurements, n_points), dtype ``dtype``
        Rows ordered ``(subcarrier, pair, rx antenna, tx antenna)``, as in :func:`sensing_matrix`.

    See Also
    --------
    sensing_matrix : The same at every voxel centre.
    SensingOperator : Matrix-free A for grids whose dense A does not fit in memory.

    Examples
    --------
    >>> from skysense.imaging import Scenario, steering_matrix
    >>> s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    >>> steering_matrix(s, [[0.0, 0.0, 40.0]]).shape
    (160, 1)
    """
    scenario = _check_scenario(scenario)
    dt = complex_dtype(dtype)
    pts = as_array(points_m, "points_m", shape=(None, 3), kind="fiu", dtype=np.float64)
    shape = (scenario.n_measurements, pts.shape[0])
    check_memory(
        shape[0] * shape[1] * dt.itemsize,
        f"dense sensing matrix {shape} {dt}",
        max_bytes,
        "skysense.imaging.SensingOperator (matrix-free)",
    )
    out = np.empty(shape, dtype=dt)
    _run_geometry_kernel(
        _core.sensing_matrix,
        antenna_positions_m=scenario.antenna_positions_m().reshape(-1, 3),
        n_antennas_per_bs=scenario.n_antennas,
        points_m=pts,
        frequencies_hz=scenario.subcarrier_frequencies_hz(),
        speed_of_light_mps=SPEED_OF_LIGHT,
        pairs=scenario.pairs(),
        amplitude=scenario.amplitude,
        out=out,
        n_threads=resolve_workers(workers),
    )
    return out


def sensing_matrix(
    scenario: Scenario,
    dtype: npt.DTypeLike = np.complex128,
    *,
    max_bytes: float | None = None,
    workers: int | None = None,
) -> ComplexArray:
    """Dense sensing matrix A over the voxel grid (C++ kernel, eqs. (10)-(14)).

    One column per voxel centre: ``y = A sigma + z`` maps a reflectivity image ``sigma`` to the
    CSI of every subcarrier, BS pair and antenna pair.

    Parameters
    ----------
    scenario : Scenario
        Base stations, arrays, subcarriers and voxel grid.
    dtype : {complex64, complex128}
    max_bytes : float, optional
        Largest allowed A [bytes]; default 1 GiB. Larger problems raise
        :class:`~skysense.MemoryLimitError`; use :class:`SensingOperator` for them.
    workers : int, optional
        Threads of the kernel; ``None`` means the current default
        (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers` says otherwise),
        ``-1`` every CPU. The result does not depend on it.

    Returns
    -------
    ndarray, shape (n_measurements, n_voxels), dtype ``dtype``
        A. Rows ordered ``(subcarrier, pair, rx antenna, tx antenna)``; voxels C-order over
        (x, y, z).

    See Also
    --------
    SensingOperator : Matrix-free A (link matrices only) with the same products.
    steering_matrix : Columns of A at arbitrary positions.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.imaging import Scenario, sensing_matrix
    >>> s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    >>> a = sensing_matrix(s, np.complex64)
    >>> a.shape, a.dtype
    ((160, 9), dtype('complex64'))
    """
    scenario = _check_scenario(scenario)
    return steering_matrix(
        scenario, scenario.voxel_centers_m(), dtype=dtype, max_bytes=max_bytes, workers=workers
    )


class SensingOperator(LinearOperator):
    """Matrix-free sensing matrix A: a :class:`scipy.sparse.linalg.LinearOperator`.

    Stores only the link matrices, ``N_f * N_b * N0**2 * N_v`` entries, instead of the
    ``N_f * n_pairs * N0**4 * N_v`` of A: for N0 = 8 a few MB instead of more than 1 GB.

    Two batch conventions, both served by the same batched products:

    * **frames as rows** (skysense's): ``op.matvec(x)`` with ``x`` of shape
      ``(n_frames, n_voxels)`` returns ``(n_frames, n_measurements)``, and ``op.rmatvec(y)``
      with ``(n_frames, n_measurements)`` returns ``(n_frames, n_voxels)``; a single
      ``(n_voxels,)`` vector gives ``(n_measurements,)``.
    * **columns** (SciPy's, a matrix product): ``op @ X``, ``op.matmat(X)`` with ``X`` of
      shape ``(n_voxels, k)`` return ``A X`` of shape ``(n_measurements, k)``, and
      ``op.H @ Y``, ``op.rmatmat(Y)`` return ``A^H Y``. ``op.matmat(X)`` equals
      ``op.matvec(X.T).T``. A 2-D input of shape ``(n_voxels, 1)`` (``(n_measurements, 1)``
      for ``rmatvec``) is SciPy's column vector and keeps that shape.

    So SciPy's solvers (:func:`~scipy.sparse.linalg.lsqr`, :func:`~scipy.sparse.linalg.lsmr`,
    :func:`~scipy.sparse.linalg.cg` on ``op.H @ op``) and anything that takes a
    ``LinearOperator`` take it as it is.

    Parameters
    ----------
    scenario : Scenario
        Base stations, arrays, subcarriers and voxel grid.
    dtype : {complex64, complex128}
        Precision of the stored links and of the results (inputs are cast to it).
    workers : int, optional
        Threads for building the links and the Gram (:meth:`gram`); ``None`` means the
        current default (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers`
        says otherwise), ``-1`` every CPU. Neither depends on it.
    n_frames_per_chunk : int
        Frames processed together by the few-frame products (bounds their scratch memory);
        batches of 16 frames or more go through one GEMM per pair block of A instead.

    Attributes
    ----------
    shape : tuple (n_measurements, n_voxels)
    dtype : numpy.dtype
        complex64 or complex128.
    dims : tuple (n_x, n_y, n_z)
        Voxel grid (model) shape.
    dimsd : tuple (n_subcarriers, n_pairs, n_rx_antennas, n_tx_antennas)
        Measurement (data) shape.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import lsqr
    >>> from skysense.imaging import Scenario, SensingOperator
    >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
    >>> op.shape
    (160, 9)
    >>> x = np.zeros(9)
    >>> x[4] = 0.1
    >>> y = op @ x                              # A x, shape (160,)
    >>> (op.H @ y).shape                        # A^H y
    (9,)
    >>> op.rmatvec(np.stack([y, 2 * y])).shape  # two frames as rows
    (2, 9)
    >>> x_hat = lsqr(op, y, atol=1e-12, btol=1e-12)[0]
    >>> bool(np.allclose(x_hat, x, atol=1e-6))
    True
    """

    def __init__(
        self,
        scenario: Scenario,
        dtype: npt.DTypeLike = np.complex128,
        *,
        workers: int | None = None,
        n_frames_per_chunk: int = 8,
    ) -> None:
        self.scenario = _check_scenario(scenario)
        dt = complex_dtype(dtype)
        self.n_frames_per_chunk = check_count(n_frames_per_chunk, "n_frames_per_chunk")
        s = self.scenario
        super().__init__(dtype=dt, shape=s.shape)
        self._complex: np.dtype[np.complexfloating[Any, Any]] = dt  # self.dtype, typed
        self.dims = s.grid_shape
        self.dimsd = (s.n_subcarriers, s.n_pairs, s.n_antennas, s.n_antennas)
        ant = s.antenna_positions_m()
        links = np.empty((s.n_subcarriers, ant.shape[0] * ant.shape[1], s.n_voxels), dt)
        _run_geometry_kernel(
            _core.link_matrix,
            antenna_positions_m=ant.reshape(-1, 3),
            points_m=s.voxel_centers_m(),
            frequencies_hz=s.subcarrier_frequencies_hz(),
            speed_of_light_mps=SPEED_OF_LIGHT,
            out=links,
            n_threads=resolve_workers(workers),
        )
        # (n_f, n_bs, n_ant, n_voxels); the amplitude g is applied to results.
        self._links = links.reshape(s.n_subcarriers, s.n_bs, s.n_antennas, s.n_voxels)
        self._amplitude = s.amplitude
        pairs = s.pairs()
        self._pairs = pairs
        # Pairs grouped by tx BS (rmatvec) and by rx BS (matvec): one GEMM per group.
        by_tx = [(b, np.flatnonzero(pairs[:, 0] == b)) for b in range(s.n_bs)]
        by_rx = [(b, np.flatnonzero(pairs[:, 1] == b)) for b in range(s.n_bs)]
        self._by_tx = [(b, q) for b, q in by_tx if q.size]
        self._by_rx = [(b, q) for b, q in by_rx if q.size]
        self._n_threads = resolve_workers(workers)
        self._gram_lock = threading.Lock()
        self._gram_cache: ComplexArray | None = None

    # Pickling (e.g. to a Dask worker) drops the lock and the cached Gram.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_gram_lock"] = None
        state["_gram_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._gram_lock = threading.Lock()
        # NumPy's own dtype instance (an unpickled one is equal but not the same object)
        self._complex = np.dtype(self._complex.name)
        self.dtype = self._complex

    def __repr__(self) -> str:
        return (
            f"SensingOperator(shape={self.shape}, dtype={self.dtype}, mode={self.scenario.mode!r})"
        )

    # -- public API -------------------------------------------------------------------------
    def memory_usage(self) -> int:
        """Bytes held by the operator: the link matrices and the cached Gram, if any.

        Examples
        --------
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
        >>> op.memory_usage()
        2304
        >>> _ = op.gram()
        >>> op.memory_usage()  # + the 9 x 9 complex128 Gram
        3600
        """
        cached = self._gram_cache
        return int(self._links.nbytes) + (0 if cached is None else int(cached.nbytes))

    def clear_cache(self) -> None:
        """Drop the cached Gram (see :meth:`gram`); the next full ``gram()`` forms it again.

        Examples
        --------
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
        >>> _ = op.gram()
        >>> op.clear_cache()
        >>> op.memory_usage()
        2304
        """
        with self._gram_lock:
            self._gram_cache = None

    def matvec(self, x: npt.ArrayLike) -> ComplexArray:
        """Forward model ``A x`` of one vector or of frames stacked as rows.

        Parameters
        ----------
        x : array_like, shape (n_voxels,), (n_frames, n_voxels) or (n_voxels, 1)
            One image, a batch of images (rows), or SciPy's column vector.

        Returns
        -------
        ndarray, shape (n_measurements,), (n_frames, n_measurements) or (n_measurements, 1)
            dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
        >>> op.matvec(np.ones(9)).shape, op.matvec(np.ones((5, 9))).shape
        ((160,), (5, 160))
        """
        n = self.shape[1]
        arr = np.asanyarray(x)
        if arr.shape == (n, 1):
            return self._forward_rows(arr.reshape(1, n)).reshape(-1, 1)
        x2, single = as_batch(arr, n, "x")
        out = self._batched(x2, self._matvec_frames, self._matvec_khatri_rao, self.shape[0])
        return out[0] if single else out

    def rmatvec(self, y: npt.ArrayLike) -> ComplexArray:
        """Adjoint ``A^H y`` (back-projection) of one vector or of frames stacked as rows.

        Parameters
        ----------
        y : array_like, shape (n_measurements,), (n_frames, n_measurements) or (n_measurements, 1)
            One frame, a batch of frames (rows), or SciPy's column vector.

        Returns
        -------
        ndarray, shape (n_voxels,), (n_frames, n_voxels) or (n_voxels, 1)
            dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
        >>> op.rmatvec(np.ones((3, 160))).shape
        (3, 9)
        """
        m = self.shape[0]
        arr = np.asanyarray(y)
        if arr.shape == (m, 1):
            return self._adjoint_rows(arr.reshape(1, m)).reshape(-1, 1)
        y2, single = as_batch(arr, m, "y")
        out = self._batched(y2, self._rmatvec_frames, self._rmatvec_khatri_rao, self.shape[1])
        return out[0] if single else out

    # SciPy's LinearOperator hooks: vectors and (n, k) columns, routed to the batched products
    # with the k columns as k frames.
    def _matvec(self, x: npt.NDArray[Any]) -> ComplexArray:
        return self._forward_rows(np.reshape(x, (1, -1))).reshape(-1)

    def _rmatvec(self, y: npt.NDArray[Any]) -> ComplexArray:
        return self._adjoint_rows(np.reshape(y, (1, -1))).reshape(-1)

    def _matmat(self, x: npt.NDArray[Any]) -> ComplexArray:
        return self._forward_rows(np.asarray(x).T).T

    def _rmatmat(self, y: npt.NDArray[Any]) -> ComplexArray:
        return self._adjoint_rows(np.asarray(y).T).T

    def _forward_rows(self, x: npt.ArrayLike) -> ComplexArray:
        """``A x`` of frames as rows, validated (one vector is a batch of one)."""
        x2, _ = as_batch(x, self.shape[1], "x")
        return self._batched(x2, self._matvec_frames, self._matvec_khatri_rao, self.shape[0])

    def _adjoint_rows(self, y: npt.ArrayLike) -> ComplexArray:
        """``A^H y`` of frames as rows, validated (one vector is a batch of one)."""
        y2, _ = as_batch(y, self.shape[0], "y")
        return self._batched(y2, self._rmatvec_frames, self._rmatvec_khatri_rao, self.shape[1])

    def _batched(
        self,
        v: npt.NDArray[Any],
        few_frames: Callable[[ComplexArray], ComplexArray],
        many_frames: Callable[[ComplexArray], ComplexArray],
        n_out: int,
    ) -> ComplexArray:
        """Apply a product to validated frames ``v``: chunks of ``n_frames_per_chunk`` through
        ``few_frames``, or the whole batch through ``many_frames``; overflow raises."""
        v = np.ascontiguousarray(v, dtype=self._complex)
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            if v.shape[0] >= _KHATRI_RAO_MIN_FRAMES:
                out = np.empty((v.shape[0], n_out), self._complex)
                step = _KHATRI_RAO_MAX_FRAMES
                for lo in range(0, v.shape[0], step):
                    out[lo : lo + step] = many_frames(v[lo : lo + step])
            else:
                out = np.empty((v.shape[0], n_out), self._complex)
                step = self.n_frames_per_chunk
                for lo in range(0, v.shape[0], step):
                    out[lo : lo + step] = few_frames(v[lo : lo + step])
        if not np.isfinite(out).all():
            raise ValueError(f"the product overflows {self.dtype} (input too large)")
        return out

    def gram(
        self, column_index: npt.ArrayLike | None = None, *, max_bytes: float | None = None
    ) -> ComplexArray:
        """``A^H A`` (or some of its columns) from the per-BS link Grams (C++ kernel).

        The full Gram is formed once and cached: later calls (and :func:`subspace_pursuit`
        on this operator) return the same read-only array, formed by one thread while
        concurrent callers wait. :meth:`memory_usage` counts it; :meth:`clear_cache` drops
        it. Columns are taken from the cache when it exists, else computed (not cached).

        Parameters
        ----------
        column_index : array_like of int, shape (k,), optional
            Voxel indices of the wanted columns; all by default.
        max_bytes : float, optional
            Largest allowed result [bytes]; default 1 GiB.

        Returns
        -------
        ndarray, shape (n_voxels, k), dtype ``self.dtype``
            Read-only for the full (cached) Gram.

        Raises
        ------
        MemoryLimitError
            If the result exceeds ``max_bytes``.
        ValueError
            If the Gram overflows ``self.dtype`` (extreme ``Scenario`` powers).

        Notes
        -----
        With the per-BS link Grams :math:`P_{f,b} = H_{f,b}^H H_{f,b}`,
        ``A^H A = g^2 sum_f sum_(t, r) P_(f,t) o P_(f,r)`` element-wise (imaging paper, eqs.
        (10)-(14)); over the pairs of a sensing mode this is
        :math:`\\alpha\\, S_f \\circ S_f + \\beta\\, Q_f` with :math:`S_f = \\sum_b P_{f,b}`,
        :math:`Q_f = \\sum_b P_{f,b} \\circ P_{f,b}` and
        :math:`(\\alpha, \\beta) = (1/2, 1/2)` (mode A), :math:`(1/2, -1/2)` (B), :math:`(0, 1)`
        (C). The kernel forms the :math:`P_{f,b}` tile by tile (GEMMs of ``N0**2`` inner
        dimension) and folds them in cache, in double precision: ``N_f N_b N0**2 N_v**2 / 2``
        complex multiply-adds for the full Gram instead of ``N_f N_pairs N0**4 N_v**2 / 2``
        for the dense ``A^H A``, with a few tiles of scratch per thread. Threads:
        ``workers`` of the constructor; Ctrl-C stops it between tiles.

        Examples
        --------
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> op = SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2))
        >>> op.gram().shape, op.gram([0, 4]).shape
        ((9, 9), (9, 2))
        >>> op.gram() is op.gram()
        True
        """
        nv = self.shape[1]
        itemsize = self.dtype.itemsize
        if column_index is None:
            cached = self._gram_cache
            if cached is not None:
                return cached
            check_memory(nv * nv * itemsize, f"Gram matrix ({nv}, {nv}) {self.dtype}", max_bytes)
            with self._gram_lock:
                if self._gram_cache is None:  # formed once, whoever comes first
                    with np.errstate(over="ignore"):
                        scale = np.float64(self._amplitude) ** 2
                        gram = self._link_gram(None, float(scale)) if np.isfinite(scale) else None
                    if gram is None or not np.isfinite(gram).all():
                        raise ValueError(
                            f"the Gram overflows {self.dtype}: the scenario's amplitude "
                            f"{self._amplitude:.3g} sqrt(W) is too large (sensing_power_dbm, "
                            "antenna_gain)"
                        )
                    gram.flags.writeable = False
                    self._gram_cache = gram
                return self._gram_cache
        cols = as_array(column_index, "column_index", ndim=1, kind="iu").astype(np.int64)
        if cols.size and (cols.min() < 0 or cols.max() >= nv):
            raise ValueError(
                f"column_index must lie in [0, {nv}), got range [{cols.min()}, {cols.max()}]"
            )
        check_memory(nv * cols.size * itemsize, f"Gram columns ({nv}, {cols.size})", max_bytes)
        cached = self._gram_cache
        if cached is not None:
            return np.ascontiguousarray(cached[:, cols])
        return self._link_gram(cols, self._amplitude**2)

    def _link_gram(self, cols: npt.NDArray[np.int64] | None, scale: float) -> ComplexArray:
        """``scale / g^2 * A^H A`` (all columns, or ``cols``) from the link kernel."""
        nv = self.shape[1]
        alpha, beta = _MODE_WEIGHTS[self.scenario.mode]
        out = np.empty((nv, nv if cols is None else cols.size), self._complex)
        if out.size:
            with np.errstate(over="ignore"):
                _core.link_gram(
                    links=self._links,
                    alpha=alpha,
                    beta=beta,
                    scale=scale,
                    columns=cols,
                    out=out,
                    n_threads=self._n_threads,
                )
        return out

    def _link_arrays(self, dtype: npt.DTypeLike) -> tuple[ComplexArray, npt.NDArray[Any], float]:
        """``(links, pairs, amplitude)`` for the residual-form SP kernel, links in ``dtype``."""
        links = np.ascontiguousarray(self._links, dtype=dtype)
        return links, self._pairs, float(self._amplitude)

    def _adjoint_flops(self) -> float:
        """Cost-model estimate of one frame's ``A^H r`` on the links [flop-equivalents]."""
        m, nv = self.shape
        na = self._links.shape[2]
        # GEMMs of inner dimension N0**2: efficient from about 16 up (twice the flops below).
        return 8.0 * m * nv * (2.0 if na < 16 else 1.0)

    def _gram_flops(self) -> float:
        """Cost-model estimate of :meth:`gram` [flop-equivalents]."""
        n_f, n_bs, na, nv = self._links.shape
        # 8 n_bs na flops per entry in BLAS, ~30 element-wise flops (at a third of the rate)
        return n_f * nv * nv / 2.0 * (8.0 * n_bs * na + 90.0)

    def column_norms(self) -> npt.NDArray[np.float64]:
        """Column norms ``||A[:, v]||``, shape (n_voxels,), float64.

        Examples
        --------
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)).column_norms().shape
        (9,)
        """
        return np.asarray(np.sqrt(self._column_power()) * self._amplitude, dtype=np.float64)

    def _column_power(self) -> npt.NDArray[np.float64]:
        """``||A[:, v]||^2 / g^2``, shape (n_voxels,), float64 (amplitude-free)."""
        links = self._links.view(self._links.real.dtype).astype(np.float64)
        power = (links**2).reshape(*self._links.shape[:-1], -1, 2).sum(axis=(2, 4))
        per_pair = np.zeros(power[:, 0].shape)  # (n_f, n_voxels)
        for t, r in self._pairs:
            per_pair += power[:, r] * power[:, t]
        return np.asarray(per_pair.sum(axis=0), dtype=np.float64)

    def todense(
        self, *, max_bytes: float | None = None, workers: int | None = None
    ) -> ComplexArray:
        """Dense A via :func:`sensing_matrix` (after the memory check).

        Examples
        --------
        >>> from skysense.imaging import Scenario, SensingOperator
        >>> SensingOperator(Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)).todense().shape
        (160, 9)
        """
        return sensing_matrix(self.scenario, self.dtype, max_bytes=max_bytes, workers=workers)

    # -- kernels ---------------------------------------------------------------------------
    def _matvec_frames(self, x: ComplexArray) -> ComplexArray:
        # Y[n, r, t] = g sum_v H_r[r, v] x[n, v] H_t[t, v]: per rx BS one (n*Nr, Nv) @ (Nv, Nt*k) GEMM.
        nf, _, na, nv = self._links.shape
        k = x.shape[0]
        out = np.empty((k, nf, len(self._pairs), na, na), self._complex)
        for f in range(nf):
            links = self._links[f]
            for rx, qs in self._by_rx:
                weighted = (x[:, None, :] * links[rx]).reshape(k * na, nv)
                tx_links = links[self._pairs[qs, 0]].reshape(qs.size * na, nv)
                prod = (weighted @ tx_links.T).reshape(k, na, qs.size, na)
                out[:, f, qs] = prod.transpose(0, 2, 1, 3)
        out *= self._amplitude
        return out.reshape(k, -1)

    def _rmatvec_frames(self, y: ComplexArray) -> ComplexArray:
        # z[n, v] = g sum_(q, r) conj(H_r[r, v]) sum_t Y[n, q, r, t] conj(H_t[t, v]).
        # Few frames: per tx BS one GEMM over its pairs, then a fused multiply-reduce over
        # (q, r) in numba (no pair block of A is ever formed).
        nf, _, na, nv = self._links.shape
        k = y.shape[0]
        blocks = y.reshape(k, nf, len(self._pairs), na, na)
        z = np.zeros((k, nv), self._complex)
        for f in range(nf):
            links_conj = self._links[f].conj()
            for tx, qs in self._by_tx:
                w = blocks[:, f, qs].reshape(k * qs.size * na, na) @ links_conj[tx]
                rx_conj = links_conj[self._pairs[qs, 1]]  # (q, Nr, Nv)
                accumulate_conj_products(
                    w.reshape(k, qs.size * na, nv), rx_conj.reshape(qs.size * na, nv), z
                )
        z *= self._amplitude
        return z

    # Many frames (chunks of _KHATRI_RAO_MAX_FRAMES): the work is GEMM-bound, so form blocks
    # of A on the fly, the Khatri-Rao products of link matrices over a voxel slab, for a group
    # of consecutive (subcarrier, pair) row blocks of at least _KHATRI_RAO_MIN_ROWS rows (one
    # pair for N0 >= 5, all pairs and subcarriers for the 2 x 2 UPAs of the 3-D scenario, so
    # the GEMM's inner dimension stays efficient), the block at most _KHATRI_RAO_BLOCK_BYTES,
    # and do one GEMM per block. Measured 1.1x of the dense GEMM on 256 frames
    # (bench/test_operator.py).
    def _row_blocks(self, conj: bool) -> Iterator[tuple[slice, slice, ComplexArray]]:
        nf, _, na, nv = self._links.shape
        rows_per = na * na
        per_group = max(1, -(-_KHATRI_RAO_MIN_ROWS // rows_per))  # (f, q) blocks per group
        blocks = [(f, q) for f in range(nf) for q in range(len(self._pairs))]
        links = self._links.conj() if conj else self._links
        for g0 in range(0, len(blocks), per_group):
            group = blocks[g0 : g0 + per_group]
            n_rows = len(group) * rows_per
            rows = slice(g0 * rows_per, g0 * rows_per + n_rows)
            slab = max(1, _KHATRI_RAO_BLOCK_BYTES // (n_rows * self.dtype.itemsize))
            for lo in range(0, nv, slab):
                hi = min(nv, lo + slab)
                block = np.empty((len(group), na, na, hi - lo), self._complex)
                for i, (f, q) in enumerate(group):
                    tx, rx = self._pairs[q]
                    np.multiply(
                        links[f, rx, :, None, lo:hi], links[f, tx, None, :, lo:hi], out=block[i]
                    )
                yield rows, slice(lo, hi), block.reshape(n_rows, hi - lo)

    def _rmatvec_khatri_rao(self, y: ComplexArray) -> ComplexArray:
        z = np.zeros((y.shape[0], self.shape[1]), self._complex)
        for rows, voxels, block in self._row_blocks(conj=True):
            z[:, voxels] += y[:, rows] @ block
        z *= self._amplitude
        return z

    def _matvec_khatri_rao(self, x: ComplexArray) -> ComplexArray:
        out = np.zeros((x.shape[0], self.shape[0]), self._complex)
        for rows, voxels, block in self._row_blocks(conj=False):
            out[:, rows] += x[:, voxels] @ block.T
        out *= self._amplitude
        return out
