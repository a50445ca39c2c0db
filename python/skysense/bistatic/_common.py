"""Argument handling shared by the bistatic estimators: the scenario and the CSI."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import as_array
from skysense.bistatic.scenario import Scenario

__all__ = ["as_csi", "as_scenario"]


def as_scenario(scenario: Scenario | None) -> Scenario:
    """``scenario``, ``Scenario()`` for None; TypeError for anything else."""
    if scenario is None:
        return Scenario()
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic Scenario, got {type(scenario).__name__}")
    return scenario


def as_csi(
    csi: ArrayLike, scenario: Scenario, *, min_ndim: int = 3, check_finite: bool = True
) -> NDArray[np.complexfloating[Any, Any]]:
    """Validate CSI ``(..., n_tx, n_rx, n_subcarriers)`` against ``scenario``; reject zeros.

    complex64 (and float32) input stays complex64, anything else becomes complex128.
    """
    arr = np.asarray(csi)
    if arr.ndim < min_ndim:
        raise ValueError(
            f"csi must have shape (..., n_tx, n_rx, n_subcarriers) = (..., {scenario.n_tx}, "
            f"{scenario.n_rx}, {scenario.n_subcarriers}) with at least {min_ndim} axes, got "
            f"{arr.shape}"
        )
    if arr.shape[-3:] != scenario.csi_shape:
        raise ValueError(
            f"csi must end in (n_tx, n_rx, n_subcarriers) = {scenario.csi_shape} of the "
            f"scenario, got {arr.shape}"
        )
    arr = as_array(arr, "csi", kind="fc", check_finite=check_finite)
    if arr.dtype.kind != "c":
        arr = arr.astype(np.complex64 if arr.dtype == np.float32 else np.complex128)
    elif arr.dtype not in (np.complex64, np.complex128):
        arr = arr.astype(np.complex128)
    flat = arr.reshape(-1, int(np.prod(scenario.csi_shape)))
    zero = ~np.any(flat != 0, axis=1)
    if np.any(zero):
        raise ValueError(
            f"csi is all zero for batch index {int(np.flatnonzero(zero)[0])} (flattened); "
            "no path can be estimated"
        )
    return arr
