"""IFFT-C2VNN input processing (eqs. 16-20): delay taps, peak rows per path, W-row windows.

The IDFT over subcarriers turns each delay response ``c(tau)`` into a Dirichlet kernel that
peaks on row ``N df tau`` (eqs. 18-19); a window of W rows around each of the q strongest
local maxima of the power delay profile is one network input per path (eq. 20).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import check_count
from skysense.bistatic._common import as_csi, as_scenario
from skysense.bistatic.scenario import Scenario

ComplexArray = NDArray[np.complexfloating[Any, Any]]

__all__ = ["delay_taps", "find_peak_rows", "ls_gains", "normalize_windows", "peak_windows"]


def delay_taps(csi: ArrayLike, *, scenario: Scenario | None = None) -> ComplexArray:
    """Unitary IDFT of the CSI over subcarriers, ``H_t = F^H H^T`` (eq. 17).

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        LS CSI of one sub-frame per leading index.
    scenario : Scenario, optional
        Sizes the CSI must match (default ``Scenario()``).

    Returns
    -------
    taps : ndarray, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        Delay taps; tap k holds the paths with ``N df tau ~ k`` (mod N).

    Notes
    -----
    With :math:`[F]_{n,k} = e^{-j2\\pi nk/N}/\\sqrt{N}`, ``F^H x = sqrt(N) ifft(x)``, so
    a path of integer ``m = N df tau`` gives ``sqrt(N)`` on tap m and 0 elsewhere (eq. 19).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> h = sc.channel(bs.Paths([0.1], [0.2], [5 * sc.toa_resolution_s], [1.0]))
    >>> int(np.argmax(np.abs(bs.delay_taps(h, scenario=sc)[0, 0])))
    5
    """
    scenario = as_scenario(scenario)
    arr = as_csi(csi, scenario)
    n = scenario.n_subcarriers
    out: ComplexArray = (np.fft.ifft(arr, axis=-1) * np.sqrt(n)).astype(arr.dtype, copy=False)
    return out


#: Local maxima below this fraction of the strongest tap are rounding noise, not peaks.
MIN_RELATIVE_PEAK_POWER = 1e-12


def find_peak_rows(
    taps: ComplexArray, n_paths: int, *, min_relative_power: float = MIN_RELATIVE_PEAK_POWER
) -> NDArray[np.int64]:
    """The ``n_paths`` strongest local maxima of the power delay profile, in ascending row.

    Parameters
    ----------
    taps : ndarray, shape (..., n_tx, n_rx, n_taps), complex
        Output of :func:`delay_taps`.
    n_paths : int
        Number of peaks q to keep (count the LoS path too).
    min_relative_power : float
        Ignore local maxima below this fraction of the profile's maximum.

    Returns
    -------
    rows : ndarray, shape (..., n_paths), int64
        Peak rows p_i (circular local maxima of ``sum |H_t|^2`` over the antenna pairs).

    Raises
    ------
    ValueError
        Fewer than ``n_paths`` local maxima in some profile (e.g. a constant profile).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> h = sc.channel(bs.Paths([0.1, 0.3], [0.2, 0.0], [0.0, 9 * sc.toa_resolution_s], [1, 1]))
    >>> bs.find_peak_rows(bs.delay_taps(h, scenario=sc), 2)
    array([0, 9])
    """
    taps = np.asarray(taps)
    if taps.ndim < 3:
        raise ValueError(f"taps must have shape (..., n_tx, n_rx, n_taps), got {taps.shape}")
    q = check_count(n_paths, "n_paths")
    n_taps = taps.shape[-1]
    if q > n_taps:
        raise ValueError(f"n_paths must be <= the number of delay taps {n_taps}, got {q}")
    rows, n_found = _peak_rows(taps, q, min_relative_power)
    if np.any(n_found < q):
        i = int(np.flatnonzero(n_found.reshape(-1) < q)[0])
        raise ValueError(
            f"found {int(n_found.reshape(-1)[i])} delay peaks but n_paths = {q} for batch index "
            f"{i} (flattened); lower n_paths or check the CSI"
        )
    return rows


def _peak_rows(
    taps: ComplexArray, q: int, min_relative_power: float
) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """Rows of the q strongest local maxima (ascending) and the number of maxima found."""
    pdp = np.sum(taps.real**2 + taps.imag**2, axis=(-3, -2))  # (..., n_taps)
    if not np.isfinite(pdp).all():
        raise ValueError("taps contain NaN or Inf")
    # Circular local maxima: strictly above the left neighbour and not below the right one.
    is_peak = (pdp > np.roll(pdp, 1, axis=-1)) & (pdp >= np.roll(pdp, -1, axis=-1))
    is_peak &= pdp > min_relative_power * pdp.max(axis=-1, keepdims=True)
    score = np.where(is_peak, pdp, -np.inf)
    rows = np.argpartition(-score, q - 1, axis=-1)[..., :q]
    return np.sort(rows, axis=-1).astype(np.int64), is_peak.sum(axis=-1)


def peak_windows(taps: ComplexArray, rows: ArrayLike, window: int) -> ComplexArray:
    """W rows of the delay taps centred on each peak row, circularly indexed (eq. 20).

    Parameters
    ----------
    taps : ndarray, shape (..., n_tx, n_rx, n_taps), complex
        Output of :func:`delay_taps`.
    rows : array_like of int, shape (..., n_paths)
        Peak rows (:func:`find_peak_rows`).
    window : int
        Odd window size W.

    Returns
    -------
    windows : ndarray, shape (..., n_paths, window, n_tx, n_rx), complex
        ``windows[..., i, w, :, :] = taps[..., :, :, (rows[i] - W // 2 + w) mod n_taps]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> taps = np.ones((8, 10, 64), complex)
    >>> bs.peak_windows(taps, np.array([0, 9]), 3).shape
    (2, 3, 8, 10)
    """
    taps = np.asarray(taps)
    w = check_count(window, "window")
    if w % 2 == 0:
        raise ValueError(f"window must be odd, got {w}")
    rows = np.asarray(rows)
    if rows.dtype.kind not in "iu" or rows.shape[:-1] != taps.shape[:-3]:
        raise ValueError(
            f"rows must be integers of shape (..., n_paths) with batch axes {taps.shape[:-3]}, "
            f"got {rows.dtype} {rows.shape}"
        )
    n_taps = taps.shape[-1]
    if w > n_taps:
        raise ValueError(f"window = {w} exceeds the number of delay taps {n_taps}")
    idx = np.mod(rows[..., None] + np.arange(-(w // 2), w // 2 + 1), n_taps)  # (..., q, W)
    lead = taps.shape[:-3]
    flat_taps = taps.reshape(-1, *taps.shape[-3:])  # (B, Nt, Nr, T)
    flat_idx = idx.reshape(flat_taps.shape[0], -1)  # (B, q W)
    out = np.take_along_axis(flat_taps, flat_idx[:, None, None, :], axis=-1)  # (B, Nt, Nr, qW)
    out = np.moveaxis(out, -1, 1).reshape(flat_taps.shape[0], *idx.shape[-2:], *taps.shape[-3:-1])
    result: ComplexArray = out.reshape(*lead, *out.shape[1:])
    return result


def normalize_windows(windows: ArrayLike) -> ComplexArray:
    """Remove each window's scale and common phase (the unknown gain) before the network.

    Parameters
    ----------
    windows : ndarray, shape (..., window, n_tx, n_rx), complex
        Output of :func:`peak_windows`.

    Returns
    -------
    ndarray, same shape and dtype
        ``windows * conj(r) / |r| / rms(windows)`` with ``r`` the centre-row entry of Tx 0,
        Rx 0, so the centre row starts at phase 0 and the window has unit RMS.

    Raises
    ------
    ValueError
        A window that is all zero or whose reference entry is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> w = bs.normalize_windows(2j * np.ones((1, 3, 2, 2)))
    >>> complex(w[0, 1, 0, 0])
    (1+0j)
    """
    x = np.asarray(windows)
    centre = x.shape[-3] // 2
    ref = x[..., centre, 0, 0]
    rms = np.sqrt(np.mean(x.real**2 + x.imag**2, axis=(-3, -2, -1)))
    mag = np.abs(ref)
    if np.any(mag == 0) or np.any(rms == 0):
        raise ValueError("windows: a peak window is zero (no signal at the peak row)")
    scale = (np.conj(ref) / (mag * rms)).astype(x.dtype)
    out: ComplexArray = x * scale[..., None, None, None]
    return out


def ls_gains(
    csi: ArrayLike,
    toa_s: ArrayLike,
    aoa_rad: ArrayLike,
    aod_rad: ArrayLike,
    *,
    scenario: Scenario | None = None,
) -> NDArray[np.complex128]:
    """Complex gains by LS projection of the CSI onto the estimated manifold (eq. 21).

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        LS CSI.
    toa_s, aoa_rad, aod_rad : array_like, shape (..., n_paths)
        Estimated ToA [s], AoA [rad] and AoD [rad] per path.
    scenario : Scenario, optional
        Numerology and spacings (default ``Scenario()``).

    Returns
    -------
    gain : ndarray, shape (..., n_paths), complex128
        ``B^+ vec(H)`` with column i of B equal to ``a_t(phi_i) (x) a_r(theta_i) (x) c(tau_i)``
        (the C-order flattening of the CSI).

    Raises
    ------
    ValueError
        Mismatched shapes, NaN, or a rank-deficient B (two identical path estimates).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> p = bs.Paths([0.1, 0.3], [0.2, 0.0], [0.0, 60e-9], [1.0, 0.5j])
    >>> g = bs.ls_gains(sc.channel(p), p.toa_s, p.aoa_rad, p.aod_rad, scenario=sc)
    >>> bool(np.allclose(g, p.gain))
    True
    """
    scenario = as_scenario(scenario)
    h = as_csi(csi, scenario)
    params = [np.asarray(v, dtype=np.float64) for v in (toa_s, aoa_rad, aod_rad)]
    lead = h.shape[:-3]
    for name, v in zip(("toa_s", "aoa_rad", "aod_rad"), params, strict=True):
        if v.ndim != len(lead) + 1 or v.shape[:-1] != lead or v.shape != params[0].shape:
            raise ValueError(
                f"{name} must have shape (..., n_paths) with batch axes {lead}, got {v.shape}"
            )
        if not np.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or Inf")
    toa, aoa, aod = params
    nt, nr, n = scenario.csi_shape
    d_t, d_r = scenario.spacing_tx_wavelengths, scenario.spacing_rx_wavelengths
    at = np.exp(-2j * np.pi * d_t * np.arange(nt)[:, None] * np.sin(aod[..., None, :]))
    ar = np.exp(-2j * np.pi * d_r * np.arange(nr)[:, None] * np.sin(aoa[..., None, :]))
    turns = np.mod(np.arange(n)[:, None] * scenario.subcarrier_spacing_hz * toa[..., None, :], 1.0)
    c = np.exp(-2j * np.pi * turns)
    b = np.einsum("...ti,...ri,...ni->...trni", at, ar, c).reshape(*lead, nt * nr * n, -1)
    y = h.reshape(*lead, nt * nr * n).astype(np.complex128)
    bh = np.conj(np.swapaxes(b, -1, -2))
    gram = bh @ b
    rhs = np.einsum("...in,...n->...i", bh, y)
    cond = np.linalg.cond(gram)
    if np.any(~np.isfinite(cond) | (cond > 1e12)):
        raise ValueError(
            "the estimated path signatures are linearly dependent (eq. 21 is singular)"
        )
    gains: NDArray[np.complex128] = np.linalg.solve(gram, rhs[..., None])[..., 0]
    return gains


def _esprit_angles(
    window: ComplexArray, n_paths: int, scenario: Scenario
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(sin AoA, sin AoD)`` of ``n_paths`` paths that share one delay peak (2-D ESPRIT).

    Merged paths are separated in the angle domain (bistatic paper, Sec. III-B1: "non-
    resolvability is typically mitigated in the angular domain"): the W rows of the window,
    each an ``n_tx x n_rx`` image ``sum_l g_l c_l(w) a_t(phi_l) a_r(theta_l)^T``, and every
    shift of a sub-array of ``n_tx - 1`` by ``n_rx - 1`` elements (forward-backward) are the
    snapshots; the signal subspace's shift invariance along Tx and along Rx gives
    ``exp(-j 2 pi d sin)`` per path, paired by a joint eigendecomposition. Sub-array
    smoothing restores the rank when the paths' delays coincide.

    ``window`` (W, n_tx, n_rx) -> two arrays of shape (n_paths,), clipped to [-1, 1].
    """
    w, nt, nr = window.shape
    lt, lr = 2, 2
    mt, mr = nt - lt + 1, nr - lr + 1
    snaps = [
        window[:, i : i + mt, j : j + mr].reshape(w, mt * mr) for i in range(lt) for j in range(lr)
    ]
    z = np.concatenate(snaps, axis=0).T.astype(np.complex128)  # (mt mr, n_snap)
    z = np.concatenate([z, np.conj(z[::-1])], axis=1)  # forward-backward
    u = np.linalg.svd(z, full_matrices=False)[0][:, :n_paths]
    idx = np.arange(mt * mr).reshape(mt, mr)
    phi_t = _lstsq(u[idx[:-1].ravel()], u[idx[1:].ravel()])
    phi_r = _lstsq(u[idx[:, :-1].ravel()], u[idx[:, 1:].ravel()])
    _, vecs = np.linalg.eig(phi_t + 0.7071 * phi_r)  # generic combination: joint eigenvectors
    inv = np.linalg.pinv(vecs)
    lam_t = np.einsum("ij,jk,ki->i", inv, phi_t, vecs)
    lam_r = np.einsum("ij,jk,ki->i", inv, phi_r, vecs)
    d_t, d_r = scenario.spacing_tx_wavelengths, scenario.spacing_rx_wavelengths
    sin_aod = np.clip(-np.angle(lam_t) / (2 * np.pi * d_t), -1.0, 1.0)
    sin_aoa = np.clip(-np.angle(lam_r) / (2 * np.pi * d_r), -1.0, 1.0)
    return sin_aoa, sin_aod


def _zf_toa_taps(
    csi: ComplexArray,
    sin_aoa: NDArray[np.float64],
    sin_aod: NDArray[np.float64],
    rows: NDArray[np.float64],
    scenario: Scenario,
    *,
    half_width: float = 1.5,
) -> NDArray[np.float64]:
    """ToA [taps] of paths with known angles: a spatial zero-forcing filter over all paths
    separates each path's subcarrier response ``g c(tau)``, whose single-tone periodogram is
    maximised within ``half_width`` taps of its peak row (grid, then a parabolic step).

    ``csi`` (n_tx, n_rx, N); ``sin_aoa``, ``sin_aod`` (q,) of all paths; ``rows`` (m,) peak
    rows of the first m paths, whose ToAs are returned (m,).
    """
    nt, nr, n = csi.shape
    d_t, d_r = scenario.spacing_tx_wavelengths, scenario.spacing_rx_wavelengths
    at = np.exp(-2j * np.pi * d_t * np.arange(nt)[:, None] * sin_aod[None, :])
    ar = np.exp(-2j * np.pi * d_r * np.arange(nr)[:, None] * sin_aoa[None, :])
    a = (at[:, None, :] * ar[None, :, :]).reshape(nt * nr, -1)
    s = _lstsq(a, csi.reshape(nt * nr, n).astype(np.complex128))
    m = len(rows)
    n_grid = 2 * int(np.ceil(20 * half_width)) + 1  # steps of at most 0.05 taps
    step = 2 * half_width / (n_grid - 1)
    grid = rows[:, None] + np.linspace(-half_width, half_width, n_grid)[None, :]  # (m, G)
    kernel = np.exp(2j * np.pi * np.arange(n)[None, None, :] * grid[:, :, None] / n)
    power = np.abs(np.einsum("mgn,mn->mg", kernel, s[:m])) ** 2
    best = np.clip(np.argmax(power, axis=1), 1, n_grid - 2)
    p0, p1, p2 = (power[np.arange(m), best + d] for d in (-1, 0, 1))
    denom = p0 - 2 * p1 + p2
    shift = np.where(denom < 0, 0.5 * (p0 - p2) / np.where(denom < 0, denom, -1.0), 0.0)
    out: NDArray[np.float64] = grid[np.arange(m), best] + np.clip(shift, -1, 1) * step
    return out


def _lstsq(a: ComplexArray, b: ComplexArray) -> ComplexArray:
    """``argmin ||a x - b||`` of a tall, small ``a`` by its normal equations (``a`` has a few
    columns; LAPACK's ``gelsd`` costs far more at these sizes), lightly regularised."""
    ah = np.conj(a.T)
    gram = ah @ a
    gram += 1e-9 * np.trace(gram).real / len(gram) * np.eye(len(gram))
    out: ComplexArray = np.linalg.solve(gram, ah @ b)
    return out
