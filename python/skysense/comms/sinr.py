"""SINR (eq. (4)) and spectral efficiency (eq. (5)) of the downlink users, with time sharing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, check_count

__all__ = [
    "LinkPowers",
    "frame_spectral_efficiency",
    "link_powers",
    "sinr",
    "spectral_efficiency",
]


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False, eq=False)
class LinkPowers(Result):
    """The four power terms of the SINR (eq. (4)) per user and subcarrier.

    Attributes
    ----------
    desired_w : ndarray, shape (..., n_users, n_subcarriers), float64, [W]
        ``P_c |h_k^H w_k|^2``.
    multiuser_w : ndarray, shape (..., n_users, n_subcarriers), float64, [W]
        ``P_c sum_{i != k} |h_k^H w_i|^2``.
    sensing_w : ndarray, shape (..., n_users, n_subcarriers), float64, [W]
        ``P_s sum_{n0} |h_k^H w_{n0}|^2`` over every BS's sensing beams.
    noise_w : ndarray, shape (..., n_users, n_subcarriers), float64, [W]
        Noise variance ``zeta_c^2``, broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.comms import LinkPowers
    >>> one = np.ones((1, 1))
    >>> powers = LinkPowers(desired_w=8 * one, multiuser_w=0 * one, sensing_w=2 * one, noise_w=one)
    >>> powers.sinr.tolist(), powers.sir_sensing_db.round(2).tolist()
    ([[2.6666666666666665]], [[6.02]])
    """

    desired_w: FloatArray
    multiuser_w: FloatArray
    sensing_w: FloatArray
    noise_w: FloatArray

    @property
    def sinr(self) -> FloatArray:
        """SINR (linear), shape (..., n_users, n_subcarriers), float64 (eq. (4)).

        The powers are divided by the largest interference term first, so the sum never
        overflows; ``inf`` only where the SINR itself exceeds the float64 range.
        """
        scale = np.maximum(np.maximum(self.multiuser_w, self.sensing_w), self.noise_w)
        with np.errstate(over="ignore"):
            return np.asarray(
                (self.desired_w / scale)
                / (self.multiuser_w / scale + self.sensing_w / scale + self.noise_w / scale),
                dtype=np.float64,
            )

    @property
    def sir_sensing_db(self) -> FloatArray:
        """Desired over sensing-interference power [dB], shape (..., n_users, n_subcarriers).

        ``+inf`` where the sensing interference is exactly zero (NaN if both are).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return 10.0 * np.log10(self.desired_w) - 10.0 * np.log10(self.sensing_w)


def _as_real(value: npt.ArrayLike, name: str) -> FloatArray:
    """Validated float64 array of the shape of ``value`` (0-d for a scalar)."""
    return as_array(value, name, kind="fiu", dtype=np.float64).reshape(np.shape(value))


def _as_power(value: npt.ArrayLike, name: str, *, strict: bool = False) -> FloatArray:
    arr = _as_real(value, name)
    if np.any(arr < 0) or (strict and np.any(arr == 0)):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'} [W], got {value!r}")
    return arr[..., None, None]  # broadcast over (n_users, n_subcarriers)


def _as_beams(beams: npt.ArrayLike, name: str, n_tx: int, n_sub: int) -> npt.NDArray[np.complex128]:
    w = as_array(beams, name, kind="fciu")
    if w.ndim < 3:
        raise ValueError(
            f"{name} must have shape (..., n_subcarriers, n_tx_antennas, n_beams), got {w.shape}"
        )
    if w.shape[-2] != n_tx:
        raise ValueError(
            f"{name} has {w.shape[-2]} antenna rows (shape {w.shape}), but the channels have "
            f"n_tx_antennas = {n_tx}"
        )
    if w.shape[-3] not in (1, n_sub):
        raise ValueError(
            f"{name} has {w.shape[-3]} subcarriers (shape {w.shape}), expected 1 or {n_sub}"
        )
    return w.astype(np.complex128, copy=False)


def _gains(h_conj: npt.NDArray[np.complex128], w: npt.NDArray[np.complex128]) -> FloatArray:
    """``|h_k^H w_j|^2``, shape (..., n_users, n_subcarriers, n_beams)."""
    g = np.einsum("...kft,...ftj->...kfj", h_conj, w)
    with np.errstate(over="ignore"):  # an overflowing power is reported by link_powers
        return g.real**2 + g.imag**2


