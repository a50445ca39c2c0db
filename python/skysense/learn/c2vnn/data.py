"""IFFT-C2VNN inputs from CSI, and labelled training windows from ``bistatic.simulate``
(NumPy only: no torch import).

The pipeline is the bistatic paper's Sec. III-B: delay taps by an IDFT over the subcarriers,
the q strongest delay peaks, a W-row window around each, normalised; the 3-D variant
(Sec. III-D) takes the windows of S sub-frames at common peak rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_finite_scalar
from skysense.bistatic._common import as_csi
from skysense.bistatic.geometry import random_paths
from skysense.bistatic.ifft_windows import (
    MIN_RELATIVE_PEAK_POWER,
    _peak_rows,
    delay_taps,
    find_peak_rows,
    normalize_windows,
    peak_windows,
)
from skysense.bistatic.scenario import Scenario
from skysense.bistatic.simulate import simulate
from skysense.learn.c2vnn.config import C2vnn3dConfig, C2vnnCountConfig

__all__ = [
    "MAX_LABEL_OFFSET",
    "MIN_DELAY_FRACTION",
    "C2vnnWindows",
    "count_windows",
    "csi_windows",
    "csi_windows_3d",
    "make_count_training_set",
    "make_training_set",
    "make_training_set_3d",
]

#: Largest |N df tau - p| [taps] for which a detected peak is labelled with a path.
MAX_LABEL_OFFSET = 1.0
#: Candidate peaks the count classifier sees per CSI beyond the paths asked for.
EXTRA_CANDIDATES = 2
#: Reported ToAs lie in ``[f N, (1 + f) N)`` taps for this f (as PARAMING: from -1/(8 df)).
MIN_DELAY_FRACTION = -0.125


@dataclass(frozen=True, repr=False)
class C2vnnWindows(Result):
    """Network inputs of a CSI batch (:func:`csi_windows`, :func:`csi_windows_3d`).

    Attributes
    ----------
    inputs : ndarray, float32
        Normalised windows as real pairs: ``(batch, n_paths, 2 W, n_tx, n_rx)``, or
        ``(batch, n_paths, 2 W, S, n_tx, n_rx)`` for sub-frame stacks.
    rows : ndarray, shape (batch, n_paths), int64
        Peak rows p_i of the delay taps (ascending).
    """

    inputs: np.ndarray
    rows: np.ndarray


def csi_windows(csi: Any, n_paths: int, window: int, scenario: Scenario) -> C2vnnWindows:
    """Delay taps, q peak rows and normalised W-row windows of a CSI batch.

    Parameters
    ----------
    csi : array_like, shape (batch, n_tx, n_rx, n_subcarriers), complex
        Bistatic CSI batch.
    n_paths : int
        Peaks q per CSI.
    window : int
        Odd window size W.
    scenario : Scenario
        Sizes and numerology of the CSI.

    Returns
    -------
    C2vnnWindows
        Windows ``inputs``, shape ``(batch, n_paths, 2 W, n_tx, n_rx)``, and peak ``rows``.

    Examples
    --------
    >>> from skysense.bistatic import Paths
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32)
    >>> csi = sc.channel(Paths([0.1], [0.2], [5 * sc.toa_resolution_s], [1.0]))
    >>> w = csi_windows(csi[None], 1, 3, sc)
    >>> w.inputs.shape, w.rows.tolist()
    ((1, 1, 6, 4, 4), [[5]])
    """
    taps = delay_taps(csi, scenario=scenario)
    rows = find_peak_rows(taps, n_paths)
    win = normalize_windows(peak_windows(taps, rows, window))  # (B, q, W, nt, nr)
    inputs = np.concatenate([win.real, win.imag], axis=-3).astype(np.float32)
    return C2vnnWindows(inputs=inputs, rows=rows)


def _windows_3d(
    csi: np.ndarray, q: int, window: int, scenario: Scenario, *, strict: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # csi (B, S, nt, nr, N) -> taps with sub-frames folded into the Tx axis for the PDP/windows.
    taps = delay_taps(csi, scenario=scenario)
    b, s, nt, nr, n = taps.shape
    folded = taps.reshape(b, s * nt, nr, n)
    rows, n_found = _peak_rows(folded, q, MIN_RELATIVE_PEAK_POWER)  # PDP summed over sub-frames
    if strict and np.any(n_found < q):
        i = int(np.flatnonzero(n_found < q)[0])
        raise ValueError(f"found {int(n_found[i])} delay peaks but n_paths = {q} for CSI {i}")
    ok = n_found >= q
    win = normalize_windows(peak_windows(folded[ok], rows[ok], window))  # (b', q, W, S nt, nr)
    win = win.reshape(*win.shape[:3], s, nt, nr)
    inputs = np.concatenate([win.real, win.imag], axis=2).astype(np.float32)
    return inputs, rows[ok], ok


def csi_windows_3d(csi: Any, n_paths: int, config: C2vnn3dConfig) -> C2vnnWindows:
    """Windows of sub-frame stacks at common peak rows (the 3-D network's inputs).

    Parameters
    ----------
    csi : array_like, shape (batch, S, n_tx, n_rx, n_subcarriers), complex
        ``S = config.n_subframes``.
    n_paths : int
        Peaks q per stack (found on the delay profile summed over the sub-frames).
    config : C2vnn3dConfig

    Returns
    -------
    C2vnnWindows
        ``inputs`` of shape ``(batch, q, 2 W, S, n_tx, n_rx)``, each window normalised by
        its sub-frame-0 reference so the Doppler phase progression is kept.

    Examples
    --------
    >>> from skysense.bistatic import Paths, simulate
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32, n_symbols=8)
    >>> paths = Paths([0.2], [-0.4], [5 * sc.toa_resolution_s], [1.0], [2e4])
    >>> csi = simulate(sc, paths, 30.0, rng=0, n_subframes=3).csi
    >>> csi_windows_3d(csi[None], 1, C2vnn3dConfig(scenario=sc, n_subframes=3)).inputs.shape
    (1, 1, 6, 3, 4, 4)
    """
    arr = as_csi(csi, config.scenario, min_ndim=5)
    if arr.ndim != 5 or arr.shape[1] != config.n_subframes:
        raise ValueError(
            f"csi must have shape (batch, {config.n_subframes}, *{config.scenario.csi_shape}), "
            f"got {arr.shape}"
        )
    inputs, rows, _ = _windows_3d(
        arr, check_count(n_paths, "n_paths"), config.window, config.scenario
    )
    return C2vnnWindows(inputs=inputs, rows=rows)


def _signed_offset(toa_in_taps: np.ndarray, rows: np.ndarray, n_taps: int) -> np.ndarray:
    # (delay - row) wrapped into [-n_taps/2, n_taps/2)  [taps]
    out: np.ndarray = np.mod(toa_in_taps - rows + n_taps / 2, n_taps) - n_taps / 2
    return out


def _snr_range(snr_db: float | tuple[float, float]) -> tuple[float, float]:
    if np.ndim(snr_db) == 0:
        value = check_finite_scalar(snr_db, "snr_db")
        return value, value
    lo, hi = (check_finite_scalar(v, "snr_db") for v in snr_db)  # type: ignore[union-attr]
    if hi < lo:
        raise ValueError(f"snr_db range must be (low, high) with low <= high, got {snr_db}")
    return lo, hi


def _label_peaks(
    labels: np.ndarray, rows: np.ndarray, n_taps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Label each detected peak with the nearest path in delay (circular, in taps).

    ``labels`` (B, q_path, n_out) holds the ToA in taps in column 2; returns the labels of
    the kept peaks with column 2 the offset from the peak row, and the keep mask (B, q_peak).
    """
    off = _signed_offset(labels[:, None, :, 2], rows[:, :, None], n_taps)  # (B, q_peak, q_path)
    nearest = np.argmin(np.abs(off), axis=-1)  # (B, q_peak)
    best = np.take_along_axis(off, nearest[..., None], -1)[..., 0]
    keep = np.abs(best) <= MAX_LABEL_OFFSET
    lab = labels[np.arange(len(labels))[:, None], nearest]  # (B, q_peak, n_out)
    lab[..., 2] = best
    return lab, keep


