"""IFFT-C2VNN inputs from CSI, and labelled training windows from ``bistatic.simulate`` (NumPy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import check_count, check_finite_scalar
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

__all__ = ["C2vnnWindows", "csi_windows", "make_training_set"]

#: Largest |N df tau - p| [taps] for which a detected peak is labelled with a path.
MAX_LABEL_OFFSET = 1.0
#: Reported ToAs lie in ``[f N, (1 + f) N)`` taps for this f (as PARAMING: from -1/(8 df)).
MIN_DELAY_FRACTION = -0.125


@dataclass(frozen=True)
class C2vnnWindows:
    """Network inputs of a CSI batch.

    Attributes
    ----------
    inputs : ndarray, shape (batch, n_paths, 2 W, n_tx, n_rx), float32
        Normalised windows as real pairs.
    rows : ndarray, shape (batch, n_paths), int64
        Peak rows p_i of the delay taps (ascending).
    """

    inputs: np.ndarray
    rows: np.ndarray


def csi_windows(csi, n_paths, window, scenario: Scenario) -> C2vnnWindows:
    """Delay taps, q peak rows and normalised W-row windows of CSI ``(batch, n_tx, n_rx, N)``."""
    taps = delay_taps(csi, scenario=scenario)
    rows = find_peak_rows(taps, n_paths)
    win = normalize_windows(peak_windows(taps, rows, window))  # (B, q, W, nt, nr)
    inputs = np.concatenate([win.real, win.imag], axis=-3).astype(np.float32)
    return C2vnnWindows(inputs=inputs, rows=rows)


def _signed_offset(delay_taps_, rows, n_taps):
    # (delay - row) wrapped into [-n_taps/2, n_taps/2)  [taps]
    return np.mod(delay_taps_ - rows + n_taps / 2, n_taps) - n_taps / 2


def make_training_set(
    scenario: Scenario,
    n_draws,
    *,
    window=3,
    snr_db=(0.0, 30.0),
    seed=0,
    n_targets=3,
    los=True,
    fluctuation="none",
) -> tuple[np.ndarray, np.ndarray]:
    """Labelled windows from ``n_draws`` simulated CSIs (random geometry, eq. 7).

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
    seed : int or numpy.random.SeedSequence
        Root seed; draw i uses ``SeedSequence(seed).spawn(n_draws)[i]``.
    n_targets, los, fluctuation
        Passed to :func:`~skysense.bistatic.random_paths` / :func:`~skysense.bistatic.simulate`.

    Returns
    -------
    inputs : ndarray, shape (n_windows, 2 W, n_tx, n_rx), float32
        Normalised windows around every detected peak that lies within one tap of a path
        (draws with fewer than ``n_targets + los`` delay peaks are skipped).
    targets : ndarray, shape (n_windows, 3), float32
        ``(sin AoA, sin AoD, N df tau - p)`` of the nearest path.
    """
    n_draws = check_count(n_draws, "n_draws")
    if np.ndim(snr_db) == 0:
        lo = hi = check_finite_scalar(snr_db, "snr_db")
    else:
        lo, hi = (check_finite_scalar(v, "snr_db") for v in snr_db)
        if hi < lo:
            raise ValueError(f"snr_db range must be (low, high), got {snr_db}")
    q = n_targets + bool(los)
    n = scenario.n_subcarriers
    csi = np.empty((n_draws, *scenario.csi_shape), np.complex64)
    labels = np.empty((n_draws, q, 3))
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    for i, ss in enumerate(root.spawn(n_draws)):
        rng = np.random.default_rng(ss)
        paths = random_paths(scenario, rng=rng, n_targets=n_targets, los=los)
        snr = rng.uniform(lo, hi)
        meas = simulate(scenario, paths, snr, rng=rng, fluctuation=fluctuation, dtype=np.complex64)
        csi[i] = meas.csi[0]
        delay_taps_ = paths.toa_s / scenario.toa_resolution_s
        labels[i] = np.stack([np.sin(paths.aoa_rad), np.sin(paths.aod_rad), delay_taps_], -1)
    # Draws whose delay profile has fewer than q peaks (merged paths) give no windows.
    taps = delay_taps(csi, scenario=scenario)
    _, n_found = _peak_rows(taps, q, MIN_RELATIVE_PEAK_POWER)
    ok = n_found >= q
    csi, labels, n_draws = csi[ok], labels[ok], int(ok.sum())
    win = csi_windows(csi, q, window, scenario)
    # Label each detected peak with the nearest path in delay (circular, in taps).
    off = _signed_offset(labels[:, None, :, 2], win.rows[:, :, None], n)  # (B, q_peak, q_path)
    nearest = np.argmin(np.abs(off), axis=-1)  # (B, q_peak)
    best = np.take_along_axis(off, nearest[..., None], -1)[..., 0]
    keep = np.abs(best) <= MAX_LABEL_OFFSET
    lab = labels[np.arange(n_draws)[:, None], nearest]  # (B, q_peak, 3)
    lab[..., 2] = best
    return win.inputs[keep], lab[keep].astype(np.float32)
