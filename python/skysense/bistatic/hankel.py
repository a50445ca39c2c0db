"""The three-level Hankel matrix of PARAMING and MUSIC (eqs. 26-28) and its sub-array sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skysense._validation import check_count
from skysense.bistatic.scenario import Scenario

__all__ = ["default_subarrays", "hankel_matrix", "hankel_shape"]

#: Sub-array sizes (Mt, Mr, M): Tx elements, Rx elements, subcarriers.
Subarrays = tuple[int, int, int]


def default_subarrays(scenario: Scenario) -> Subarrays:
    """(Mt, Mr, M) = half of each dimension, rounded up (the JSTSP code: 4, 5, 32).

    Parameters
    ----------
    scenario : Scenario
        Array and subcarrier counts ``n_tx``, ``n_rx``, ``n_subcarriers``.

    Returns
    -------
    tuple of int (Mt, Mr, M)
        Sub-array sizes over the tx antennas, rx antennas and subcarriers.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> bs.default_subarrays(bs.Scenario())
    (4, 5, 32)
    """
    return ((scenario.n_tx + 1) // 2, (scenario.n_rx + 1) // 2, (scenario.n_subcarriers + 1) // 2)


def hankel_shape(scenario: Scenario, subarrays: Sequence[int] | None = None) -> tuple[int, int]:
    """Shape (L, P) of X1: ``L = Mt M Mr``, ``P = Kt (K_N - 1) Kr`` (eqs. 26-32).

    Parameters
    ----------
    scenario : Scenario
        Array and subcarrier counts.
    subarrays : tuple of int (Mt, Mr, M), optional
        Sub-array sizes; default :func:`default_subarrays`.

    Returns
    -------
    tuple of int
        (L, P); 640 x 960 for the default scenario.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> bs.hankel_shape(bs.Scenario())
    (640, 960)
    """
    mt, mr, m = resolve_subarrays(scenario, subarrays)
    kt, kr, kn = scenario.n_tx - mt + 1, scenario.n_rx - mr + 1, scenario.n_subcarriers - m + 1
    return mt * m * mr, kt * (kn - 1) * kr


def resolve_subarrays(scenario: Scenario, subarrays: Sequence[int] | None) -> Subarrays:
    """Validated (Mt, Mr, M); :func:`default_subarrays` for None."""
    if subarrays is None:
        return default_subarrays(scenario)
    try:
        mt, mr, m = subarrays
    except (TypeError, ValueError) as exc:
        raise TypeError(f"subarrays must be a tuple (Mt, Mr, M), got {subarrays!r}") from exc
    mt, mr, m = (check_count(v, name) for v, name in ((mt, "Mt"), (mr, "Mr"), (m, "M")))
    if mt > scenario.n_tx or mr > scenario.n_rx or m >= scenario.n_subcarriers:
        raise ValueError(
            f"subarrays (Mt, Mr, M) = {(mt, mr, m)} do not fit: need Mt <= n_tx = "
            f"{scenario.n_tx}, Mr <= n_rx = {scenario.n_rx}, M < n_subcarriers = "
            f"{scenario.n_subcarriers}"
        )
    return mt, mr, m


def hankel_matrix(csi: NDArray[Any], subarrays: Sequence[int]) -> NDArray[Any]:
    """The three-level Hankel matrix X of eqs. (26)-(28), shape (Mt M Mr, Kt K_N Kr).

    Parameters
    ----------
    csi : ndarray, shape (n_tx, n_rx, n_subcarriers)
        One CSI.
    subarrays : tuple of int (Mt, Mr, M)
        Sub-array sizes.

    Returns
    -------
    ndarray, shape (Mt M Mr, Kt K_N Kr), dtype of ``csi``
        Row ``r + Mr (m + M mt)``, column ``kr + Kr (kn + K_N kt)`` holds
        ``csi[mt + kt, r + kr, m + kn]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> x = bs.hankel_matrix(np.ones((4, 5, 9)), (2, 3, 4))
    >>> x.shape
    (24, 54)
    """
    mt, mr, m = subarrays
    n_tx, n_rx, n_sub = csi.shape
    kt, kr, kn = n_tx - mt + 1, n_rx - mr + 1, n_sub - m + 1
    a_t, a_m, a_r = np.meshgrid(np.arange(mt), np.arange(m), np.arange(mr), indexing="ij")
    c_t, c_n, c_r = np.meshgrid(np.arange(kt), np.arange(kn), np.arange(kr), indexing="ij")
    rows = [v.ravel()[:, None] for v in (a_t, a_m, a_r)]
    cols = [v.ravel()[None, :] for v in (c_t, c_n, c_r)]
    return csi[rows[0] + cols[0], rows[2] + cols[2], rows[1] + cols[1]]
