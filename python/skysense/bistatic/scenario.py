"""Bistatic ISAC scenario (BS -> targets -> passive radar) and the multipath parameters.

Conventions (Bazzi et al., JSAC 2025, Sec. II; shared/specs/bistatic.md section 1):

* ULAs with element 0 as the phase reference, ``a(angle)[k] = exp(-j 2 pi d k sin(angle))``
  with ``d`` the spacing in wavelengths; AoA ``theta`` at the radar (Nr elements), AoD ``phi``
  at the BS (Nt elements); angles in [-pi/2, pi/2] [rad].
* Delay response ``c(tau)[n] = exp(-j 2 pi n df tau)``, n = 0..N-1; delays in [0, 1/df).
* The CSI of one sub-frame is an array ``(n_tx, n_rx, n_subcarriers)``; its reshape to
  ``(n_tx * n_rx, n_subcarriers)`` is eq. (11) (row ``nt * Nr + nr``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from skysense._validation import as_array, check_count, check_positive

__all__ = ["SPEED_OF_LIGHT", "Paths", "Scenario"]

#: Speed of light [m/s].
SPEED_OF_LIGHT = 3e8


@dataclass(frozen=True)
class Scenario:
    """OFDM numerology and arrays of the bistatic link (defaults: the authors' JSTSP code).

    Parameters
    ----------
    n_tx : int
        BS ULA elements Nt (8).
    n_rx : int
        Radar ULA elements Nr (10).
    n_subcarriers : int
        Active subcarriers N (64).
    subcarrier_spacing_hz : float
        Delta f [Hz] (960 kHz = 15 kHz * 2^6).
    carrier_frequency_hz : float
        f_c [Hz] (30 GHz).
    n_symbols : int
        OFDM pilot symbols K per sub-frame (10); the LS estimate needs ``K >= n_tx``.
    cp_fraction : float
        Cyclic prefix T_cp as a fraction of T = 1/df (1/4).
    spacing_tx, spacing_rx : float
        Element spacings [wavelengths] (1/2).
    """

    n_tx: int = 8
    n_rx: int = 10
    n_subcarriers: int = 64
    subcarrier_spacing_hz: float = 960e3
    carrier_frequency_hz: float = 30e9
    n_symbols: int = 10
    cp_fraction: float = 0.25
    spacing_tx: float = 0.5
    spacing_rx: float = 0.5

    def __post_init__(self):
        check_count(self.n_tx, "n_tx")
        check_count(self.n_rx, "n_rx")
        check_count(self.n_subcarriers, "n_subcarriers", minimum=2)
        check_positive(self.subcarrier_spacing_hz, "subcarrier_spacing_hz")
        check_positive(self.carrier_frequency_hz, "carrier_frequency_hz")
        check_count(self.n_symbols, "n_symbols")
        check_positive(self.cp_fraction, "cp_fraction", strict=False)
        check_positive(self.spacing_tx, "spacing_tx")
        check_positive(self.spacing_rx, "spacing_rx")

    @property
    def wavelength_m(self) -> float:
        """lambda = c / f_c [m]."""
        return SPEED_OF_LIGHT / self.carrier_frequency_hz

    @property
    def useful_symbol_s(self) -> float:
        """T = 1 / df [s]."""
        return 1.0 / self.subcarrier_spacing_hz

    @property
    def cp_s(self) -> float:
        """T_cp [s]."""
        return self.cp_fraction * self.useful_symbol_s

    @property
    def symbol_s(self) -> float:
        """T_s = T + T_cp [s]."""
        return self.useful_symbol_s + self.cp_s

    @property
    def subframe_s(self) -> float:
        """Sub-frame duration T_sf = K T_s [s] (the Doppler sampling period)."""
        return self.n_symbols * self.symbol_s

    @property
    def delay_resolution_s(self) -> float:
        """1 / (N df) [s], the unit of the normalised ToA error."""
        return 1.0 / (self.n_subcarriers * self.subcarrier_spacing_hz)

    @property
    def hpbw_rx_rad(self) -> float:
        """Receive half-power beamwidth at broadside, 0.886 / (Nr d_r) [rad]."""
        return 0.886 / (self.n_rx * self.spacing_rx)

    @property
    def csi_shape(self) -> tuple[int, int, int]:
        """Shape of one sub-frame's CSI, ``(n_tx, n_rx, n_subcarriers)``."""
        return (self.n_tx, self.n_rx, self.n_subcarriers)

    def steering_tx(self, aod_rad) -> np.ndarray:
        """A_t, shape (n_tx, n_paths): columns a_t(phi_i)."""
        return _ula(self.n_tx, self.spacing_tx, aod_rad)

    def steering_rx(self, aoa_rad) -> np.ndarray:
        """A_r, shape (n_rx, n_paths): columns a_r(theta_i)."""
        return _ula(self.n_rx, self.spacing_rx, aoa_rad)

    def delay_response(self, delay_s) -> np.ndarray:
        """C, shape (n_subcarriers, n_paths): C[n, i] = exp(-j 2 pi n df tau_i)."""
        turns = np.outer(
            np.arange(self.n_subcarriers), self.subcarrier_spacing_hz * np.ravel(delay_s)
        )
        return np.exp(-2j * np.pi * np.mod(turns, 1.0))

    def channel(self, paths: Paths, gain=None) -> np.ndarray:
        """Noise-free CSI, shape (n_tx, n_rx, n_subcarriers), complex128 (eq. 15).

        ``gain`` (n_paths,) overrides ``paths.gain``.
        """
        g = paths.gain if gain is None else np.asarray(gain, np.complex128)
        at = self.steering_tx(paths.aod_rad)
        ar = self.steering_rx(paths.aoa_rad)
        c = self.delay_response(paths.delay_s)
        return np.einsum("ti,ri,i,ni->trn", at, ar, g, c)


def _ula(n: int, spacing: float, angle) -> np.ndarray:
    k = np.arange(n)[:, None]
    return np.exp(-2j * np.pi * spacing * k * np.sin(np.ravel(np.asarray(angle, float)))[None, :])


@dataclass(frozen=True)
class Paths:
    """Parameters of q propagation paths (targets, clutter and the LoS BS -> radar path).

    Parameters
    ----------
    aoa_rad : array_like, shape (n_paths,)
        Angles of arrival theta at the radar, in [-pi/2, pi/2] [rad].
    aod_rad : array_like, shape (n_paths,)
        Angles of departure phi at the BS, in [-pi/2, pi/2] [rad].
    delay_s : array_like, shape (n_paths,)
        Times of arrival tau, >= 0 [s].
    gain : array_like, shape (n_paths,), complex
        Complex path gains gamma.
    doppler_hz : array_like, shape (n_paths,), optional
        Doppler shifts f_D [Hz] (zeros by default).
    """

    aoa_rad: np.ndarray
    aod_rad: np.ndarray
    delay_s: np.ndarray
    gain: np.ndarray
    doppler_hz: np.ndarray = field(default=None)

    def __post_init__(self):
        aoa = as_array(self.aoa_rad, "aoa_rad", ndim=1, kind="fiu", dtype=np.float64)
        q = aoa.shape[0]
        if q < 1:
            raise ValueError("Paths needs at least one path")
        aod = as_array(self.aod_rad, "aod_rad", shape=(q,), kind="fiu", dtype=np.float64)
        delay = as_array(self.delay_s, "delay_s", shape=(q,), kind="fiu", dtype=np.float64)
        gain = as_array(self.gain, "gain", shape=(q,), kind="fciu", dtype=np.complex128)
        if self.doppler_hz is None:
            doppler = np.zeros(q)
        else:
            doppler = as_array(self.doppler_hz, "doppler_hz", shape=(q,), kind="fiu", dtype=float)
        half_pi = math.pi / 2
        if np.any(np.abs(aoa) > half_pi) or np.any(np.abs(aod) > half_pi):
            raise ValueError("aoa_rad and aod_rad must lie in [-pi/2, pi/2]")
        if np.any(delay < 0):
            raise ValueError("delay_s must be >= 0")
        for name, value in (
            ("aoa_rad", aoa),
            ("aod_rad", aod),
            ("delay_s", delay),
            ("gain", gain),
            ("doppler_hz", doppler),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_paths(self) -> int:
        """Number of paths q."""
        return self.aoa_rad.shape[0]

    def sorted(self) -> Paths:
        """The same paths in ascending delay (the order of the estimators' outputs)."""
        o = np.argsort(self.delay_s, kind="stable")
        return Paths(
            self.aoa_rad[o], self.aod_rad[o], self.delay_s[o], self.gain[o], self.doppler_hz[o]
        )
