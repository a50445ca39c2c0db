"""Cramer-Rao bound on AoA, AoD and ToA from the Fisher information (Appendix A, eqs. 52-53)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._results import Result
from skysense._validation import as_array, check_positive
from skysense.bistatic.paths import Paths
from skysense.bistatic.scenario import Scenario
from skysense.bistatic.simulate import _scaled_gains, noise_variance

__all__ = ["Crb", "crb", "fisher_information"]


@dataclass(frozen=True, repr=False)
class Crb(Result):
    """Cramer-Rao bounds on the variances of unbiased estimates, per path (order of ``paths``).

    Attributes
    ----------
    aoa_var_rad2, aod_var_rad2 : ndarray, shape (n_paths,), float64
        Bounds on the AoA and AoD variances [rad^2].
    toa_var_s2 : ndarray, shape (n_paths,), float64
        Bound on the ToA variance [s^2].
    gain_var : ndarray, shape (n_paths,), float64
        Bound on ``E|gamma_hat - gamma|^2`` (sum of the Re and Im bounds; unitless).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> bound = bs.crb(sc, bs.Paths([0.3], [-0.2], [40e-9], [1.0]), 10.0)
    >>> bool(np.sqrt(bound.aoa_var_rad2[0]) < 1e-3)  # standard deviation [rad]
    True
    """

    aoa_var_rad2: NDArray[np.float64]
    aod_var_rad2: NDArray[np.float64]
    toa_var_s2: NDArray[np.float64]
    gain_var: NDArray[np.float64]


def _derivatives(scenario: Scenario, paths: Paths) -> NDArray[np.complex128]:
    """d vec(H_n) / d eta, shape (N, Nr, Nt, 5q): eta = [theta, phi, tau, Re gamma, Im gamma]."""
    q = paths.n_paths
    at = scenario.steering_tx(paths.aod_rad)
    ar = scenario.steering_rx(paths.aoa_rad)
    c = scenario.delay_response(paths.toa_s)
    g = paths.gain
    kr = np.arange(scenario.n_rx)[:, None]
    kt = np.arange(scenario.n_tx)[:, None]
    n = np.arange(scenario.n_subcarriers)[:, None]
    ar_dot = -2j * np.pi * scenario.spacing_rx_wavelengths * np.cos(paths.aoa_rad) * kr * ar
    at_dot = -2j * np.pi * scenario.spacing_tx_wavelengths * np.cos(paths.aod_rad) * kt * at
    c_dot = -2j * np.pi * scenario.subcarrier_spacing_hz * n * c
    d = np.empty((scenario.n_subcarriers, scenario.n_rx, scenario.n_tx, 5 * q), complex)
    d[..., 0:q] = np.einsum("ni,ri,ti,i->nrti", c, ar_dot, at, g)
    d[..., q : 2 * q] = np.einsum("ni,ri,ti,i->nrti", c, ar, at_dot, g)
    d[..., 2 * q : 3 * q] = np.einsum("ni,ri,ti,i->nrti", c_dot, ar, at, g)
    base = np.einsum("ni,ri,ti->nrti", c, ar, at)
    d[..., 3 * q : 4 * q] = base
    d[..., 4 * q :] = 1j * base
    return d


def fisher_information(
    scenario: Scenario, paths: Paths, noise_var: float, *, pilots: ArrayLike | None = None
) -> NDArray[np.float64]:
    """FIM of ``eta = [theta, phi, tau, Re gamma, Im gamma]`` from the pilot model (eq. 52).

    Parameters
    ----------
    scenario : Scenario
        Arrays and numerology.
    paths : Paths
        True paths.
    noise_var : float
        sigma^2 of the received samples (> 0).
    pilots : array_like, shape (n_subcarriers, n_tx, n_symbols), optional
        Pilot matrices S_n of one sub-frame; default: their expectation ``S_n S_n^H = K I``.

    Returns
    -------
    ndarray, shape (5 n_paths, 5 n_paths), float64
        Blocks in the order theta [rad], phi [rad], tau [s], Re gamma, Im gamma.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario(n_tx=3, n_rx=4, n_subcarriers=8)
    >>> bs.fisher_information(sc, bs.Paths([0.1, 0.2], [0.0, -0.1], [0.0, 1e-7], [1, 1]), 1.0).shape
    (10, 10)
    """
    noise_var = check_positive(noise_var, "noise_var")
    if not isinstance(paths, Paths):
        raise TypeError(f"paths must be a bistatic Paths, got {type(paths).__name__}")
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
    out: NDArray[np.float64] = 2.0 / noise_var * f.real
    return out


def crb(
    scenario: Scenario,
    paths: Paths,
    snr_db: float,
    *,
    pilots: ArrayLike | None = None,
    gain: ArrayLike | None = None,
) -> Crb:
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
        Variance bounds per path.

    Raises
    ------
    ValueError
        A path with zero gain (its angles and ToA do not enter the model: the bound is
        infinite), a singular Fisher information (two paths with the same AoA, AoD and ToA), a
        ``gain_var`` beyond float64, or ``snr_db`` / gains as in
        :func:`~skysense.bistatic.noise_variance`. The bounds are computed in units of the
        largest gain (a power of two), so any gain scale gives the same angle and ToA bounds.

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
    working on the CSI (Appendix A, eqs. 52-53).

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> paths = bs.random_paths(sc, rng=0)
    >>> m = bs.simulate(sc, paths, 20.0, rng=1, pilots="orthogonal")
    >>> bs.crb(sc, paths, 20.0, pilots=m.pilots[0]).toa_var_s2.shape
    (4,)
    """
    if not isinstance(paths, Paths):
        raise TypeError(f"paths must be a bistatic Paths, got {type(paths).__name__}")
    g = paths.gain if gain is None else np.asarray(gain)
    unit, exponent = _scaled_gains(g)
    zero = np.flatnonzero(unit == 0)
    if zero.size:
        raise ValueError(
            f"gain: path {int(zero[0])} has zero gain, so its AoA, AoD and ToA do not enter the "
            "model (an infinite bound); drop the path or give it a gain"
        )
    # The bound on angles and ToA at a given SNR does not depend on the gain scale: compute in
    # units of the largest gain (exact power of two), scale gain_var back.
    paths = Paths(paths.aoa_rad, paths.aod_rad, paths.toa_s, unit, paths.doppler_hz)
    noise_var = noise_variance(scenario, paths, snr_db)
    # F is proportional to 1 / sigma^2: invert at sigma^2 = 1 and scale the bounds after, so
    # no SNR in range over- or underflows the information matrix itself.
    f = fisher_information(scenario, paths, 1.0, pilots=pilots)
    try:
        cov = np.linalg.inv(f)
    except np.linalg.LinAlgError:
        cov = np.full_like(f, np.nan)
    v = np.diag(cov)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(
            "paths: the Fisher information is singular (two paths share AoA, AoD and ToA, or "
            "a path is outside what the arrays can distinguish); no finite bound"
        )
    q = paths.n_paths
    tiny = np.finfo(np.float64).tiny
    with np.errstate(over="ignore", under="ignore"):
        v = v * noise_var
        gain_var = np.ldexp(v[3 * q : 4 * q] + v[4 * q :], 2 * exponent)
    if not (np.all(np.isfinite(v)) and np.all(v >= tiny)):
        raise ValueError(
            f"snr_db: the bounds leave the float64 range at snr_db = {snr_db!r}; use a smaller "
            "|snr_db|"
        )
    if not (np.all(np.isfinite(gain_var)) and np.all(gain_var >= tiny)):
        raise ValueError(
            f"gain: gain_var leaves the float64 range at gains of about 2^{exponent}; scale "
            "them towards 1"
        )
    return Crb(
        aoa_var_rad2=v[:q].copy(),
        aod_var_rad2=v[q : 2 * q].copy(),
        toa_var_s2=v[2 * q : 3 * q].copy(),
        gain_var=gain_var,
    )