def make_training_set(
    scenario: Scenario,
    n_draws: int,
    *,
    window: int = 3,
    snr_db: float | tuple[float, float] = (0.0, 30.0),
    n_targets: int = 3,
    los: bool = True,
    fluctuation: Literal["none", "swerling1"] = "none",
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labelled windows from ``n_draws`` simulated CSIs (random geometry, bistatic paper, eq. (7)).

    Parameters
    ----------
    scenario : Scenario
        Numerology and arrays.
    n_draws : int
        Simulated CSIs; each gives up to ``n_targets + los`` windows.
    window : int
        Odd window size W.
    snr_db : float or (float, float)
        Fixed SNR (a specialist model) or the range of a uniform draw per CSI (mixed SNR) [dB].
    n_targets, los, fluctuation
        Passed to :func:`~skysense.bistatic.random_paths` / :func:`~skysense.bistatic.simulate`.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Draw ``i`` uses the ``i``-th of ``n_draws`` generators spawned from it.

    Returns
    -------
    inputs : ndarray, shape (n_windows, 2 W, n_tx, n_rx), float32
        Normalised windows around every detected peak that lies within one tap of a path
        (draws with fewer than ``n_targets + los`` delay peaks are skipped).
    targets : ndarray, shape (n_windows, 3), float32
        ``(sin AoA, sin AoD, N df tau - p)`` of the nearest path.

    Examples
    --------
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32)
    >>> x, y = make_training_set(sc, 4, n_targets=2, rng=0)
    >>> x.shape[1:], y.shape[1:]
    ((6, 4, 4), (3,))
    """
    n_draws = check_count(n_draws, "n_draws")
    lo, hi = _snr_range(snr_db)
    q = n_targets + bool(los)
    csi = np.empty((n_draws, *scenario.csi_shape), np.complex64)
    labels = np.empty((n_draws, q, 3))
    for i, gen in enumerate(as_generator(rng).spawn(n_draws)):
        paths = random_paths(scenario, rng=gen, n_targets=n_targets, los=los)
        snr = gen.uniform(lo, hi)
        meas = simulate(scenario, paths, snr, rng=gen, fluctuation=fluctuation, dtype=np.complex64)
        csi[i] = meas.csi[0]
        toa_in_taps = paths.toa_s / scenario.toa_resolution_s
        labels[i] = np.stack([np.sin(paths.aoa_rad), np.sin(paths.aod_rad), toa_in_taps], -1)
    # Draws whose delay profile has fewer than q peaks (merged paths) give no windows.
    _, n_found = _peak_rows(delay_taps(csi, scenario=scenario), q, MIN_RELATIVE_PEAK_POWER)
    ok = n_found >= q
    win = csi_windows(csi[ok], q, window, scenario)
    lab, keep = _label_peaks(labels[ok], win.rows, scenario.n_subcarriers)
    return win.inputs[keep], lab[keep].astype(np.float32)


def make_training_set_3d(
    config: C2vnn3dConfig,
    n_draws: int,
    *,
    snr_db: float | tuple[float, float] = (0.0, 30.0),
    n_targets: int = 3,
    max_speed_mps: float = 100.0,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labelled sub-frame stacks for the 3-D network (LoS + ``n_targets`` moving targets).

    Parameters
    ----------
    config : C2vnn3dConfig
        Scenario, window and the number of sub-frames S.
    n_draws : int
        Simulated sub-frame stacks.
    snr_db : float or (float, float)
        Fixed SNR or the range of a uniform draw per stack [dB].
    n_targets : int
        Targets per draw (plus the LoS path).
    max_speed_mps : float
        Largest target speed [m/s].
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Draw ``i`` uses the ``i``-th of ``n_draws`` generators spawned from it.

    Returns
    -------
    inputs : ndarray, shape (n_windows, 2 W, S, n_tx, n_rx), float32
    targets : ndarray, shape (n_windows, 4), float32
        ``(sin AoA, sin AoD, N df tau - p, f_D T_sf)`` of the nearest path.

    Examples
    --------
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32, n_symbols=8)
    >>> config = C2vnn3dConfig(scenario=sc, n_subframes=3)
    >>> x, y = make_training_set_3d(config, 4, n_targets=2, rng=0)
    >>> x.shape[1:], y.shape[1:]
    ((6, 3, 4, 4), (4,))
    """
    sc = config.scenario
    n_draws = check_count(n_draws, "n_draws")
    lo, hi = _snr_range(snr_db)
    q = n_targets + 1
    csi = np.empty((n_draws, config.n_subframes, *sc.csi_shape), np.complex64)
    labels = np.empty((n_draws, q, 4))
    for i, gen in enumerate(as_generator(rng).spawn(n_draws)):
        paths = random_paths(sc, rng=gen, n_targets=n_targets, max_speed_mps=max_speed_mps)
        meas = simulate(
            sc,
            paths,
            gen.uniform(lo, hi),
            rng=gen,
            n_subframes=config.n_subframes,
            dtype=np.complex64,
        )
        csi[i] = meas.csi
        labels[i] = np.stack(
            [
                np.sin(paths.aoa_rad),
                np.sin(paths.aod_rad),
                paths.toa_s / sc.toa_resolution_s,
                paths.doppler_hz * sc.subframe_s,
            ],
            -1,
        )
    inputs, rows, ok = _windows_3d(csi, q, config.window, sc, strict=False)
    lab, keep = _label_peaks(labels[ok], rows, sc.n_subcarriers)
    return inputs[keep], lab[keep].astype(np.float32)


