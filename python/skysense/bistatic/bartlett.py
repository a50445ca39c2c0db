"""Bartlett (conventional beamformer) estimator on a joint (AoA, AoD, ToA) grid."""

from __future__ import annotations

import numpy as np

from skysense.bistatic._common import prepare
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import (
    check_order,
    correlate,
    grid_estimate,
    pick_peaks,
    stack_estimates,
)

__all__ = ["bartlett", "bartlett_spectrum"]


def bartlett_spectrum(csi, *, scenario=None, grid=None) -> np.ndarray:
    """Bartlett spectrum ``|b(v)^H h|^2 / ||b||^2`` of one CSI, shape ``grid.shape``.

    Parameters
    ----------
    csi : array_like, shape (n_tx, n_rx, n_subcarriers), complex
        One CSI.
    scenario : Scenario, optional
        Default ``Scenario()``.
    grid : Grid, optional
        Default ``Grid.uniform(scenario)`` (1 degree, 1/(4 N df) up to T_cp).
    """
    flat, lead, scenario, grid = prepare(csi, scenario, grid)
    if lead:
        raise ValueError(f"bartlett_spectrum takes one CSI, got batch shape {lead}")
    return np.abs(correlate(flat[0], scenario, grid)) ** 2 / flat[0].size


def bartlett(csi, n_paths, *, scenario=None, grid=None) -> Estimate:
    """Bartlett estimate: the ``n_paths`` largest local maxima of the grid spectrum.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex
        CSI, leading axes a batch.
    n_paths : int
        Paths q to report.
    scenario, grid
        As for :func:`bartlett_spectrum`.

    Returns
    -------
    Estimate
        Grid values sorted by ToA; gains by least squares on the picked steering vectors.

    Notes
    -----
    With the single snapshot ``h = vec(csi)`` the Bartlett/DML score of the spec,
    :math:`b^H \\hat R b / b^H b` with :math:`\\hat R = h h^H`, is
    :math:`|b^H h|^2 / \\|b\\|^2`. Errors floor at the grid step (MSE about step^2 / 12).
    """
    flat, lead, scenario, grid = prepare(csi, scenario, grid)
    q = check_order(n_paths, int(np.prod(grid.shape)), "the number of grid points")
    out = []
    for h in flat:
        spec = np.abs(correlate(h, scenario, grid)) ** 2
        out.append(grid_estimate(h, scenario, grid, pick_peaks(spec, q), q))
    return stack_estimates(out, lead)
