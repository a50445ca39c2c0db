"""Beamformers of the ISAC BSs: MRT/ZF for the users, wide or user-nulling beams for sensing.

Every design is normalised to **unit power per BS** (summed over its beams), so the powers
``P_c`` and ``P_s`` of :func:`skysense.comms.link_powers` are the powers each BS transmits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_count
from skysense.imaging.scenario import SPEED_OF_LIGHT, Scenario

__all__ = ["SENSING_BEAM_METHODS", "mrt_beams", "sensing_beams", "zf_beams"]

#: ``"nullspace"``: the ROI-covering beams restricted to the orthogonal complement of the
#: users' channels at each BS (no direct leakage: the spatially orthogonal design of the
#: paper's refs. [12], [18]); ``"roi"``: the ROI-covering beams alone (a plain wide beam).
SENSING_BEAM_METHODS = ("nullspace", "roi")


ComplexArray = npt.NDArray[np.complex128]


def _as_channels(channels: npt.ArrayLike) -> ComplexArray:
    h = as_array(channels, "channels", kind="fc")
    if h.ndim < 3 or min(h.shape[-3:]) < 1:
        raise ValueError(
            f"channels must have shape (..., n_users, n_subcarriers, n_tx_antennas), got {h.shape}"
        )
    return h.astype(np.complex128, copy=False)


def _per_bs(h: npt.NDArray[Any], n_bs: int) -> npt.NDArray[Any]:
    """(..., K, N_f, N_b * n_ant) -> (..., K, N_f, N_b, n_ant)."""
    n_bs = check_count(n_bs, "n_bs")
    if h.shape[-1] % n_bs:
        raise ValueError(f"n_tx_antennas = {h.shape[-1]} is not a multiple of n_bs = {n_bs}")
    return h.reshape(h.shape[:-1] + (n_bs, h.shape[-1] // n_bs))


def mrt_beams(channels: npt.ArrayLike, n_bs: int) -> ComplexArray:
    """Maximum-ratio transmission with each BS splitting its power equally over the users.

    Parameters
    ----------
    channels : array_like, shape (..., n_users, n_subcarriers, n_bs * n_ant), complex
        Stacked user channels (see :func:`los_user_channels`).
    n_bs : int
        Number of BSs N_b (the antenna axis is BS-major).

    Returns
    -------
    ndarray, shape (..., n_subcarriers, n_bs * n_ant, n_users), complex128
        ``w_{b,k} = h_{b,k} / (||h_{b,k}|| sqrt(K))``: the BSs add coherently at each user and
        every BS transmits unit power. A zero channel block gives a zero beam.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.comms import mrt_beams
    >>> w = mrt_beams(np.ones((1, 1, 4), complex), n_bs=2)  # 1 user, 2 BSs of 2 antennas
    >>> w.shape, np.round(np.abs(w[0, :, 0]) ** 2, 3).tolist()
    ((1, 4, 1), [0.5, 0.5, 0.5, 0.5])
    """
    h = _as_channels(channels)
    hb = _unit_peak(_per_bs(h, n_bs), axis=-1)  # scale-free: w is invariant to |h|
    norms = np.linalg.norm(hb, axis=-1, keepdims=True)
    w = np.divide(hb, norms * math.sqrt(h.shape[-3]), out=np.zeros_like(hb), where=norms > 0)
    return np.ascontiguousarray(np.moveaxis(w.reshape(h.shape), -3, -1))


def _unit_peak(h: npt.NDArray[Any], axis: int | None = None) -> npt.NDArray[Any]:
    """``h`` scaled by an exact power of two per slice along ``axis`` (all of ``h`` for None)
    so that its largest component lies in [0.5, 1): norms and products of the scaled values
    neither overflow nor underflow. Zero slices stay zero."""
    peak = np.maximum(np.abs(h.real), np.abs(h.imag)).max(axis=axis, keepdims=True)
    exponent = np.frexp(peak)[1]
    return np.ldexp(h.real, -exponent) + 1j * np.ldexp(h.imag, -exponent)


def zf_beams(channels: npt.ArrayLike, n_bs: int) -> ComplexArray:
    """Zero-forcing beams (joint over the BSs), scaled so that the busiest BS sends unit power.

    Parameters
    ----------
    channels : array_like, shape (..., n_users, n_subcarriers, n_bs * n_ant), complex
        Stacked user channels.
    n_bs : int
        Number of BSs N_b (the antenna axis is BS-major).

    Returns
    -------
    ndarray, shape (..., n_subcarriers, n_bs * n_ant, n_users), complex128
        ``W = c H^+`` with ``H`` the rows ``h_k^H``, so ``h_i^H w_k = 0`` for ``i != k``;
        one common scale ``c`` per subcarrier keeps the nulls and meets the per-BS power.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.comms import zf_beams
    >>> h = np.array([[[1.0, 0.0]], [[1.0, 1.0]]], complex)  # 2 users, 1 BS of 2 antennas
    >>> w = zf_beams(h, n_bs=1)
    >>> np.round(np.abs(np.conj(h[:, 0]) @ w[0]), 12).tolist()  # no multi-user leakage
    [[0.57735026919, 0.0], [0.0, 0.57735026919]]
    """
    h = _as_channels(channels)
    n_users, _, n_tx = h.shape[-3:]
    if n_users > n_tx:
        raise ValueError(f"zero forcing needs n_users <= n_tx_antennas, got {n_users} > {n_tx}")
    # ZF is invariant to a common scale of the channels: solve on unit-peak ones
    rows = np.conj(np.moveaxis(_unit_peak(h), -3, -2))  # (..., N_f, K, N_t)
    w = np.linalg.pinv(rows)  # (..., N_f, N_t, K)
    per_bs = (np.abs(_per_bs(np.swapaxes(w, -1, -2), n_bs)) ** 2).sum(axis=(-3, -1))
    peak = per_bs.max(axis=-1)[..., None, None]  # (..., N_f, 1, 1)
    return np.ascontiguousarray(np.divide(w, np.sqrt(peak), out=np.zeros_like(w), where=peak > 0))


def _steering(scenario: Scenario, points: npt.NDArray[np.float64]) -> ComplexArray:
    """Transmit steering vectors of each BS toward points: (N_b, N_f, n_ant, n_points)."""
    ant = scenario.antenna_positions_m()  # (N_b, n_ant, 3)
    d = np.linalg.norm(ant[:, :, None, :] - points[None, None, :, :], axis=-1)
    f = scenario.subcarrier_frequencies_hz()
    turns = np.mod(d[:, None] * (f[None, :, None, None] / SPEED_OF_LIGHT), 1.0)
    return np.exp(2j * math.pi * turns)  # conj of the link phase: beams that add up at p


def sensing_beams(
    scenario: Scenario,
    channels: npt.ArrayLike,
    *,
    method: str = "nullspace",
    roi_points_m: npt.ArrayLike | None = None,
) -> ComplexArray:
    """Sensing beams ``w_{n_b, n0}``, ``n0 = K+1..N0^2``, of every BS, stacked over the BSs.

    Parameters
    ----------
    scenario : Scenario
        BS arrays and subcarriers.
    channels : array_like, shape (..., n_users, n_subcarriers, n_bs * N0**2), complex
        The users' channels as the BSs know them (e.g. the LoS part).
    method : {"nullspace", "roi"}
        See :data:`SENSING_BEAM_METHODS`.
    roi_points_m : array_like, shape (n_points, 3), [m], optional
        Points the sensing beams should cover; the voxel centres by default.

    Returns
    -------
    ndarray, shape (..., n_subcarriers, n_bs * N0**2, n_bs * (N0**2 - n_users)), complex128
        Columns BS-major; each is zero outside its BS's antennas, has norm
        ``1 / sqrt(N0**2 - n_users)``, so each BS transmits unit power.

    Notes
    -----
    With ``R_b = sum_p a_b(p) a_b(p)^H`` over the ROI points (``a_b(p)`` the beam that adds
    up at ``p``), ``"roi"`` takes the ``N0^2 - K`` dominant eigenvectors of ``R_b``: the
    subspace that carries the most power into the ROI, a wide beam. ``"nullspace"`` takes
    those of ``P R_b P`` with ``P`` the projector onto the complement of the users' channel
    blocks ``h_{b,k}``, so the direct leakage ``h_k^H w_{n0}`` vanishes and only paths the
    BSs do not know (e.g. scattered by UAVs) carry sensing interference.

    Examples
    --------
    >>> from skysense.comms import los_user_channels, sensing_beams
    >>> from skysense.imaging import Scenario
    >>> s = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=2)
    >>> h = los_user_channels(s, [[0.0, 0.0, 0.0]])
    >>> sensing_beams(s, h).shape  # 4 BSs x (4 - 1 user) beams
    (1, 16, 12)
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if method not in SENSING_BEAM_METHODS:
        raise ValueError(f"method must be one of {SENSING_BEAM_METHODS}, got {method!r}")
    h = _as_channels(channels)
    n_users, n_sub, n_tx = h.shape[-3:]
    n_bs, n_ant = scenario.n_bs, scenario.n_antennas
    if n_tx != n_bs * n_ant or n_sub != scenario.n_subcarriers:
        raise ValueError(
            f"channels have {n_sub} subcarriers x {n_tx} antennas, the scenario "
            f"{scenario.n_subcarriers} x {n_bs * n_ant}"
        )
    n_beams = n_ant - n_users
    if n_beams < 1:
        raise ValueError(
            f"no antenna left for sensing: {n_users} users >= N0**2 = {n_ant} antennas per BS"
        )
    pts = (
        scenario.voxel_centers_m()
        if roi_points_m is None
        else as_array(roi_points_m, "roi_points_m", shape=(None, 3), kind="fiu", dtype=np.float64)
    )
    if pts.shape[0] < 1:
        raise ValueError("roi_points_m must hold at least one point")
    a = _steering(scenario, pts)
    cov = a @ np.conj(np.swapaxes(a, -1, -2))  # (N_b, N_f, n_ant, n_ant)
    batch = h.shape[:-3]
    cov = np.broadcast_to(cov, batch + cov.shape)
    if method == "nullspace":
        hb = np.moveaxis(_per_bs(h, n_bs), -4, -1)  # (..., N_f, N_b, n_ant, K)
        q, _ = np.linalg.qr(np.swapaxes(hb, -4, -3))  # (..., N_b, N_f, n_ant, K)
        proj = np.eye(n_ant) - q @ np.conj(np.swapaxes(q, -1, -2))
        cov = proj @ cov @ proj
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    beams = vecs[..., ::-1][..., :n_beams]  # (..., N_b, N_f, n_ant, n_beams)
    if method == "nullspace":  # project again: eigh leaves eps * ||R|| outside the complement
        beams = proj @ beams
        beams /= np.linalg.norm(beams, axis=-2, keepdims=True)
    beams = beams / math.sqrt(n_beams)
    out = np.zeros(batch + (n_sub, n_bs, n_ant, n_bs, n_beams), np.complex128)
    for b in range(n_bs):
        out[..., b, :, b, :] = beams[..., b, :, :, :]
    return out.reshape(batch + (n_sub, n_tx, n_bs * n_beams))
