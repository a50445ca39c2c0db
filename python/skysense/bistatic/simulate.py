"""OFDM pilots through the bistatic channel, then the per-subcarrier LS estimate (eqs. 4-11)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_finite_scalar, complex_dtype
from skysense.bistatic.paths import Paths
from skysense.bistatic.scenario import Scenario

__all__ = [
    "MAX_ABS_SNR_DB",
    "QAM_ORDER",
    "Measurement",
    "noise_variance",
    "qam_symbols",
    "simulate",
]

#: ``|snr_db|`` at most this: 10^(snr_db / 10) stays a normal float64.
MAX_ABS_SNR_DB = 3000.0

_FLUCTUATIONS = ("none", "swerling1")
_PILOTS = ("qam", "orthogonal")
#: Pilot constellation order (unit-power square QAM, the JSTSP code's 1024-QAM).
QAM_ORDER = 1024


@dataclass(frozen=True, repr=False)
class Measurement(Result):
    """Output of :func:`simulate`.

    Attributes
    ----------
    csi : ndarray, shape (n_subframes, n_tx, n_rx, n_subcarriers), complex64 or complex128
        LS channel estimates, one per sub-frame (eq. 9); ``csi[s].reshape(n_tx * n_rx, -1)``
        is eq. (11).
    gain : ndarray, shape (n_paths,), complex128
        Realised path gains (after the Swerling-I draw), at sub-frame 0, symbol 0.
    noise_var : float
        Per-antenna noise variance sigma^2 of the received samples (unit-power pilots).
    pilots : ndarray, shape (n_subframes, n_subcarriers, n_tx, n_symbols), complex128
        The pilot matrices S_n^(s) (for :func:`~skysense.bistatic.crb` with the actual pilots).

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> m = bs.simulate(sc, bs.random_paths(sc, rng=0), 20.0, rng=1)
    >>> m.csi.shape, m.gain.shape
    ((1, 8, 10, 64), (4,))
    """

    csi: NDArray[np.complexfloating[Any, Any]]
    gain: NDArray[np.complex128]
    noise_var: float
    pilots: NDArray[np.complex128]


def qam_symbols(
    shape: int | tuple[int, ...], order: int = QAM_ORDER, *, rng: RngLike = None
) -> NDArray[np.complex128]:
    """I.i.d. unit-average-power square-QAM symbols.

    Parameters
    ----------
    shape : int or tuple of int
        Output shape.
    order : int
        Constellation size, a perfect square (1024).
    rng : None, int, SeedSequence or Generator
        Random source (see ``docs/conventions.md``).

    Returns
    -------
    ndarray, shape ``shape``, complex128
        Symbols of unit average power.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> s = bs.qam_symbols((4, 1000), rng=0)
    >>> bool(abs(np.mean(np.abs(s) ** 2) - 1) < 0.1)
    True
    """
    order = check_count(order, "order", minimum=4)
    side = math.isqrt(order)
    if side * side != order:
        raise ValueError(f"order must be a perfect square (4, 16, 64, ...), got {order}")
    gen = as_generator(rng)
    levels = 2.0 * np.arange(side) - (side - 1)
    scale = np.sqrt(2.0 * (order - 1) / 3.0)
    re = levels[gen.integers(0, side, shape)]
    im = levels[gen.integers(0, side, shape)]
    out: NDArray[np.complex128] = (re + 1j * im) / scale
    return out


def noise_variance(
    scenario: Scenario, paths: Paths, snr_db: float, *, gain: ArrayLike | None = None
) -> float:
    """Noise variance sigma^2 for a per-receive-antenna SNR: ``E||H_n s||^2 / (Nr sigma^2)`` averaged over n.

    With i.i.d. unit-power pilots ``E||H_n s||^2 = ||H_n||_F^2``, taken at symbol 0 (Doppler
    only moves the cross terms between paths).

    Parameters
    ----------
    scenario : Scenario
        Arrays and numerology.
    paths : Paths
        Path parameters.
    snr_db : float
        Per-receive-antenna SNR [dB].
    gain : array_like, shape (n_paths,), optional
        Gains replacing ``paths.gain``.

    Returns
    -------
    float
        sigma^2 (unitless, relative to unit-power pilots).

    Raises
    ------
    ValueError
        ``snr_db`` outside ``[-MAX_ABS_SNR_DB, MAX_ABS_SNR_DB]``, every gain zero (no signal
        power to refer the SNR to), or a sigma^2 outside the normal float64 range (gains and
        SNR too large or too small together). The computation itself is scale-free: gains
        are scaled by a power of two first.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> round(bs.noise_variance(sc, bs.Paths([0.0], [0.0], [0.0], [1.0]), 10.0), 6)
    0.8
    """
    snr_db = _check_snr_db(snr_db)
    g = paths.gain if gain is None else np.asarray(gain, np.complex128)
    scaled, exponent = _scaled_gains(g)
    h = scenario.channel(paths, scaled)
    power = float(np.sum(np.abs(h) ** 2) / (scenario.n_subcarriers * scenario.n_rx))
    return _noise_var(power, exponent, snr_db)


def _check_snr_db(snr_db: float) -> float:
    snr_db = check_finite_scalar(snr_db, "snr_db")
    if abs(snr_db) > MAX_ABS_SNR_DB:
        raise ValueError(
            f"snr_db must be in [-{MAX_ABS_SNR_DB:g}, {MAX_ABS_SNR_DB:g}] dB (10^(snr_db/10) "
            f"a normal float64), got {snr_db!r}"
        )
    return snr_db


def _scaled_gains(gain: NDArray[np.complex128]) -> tuple[NDArray[np.complex128], int]:
    """``gain * 2^-e`` with ``max |Re|, |Im|`` in [1/2, 1), and e; ValueError if all zero."""
    g = np.asarray(gain, np.complex128)
    big = float(np.max(np.maximum(np.abs(g.real), np.abs(g.imag)))) if g.size else 0.0
    if not big > 0.0:
        raise ValueError(
            "gain: every path gain is zero, so there is no signal power to refer snr_db to"
        )
    e = int(np.frexp(big)[1])
    out = np.empty_like(g)
    out.real = np.ldexp(g.real, -e)
    out.imag = np.ldexp(g.imag, -e)
    return out, e


def _noise_var(power: float, exponent: int, snr_db: float) -> float:
    """sigma^2 = power 2^(2 exponent) / 10^(snr_db / 10), checked to be a normal float64."""
    log2 = math.log2(power) + 2 * exponent - snr_db * math.log2(10.0) / 10.0
    if not -1021.0 < log2 < 1023.0:
        what = "overflows" if log2 > 0 else "underflows"
        raise ValueError(
            f"gain, snr_db: the noise variance sigma^2 = 2^{log2:.0f} {what} float64 (|gain| "
            f"about 2^{exponent} at snr_db = {snr_db:g}); scale the gains towards 1"
        )
    return float(np.ldexp(power / 10.0 ** (snr_db / 10.0), 2 * exponent))


def simulate(
    scenario: Scenario,
    paths: Paths,
    snr_db: float,
    *,
    rng: RngLike = None,
    n_subframes: int = 1,
    timing_offset_s: float = 0.0,
    fluctuation: Literal["none", "swerling1"] = "none",
    pilots: Literal["qam", "orthogonal"] = "qam",
    dtype: DTypeLike = np.complex128,
) -> Measurement:
    """Pilot transmission and LS channel estimation over ``n_subframes`` sub-frames.

    Parameters
    ----------
    scenario : Scenario
        Arrays and numerology (needs ``n_symbols >= n_tx`` for the LS estimate).
    paths : Paths
        Path parameters; their Doppler rotates the gains across OFDM symbols.
    snr_db : float
        Per-receive-antenna SNR [dB] (see :func:`noise_variance`).
    rng : None, int, SeedSequence or Generator
        Random source of the pilots, the noise and the gain fluctuation (see
        ``docs/conventions.md``; a Generator's stream advances).
    n_subframes : int
        Sub-frames S of K symbols each (Doppler estimation needs S >= 2).
    timing_offset_s : float
        Receiver timing offset epsilon [s], added to every ToA (Fig. 7).
    fluctuation : {"none", "swerling1"}
        ``"swerling1"`` multiplies each gain by an independent CN(0, 1) draw, constant over
        the CPI (Swerling I); ``"none"`` keeps ``paths.gain``.
    pilots : {"qam", "orthogonal"}
        ``"qam"``: i.i.d. unit-power 1024-QAM per (n, k, Tx antenna) (the JSTSP code); the LS
        noise is then coloured, ``sigma^2 (S S^H)^-1`` per row, on average
        ``sigma^2 / (K - Nt)`` per entry. ``"orthogonal"``: unit-modulus rows of a K-point DFT
        with a random phase per (n, Tx antenna), ``S S^H = K I``: white LS noise
        ``sigma^2 / K``.
    dtype : complex64 or complex128
        dtype of ``csi``.

    Returns
    -------
    Measurement
        LS CSI per sub-frame, the gains used, sigma^2 and the pilots.

    Raises
    ------
    ValueError
        As :func:`noise_variance` for ``snr_db`` and the gains (their scale is free up to
        a representable sigma^2 and CSI), ``n_symbols < n_tx``, unknown ``pilots`` or
        ``fluctuation``.

    Notes
    -----
    Symbol k (global index ``s K + k``) on subcarrier n (eqs. 4, 6, 8):

    .. math::

        y_{n,k} = A_r \\mathrm{diag}(\\gamma \\odot e^{j 2\\pi f_D k T_s} \\odot
        c_n(\\tau + \\epsilon)) A_t^T s_{n,k} + w_{n,k}, \\qquad
        \\hat H_n^{(s)} = Y_n^{(s)} S_n^{(s)H} (S_n^{(s)} S_n^{(s)H})^{-1},

    and ``w ~ CN(0, sigma^2 I)``.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> paths = bs.random_paths(sc, rng=0)
    >>> m = bs.simulate(sc, paths, 20.0, rng=1, n_subframes=2)
    >>> m.csi.shape, m.pilots.shape
    ((2, 8, 10, 64), (2, 64, 8, 10))
    """
    gen = as_generator(rng)
    snr_db = _check_snr_db(snr_db)
    n_sub = check_count(n_subframes, "n_subframes")
    eps = check_finite_scalar(timing_offset_s, "timing_offset_s")
    out_dtype = complex_dtype(dtype)
    if pilots not in _PILOTS:
        raise ValueError(f"pilots must be one of {_PILOTS}, got {pilots!r}")
    if fluctuation not in _FLUCTUATIONS:
        raise ValueError(f"fluctuation must be one of {_FLUCTUATIONS}, got {fluctuation!r}")
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic Scenario, got {type(scenario).__name__}")
    if not isinstance(paths, Paths):
        raise TypeError(f"paths must be a bistatic Paths, got {type(paths).__name__}")
    nt, n, k = scenario.n_tx, scenario.n_subcarriers, scenario.n_symbols
    if k < nt:
        raise ValueError(
            f"LS estimation needs n_symbols >= n_tx, got n_symbols = {k} < n_tx = {nt}"
        )

    gain = paths.gain.copy()
    if fluctuation == "swerling1":
        q = paths.n_paths
        gain = gain * (gen.standard_normal(q) + 1j * gen.standard_normal(q)) / np.sqrt(2.0)
    # In units of the largest gain (a power of two 2^e, exact), so no square over- or
    # underflows at any gain scale; the CSI is scaled back by 2^e at the end.
    unit_gain, exponent = _scaled_gains(gain)
    power = float(
        np.sum(np.abs(scenario.channel(paths, unit_gain)) ** 2)
        / (scenario.n_subcarriers * scenario.n_rx)
    )
    noise_var = _noise_var(power, exponent, snr_db)
    unit_noise_var = power / 10.0 ** (snr_db / 10.0)

    at = scenario.steering_tx(paths.aod_rad)
    ar = scenario.steering_rx(paths.aoa_rad)
    c = scenario.delay_response(paths.toa_s + eps)
    t = (np.arange(n_sub)[:, None] * k + np.arange(k)[None, :]) * scenario.symbol_s
    rot = np.exp(2j * np.pi * np.mod(t[..., None] * paths.doppler_hz, 1.0))  # (S, K, q)
    if pilots == "qam":
        s = qam_symbols((n_sub, n, nt, k), rng=gen)  # S_n^(s): (S, N, Nt, K)
    else:
        dft = np.exp(-2j * np.pi * np.outer(np.arange(nt), np.arange(k)) / k)
        s = np.exp(2j * np.pi * gen.uniform(size=(n_sub, n, nt, 1))) * dft
    proj = np.einsum("ti,sntk->snik", at, s)
    y = np.einsum("ri,i,ski,ni,snik->snrk", ar, unit_gain, rot, c, proj)
    y += np.sqrt(unit_noise_var / 2.0) * (
        gen.standard_normal(y.shape) + 1j * gen.standard_normal(y.shape)
    )
    sh = s.conj().swapaxes(-1, -2)  # S^H: (S, N, K, Nt)
    gram = s @ sh  # S S^H: (S, N, Nt, Nt)
    # H S S^H = Y S^H  <=>  (S S^H)^T H^T = (Y S^H)^T
    h_t = np.linalg.solve(gram.swapaxes(-1, -2), (y @ sh).swapaxes(-1, -2))  # (S, N, Nt, Nr)
    h = h_t.transpose(0, 2, 3, 1)
    csi = np.empty(h.shape, out_dtype)
    with np.errstate(over="ignore"):
        csi.real = np.ldexp(h.real, exponent)
        csi.imag = np.ldexp(h.imag, exponent)
    if not np.all(np.isfinite(csi)):
        raise ValueError(
            f"gain: the CSI overflows {csi.dtype} at gains of about 2^{exponent}; scale them down"
        )
    return Measurement(csi=csi, gain=gain, noise_var=noise_var, pilots=s)
