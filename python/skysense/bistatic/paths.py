"""Parameters of the propagation paths: AoA, AoD, ToA, complex gain and Doppler (eq. 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skysense._results import Result
from skysense._validation import as_array

__all__ = ["Paths"]


@dataclass(frozen=True, repr=False)
class Paths(Result):
    """Parameters of q propagation paths (targets, clutter and the LoS BS -> radar path).

    The same names as the fields of :class:`~skysense.bistatic.Estimate`, so a simulated
    truth and an estimate compare field by field. Attributes are read-only float64 arrays
    (complex128 ``gain``).

    Parameters
    ----------
    aoa_rad : array_like, shape (n_paths,)
        Angles of arrival theta at the radar, in [-pi/2, pi/2] [rad].
    aod_rad : array_like, shape (n_paths,)
        Angles of departure phi at the BS, in [-pi/2, pi/2] [rad].
    toa_s : array_like, shape (n_paths,)
        Times of arrival tau, >= 0 [s].
    gain : array_like, shape (n_paths,), complex
        Complex path gains gamma (unitless).
    doppler_hz : array_like, shape (n_paths,), optional
        Doppler shifts f_D [Hz] (zeros by default).

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> p = bs.Paths(aoa_rad=[0.1, -0.2], aod_rad=[0.3, 0.0], toa_s=[50e-9, 0.0], gain=[1, 1j])
    >>> p.n_paths
    2
    >>> p.sorted().toa_s
    array([0.e+00, 5.e-08])
    """

    aoa_rad: NDArray[np.float64]
    aod_rad: NDArray[np.float64]
    toa_s: NDArray[np.float64]
    gain: NDArray[np.complex128]
    doppler_hz: NDArray[np.float64] = None  # type: ignore[assignment]  # zeros after init

    def __post_init__(self) -> None:
        aoa = as_array(self.aoa_rad, "aoa_rad", ndim=1, kind="fiu", dtype=np.float64)
        q = aoa.shape[0]
        if q < 1:
            raise ValueError("Paths needs at least one path, got aoa_rad of shape (0,)")
        aod = as_array(self.aod_rad, "aod_rad", shape=(q,), kind="fiu", dtype=np.float64)
        toa = as_array(self.toa_s, "toa_s", shape=(q,), kind="fiu", dtype=np.float64)
        gain = as_array(self.gain, "gain", shape=(q,), kind="fciu", dtype=np.complex128)
        if self.doppler_hz is None:
            doppler = np.zeros(q)
        else:
            doppler = as_array(
                self.doppler_hz, "doppler_hz", shape=(q,), kind="fiu", dtype=np.float64
            )
        half_pi = math.pi / 2
        for name, angle in (("aoa_rad", aoa), ("aod_rad", aod)):
            if np.any(np.abs(angle) > half_pi):
                raise ValueError(
                    f"aoa_rad and aod_rad must lie in [-pi/2, pi/2]; {name} has "
                    f"{float(angle[np.argmax(np.abs(angle))])}"
                )
        if np.any(toa < 0):
            raise ValueError(f"toa_s must be >= 0, got min {float(toa.min())}")
        for name, value in (
            ("aoa_rad", aoa),
            ("aod_rad", aod),
            ("toa_s", toa),
            ("gain", gain),
            ("doppler_hz", doppler),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_paths(self) -> int:
        """Number of paths q."""
        return int(self.aoa_rad.shape[0])

    def sorted(self) -> Paths:
        """The same paths in ascending ToA (the order of the estimators' outputs)."""
        o = np.argsort(self.toa_s, kind="stable")
        return Paths(
            self.aoa_rad[o], self.aod_rad[o], self.toa_s[o], self.gain[o], self.doppler_hz[o]
        )