def count_windows(csi: Any, n_candidates: int, config: C2vnnCountConfig) -> C2vnnWindows:
    """Classifier inputs: W-row windows around the strongest local maxima of the delay profile.

    Unlike :func:`csi_windows` the windows keep their power relative to the strongest peak
    (all windows of a CSI share one scale, ``sqrt(n_tx n_rx / max PDP)``), so the classifier
    can tell a path from a side lobe or a noise peak; each window's phase is referenced to
    its centre entry of Tx 0, Rx 0.

    Parameters
    ----------
    csi : array_like, shape (batch, n_tx, n_rx, n_subcarriers), complex
        Bistatic CSI batch.
    n_candidates : int
        Candidate peaks K per CSI (a CSI with fewer local maxima repeats its weakest one;
        see ``rows``).
    config : C2vnnCountConfig
        Window size and scenario.

    Returns
    -------
    C2vnnWindows
        ``inputs`` of shape ``(batch, K, 2 W, n_tx, n_rx)`` and candidate ``rows``
        ``(batch, K)`` in ascending order; a row of -1 marks a missing candidate (its window
        is zero).

    Examples
    --------
    >>> from skysense.bistatic import Paths
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32)
    >>> csi = sc.channel(Paths([0.1, 0.4], [0.2, 0.0], [0.0, 9 * sc.toa_resolution_s], [1, 1]))
    >>> w = count_windows(csi[None], 2, C2vnnCountConfig(scenario=sc))
    >>> w.inputs.shape, w.rows.tolist()
    ((1, 2, 10, 4, 4), [[0, 9]])
    """
    sc = config.scenario
    arr = as_csi(csi, sc, min_ndim=4)
    if arr.ndim != 4:
        raise ValueError(f"csi must have shape (batch, *{sc.csi_shape}), got {arr.shape}")
    k = check_count(n_candidates, "n_candidates", maximum=sc.n_subcarriers)
    taps = delay_taps(arr, scenario=sc)
    pdp = np.sum(taps.real**2 + taps.imag**2, axis=(-3, -2))  # (B, N)
    if not np.isfinite(pdp).all():
        raise ValueError("csi contains NaN or Inf")
    is_peak = (pdp > np.roll(pdp, 1, axis=-1)) & (pdp >= np.roll(pdp, -1, axis=-1))
    is_peak &= pdp > MIN_RELATIVE_PEAK_POWER * pdp.max(axis=-1, keepdims=True)
    score = np.where(is_peak, pdp, -np.inf)
    top = np.argsort(-score, axis=-1, kind="stable")[:, :k]
    valid = np.take_along_axis(is_peak, top, -1)
    rows = np.where(valid, top, -1)
    order = np.argsort(np.where(valid, rows, np.iinfo(np.int64).max), axis=-1, kind="stable")
    rows = np.take_along_axis(rows, order, -1).astype(np.int64)
    valid = rows >= 0
    win = peak_windows(taps, np.maximum(rows, 0), config.window)  # (B, K, W, nt, nr)
    ref = win[..., config.window // 2, 0, 0]
    mag = np.abs(ref)
    phase = np.where(mag > 0, np.conj(ref) / np.where(mag > 0, mag, 1.0), 1.0)
    peak = np.max(pdp, axis=-1)
    if np.any(peak == 0):
        raise ValueError("csi: a CSI is all zero")
    scale = np.sqrt(sc.n_tx * sc.n_rx / peak)[:, None] * phase * valid
    win = win * scale[..., None, None, None].astype(win.dtype)
    inputs = np.concatenate([win.real, win.imag], axis=-3).astype(np.float32)
    return C2vnnWindows(inputs=inputs, rows=rows)


def path_counts(
    toa_in_taps: np.ndarray, rows: np.ndarray, n_taps: int, max_count: int, reach: float = 1.5
) -> np.ndarray:
    """Paths per candidate peak (the classifier's labels).

    Each path counts for its nearest candidate (circular distance), if within ``reach`` taps;
    counts are clipped to ``max_count``; missing candidates (row -1) get 0.

    Parameters
    ----------
    toa_in_taps : ndarray, shape (B, q)
        True ToAs in taps ``N df tau``.
    rows : ndarray of int, shape (B, K)
        Candidate rows (:func:`count_windows`), -1 for a missing candidate.
    n_taps : int
        Delay taps N (the circle the delays live on).
    max_count : int
        Largest class.
    reach : float
        Largest distance [taps] at which a path counts for a candidate.

    Returns
    -------
    counts : ndarray, shape (B, K), int64
        Paths per candidate.

    Examples
    --------
    >>> path_counts(np.array([[0.0, 1.2, 9.0]]), np.array([[0, 9, -1]]), 32, 3).tolist()
    [[2, 1, 0]]
    """
    rows_f = np.where(rows >= 0, rows, np.nan).astype(np.float64)
    off = np.abs(_signed_offset(toa_in_taps[:, None, :], rows_f[:, :, None], n_taps))
    off = np.where(np.isfinite(off), off, np.inf)  # (B, K, q)
    nearest = np.argmin(off, axis=1)  # (B, q)
    close = np.take_along_axis(off, nearest[:, None, :], 1)[:, 0] <= reach
    counts = np.zeros(rows.shape, np.int64)
    b = np.broadcast_to(np.arange(len(rows))[:, None], nearest.shape)
    np.add.at(counts, (b[close], nearest[close]), 1)
    return np.minimum(counts, max_count)


def make_count_training_set(
    config: C2vnnCountConfig,
    n_draws: int,
    *,
    snr_db: float | tuple[float, float] = (0.0, 30.0),
    n_targets: int = 3,
    fluctuation: Literal["none", "swerling1"] = "none",
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Count-labelled candidate windows from ``n_draws`` simulated CSIs (as
    :func:`make_training_set`: random geometry, LoS + ``n_targets`` paths).

    Parameters
    ----------
    config : C2vnnCountConfig
        Scenario, window and the largest count class.
    n_draws : int
        Simulated CSIs; each gives ``n_targets + 1 + EXTRA_CANDIDATES`` candidate windows.
    snr_db : float or (float, float)
        Fixed SNR or the range of a uniform draw per CSI [dB].
    n_targets, fluctuation
        Passed to :func:`~skysense.bistatic.random_paths` / :func:`~skysense.bistatic.simulate`.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Draw ``i`` uses the ``i``-th of ``n_draws`` generators spawned from it.

    Returns
    -------
    inputs : ndarray, shape (n_windows, 2 W, n_tx, n_rx), float32
        :func:`count_windows` of every present candidate.
    counts : ndarray, shape (n_windows,), int64
        Paths within ``config.reach_cells`` taps of the candidate that lie nearer to it than
        to any other candidate, clipped to ``max_count``.

    Examples
    --------
    >>> sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32)
    >>> x, y = make_count_training_set(C2vnnCountConfig(scenario=sc), 4, n_targets=2, rng=0)
    >>> x.shape[1:], int(y.max()) <= 3
    ((10, 4, 4), True)
    """
    sc = config.scenario
    n_draws = check_count(n_draws, "n_draws")
    lo, hi = _snr_range(snr_db)
    q = n_targets + 1
    csi = np.empty((n_draws, *sc.csi_shape), np.complex64)
    toa = np.empty((n_draws, q))
    for i, gen in enumerate(as_generator(rng).spawn(n_draws)):
        paths = random_paths(sc, rng=gen, n_targets=n_targets)
        meas = simulate(
            sc, paths, gen.uniform(lo, hi), rng=gen, fluctuation=fluctuation, dtype=np.complex64
        )
        csi[i] = meas.csi[0]
        toa[i] = paths.toa_s / sc.toa_resolution_s
    win = count_windows(csi, q + EXTRA_CANDIDATES, config)
    counts = path_counts(toa, win.rows, sc.n_subcarriers, config.max_count, config.reach_cells)
    keep = win.rows >= 0
    return win.inputs[keep], counts[keep]
