"""Plain, vectorised NumPy versions of the benchmarked kernels.

These are what a user without skysense would write: link matrices with ``np.exp``,
broadcasting and ``@``. They are the in-run references of the benchmarks (the slow,
loop-based ground truth lives in ``tests/_reference.py``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "khatri_rao_matvec",
    "khatri_rao_rmatvec",
    "link_matrices",
    "max_sidelobe",
    "sensing_matrix",
    "simulate_off_grid",
]


def link_matrices(scenario, points=None, dtype=np.complex128):
    """Eq. (11) for every (subcarrier, BS, antenna, point).

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
    points : ndarray, shape (n_points, 3), [m], optional
        Scatterer positions; the voxel centres by default.
    dtype : {complex64, complex128}

    Returns
    -------
    ndarray, shape (n_subcarriers, n_bs, n_antennas, n_points), dtype ``dtype``
        ``exp(-j k d) / (sqrt(4 pi) d)`` [1/m].
    """
    pts = scenario.voxel_centers_m() if points is None else np.asarray(points, dtype=float)
    ant = scenario.antenna_positions_m()  # (n_bs, n_ant, 3)
    dist = np.linalg.norm(ant[:, :, None, :] - pts[None, None, :, :], axis=-1)
    k = scenario.wavenumbers_rad_per_m()[:, None, None, None]
    return (np.exp(-1j * k * dist) / (math.sqrt(4 * math.pi) * dist)).astype(dtype, copy=False)


def sensing_matrix(scenario, dtype=np.complex128):
    """Dense A by broadcasting: each pair block is ``h_rx[:, None, :] * h_tx[None, :, :]``.

    Returns
    -------
    ndarray, shape (n_measurements, n_voxels), dtype ``dtype``
        Rows ordered (subcarrier, pair, rx antenna, tx antenna), as :func:`skysense.imaging.sensing_matrix`.
    """
    links = link_matrices(scenario, dtype=dtype)
    n_vox = links.shape[-1]
    blocks = [
        (h[rx][:, None, :] * h[tx][None, :, :]).reshape(-1, n_vox)
        for h in links
        for tx, rx in scenario.pairs()
    ]
    return scenario.amplitude * np.concatenate(blocks)


def khatri_rao_rmatvec(links, pairs, amplitude, y):
    """Matrix-free ``A^H y``: build each pair's block of A on the fly, one GEMM per block.

    Parameters
    ----------
    links : ndarray, shape (n_subcarriers, n_bs, n_antennas, n_voxels), complex
    pairs : ndarray, shape (n_pairs, 2), int
        ``(tx BS, rx BS)``.
    amplitude : float
    y : ndarray, shape (n_frames, n_measurements), complex

    Returns
    -------
    ndarray, shape (n_frames, n_voxels), dtype of ``y``
    """
    n_f, _, n_ant, n_vox = links.shape
    blocks = y.reshape(y.shape[0], n_f, len(pairs), n_ant * n_ant)
    z = np.zeros((y.shape[0], n_vox), y.dtype)
    for f in range(n_f):
        conj = links[f].conj()
        for q, (tx, rx) in enumerate(pairs):
            block_conj = (conj[rx][:, None, :] * conj[tx][None, :, :]).reshape(-1, n_vox)
            z += blocks[:, f, q] @ block_conj
    z *= amplitude
    return z


def khatri_rao_matvec(links, pairs, amplitude, x):
    """Matrix-free ``A x`` with the pair blocks built on the fly (see :func:`khatri_rao_rmatvec`).

    Parameters
    ----------
    x : ndarray, shape (n_frames, n_voxels), complex

    Returns
    -------
    ndarray, shape (n_frames, n_measurements), dtype of ``x``
    """
    n_f, _, n_ant, n_vox = links.shape
    out = np.empty((x.shape[0], n_f, len(pairs), n_ant * n_ant), x.dtype)
    for f in range(n_f):
        for q, (tx, rx) in enumerate(pairs):
            block = (links[f, rx][:, None, :] * links[f, tx][None, :, :]).reshape(-1, n_vox)
            out[:, f, q] = x @ block.T
    out *= amplitude
    return out.reshape(x.shape[0], -1)


def max_sidelobe(a):
    """``P(n1) = max_{n2 != n1} PSF(n1, n2)`` from the full Gram ``A^H A``.

    Parameters
    ----------
    a : ndarray, shape (n_measurements, n_voxels), complex

    Returns
    -------
    ndarray, shape (n_voxels,), float64
    """
    gram = a.conj().T @ a
    norms = np.sqrt(np.real(np.diagonal(gram)))
    psf = np.abs(gram) / np.outer(norms, norms)
    np.fill_diagonal(psf, -np.inf)
    return psf.max(axis=1)


def _sample_positions(scenario, n_frames, n_targets, min_separation_m, rng, max_rounds=1000):
    """Uniform positions in the ROI, at least ``min_separation_m`` apart, vectorised over frames."""
    lo, hi = scenario.roi_bounds_m()
    pos = np.empty((n_frames, n_targets, 3))
    for m in range(n_targets):
        todo = np.arange(n_frames)
        for _ in range(max_rounds):
            cand = rng.uniform(lo, hi, size=(todo.size, 3))
            d2 = np.sum((cand[:, None, :] - pos[todo, :m]) ** 2, axis=-1)
            ok = np.all(d2 >= min_separation_m**2, axis=1)
            pos[todo[ok], m] = cand[ok]
            todo = todo[~ok]
            if todo.size == 0:
                break
        else:
            raise RuntimeError("could not place the targets; lower min_separation_m")
    return pos


def simulate_off_grid(scenario, n_frames, n_targets, *, min_separation_voxels=3.0, rng=None):
    """Off-grid CSI frames with exact-norm noise, as :func:`skysense.imaging.simulate`.

    Returns
    -------
    y : ndarray, shape (n_frames, n_measurements), complex128
    positions : ndarray, shape (n_frames, n_targets, 3), [m]
    coefficients : ndarray, shape (n_frames, n_targets), float64
    """
    rng = np.random.default_rng(rng)
    pos = _sample_positions(
        scenario, n_frames, n_targets, min_separation_voxels * scenario.voxel_size_m, rng
    )
    coeffs = rng.normal(0.1, 1e-3, size=(n_frames, n_targets))
    links = link_matrices(scenario, pos.reshape(-1, 3))
    n_f, n_bs, n_ant, _ = links.shape
    # (f, bs, n_frames, n_targets, n_ant): per frame a (rx x M) @ (M x tx) product per pair.
    links = links.reshape(n_f, n_bs, n_ant, n_frames, n_targets).transpose(0, 1, 3, 4, 2)
    pairs = scenario.pairs()
    y = np.empty((n_frames, n_f, len(pairs), n_ant, n_ant), np.complex128)
    for f in range(n_f):
        for q, (tx, rx) in enumerate(pairs):
            y[:, f, q] = (links[f, rx] * coeffs[..., None]).transpose(0, 2, 1) @ links[f, tx]
    y = scenario.amplitude * y.reshape(n_frames, -1)
    power = scenario.noise_power_w
    noise = rng.standard_normal(y.shape + (2,)).view(np.complex128)[..., 0] * math.sqrt(power / 2)
    noise *= math.sqrt(power * y.shape[1]) / np.linalg.norm(noise, axis=1, keepdims=True)
    return y + noise, pos, coeffs
