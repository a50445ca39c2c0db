"""The output type shared by PARAMING and the baselines, and CSI input checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array
from skysense.bistatic.scenario import Scenario

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate:
    """Path parameters estimated from one CSI or a batch (leading axes = batch axes).

    Paths are sorted by ToA (PARAMING, grid methods) or by AoA (Root-MUSIC-2D). Entries past a
    CSI's ``n_paths`` are NaN; so are quantities a method does not estimate. Every estimator
    follows the precision of its CSI: float32 fields and complex64 ``gain`` for complex64 CSI
    (the float32 path), float64/complex128 otherwise (the dtypes listed below).

    Attributes
    ----------
    toa : ndarray, shape (..., max_paths), float64
        Times of arrival tau [s].
    aoa : ndarray, shape (..., max_paths), float64
        Angles of arrival theta [rad].
    aod : ndarray, shape (..., max_paths), float64
        Angles of departure phi [rad].
    gain : ndarray, shape (..., max_paths), complex128
        Complex gains gamma (phase reference: element 0 of both ULAs, subcarrier 0).
    n_paths : ndarray, shape (...), int64
        Model order used per CSI.
    doppler : ndarray, shape (..., max_paths), float64, or None
        Doppler shifts f_D [Hz] (only from sub-frame input).
    singular_values : ndarray, shape (..., k), float64, or None
        Singular values of the Hankel matrix X1 (PARAMING, MUSIC).
    """

    toa: np.ndarray
    aoa: np.ndarray
    aod: np.ndarray
    gain: np.ndarray
    n_paths: np.ndarray
    doppler: np.ndarray | None = None
    singular_values: np.ndarray | None = None

    def astype(self, complex_dtype) -> Estimate:
        """This estimate in the precision of ``complex_dtype`` (complex64 or complex128)."""
        cdt = np.dtype(complex_dtype)
        real = np.finfo(cdt).dtype

        def cast(v, dt):
            return None if v is None else np.asarray(v).astype(dt, copy=False)

        return Estimate(
            toa=cast(self.toa, real),
            aoa=cast(self.aoa, real),
            aod=cast(self.aod, real),
            gain=cast(self.gain, cdt),
            n_paths=self.n_paths,
            doppler=cast(self.doppler, real),
            singular_values=cast(self.singular_values, real),
        )


def as_csi(csi, scenario: Scenario, *, min_ndim=3, check_finite=True) -> np.ndarray:
    """Validate CSI ``(..., n_tx, n_rx, n_subcarriers)`` against ``scenario``; reject zeros."""
    arr = np.asarray(csi)
    if arr.ndim < min_ndim:
        raise ValueError(
            f"csi must have shape (..., n_tx, n_rx, n_subcarriers) = (..., {scenario.n_tx}, "
            f"{scenario.n_rx}, {scenario.n_subcarriers}), got {arr.shape}"
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
