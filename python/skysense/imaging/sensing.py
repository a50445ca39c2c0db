"""Sensing matrix A of the cooperative-ISAC imaging model, dense or matrix-free.

Each row of A belongs to one (subcarrier, BS pair, rx antenna, tx antenna) and is the
element-wise product of a tx and an rx link row (eqs. 10-14 of Huang et al., TWC 2026):

.. math::

    A[(f, q, r, t), v] = g \\, h(\\mathrm{tx}_t, p_v, f) \\, h(\\mathrm{rx}_r, p_v, f), \\qquad
    h(a, p, f) = \\frac{e^{-j 2 \\pi |a - p| / \\lambda_f}}{\\sqrt{4 \\pi} |a - p|},

with ``g = sqrt(P_s / N_f) sqrt(G_s) lambda_0 / sqrt(4 pi)`` (``Scenario.amplitude``).
Row order is documented in :mod:`skysense.imaging.scenario`; entries are in sqrt(W) per
unit scattering coefficient.
"""

from __future__ import annotations

import numpy as np

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import as_array, as_batch, check_memory, complex_dtype, resolve_workers
from skysense.imaging._sensing_numba import accumulate_conj_products
from skysense.imaging.scenario import SPEED_OF_LIGHT, Scenario

__all__ = ["SensingOperator", "sensing_matrix", "steering_matrix"]

#: Batches of at least this many frames take the GEMM-per-pair-block adjoint (measured
#: crossover on 2 cores: the numba multiply-reduce wins below ~16 frames).
_KHATRI_RAO_MIN_FRAMES = 16
#: Largest on-the-fly block of A^H in that path [bytes] (stays in L2/L3-friendly sizes).
_KHATRI_RAO_BLOCK_BYTES = 4 << 20

#: Scratch of one block of Gram columns (the per-BS Grams) [bytes].
_GRAM_BLOCK_BYTES = 256 << 20

_GEOMETRY_HINT = "move the BSs (bs_positions_m, bs_height_m) or the ROI (roi_center_m)"


def _check_scenario(scenario) -> Scenario:
    if not isinstance(scenario, Scenario):
        raise TypeError(
            f"scenario must be a skysense.imaging.Scenario, got {type(scenario).__name__}"
        )
    return scenario


def _run_geometry_kernel(fn, *args, **kwargs):
    """Call a kernel and turn its zero-distance error into a message naming the parameters."""
    try:
        fn(*args, **kwargs)
    except ValueError as exc:
        if "zero distance" in str(exc):
            raise ValueError(f"impossible geometry: {exc}; {_GEOMETRY_HINT}") from exc
        raise


def steering_matrix(scenario, points, *, dtype=np.complex128, max_bytes=None, workers=None):
    """Columns of A for arbitrary scatterer positions.

    Parameters
    ----------
    scenario : Scenario
    points : array_like, shape (n_points, 3), [m]
        Scatterer positions (need not be voxel centres).
    dtype : {complex64, complex128}
    max_bytes : float, optional
        Largest allowed result [bytes]; default 1 GiB.
    workers : int, optional
        Threads; ``None`` uses every available CPU.

    Returns
    -------
    ndarray, shape (n_measurements, n_points), dtype ``dtype``
    """
    scenario = _check_scenario(scenario)
    dt = complex_dtype(dtype)
    pts = as_array(points, "points", shape=(None, 3), kind="fiu", dtype=np.float64)
    shape = (scenario.n_measurements, pts.shape[0])
    check_memory(
        shape[0] * shape[1] * dt.itemsize,
        f"dense sensing matrix {shape} {dt}",
        max_bytes,
        "skysense.imaging.SensingOperator (matrix-free)",
    )
    out = np.empty(shape, dtype=dt)
    ant = scenario.antenna_positions()
    _run_geometry_kernel(
        _core.sensing_matrix,
        ant.reshape(-1, 3),
        scenario.n_antennas,
        pts,
        scenario.subcarrier_frequencies_hz(),
        SPEED_OF_LIGHT,
        scenario.pairs(),
        scenario.amplitude,
        out,
        resolve_workers(workers),
    )
    return out


