"""Bartlett (conventional beamformer) estimator on a joint (AoA, AoD, ToA) grid."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense.bistatic._grid_search import (
    check_order,
    grid_estimate,
    pick_peaks,
    prepare,
    stack_estimates,
)
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import Grid, correlate
from skysense.bistatic.scenario import Scenario

__all__ = ["bartlett", "bartlett_spectrum"]


def bartlett_spectrum(
    csi: ArrayLike, *, scenario: Scenario | None = None, grid: Grid | None = None
) -> NDArray[np.floating[Any]]:
    """Bartlett spectrum ``|b(v)^H h|^2 / ||b||^2`` of one CSI.

    Parameters
    ----------
    csi : array_like, shape (n_tx, n_rx, n_subcarriers), complex64 or complex128
        One CSI.
    scenario : Scenario, optional
        Default ``Scenario()``.
    grid : Grid, optional
        Default ``Grid.uniform(scenario)`` (1 degree, 1/(4 N df) up to T_cp).

    Returns
    -------
    ndarray, shape (n_aoa, n_aod, n_toa), float32 (complex64 CSI) or float64
        The spectrum (it scales with ``|csi|^2``: ValueError where that overflows).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario(n_tx=4, n_rx=4, n_subcarriers=16)
    >>> grid = bs.Grid.uniform(sc, angle_step_rad=np.deg2rad(10.0))
    >>> h = sc.channel(bs.Paths([grid.aoa_rad[5]], [grid.aod_rad[9]], [0.0], [1.0]))
    >>> spec = bs.bartlett_spectrum(h, scenario=sc, grid=grid)
    >>> np.unravel_index(np.argmax(spec), spec.shape)
    (np.int64(5), np.int64(9), np.int64(0))
    """
    flat, lead, scenario, grid, exponent = prepare(csi, scenario, grid)
    if lead:
        raise ValueError(
            f"bartlett_spectrum takes one CSI of shape {scenario.csi_shape}, got batch shape {lead}"
        )
    spec = np.abs(correlate(flat[0], scenario, grid)) ** 2 / flat[0].size
    with np.errstate(over="ignore"):
        out: NDArray[np.floating[Any]] = np.ldexp(spec, 2 * int(exponent[0]))
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"csi: the Bartlett spectrum |b^H h|^2 overflows {out.dtype} at the scale of csi "
            f"(largest entry about 2^{int(exponent[0])}); scale csi down"
        )
    return out


def bartlett(
    csi: ArrayLike,
    n_paths: int,
    *,
    scenario: Scenario | None = None,
    grid: Grid | None = None,
) -> Estimate:
    """Bartlett estimate: the ``n_paths`` largest local maxima of the grid spectrum.

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        CSI, leading axes a batch.
    n_paths : int
        Paths q to report.
    scenario, grid
        As for :func:`bartlett_spectrum`.

    Returns
    -------
    Estimate
        Grid values sorted by ToA; gains by least squares on the picked steering vectors;
        shapes ``(..., n_paths)``, NaN past the number of local maxima found.

    Notes
    -----
    With the single snapshot ``h = vec(csi)`` the Bartlett score
    :math:`b^H \\hat R b / b^H b` with :math:`\\hat R = h h^H` (the sample covariance of
    the bistatic paper's baselines, Sec. IV, with one snapshot) is
    :math:`|b^H h|^2 / \\|b\\|^2`. Errors floor at the grid step (MSE about step^2 / 12).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario(n_tx=4, n_rx=4, n_subcarriers=16)
    >>> grid = bs.Grid.uniform(sc, angle_step_rad=np.deg2rad(10.0))
    >>> truth = bs.Paths([grid.aoa_rad[5]], [grid.aod_rad[9]], [grid.toa_s[3]], [1.0])
    >>> est = bs.bartlett(sc.channel(truth), 1, scenario=sc, grid=grid)
    >>> bool(est.aoa_rad[0] == truth.aoa_rad[0])
    True
    """
    flat, lead, scenario, grid, exponent = prepare(csi, scenario, grid)
    q = check_order(n_paths, int(np.prod(grid.shape)), "the number of grid points")
    out = []
    for h in flat:
        spec = np.abs(correlate(h, scenario, grid)) ** 2
        out.append(grid_estimate(h, scenario, grid, pick_peaks(spec, q), q))
    return stack_estimates(out, lead, exponent)
