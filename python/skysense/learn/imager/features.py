"""Per-BS-pair back-projections: the physics front end of the learned detector (NumPy only).

The imaging paper's primary image is ``sigma_pri = A^H y`` (eq. (20)), one coherent sum over
all BS pairs, subcarriers and antennas. For an off-grid UAV that sum is a speckle pattern:
each pair adds its share with a phase ``k (D_p(p) - D_p(v))`` that wraps every few
centimetres (``D_p`` is the tx-to-voxel-to-rx path length of pair ``p``), so on a 3 m grid the
ten pair contributions add with pseudo-random phases and the peak of ``|A^H y|`` lies within
one voxel of a lone UAV in only about a quarter of the frames.

Split by pair, the same products keep what survives the off-grid error. With ``A_p`` the rows
of pair ``p`` (all subcarriers),

.. math::

    z_p(v) = \\frac{e^{-j k_0 D_p(v)}}{\\lVert A_p[:, v] \\rVert^2} A_p[:, v]^H y_p ,

``|z_p|`` is the pair's array-factor envelope around each UAV, a smooth image about 24 m wide
(half power, Table III scenario) whose peak sits on the UAV's voxel, on the scale of the
scattering coefficient (``z_p(v) = sigma`` for a lone UAV at the centre of voxel ``v``). The
demodulation by the path-length phase of the array centres, ``e^{-j k_0 D_p(v)}``, makes the
phase of ``z_p`` smooth too (constant ``-k_0 D_p(p)`` over a UAV's envelope). Summed over
pairs (after undoing the demodulation and normalisation) the ``z_p`` give ``A^H y`` back.
Several subcarriers are summed coherently inside a pair (range compression), then
demodulated at the centre wavenumber ``k_0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skysense._validation import as_array
from skysense.imaging import Scenario, SensingOperator

__all__ = ["PairBackprojector", "pair_backprojection"]

#: Floor of the per-frame input scale (an all-zero frame maps to zeros, not NaN).
_SCALE_FLOOR = 1e-30
#: Largest block of conj(A) formed at once [bytes] (one pair over a voxel slab).
_BLOCK_BYTES = 4 << 20
#: Batches of at least this many frames take the Khatri-Rao GEMM path (one GEMM per pair
#: block of conj(A) for all frames); fewer frames take two small products per tx BS.
_KHATRI_RAO_MIN_FRAMES = 16
#: Largest set of pair blocks of conj(A) kept between calls [bytes] (80 MB, the size of A
#: itself, for the Table III scenario in complex64); larger scenarios form them per slab.
_CACHE_BYTES = 256 << 20


class PairBackprojector:
    """Per-pair back-projections ``z_p`` of CSI frames (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        Imaging scenario whose BS pairs and voxel grid the back-projections use.
    dtype : {complex64, complex128}
        Precision of the products (complex64: the learned detector's input).
    workers : int, optional
        Threads for building the link matrices (``docs/conventions.md``).

    Attributes
    ----------
    scenario : Scenario
    n_pairs : int
        BS pairs of the sensing mode (the output channels are ``2 * n_pairs``).
    grid_shape : tuple of int
        ``(n_x, n_y)`` for a single-layer ROI, else ``(n_x, n_y, n_z)``.

    Examples
    --------
    >>> from skysense.imaging import simulate
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> batch = simulate(s, 3, 1, noise_model="none", rng=0)
    >>> z = PairBackprojector(s).transform(batch.measurements)
    >>> z.shape
    (3, 10, 5, 5)
    >>> v = batch.voxel_index[:, 0]
    >>> bool(np.allclose(abs(z.reshape(3, 10, -1)[np.arange(3), :, v]),
    ...                  batch.coefficients, rtol=1e-4))
    True
    """

    def __init__(
        self, scenario: Scenario, *, dtype: Any = np.complex64, workers: int | None = None
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
        self.scenario = scenario
        self._op = SensingOperator(scenario, dtype=dtype, workers=workers)
        self.dtype = self._op.dtype
        links = self._op._links  # (n_f, n_bs, n_ant, n_voxels), without the amplitude
        self._links_conj = np.ascontiguousarray(links.conj())
        self._pairs = scenario.pairs()
        self.n_pairs = int(self._pairs.shape[0])
        nx, ny, nz = scenario.grid_shape
        self.grid_shape: tuple[int, ...] = (nx, ny) if nz == 1 else (nx, ny, nz)
        g = scenario.amplitude
        power = (np.abs(links.astype(np.complex128)) ** 2).sum(axis=2)  # (n_f, n_bs, n_v)
        # ||A_p[:, v]||^2 over all subcarriers, shape (n_pairs, n_voxels)
        col2 = g**2 * (power[:, self._pairs[:, 0]] * power[:, self._pairs[:, 1]]).sum(axis=0)
        by_tx = [(b, np.flatnonzero(self._pairs[:, 0] == b)) for b in range(scenario.n_bs)]
        self._by_tx = [(b, q) for b, q in by_tx if q.size]
        centres = scenario.voxel_centers_m()
        bs = scenario.bs_centers_m()
        dist = np.linalg.norm(centres[None] - bs[:, None], axis=-1)  # (n_bs, n_v)
        path = dist[self._pairs[:, 0]] + dist[self._pairs[:, 1]]  # D_p(v) [m]
        k0 = float(np.mean(scenario.wavenumbers_rad_per_m()))
        self._scale = (g * np.exp(-1j * k0 * path) / col2).astype(self.dtype)  # (n_pairs, n_v)
        self._kr: np.ndarray | None = None

    def transform(self, y: Any, *, check_finite: bool = True) -> np.ndarray:
        """Complex per-pair back-projections.

        Parameters
        ----------
        y : array_like, shape (n_frames, n_measurements), complex
            CSI frames of :attr:`scenario` (rows ordered as the sensing matrix).
        check_finite : bool
            Raise on NaN/Inf in ``y``.

        Returns
        -------
        ndarray, shape (n_frames, n_pairs, grid_shape...), complex64 or complex128
            ``z_p`` on the scattering-coefficient scale.
        """
        z = self._products(y, check_finite)  # (n_pairs, n_frames, n_voxels)
        k = z.shape[1]
        out = z.transpose(1, 0, 2) * self._scale
        return out.reshape(k, self.n_pairs, *self.grid_shape)

    def _products(self, y: Any, check_finite: bool) -> np.ndarray:
        """``A_p^H y_p`` of every pair (summed over subcarriers, without the amplitude and the
        scale), shape (n_pairs, n_frames, n_voxels)."""
        m = self.scenario.n_measurements
        arr = as_array(y, "y", shape=(None, m), kind="c", check_finite=check_finite)
        k = arr.shape[0]
        nf, _, na, nv = self._links_conj.shape
        blocks = np.ascontiguousarray(arr, dtype=self.dtype).reshape(k, nf, self.n_pairs, na * na)
        z = np.zeros((self.n_pairs, k, nv), self.dtype)
        if k < _KHATRI_RAO_MIN_FRAMES:
            self._few_frames(blocks, z)
            return z
        kr = self._khatri_rao()
        if kr is not None:  # cached blocks of conj(A): one GEMM per (subcarrier, pair)
            part = np.empty((k, nv), self.dtype)
            for f in range(nf):
                for q in range(self.n_pairs):
                    if f == 0:
                        np.matmul(blocks[:, f, q], kr[f, q], out=z[q])
                    else:
                        np.matmul(blocks[:, f, q], kr[f, q], out=part)
                        z[q] += part
            return z
        slab = max(1, _BLOCK_BYTES // (na * na * self.dtype.itemsize))
        for f in range(nf):
            links = self._links_conj[f]
            for lo in range(0, nv, slab):
                hi = min(nv, lo + slab)
                for q, (tx, rx) in enumerate(self._pairs):
                    block = (links[rx, :, None, lo:hi] * links[tx, None, :, lo:hi]).reshape(
                        na * na, hi - lo
                    )
                    z[q, :, lo:hi] += blocks[:, f, q] @ block
        return z

    def _khatri_rao(self) -> np.ndarray | None:
        """The pair blocks of conj(A), shape (n_f, n_pairs, N0^4, n_voxels), formed on first
        use and kept if they take at most ``_CACHE_BYTES`` (the size of A itself)."""
        if self._kr is None:
            nf, _, na, nv = self._links_conj.shape
            if nf * self.n_pairs * na * na * nv * self.dtype.itemsize > _CACHE_BYTES:
                return None
            kr = np.empty((nf, self.n_pairs, na * na, nv), self.dtype)
            for f in range(nf):
                links = self._links_conj[f]
                for q, (tx, rx) in enumerate(self._pairs):
                    # rx antenna outer, tx antenna inner: the row order of A
                    np.multiply(
                        links[rx, :, None, :],
                        links[tx, None, :, :],
                        out=kr[f, q].reshape(na, na, nv),
                    )
            self._kr = kr
        return self._kr

    def _few_frames(self, blocks: np.ndarray, z: np.ndarray) -> None:
        """Accumulate ``z`` of a few frames: per tx BS one GEMM over the tx antennas of its
        pairs, then a multiply-reduce over the rx antennas (no block of A is formed)."""
        k, nf = blocks.shape[:2]
        na = self._links_conj.shape[2]
        for f in range(nf):
            links = self._links_conj[f]
            for tx, qs in self._by_tx:
                w = blocks[:, f, qs].reshape(k * qs.size * na, na) @ links[tx]
                w = w.reshape(k, qs.size, na, -1)
                for j, q in enumerate(qs):
                    z[q] += (w[:, j] * links[self._pairs[q, 1]]).sum(axis=1)

    def __call__(self, y: Any, *, check_finite: bool = True) -> np.ndarray:
        """Network input: Re and Im of :meth:`transform`, divided by the frame's largest
        pair-RMS ``max_v sqrt(mean_p |z_p(v)|^2)``.

        Returns
        -------
        ndarray, shape (n_frames, 2 * n_pairs, grid_shape...), float32
            Channels ``[Re z_1, ..., Re z_P, Im z_1, ..., Im z_P]``.
        """
        z = self._products(y, check_finite)
        z *= self._scale[:, None, :]
        p, k, nv = z.shape
        re, im = z.real, z.imag
        power = (re * re + im * im).mean(axis=0)  # (k, nv)
        rms = np.sqrt(power.max(axis=1))
        inv = (1.0 / np.maximum(rms, _SCALE_FLOOR)).astype(np.float32)
        out = np.empty((k, 2 * p, nv), np.float32)
        np.multiply(re.transpose(1, 0, 2), inv[:, None, None], out=out[:, :p])
        np.multiply(im.transpose(1, 0, 2), inv[:, None, None], out=out[:, p:])
        return out.reshape(k, 2 * p, *self.grid_shape)


def pair_backprojection(
    scenario: Scenario, y: Any, *, dtype: Any = np.complex64, workers: int | None = None
) -> np.ndarray:
    """Per-pair back-projections ``z_p`` of CSI frames (one-off :class:`PairBackprojector`).

    Parameters
    ----------
    scenario : Scenario
        Imaging scenario whose BS pairs and voxel grid the back-projections use.
    y : array_like, shape (n_frames, n_measurements), complex
        CSI frames, rows ordered as the sensing matrix.
    dtype : {complex64, complex128}
        Precision of the products.
    workers : int, optional
        Threads for building the link matrices.

    Returns
    -------
    ndarray, shape (n_frames, n_pairs, grid_shape...), complex
        ``z_p = A_p^H y_p`` of each BS pair ``p`` on the voxel grid.

    Examples
    --------
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> pair_backprojection(s, np.zeros((2, s.n_measurements), complex)).shape
    (2, 10, 5, 5)
    """
    return PairBackprojector(scenario, dtype=dtype, workers=workers).transform(y)


def grid_symmetries(scenario: Scenario) -> list[tuple[bool, bool, bool, np.ndarray]]:
    """The symmetries of a scenario's square layout that map the voxel grid onto itself.

    Each of the 8 symmetries of the square (flips of x and y, the x-y transpose) that maps
    every BS to a BS, with its arrays facing the ROI centre, maps a frame's per-pair
    back-projections to those of the mirrored frame with the pairs permuted; used to
    augment training data (``ImagerTrainConfig(augment=True)``).

    Returns
    -------
    list of (flip_x, flip_y, transpose, pair_permutation)
        ``transpose`` swaps x and y first, then the flips apply. ``pair_permutation[q]`` is
        the pair that pair ``q``'s channel becomes. Empty if the scenario is not symmetric
        (``legacy_rotation``, a BS layout off the ROI centre, a non-square grid, ...).

    Examples
    --------
    >>> len(grid_symmetries(Scenario()))
    8
    >>> bs = ((-70.0, 70.0, 20.0), (70.0, 70.0, 20.0), (70.0, -70.0, 20.0), (-60.0, -70.0, 20.0))
    >>> grid_symmetries(Scenario(bs_positions_m=bs))
    []
    """
    import itertools

    nx, ny, _ = scenario.grid_shape
    if scenario.legacy_rotation or scenario.roi_size_m[0] != scenario.roi_size_m[1] or nx != ny:
        return []
    centre = np.asarray(scenario.roi_center_m)
    bs = scenario.bs_centers_m() - centre
    pairs = [tuple(p) for p in scenario.pairs().tolist()]
    tol = 1e-6 * max(1.0, float(np.abs(bs).max()))
    out = []
    for transpose, flip_x, flip_y in itertools.product((False, True), repeat=3):
        moved = bs.copy()
        if transpose:
            moved[:, [0, 1]] = moved[:, [1, 0]]
        if flip_x:
            moved[:, 0] = -moved[:, 0]
        if flip_y:
            moved[:, 1] = -moved[:, 1]
        match = np.linalg.norm(moved[:, None] - bs[None], axis=-1) < tol  # (old, new)
        if not (match.sum(axis=1) == 1).all():
            return []
        bs_perm = match.argmax(axis=1)
        perm = []
        for t, r in pairs:
            image = tuple(sorted((int(bs_perm[t]), int(bs_perm[r]))))
            if image not in pairs:
                return []
            perm.append(pairs.index(image))
        out.append((flip_x, flip_y, transpose, np.asarray(perm, dtype=np.int64)))
    return out
