"""Argument handling shared by the bistatic estimators: the scenario and the CSI."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import as_array
from skysense.bistatic.scenario import Scenario

__all__ = ["as_csi", "as_scenario", "scale_csi", "unscale_gain"]


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


def scale_csi(
    flat: NDArray[np.complexfloating[Any, Any]],
) -> tuple[NDArray[np.complexfloating[Any, Any]], NDArray[np.int64]]:
    """Each CSI ``flat[b]`` times ``2^-e[b]``, its largest ``|Re|``, ``|Im|`` in [1/2, 1).

    Exact (a power of two), so every estimator that is invariant to a positive scale of its
    input computes on CSI of unit size whatever the input scale (no overflow of squares at
    1e300, no underflow at 1e-300); gains are scaled back with :func:`unscale_gain`.
    """
    axes = tuple(range(1, flat.ndim))
    big = np.maximum(np.abs(flat.real).max(axis=axes), np.abs(flat.imag).max(axis=axes))
    exponent = np.frexp(big)[1].astype(np.int64)
    shift = (-exponent).reshape((-1,) + (1,) * (flat.ndim - 1)).astype(np.int32)
    out = np.empty_like(flat)
    out.real = np.ldexp(flat.real, shift)
    out.imag = np.ldexp(flat.imag, shift)
    return out, exponent


def unscale_gain(
    gain: NDArray[np.complexfloating[Any, Any]], exponent: NDArray[np.int64] | int
) -> NDArray[np.complexfloating[Any, Any]]:
    """``gain * 2^exponent`` (exponent per leading index); ValueError naming ``csi`` when a
    gain overflows its dtype at the scale of the CSI."""
    e = np.asarray(exponent, np.int64)
    shift = e.reshape(e.shape + (1,) * (gain.ndim - e.ndim)).astype(np.int32)
    out = np.empty_like(gain)
    with np.errstate(over="ignore"):
        out.real = np.ldexp(gain.real, shift)
        out.imag = np.ldexp(gain.imag, shift)
    if np.any(np.isinf(out) & np.isfinite(gain)):
        raise ValueError(
            "csi: a gain estimate overflows "
            f"{np.finfo(gain.real.dtype).dtype} at the scale of csi (largest entry about "
            f"2^{int(e.max())}); scale csi down"
        )
    return out
