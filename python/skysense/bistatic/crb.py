"""Cramer-Rao bound on AoA, AoD and ToA from the Fisher information (Appendix A, eqs. 52-53)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array
from skysense.bistatic.scenario import Paths, Scenario
from skysense.bistatic.simulate import noise_variance

__all__ = ["Crb", "crb", "fisher_information"]


@dataclass(frozen=True)
class Crb:
    """Cramer-Rao bounds per path (order of ``paths``).

    Attributes
    ----------
    aoa, aod : ndarray, shape (n_paths,)
        Variance bounds [rad^2].
    toa : ndarray, shape (n_paths,)
        Variance bound [s^2].
    gain : ndarray, shape (n_paths,)
        Bound on ``E|gamma_hat - gamma|^2`` (sum of the Re and Im bounds).
    """

    aoa: np.ndarray
    aod: np.ndarray
    toa: np.ndarray
    gain: np.ndarray


def _derivatives(scenario: Scenario, paths: Paths) -> np.ndarray:
    """d vec(H_n) / d eta, shape (N, Nr, Nt, 5q): eta = [theta, phi, tau, Re gamma, Im gamma]."""
    q = paths.n_paths
    at = scenario.steering_tx(paths.aod_rad)
    ar = scenario.steering_rx(paths.aoa_rad)
    c = scenario.delay_response(paths.delay_s)
    g = paths.gain
    kr = np.arange(scenario.n_rx)[:, None]
    kt = np.arange(scenario.n_tx)[:, None]
    n = np.arange(scenario.n_subcarriers)[:, None]
    ar_dot = -2j * np.pi * scenario.spacing_rx * np.cos(paths.aoa_rad) * kr * ar
    at_dot = -2j * np.pi * scenario.spacing_tx * np.cos(paths.aod_rad) * kt * at
    c_dot = -2j * np.pi * scenario.subcarrier_spacing_hz * n * c
    d = np.empty((scenario.n_subcarriers, scenario.n_rx, scenario.n_tx, 5 * q), complex)
    d[..., 0:q] = np.einsum("ni,ri,ti,i->nrti", c, ar_dot, at, g)
    d[..., q : 2 * q] = np.einsum("ni,ri,ti,i->nrti", c, ar, at_dot, g)
    d[..., 2 * q : 3 * q] = np.einsum("ni,ri,ti,i->nrti", c_dot, ar, at, g)
    base = np.einsum("ni,ri,ti->nrti", c, ar, at)
    d[..., 3 * q : 4 * q] = base
    d[..., 4 * q :] = 1j * base
    return d


def fisher_information(scenario: Scenario, paths: Paths, noise_var, pilots=None) -> np.ndarray:
    """FIM of ``eta = [theta, phi, tau, Re gamma, Im gamma]`` (5q x 5q) from the pilot model.

    Parameters
    ----------
    scenario : Scenario
    paths : Paths
    noise_var : float
        sigma^2 of the received samples.
    pilots : array_like, shape (n_subcarriers, n_tx, n_symbols), optional
        Pilot matrices S_n of one sub-frame; default: their expectation ``S_n S_n^H = K I``.
    """
    d = _derivatives(scenario, paths)
    if pilots is None:
        f = scenario.n_symbols * np.einsum("nrta,nrtb->ab", d.conj(), d, optimize=True)
    else:
        s = as_array(
            pilots,
            "pilots",
            shape=(scenario.n_subcarriers, scenario.n_tx, None),
            kind="fc",
            dtype=np.complex128,
        )
        gram = s @ s.conj().swapaxes(-1, -2)  # (N, Nt, Nt)
        f = np.einsum("nrta,nrsb,nst->ab", d.conj(), d, gram, optimize=True)
    return 2.0 / noise_var * f.real


def crb(scenario: Scenario, paths: Paths, snr_db, *, pilots=None, gain=None) -> Crb:
    """Cramer-Rao bound for one sub-frame of K pilot symbols at a per-antenna SNR.

    Parameters
    ----------
    scenario : Scenario
        Arrays and numerology.
    paths : Paths
        True paths (Doppler ignored within the sub-frame).
    snr_db : float
        Per-receive-antenna SNR [dB], defined as in :func:`~skysense.bistatic.simulate`.
    pilots : array_like, shape (n_subcarriers, n_tx, n_symbols), optional
        The actual pilots (``Measurement.pilots[s]``); default ``S_n S_n^H = K I``.
    gain : array_like, shape (n_paths,), optional
        Realised gains (``Measurement.gain``) replacing ``paths.gain``.

    Returns
    -------
    Crb

    Notes
    -----
    With :math:`\\mu_{n,k} = \\sum_i \\gamma_i c_n(\\tau_i) a_r(\\theta_i) a_t(\\phi_i)^T s_{n,k}`,

    .. math::

        F_{ab} = \\frac{2}{\\sigma^2} \\sum_{n,k} \\mathrm{Re}\\{
        (\\partial_a \\mu_{n,k})^H \\partial_b \\mu_{n,k}\\}
        = \\frac{2}{\\sigma^2} \\sum_n \\mathrm{Re}\\, \\mathrm{tr}(
        \\partial_a H_n^H \\partial_b H_n S_n S_n^H),

    and the bounds are the diagonal of :math:`F^{-1}` (sigma^2 decouples). The LS CSI is a
    sufficient statistic for H, so the bound with the actual pilots also bounds estimators
    working on the CSI.
    """
    if gain is not None:
        paths = Paths(paths.aoa_rad, paths.aod_rad, paths.delay_s, gain, paths.doppler_hz)
    noise_var = noise_variance(scenario, paths, snr_db)
    f = fisher_information(scenario, paths, noise_var, pilots)
    cov = np.linalg.inv(f)
    v = np.diag(cov)
    q = paths.n_paths
    return Crb(
        aoa=v[:q].copy(),
        aod=v[q : 2 * q].copy(),
        toa=v[2 * q : 3 * q].copy(),
        gain=v[3 * q : 4 * q] + v[4 * q :],
    )
