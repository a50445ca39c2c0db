"""OFDM pilots through the bistatic channel, then the per-subcarrier LS estimate (eqs. 4-11)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skysense._validation import check_count, check_finite_scalar, complex_dtype
from skysense.bistatic.scenario import Paths, Scenario

__all__ = ["Measurement", "noise_variance", "qam_symbols", "simulate"]

_FLUCTUATIONS = ("none", "swerling1")
_PILOTS = ("qam", "orthogonal")
#: Pilot constellation order (unit-power square QAM, the JSTSP code's 1024-QAM).
QAM_ORDER = 1024


@dataclass(frozen=True)
class Measurement:
    """Output of :func:`simulate`.

    Attributes
    ----------
    csi : ndarray, shape (n_subframes, n_tx, n_rx, n_subcarriers), complex
        LS channel estimates, one per sub-frame (eq. 9); ``csi[s].reshape(n_tx * n_rx, -1)``
        is eq. (11).
    gain : ndarray, shape (n_paths,), complex128
        Realised path gains (after the Swerling-I draw), at sub-frame 0, symbol 0.
    noise_var : float
        Per-antenna noise variance sigma^2 of the received samples.
    pilots : ndarray, shape (n_subframes, n_subcarriers, n_tx, n_symbols), complex128
        The pilot matrices S_n^(s) (for :func:`~skysense.bistatic.crb` with the actual pilots).
    """

    csi: np.ndarray
    gain: np.ndarray
    noise_var: float
    pilots: np.ndarray


def qam_symbols(rng, shape, order=QAM_ORDER) -> np.ndarray:
    """I.i.d. unit-average-power square-QAM symbols, complex128."""
    side = round(math.sqrt(order))
    levels = 2.0 * np.arange(side) - (side - 1)
    scale = np.sqrt(2.0 * (order - 1) / 3.0)
    re = levels[rng.integers(0, side, shape)]
    im = levels[rng.integers(0, side, shape)]
    return (re + 1j * im) / scale


def noise_variance(scenario: Scenario, paths: Paths, snr_db, gain=None) -> float:
    """sigma^2 for a per-receive-antenna SNR: ``E||H_n s||^2 / (Nr sigma^2)`` averaged over n.

    With i.i.d. unit-power pilots ``E||H_n s||^2 = ||H_n||_F^2``, taken at symbol 0 (Doppler
    only moves the cross terms between paths). ``gain`` (n_paths,) overrides ``paths.gain``.
    """
    snr = 10.0 ** (check_finite_scalar(snr_db, "snr_db") / 10.0)
    h = scenario.channel(paths, gain)
    return float(np.sum(np.abs(h) ** 2) / (scenario.n_subcarriers * scenario.n_rx * snr))


def simulate(
    scenario: Scenario,
    paths: Paths,
    snr_db,
    rng,
    n_subframes=1,
    timing_offset_s=0.0,
    *,
    fluctuation="none",
    pilots="qam",
    dtype=np.complex128,
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
    rng : int or numpy.random.Generator
        Random source (or seed) of the pilots, the noise and the gain fluctuation.
    n_subframes : int
        Sub-frames S of K symbols each (Doppler estimation needs S >= 2).
    timing_offset_s : float
        Receiver timing offset epsilon [s], added to every delay (Fig. 7).
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

    Notes
    -----
    Symbol k (global index ``s K + k``) on subcarrier n (eqs. 4, 6, 8):

    .. math::

        y_{n,k} = A_r \\mathrm{diag}(\\gamma \\odot e^{j 2\\pi f_D k T_s} \\odot
        c_n(\\tau + \\epsilon)) A_t^T s_{n,k} + w_{n,k}, \\qquad
        \\hat H_n^{(s)} = Y_n^{(s)} S_n^{(s)H} (S_n^{(s)} S_n^{(s)H})^{-1},

    and ``w ~ CN(0, sigma^2 I)``.
    """
    rng = np.random.default_rng(rng)
    snr_db = check_finite_scalar(snr_db, "snr_db")
    n_sub = check_count(n_subframes, "n_subframes")
    eps = check_finite_scalar(timing_offset_s, "timing_offset_s")
    dtype = complex_dtype(dtype)
    if pilots not in _PILOTS:
        raise ValueError(f"pilots must be one of {_PILOTS}, got {pilots!r}")
    if fluctuation not in _FLUCTUATIONS:
        raise ValueError(f"fluctuation must be one of {_FLUCTUATIONS}, got {fluctuation!r}")
    if not isinstance(paths, Paths):
        raise TypeError(f"paths must be a Paths, got {type(paths).__name__}")
    nt, n, k = scenario.n_tx, scenario.n_subcarriers, scenario.n_symbols
    if k < nt:
        raise ValueError(f"LS estimation needs n_symbols >= n_tx, got {k} < {nt}")

    gain = paths.gain.copy()
    if fluctuation == "swerling1":
        q = paths.n_paths
        gain = gain * (rng.standard_normal(q) + 1j * rng.standard_normal(q)) / np.sqrt(2.0)
    noise_var = noise_variance(scenario, paths, snr_db, gain)

    at = scenario.steering_tx(paths.aod_rad)
    ar = scenario.steering_rx(paths.aoa_rad)
    c = scenario.delay_response(paths.delay_s + eps)
    t = (np.arange(n_sub)[:, None] * k + np.arange(k)[None, :]) * scenario.symbol_s
    rot = np.exp(2j * np.pi * np.mod(t[..., None] * paths.doppler_hz, 1.0))  # (S, K, q)
    if pilots == "qam":
        pilots = qam_symbols(rng, (n_sub, n, nt, k))  # S_n^(s): (S, N, Nt, K)
    else:
        dft = np.exp(-2j * np.pi * np.outer(np.arange(nt), np.arange(k)) / k)
        pilots = np.exp(2j * np.pi * rng.uniform(size=(n_sub, n, nt, 1))) * dft
    proj = np.einsum("ti,sntk->snik", at, pilots)
    y = np.einsum("ri,i,ski,ni,snik->snrk", ar, gain, rot, c, proj)
    y += np.sqrt(noise_var / 2.0) * (
        rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)
    )
    ph = pilots.conj().swapaxes(-1, -2)  # S^H: (S, N, K, Nt)
    gram = pilots @ ph  # S S^H: (S, N, Nt, Nt)
    # H S S^H = Y S^H  <=>  (S S^H)^T H^T = (Y S^H)^T
    h_t = np.linalg.solve(gram.swapaxes(-1, -2), (y @ ph).swapaxes(-1, -2))  # (S, N, Nt, Nr)
    csi = np.ascontiguousarray(h_t.transpose(0, 2, 3, 1), dtype=dtype)
    return Measurement(csi=csi, gain=gain, noise_var=noise_var, pilots=pilots)
