"""MUSIC on a joint (AoA, AoD, ToA) grid, with the Hankel-smoothed covariance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense.bistatic._grid_search import (
    CsiArray,
    check_order,
    grid_estimate,
    pick_peaks,
    prepare,
    stack_estimates,
)
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import Grid, correlate
from skysense.bistatic.hankel import Subarrays, hankel_matrix, resolve_subarrays
from skysense.bistatic.scenario import Scenario

__all__ = ["music", "music_spectrum"]


def _spectrum(
    h: CsiArray, q: int, scenario: Scenario, grid: Grid, subarrays: Subarrays
) -> NDArray[np.floating[Any]]:
    mt, mr, m = subarrays
    from scipy.linalg import eigh

    x = hankel_matrix(h, subarrays)
    dim = x.shape[0]
    # Signal subspace (rows ordered (mt, m, r)): the q dominant eigenvectors of X X^H, i.e.
    # the left singular vectors of X, without the full SVD.
    u = eigh(x @ x.conj().T, subset_by_index=[dim - q, dim - 1], driver="evr")[1]
    vecs = u.T.reshape(q, mt, m, mr).transpose(0, 1, 3, 2)  # (q, Mt, Mr, M)
    proj = np.sum(np.abs(correlate(vecs, scenario, grid)) ** 2, axis=0) / (mt * mr * m)
    out: NDArray[np.floating[Any]] = 1.0 / np.maximum(1.0 - proj, np.finfo(proj.dtype).eps)
    return out


def music_spectrum(
    csi: ArrayLike,
    n_paths: int,
    subarrays: Sequence[int] | None = None,
    *,
    scenario: Scenario | None = None,
    grid: Grid | None = None,
) -> NDArray[np.floating[Any]]:
    """MUSIC pseudo-spectrum ``1 / (1 - ||U_q^H b||^2 / ||b||^2)`` of one CSI.

    Parameters
    ----------
    csi : array_like, shape (n_tx, n_rx, n_subcarriers), complex64 or complex128
        One CSI.
    n_paths : int
        Signal-subspace dimension q.
    subarrays : tuple of int (Mt, Mr, M), optional
        Smoothing sub-array sizes (default: those of PARAMING).
    scenario, grid
        As for :func:`~skysense.bistatic.bartlett`.

    Returns
    -------
    ndarray, shape (n_aoa, n_aod, n_toa), float32 (complex64 CSI) or float64
        Pseudo-spectrum on ``grid`` (unitless, >= 1; peaks at the paths).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario(n_tx=4, n_rx=4, n_subcarriers=16)
    >>> grid = bs.Grid.uniform(sc, angle_step_rad=np.deg2rad(10.0))
    >>> h = sc.channel(bs.Paths([grid.aoa_rad[5]], [grid.aod_rad[9]], [0.0], [1.0]))
    >>> bs.music_spectrum(h, 1, scenario=sc, grid=grid).shape
    (19, 19, 17)
    """
    flat, lead, scenario, grid, _ = prepare(csi, scenario, grid)
    if lead:
        raise ValueError(
            f"music_spectrum takes one CSI of shape {scenario.csi_shape}, got batch shape {lead}"
        )
    sub = resolve_subarrays(scenario, subarrays)
    q = check_order(n_paths, sub[0] * sub[1] * sub[2] - 1, "the sub-array dimension - 1")
    return _spectrum(flat[0], q, scenario, grid, sub)


def music(
    csi: ArrayLike,
    n_paths: int,
    subarrays: Sequence[int] | None = None,
    *,
    scenario: Scenario | None = None,
    grid: Grid | None = None,
) -> Estimate:
    """MUSIC estimate: the ``n_paths`` largest local maxima of the pseudo-spectrum.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        CSI, leading axes a batch.
    n_paths : int
        Paths q.
    subarrays, scenario, grid
        As for :func:`music_spectrum`.

    Returns
    -------
    Estimate
        Grid values sorted by ToA, LS gains; shapes ``(..., n_paths)``.

    Notes
    -----
    A single CSI has one snapshot, so the covariance is smoothed over sub-arrays in Tx, Rx and
    frequency: its signal subspace :math:`U_q` is that of the Hankel matrix X of PARAMING
    (eqs. 26-28), whose columns are snapshots of the sub-array steering
    :math:`b = a_t^{(M_t)} \\otimes c^{(M)} \\otimes a_r^{(M_r)}`. The score is
    :math:`\\|b\\|^2 / \\|E_n^H b\\|^2` with :math:`\\|E_n^H b\\|^2 = \\|b\\|^2 - \\|U_q^H b\\|^2`
    (eq. 46 counts its operations).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario(n_tx=4, n_rx=4, n_subcarriers=16)
    >>> grid = bs.Grid.uniform(sc, angle_step_rad=np.deg2rad(10.0))
    >>> truth = bs.Paths([grid.aoa_rad[5]], [grid.aod_rad[9]], [grid.toa_s[3]], [1.0])
    >>> est = bs.music(sc.channel(truth), 1, scenario=sc, grid=grid)
    >>> bool(est.toa_s[0] == truth.toa_s[0])
    True
    """
    flat, lead, scenario, grid, exponent = prepare(csi, scenario, grid)
    sub = resolve_subarrays(scenario, subarrays)
    q = check_order(n_paths, sub[0] * sub[1] * sub[2] - 1, "the sub-array dimension - 1")
    out = []
    for h in flat:
        spec = _spectrum(h, q, scenario, grid, sub)
        out.append(grid_estimate(h, scenario, grid, pick_peaks(spec, q), q))
    return stack_estimates(out, lead, exponent)
