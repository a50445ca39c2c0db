"""Deterministic maximum likelihood on the (AoA, AoD, ToA) grid by alternating projections."""

from __future__ import annotations

import numpy as np

from skysense._validation import check_count
from skysense.bistatic._common import prepare
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import atoms, check_order, correlate, grid_estimate, stack_estimates

__all__ = ["dml"]

#: Default alternating-projection sweeps after the greedy initialisation.
DEFAULT_SWEEPS = 2


def _best_voxel(h, basis, scenario, grid, exclude):
    """Voxel maximising ``|b^H P h|^2 / ||P b||^2`` with P the projector off span(basis)."""
    if basis.shape[1]:
        q, _ = np.linalg.qr(basis.astype(h.dtype, copy=False))
        resid = h - (q @ (q.conj().T @ h.ravel())).reshape(h.shape)
        qv = q.T.reshape((-1, *h.shape))
        captured = np.sum(np.abs(correlate(qv, scenario, grid)) ** 2, axis=0)
    else:
        resid, captured = h, 0.0
    norm2 = h.size - captured
    score = np.abs(correlate(resid, scenario, grid)) ** 2 / np.maximum(norm2, 1e-12 * h.size)
    score = score.ravel()
    score[list(exclude)] = -np.inf
    return int(np.argmax(score))


def _atom(scenario, grid, flat):
    ia, ip, idl = np.unravel_index(flat, grid.shape)
    return atoms(scenario, grid.aoa_rad[ia], grid.aod_rad[ip], grid.delay_s[idl])[:, 0]


def dml(csi, n_paths, *, scenario=None, grid=None, sweeps=DEFAULT_SWEEPS) -> Estimate:
    """Grid DML: maximise ``||P_B h||^2`` over q voxels by alternating projections.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex
        CSI, leading axes a batch.
    n_paths : int
        Paths q.
    scenario, grid
        As for :func:`~skysense.bistatic.bartlett`.
    sweeps : int
        Alternating-projection sweeps after the greedy start (0: greedy only).

    Returns
    -------
    Estimate
        Grid values sorted by ToA; gains are the ML (least-squares) gains.

    Notes
    -----
    The concentrated deterministic likelihood of q paths with unknown gains is
    :math:`\\|P_{B(v_1..v_q)} h\\|^2`; an exhaustive search costs :math:`V^q` (eq. 14). The
    alternating projection of Ziskind and Wax starts greedily (each new voxel maximises the
    projection of the residual) and then re-optimises one voxel at a time with the others
    fixed, so the objective never decreases. All correlations with the grid are separable
    (Tx, Rx, frequency).

    References
    ----------
    I. Ziskind and M. Wax, "Maximum likelihood localization of multiple sources by
    alternating projection", IEEE Trans. ASSP 36(10), 1988.
    """
    flat, lead, scenario, grid = prepare(csi, scenario, grid)
    q = check_order(n_paths, min(int(np.prod(grid.shape)), flat[0].size), "the grid / CSI size")
    sweeps = check_count(sweeps, "sweeps", minimum=0)
    out = []
    for h in flat:
        chosen: list[int] = []
        cols: list[np.ndarray] = []
        for _ in range(q):
            basis = np.stack(cols, axis=1) if cols else np.zeros((h.size, 0), h.dtype)
            v = _best_voxel(h, basis, scenario, grid, chosen)
            chosen.append(v)
            cols.append(_atom(scenario, grid, v))
        for _ in range(sweeps if q > 1 else 0):
            changed = False
            for i in range(q):
                others = [c for j, c in enumerate(cols) if j != i]
                v = _best_voxel(
                    h, np.stack(others, axis=1), scenario, grid, chosen[:i] + chosen[i + 1 :]
                )
                if v != chosen[i]:
                    chosen[i], cols[i], changed = v, _atom(scenario, grid, v), True
            if not changed:
                break
        out.append(grid_estimate(h, scenario, grid, np.array(chosen), q))
    return stack_estimates(out, lead)