def sensing_matrix(scenario, dtype=np.complex128, *, max_bytes=None, workers=None):
    """Dense sensing matrix A over the voxel grid (C++ kernel).

    Parameters
    ----------
    scenario : Scenario
    dtype : {complex64, complex128}
    max_bytes : float, optional
        Largest allowed A [bytes]; default 1 GiB. Larger problems raise
        :class:`~skysense.MemoryLimitError`; use :class:`SensingOperator` for them.
    workers : int, optional
        Threads; ``None`` uses every available CPU.

    Returns
    -------
    A : ndarray, shape (n_measurements, n_voxels), dtype ``dtype``
        Rows ordered ``(subcarrier, pair, rx antenna, tx antenna)``; voxels C-order over (x, y, z).
    """
    scenario = _check_scenario(scenario)
    return steering_matrix(
        scenario, scenario.voxel_centers(), dtype=dtype, max_bytes=max_bytes, workers=workers
    )


class SensingOperator:
    """Matrix-free sensing matrix A with ``matvec`` (A x) and ``rmatvec`` (A^H y).

    Stores only the link matrices, ``N_f * N_b * N0**2 * N_v`` entries, instead of the
    ``N_f * n_pairs * N0**4 * N_v`` of A: for N0 = 8 a few MB instead of more than 1 GB.

    Parameters
    ----------
    scenario : Scenario
    dtype : {complex64, complex128}
        Precision of the stored links and of the results.
    workers : int, optional
        Threads for building the links; ``None`` uses every available CPU.
    frames_per_chunk : int
        Frames processed together by the few-frame products (bounds their scratch memory);
        batches of 16 frames or more go through one GEMM per pair block of A instead.

    Attributes
    ----------
    shape : tuple (n_measurements, n_voxels)
    dims : tuple (n_x, n_y, n_z)
        Voxel grid (model) shape.
    dimsd : tuple (n_subcarriers, n_pairs, n_rx_antennas, n_tx_antennas)
        Measurement (data) shape.
    """

    def __init__(self, scenario, dtype=np.complex128, *, workers=None, frames_per_chunk=8):
        self.scenario = _check_scenario(scenario)
        self.dtype = complex_dtype(dtype)
        if int(frames_per_chunk) < 1:
            raise ValueError(f"frames_per_chunk must be >= 1, got {frames_per_chunk}")
        self.frames_per_chunk = int(frames_per_chunk)
        s = self.scenario
        self.shape = s.shape
        self.dims = s.grid_shape
        self.dimsd = (s.n_subcarriers, s.n_pairs, s.n_antennas, s.n_antennas)
        ant = s.antenna_positions()
        links = np.empty((s.n_subcarriers, ant.shape[0] * ant.shape[1], s.n_voxels), self.dtype)
        _run_geometry_kernel(
            _core.link_matrix,
            ant.reshape(-1, 3),
            s.voxel_centers(),
            s.subcarrier_frequencies_hz(),
            SPEED_OF_LIGHT,
            links,
            resolve_workers(workers),
        )
        # (n_f, n_bs, n_ant, n_voxels); the amplitude g is applied to results.
        self._links = links.reshape(s.n_subcarriers, s.n_bs, s.n_antennas, s.n_voxels)
        self._amplitude = s.amplitude
        pairs = s.pairs()
        # Pairs grouped by tx BS (rmatvec) and by rx BS (matvec): one GEMM per group.
        self._by_tx = [(b, np.flatnonzero(pairs[:, 0] == b)) for b in range(s.n_bs)]
        self._by_rx = [(b, np.flatnonzero(pairs[:, 1] == b)) for b in range(s.n_bs)]
        self._pairs = pairs
        self._by_tx = [(b, q) for b, q in self._by_tx if q.size]
        self._by_rx = [(b, q) for b, q in self._by_rx if q.size]

    def __repr__(self) -> str:
        return (
            f"SensingOperator(shape={self.shape}, dtype={self.dtype}, mode={self.scenario.mode!r})"
        )

    # -- public API -------------------------------------------------------------------------
    def memory_usage(self) -> int:
        """Bytes held by the operator (the link matrices)."""
        return self._links.nbytes

    def matvec(self, x):
        """Forward model ``A x``.

        Parameters
        ----------
        x : array_like, shape (n_voxels,) or (n_frames, n_voxels)

        Returns
        -------
        ndarray, shape (n_measurements,) or (n_frames, n_measurements), dtype ``self.dtype``
        """
        x2, single = as_batch(x, self.shape[1], "x")
        out = self._batched(x2, self._matvec, self._matvec_khatri_rao, self.shape[0])
        return out[0] if single else out

    def rmatvec(self, y):
        """Adjoint ``A^H y`` (back-projection).

        Parameters
        ----------
        y : array_like, shape (n_measurements,) or (n_frames, n_measurements)

        Returns
        -------
        ndarray, shape (n_voxels,) or (n_frames, n_voxels), dtype ``self.dtype``
        """
        y2, single = as_batch(y, self.shape[0], "y")
        out = self._batched(y2, self._rmatvec, self._rmatvec_khatri_rao, self.shape[1])
        return out[0] if single else out

    def _batched(self, v, few_frames, many_frames, n_out):
        """Apply a product to validated frames ``v``: chunks of ``frames_per_chunk`` through
        ``few_frames``, or the whole batch through ``many_frames``; overflow raises."""
        v = np.ascontiguousarray(v, dtype=self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            if v.shape[0] >= _KHATRI_RAO_MIN_FRAMES:
                out = many_frames(v)
            else:
                out = np.empty((v.shape[0], n_out), self.dtype)
                for lo in range(0, v.shape[0], self.frames_per_chunk):
                    out[lo : lo + self.frames_per_chunk] = few_frames(
                        v[lo : lo + self.frames_per_chunk]
                    )
        if not np.isfinite(out).all():
            raise ValueError(f"the product overflows {self.dtype} (input too large)")
        return out

    def gram(self, columns=None, *, max_bytes=None):
        """``A^H A`` (or its columns) as the Hadamard product of per-BS link Grams.

        Parameters
        ----------
        columns : array_like of int, shape (k,), optional
            Voxel indices of the wanted columns; all by default.
        max_bytes : float, optional
            Largest allowed result [bytes]; default 1 GiB.

        Returns
        -------
        ndarray, shape (n_voxels, k), dtype ``self.dtype``

        Notes
        -----
        ``A^H A = g^2 sum_f sum_(t, r) (H_r^H H_r) * (H_t^H H_t)`` element-wise, which costs
        ``O(N0^2 N_v^2)`` per BS instead of ``O(N_f N_pairs N0^4 N_v^2)``. Columns are formed
        in blocks, so the scratch beyond the result stays under ``_GRAM_BLOCK_BYTES``.
        """
        nv = self.shape[1]
        if columns is None:
            cols = np.arange(nv)
        else:
            cols = as_array(columns, "columns", ndim=1, kind="iu").astype(np.intp)
            if cols.size and (cols.min() < 0 or cols.max() >= nv):
                raise ValueError(
                    f"columns must lie in [0, {nv}), got range [{cols.min()}, {cols.max()}]"
                )
        itemsize = self.dtype.itemsize
        check_memory(nv * cols.size * itemsize, f"Gram columns ({nv}, {cols.size})", max_bytes)
        per_column = nv * itemsize * self.scenario.n_bs  # per-BS Grams of one column
        block = max(1, _GRAM_BLOCK_BYTES // per_column)
        gram = np.zeros((nv, cols.size), self.dtype)
        for lo in range(0, cols.size, block):
            part, block_cols = gram[:, lo : lo + block], cols[lo : lo + block]
            for f in range(self._links.shape[0]):
                per_bs = [h.conj().T @ h[:, block_cols] for h in self._links[f]]
                for t, r in self._pairs:
                    part += per_bs[r] * per_bs[t]
        gram *= self._amplitude**2
        return gram

    def column_norms(self):
        """Column norms ``||A[:, v]||``, shape (n_voxels,), float64."""
        power = (np.abs(self._links.astype(np.complex128)) ** 2).sum(
            axis=2
        )  # (n_f, n_bs, n_voxels)
        sq = sum(power[:, r] * power[:, t] for t, r in self._pairs).sum(axis=0)
        return np.sqrt(sq) * self._amplitude

    def todense(self, *, max_bytes=None, workers=None):
        """Dense A via :func:`sensing_matrix` (after the memory check)."""
        return sensing_matrix(self.scenario, self.dtype, max_bytes=max_bytes, workers=workers)

    # -- kernels ---------------------------------------------------------------------------
    def _matvec(self, x):
        # Y[n, r, t] = g sum_v H_r[r, v] x[n, v] H_t[t, v]: per rx BS one (n*Nr, Nv) @ (Nv, Nt*k) GEMM.
        nf, _, na, nv = self._links.shape
        k = x.shape[0]
        out = np.empty((k, nf, len(self._pairs), na, na), self.dtype)
        for f in range(nf):
            links = self._links[f]
            for rx, qs in self._by_rx:
                weighted = (x[:, None, :] * links[rx]).reshape(k * na, nv)
                tx_links = links[self._pairs[qs, 0]].reshape(qs.size * na, nv)
                prod = (weighted @ tx_links.T).reshape(k, na, qs.size, na)
                out[:, f, qs] = prod.transpose(0, 2, 1, 3)
        out *= self._amplitude
        return out.reshape(k, -1)

    def _rmatvec(self, y):
        # z[n, v] = g sum_(q, r) conj(H_r[r, v]) sum_t Y[n, q, r, t] conj(H_t[t, v]).
        # Few frames: per tx BS one GEMM over its pairs, then a fused multiply-reduce over
        # (q, r) in numba (no pair block of A is ever formed).
        nf, _, na, nv = self._links.shape
        k = y.shape[0]
        blocks = y.reshape(k, nf, len(self._pairs), na, na)
        z = np.zeros((k, nv), self.dtype)
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

    # Many frames (whole batch at once, no frame chunks: the scratch is one block): the work
    # is GEMM-bound, so form each pair's (Nr*Nt, slab) block of A, the Khatri-Rao product of
    # two link matrices over a voxel slab of at most _KHATRI_RAO_BLOCK_BYTES, and do one
    # GEMM per block. Measured 1.1x of the dense GEMM on 256 frames (bench/test_operator.py).
    def _pair_blocks(self, f, conj):
        _, _, na, nv = self._links.shape
        links = self._links[f].conj() if conj else self._links[f]
        slab = max(1, _KHATRI_RAO_BLOCK_BYTES // (na * na * self.dtype.itemsize))
        for lo in range(0, nv, slab):
            hi = min(nv, lo + slab)
            for q, (tx, rx) in enumerate(self._pairs):
                block = links[rx, :, None, lo:hi] * links[tx, None, :, lo:hi]
                yield q, slice(lo, hi), block.reshape(na * na, hi - lo)

    def _rmatvec_khatri_rao(self, y):
        nf, _, na, nv = self._links.shape
        blocks = y.reshape(y.shape[0], nf, len(self._pairs), na * na)
        z = np.zeros((y.shape[0], nv), self.dtype)
        for f in range(nf):
            for q, voxels, block in self._pair_blocks(f, conj=True):
                z[:, voxels] += blocks[:, f, q] @ block
        z *= self._amplitude
        return z

    def _matvec_khatri_rao(self, x):
        nf, _, na, _ = self._links.shape
        out = np.zeros((x.shape[0], nf, len(self._pairs), na * na), self.dtype)
        for f in range(nf):
            for q, voxels, block in self._pair_blocks(f, conj=False):
                out[:, f, q] += x[:, voxels] @ block.T
        out *= self._amplitude
        return out.reshape(x.shape[0], -1)