def link_powers(
    channels: npt.ArrayLike,
    comm_beams: npt.ArrayLike,
    sensing_beams: npt.ArrayLike | None = None,
    *,
    comm_power_w: npt.ArrayLike,
    sensing_power_w: npt.ArrayLike = 0.0,
    noise_var: npt.ArrayLike,
) -> LinkPowers:
    """Desired, multi-user, sensing-interference and noise power of each user (eq. 4 terms).

    Parameters
    ----------
    channels : array_like, shape (..., n_users, n_subcarriers, n_tx_antennas), complex
        Stacked channels ``h_{k, n_f}`` of all BSs, ``n_tx_antennas = N_b N0^2`` (BS-major);
        user k receives ``h_{k, n_f}^H x`` [sqrt(W) per sqrt(W) transmitted].
    comm_beams : array_like, shape (..., n_subcarriers or 1, n_tx_antennas, n_users), complex
        Communication beamformers ``w_k`` as columns; a subcarrier axis of length 1 applies
        the same beams to every subcarrier.
    sensing_beams : array_like, shape (..., n_subcarriers or 1, n_tx_antennas, n_beams), optional
        Sensing beamformers ``w_{n0}`` of all BSs as columns (zero outside their own BS's
        block); ``None`` or ``n_beams = 0`` means no sensing signal.
    comm_power_w, sensing_power_w : float or array_like, shape (...), [W]
        ``P_c`` and ``P_s`` per BS on one subcarrier, multiplying the beams (which are
        normalised to unit power per BS by :func:`mrt_beams` and friends). Arrays broadcast
        against the leading axes (e.g. a power sweep).
    noise_var : float or array_like, shape (...), [W]
        Noise variance ``zeta_c^2`` of a user on one subcarrier, > 0.

    Returns
    -------
    LinkPowers
        Arrays of shape ``(..., n_users, n_subcarriers)`` [W].

    Notes
    -----
    .. math::

        \\gamma_{k,n_f} = \\frac{P_c |h_{k,n_f}^H w_k|^2}
        {P_c \\sum_{i \\ne k} |h_{k,n_f}^H w_i|^2
         + P_s \\sum_{n_0} |h_{k,n_f}^H w_{n_0}|^2 + \\zeta_c^2}

    Eq. (4) writes the beams with the powers folded in; here they are explicit, following
    eq. (2), ``x = sqrt(P_c) x_c + sqrt(P_s) x_s``.

    References
    ----------
    Huang et al., IEEE TWC 25 (2026), eqs. (2)-(4).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.comms import link_powers
    >>> h = np.ones((1, 1, 2), complex)        # 1 user, 1 subcarrier, 2 antennas
    >>> w = np.ones((1, 2, 1), complex) / 2.0  # one beam of unit power
    >>> powers = link_powers(h, w, comm_power_w=1.0, noise_var=0.5)
    >>> powers.desired_w.tolist(), powers.sinr.tolist()
    ([[1.0]], [[2.0]])
    """
    h = as_array(channels, "channels", kind="fciu")
    if h.ndim < 3:
        raise ValueError(
            f"channels must have shape (..., n_users, n_subcarriers, n_tx_antennas), got {h.shape}"
        )
    n_users, n_sub, n_tx = h.shape[-3:]
    if min(n_users, n_sub, n_tx) < 1:
        raise ValueError(f"channels must be non-empty, got shape {h.shape}")
    w = _as_beams(comm_beams, "comm_beams", n_tx, n_sub)
    if w.shape[-1] != n_users:
        raise ValueError(
            f"comm_beams must have one column per user: {n_users} users in channels, "
            f"got {w.shape[-1]} beams (shape {w.shape})"
        )
    p_c = _as_power(comm_power_w, "comm_power_w")
    p_s = _as_power(sensing_power_w, "sensing_power_w")
    noise = _as_power(noise_var, "noise_var", strict=True)

    h_conj = np.conj(h.astype(np.complex128, copy=False))
    g = _gains(h_conj, w)  # (..., K, N_f, K)
    own = np.eye(n_users, dtype=bool)[:, None, :]  # (K, 1, K): beam k of user k
    desired = np.where(own, g, 0.0).sum(axis=-1)
    multiuser = np.where(own, 0.0, g).sum(axis=-1)
    if sensing_beams is None:
        sensing = np.zeros_like(desired)
    else:
        ws = _as_beams(sensing_beams, "sensing_beams", n_tx, n_sub)
        sensing = _gains(h_conj, ws).sum(axis=-1) if ws.shape[-1] else np.zeros_like(desired)
    with np.errstate(over="ignore"):  # reported below
        desired, multiuser, sensing, noise = np.broadcast_arrays(
            p_c * desired, p_c * multiuser, p_s * sensing, noise
        )
    if not (np.isfinite(desired).all() and np.isfinite(multiuser).all()):
        raise OverflowError(
            "the received communication power exceeds the float64 range: comm_power_w times "
            "|h^H w|^2 of the channels and comm_beams is too large"
        )
    if not np.isfinite(sensing).all():
        raise OverflowError(
            "the sensing interference exceeds the float64 range: sensing_power_w times "
            "|h^H w|^2 of the channels and sensing_beams is too large"
        )
    return LinkPowers(
        desired_w=np.array(desired),
        multiuser_w=np.array(multiuser),
        sensing_w=np.array(sensing),
        noise_w=np.array(noise),
    )


