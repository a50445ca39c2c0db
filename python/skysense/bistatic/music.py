"""MUSIC on a joint (AoA, AoD, ToA) grid, with the Hankel-smoothed covariance."""

from __future__ import annotations

import numpy as np

from skysense.bistatic._common import prepare
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import (
    check_order,
    correlate,
    grid_estimate,
    hankel_matrix,
    pick_peaks,
    stack_estimates,
)
from skysense.bistatic.paraming import _subarrays

__all__ = ["music", "music_spectrum"]


def _spectrum(h, q, scenario, grid, subarrays):
    mt, mr, m = subarrays
    from scipy.linalg import eigh

    x = hankel_matrix(h, subarrays)
    dim = x.shape[0]
    # Signal subspace (rows ordered (mt, m, r)): the q dominant eigenvectors of X X^H, i.e.
    # the left singular vectors of X, without the full SVD.
    u = eigh(x @ x.conj().T, subset_by_index=[dim - q, dim - 1], driver="evr")[1]
    vecs = u.T.reshape(q, mt, m, mr).transpose(0, 1, 3, 2)  # (q, Mt, Mr, M)
    proj = np.sum(np.abs(correlate(vecs, scenario, grid)) ** 2, axis=0) / (mt * mr * m)
    return 1.0 / np.maximum(1.0 - proj, np.finfo(proj.dtype).eps)


def music_spectrum(csi, n_paths, subarrays=None, *, scenario=None, grid=None) -> np.ndarray:
    """MUSIC pseudo-spectrum ``1 / (1 - ||U_q^H b||^2 / ||b||^2)`` of one CSI, shape ``grid.shape``.

    Parameters
    ----------
    csi : array_like, shape (n_tx, n_rx, n_subcarriers), complex
        One CSI.
    n_paths : int
        Signal-subspace dimension q.
    subarrays : tuple (Mt, Mr, M), optional
        Smoothing sub-array sizes (default: those of PARAMING).
    scenario, grid
        As for :func:`~skysense.bistatic.bartlett`.
    """
    flat, lead, scenario, grid = prepare(csi, scenario, grid)
    if lead:
        raise ValueError(f"music_spectrum takes one CSI, got batch shape {lead}")
    sub = _subarrays(scenario, subarrays)
    q = check_order(n_paths, sub[0] * sub[1] * sub[2] - 1, "the sub-array dimension - 1")
    return _spectrum(flat[0], q, scenario, grid, sub)


def music(csi, n_paths, subarrays=None, *, scenario=None, grid=None) -> Estimate:
    """MUSIC estimate: the ``n_paths`` largest local maxima of the pseudo-spectrum.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex
        CSI, leading axes a batch.
    n_paths : int
        Paths q.
    subarrays, scenario, grid
        As for :func:`music_spectrum`.

    Returns
    -------
    Estimate
        Grid values sorted by ToA, LS gains.

    Notes
    -----
    A single CSI has one snapshot, so the covariance is smoothed over sub-arrays in Tx, Rx and
    frequency: its signal subspace :math:`U_q` is that of the Hankel matrix X of PARAMING
    (eqs. 26-28), whose columns are snapshots of the sub-array steering
    :math:`b = a_t^{(M_t)} \\otimes c^{(M)} \\otimes a_r^{(M_r)}`. The score is
    :math:`\\|b\\|^2 / \\|E_n^H b\\|^2` with :math:`\\|E_n^H b\\|^2 = \\|b\\|^2 - \\|U_q^H b\\|^2`.
    """
    flat, lead, scenario, grid = prepare(csi, scenario, grid)
    sub = _subarrays(scenario, subarrays)
    q = check_order(n_paths, sub[0] * sub[1] * sub[2] - 1, "the sub-array dimension - 1")
    out = []
    for h in flat:
        spec = _spectrum(h, q, scenario, grid, sub)
        out.append(grid_estimate(h, scenario, grid, pick_peaks(spec, q), q))
    return stack_estimates(out, lead)
