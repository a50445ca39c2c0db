"""The bistatic link: OFDM numerology and the two ULAs (BS -> targets -> passive radar).

Conventions (bistatic paper, Sec. II, eqs. (4)-(5) and (11)):

* ULAs with element 0 as the phase reference, ``a(angle)[k] = exp(-j 2 pi d k sin(angle))``
  with ``d`` the element spacing in wavelengths; AoA ``theta`` at the radar (``n_rx``
  elements), AoD ``phi`` at the BS (``n_tx`` elements); angles in [-pi/2, pi/2] [rad].
* Delay response ``c(tau)[n] = exp(-j 2 pi n df tau)``, n = 0..N-1; ToAs in [0, 1/df).
* The CSI of one sub-frame is an array ``(n_tx, n_rx, n_subcarriers)``; its reshape to
  ``(n_tx * n_rx, n_subcarriers)`` is eq. (11) (row ``nt * n_rx + nr``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import check_count, check_positive

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.bistatic.paths import Paths

__all__ = ["SPEED_OF_LIGHT", "Scenario"]

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
    cyclic_prefix_fraction : float
        Cyclic prefix T_cp as a fraction of the useful symbol T = 1/df (1/4).
    spacing_tx_wavelengths, spacing_rx_wavelengths : float
        Element spacings of the BS and radar ULAs, in wavelengths (1/2).

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> sc.csi_shape
    (8, 10, 64)
    >>> round(sc.toa_resolution_s * 1e9, 2)  # 1 / (N df) [ns]
    16.28
    """

    n_tx: int = 8
    n_rx: int = 10
    n_subcarriers: int = 64
    subcarrier_spacing_hz: float = 960e3
    carrier_frequency_hz: float = 30e9
    n_symbols: int = 10
    cyclic_prefix_fraction: float = 0.25
    spacing_tx_wavelengths: float = 0.5
    spacing_rx_wavelengths: float = 0.5

    def __post_init__(self) -> None:
        check_count(self.n_tx, "n_tx")
        check_count(self.n_rx, "n_rx")
        check_count(self.n_subcarriers, "n_subcarriers", minimum=2)
        check_positive(self.subcarrier_spacing_hz, "subcarrier_spacing_hz")
        check_positive(self.carrier_frequency_hz, "carrier_frequency_hz")
        check_count(self.n_symbols, "n_symbols")
        check_positive(self.cyclic_prefix_fraction, "cyclic_prefix_fraction", strict=False)
        check_positive(self.spacing_tx_wavelengths, "spacing_tx_wavelengths")
        check_positive(self.spacing_rx_wavelengths, "spacing_rx_wavelengths")

    @property
    def wavelength_m(self) -> float:
        """lambda = c / f_c [m]."""
        return SPEED_OF_LIGHT / self.carrier_frequency_hz

    @property
    def useful_symbol_s(self) -> float:
        """T = 1 / df [s]."""
        return 1.0 / self.subcarrier_spacing_hz

    @property
    def cyclic_prefix_s(self) -> float:
        """T_cp [s], the largest ToA of an echo inside the CP (eq. 7)."""
        return self.cyclic_prefix_fraction * self.useful_symbol_s

    @property
    def symbol_s(self) -> float:
        """T_s = T + T_cp [s]."""
        return self.useful_symbol_s + self.cyclic_prefix_s

    @property
    def subframe_s(self) -> float:
        """Sub-frame duration T_sf = K T_s [s] (the Doppler sampling period)."""
        return self.n_symbols * self.symbol_s

    @property
    def toa_resolution_s(self) -> float:
        """1 / (N df) [s], the unit of the normalised ToA error."""
        return 1.0 / (self.n_subcarriers * self.subcarrier_spacing_hz)

    @property
    def half_power_beamwidth_rx_rad(self) -> float:
        """Receive half-power beamwidth at broadside, 0.886 / (Nr d_r) [rad]."""
        return 0.886 / (self.n_rx * self.spacing_rx_wavelengths)

    @property
    def csi_shape(self) -> tuple[int, int, int]:
        """Shape of one sub-frame's CSI, ``(n_tx, n_rx, n_subcarriers)``."""
        return (self.n_tx, self.n_rx, self.n_subcarriers)

    def steering_tx(self, aod_rad: ArrayLike) -> NDArray[np.complex128]:
        """A_t, shape (n_tx, n_paths), complex128: columns a_t(phi_i) for AoDs [rad]."""
        return _ula(self.n_tx, self.spacing_tx_wavelengths, aod_rad)

    def steering_rx(self, aoa_rad: ArrayLike) -> NDArray[np.complex128]:
        """A_r, shape (n_rx, n_paths), complex128: columns a_r(theta_i) for AoAs [rad]."""
        return _ula(self.n_rx, self.spacing_rx_wavelengths, aoa_rad)

    def delay_response(self, toa_s: ArrayLike) -> NDArray[np.complex128]:
        """C, shape (n_subcarriers, n_paths), complex128: C[n, i] = exp(-j 2 pi n df tau_i).

        ``toa_s`` are ToAs tau [s].
        """
        turns = np.outer(
            np.arange(self.n_subcarriers),
            self.subcarrier_spacing_hz * np.ravel(np.asarray(toa_s, float)),
        )
        return np.exp(-2j * np.pi * np.mod(turns, 1.0))

    def channel(self, paths: Paths, gain: ArrayLike | None = None) -> NDArray[np.complex128]:
        """Noise-free CSI, shape (n_tx, n_rx, n_subcarriers), complex128 (eq. 15).

        ``gain`` (n_paths,) overrides ``paths.gain``.

        Examples
        --------
        >>> from skysense import bistatic as bs
        >>> sc = bs.Scenario(n_tx=2, n_rx=3, n_subcarriers=4)
        >>> sc.channel(bs.Paths([0.0], [0.0], [0.0], [1.0])).shape
        (2, 3, 4)
        """
        g = paths.gain if gain is None else np.asarray(gain, np.complex128)
        at = self.steering_tx(paths.aod_rad)
        ar = self.steering_rx(paths.aoa_rad)
        c = self.delay_response(paths.toa_s)
        out: NDArray[np.complex128] = np.einsum("ti,ri,i,ni->trn", at, ar, g, c)
        return out


def _ula(n: int, spacing: float, angle: ArrayLike) -> NDArray[np.complex128]:
    k = np.arange(n)[:, None]
    sin = np.sin(np.ravel(np.asarray(angle, float)))[None, :]
    return np.exp(-2j * np.pi * spacing * k * sin)