def sinr(
    channels: npt.ArrayLike,
    comm_beams: npt.ArrayLike,
    sensing_beams: npt.ArrayLike | None = None,
    *,
    comm_power_w: npt.ArrayLike,
    sensing_power_w: npt.ArrayLike = 0.0,
    noise_var: npt.ArrayLike,
) -> FloatArray:
    """SINR of every user on every subcarrier (eq. (4)); see :func:`link_powers`.

    Returns
    -------
    ndarray, shape (..., n_users, n_subcarriers), float64
        Linear SINR.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.comms import sinr
    >>> sinr(np.ones((1, 1, 2)), np.ones((1, 2, 1)) / 2.0, comm_power_w=1.0, noise_var=0.5)
    array([[2.]])
    """
    return link_powers(
        channels,
        comm_beams,
        sensing_beams,
        comm_power_w=comm_power_w,
        sensing_power_w=sensing_power_w,
        noise_var=noise_var,
    ).sinr


def spectral_efficiency(sinr: npt.ArrayLike) -> FloatArray | float:
    """Sum spectral efficiency over users and subcarriers (eq. (5)).

    Parameters
    ----------
    sinr : array_like, shape (..., n_users, n_subcarriers), float
        Linear SINR, >= 0.

    Returns
    -------
    ndarray, shape (...), float64, or float, [bit/s/Hz]
        ``sum_k sum_nf log2(1 + gamma_{k, nf})`` (a float for 2-D input).

    Examples
    --------
    >>> from skysense.comms import spectral_efficiency
    >>> spectral_efficiency([[1.0, 3.0], [0.0, 7.0]])
    6.0
    """
    g = as_array(sinr, "sinr", kind="fiu", dtype=np.float64)
    if g.ndim < 2:
        raise ValueError(f"sinr must have shape (..., n_users, n_subcarriers), got {g.shape}")
    if np.any(g < 0):
        raise ValueError("sinr must be >= 0 (linear, not dB)")
    out = np.log2(1.0 + g).sum(axis=(-2, -1))  # (eq. 5)
    return out if out.ndim else float(out)


def frame_spectral_efficiency(
    isac_spectral_efficiency: npt.ArrayLike,
    comm_spectral_efficiency: npt.ArrayLike,
    n_sensing_symbols: int,
    n_symbols: int = 140,
) -> FloatArray | float:
    """Frame-average spectral efficiency under time sharing of ISAC and communication-only
    symbols (Sec. V-B4).

    Parameters
    ----------
    isac_spectral_efficiency : float or array_like, [bit/s/Hz]
        SE during the ISAC symbols (``P_c = P_t - P_s``, sensing interference present).
    comm_spectral_efficiency : float or array_like, [bit/s/Hz]
        SE during the communication-only symbols (``P_c = P_t``, ``P_s = 0``).
    n_sensing_symbols : int
        ISAC symbols per frame, ``N_s = N0^2`` in the paper (4 for 2 x 2 UPAs).
    n_symbols : int
        Symbols per frame (140 in Sec. V-B4).

    Returns
    -------
    ndarray or float, [bit/s/Hz]
        ``(N_s isac + (n_symbols - N_s) comm) / n_symbols``, broadcast.

    Examples
    --------
    >>> from skysense.comms import frame_spectral_efficiency
    >>> frame_spectral_efficiency(3.0, 9.0, 10, 20)
    6.0
    """
    n_symbols = check_count(n_symbols, "n_symbols")
    n_s = check_count(n_sensing_symbols, "n_sensing_symbols", minimum=0)
    if n_s > n_symbols:
        raise ValueError(
            f"n_sensing_symbols must be <= n_symbols = {n_symbols}, got {n_sensing_symbols}"
        )
    a = _as_real(isac_spectral_efficiency, "isac_spectral_efficiency")
    b = _as_real(comm_spectral_efficiency, "comm_spectral_efficiency")
    share = n_s / n_symbols  # a weighted mean: finite for any finite a, b
    out = share * a + (1.0 - share) * b
    return out if out.ndim else float(out)
