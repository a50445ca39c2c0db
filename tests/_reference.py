"""Naive, obviously-correct NumPy references written straight from the papers' equations.

Loop-based on purpose: these are the ground truth the compiled kernels are tested
against, not fast code.
"""

from __future__ import annotations

import numpy as np


def link(antenna, point, frequency_hz, c=3e8):
    """Eq. (11): h = exp(-j 2 pi d f / c) / (sqrt(4 pi) d).

    The phase is thousands of radians, so it is formed in extended precision
    (np.longdouble) and reduced modulo one turn before the float64 exponential;
    otherwise the reference itself would carry ~1e-12 relative error.
    """
    diff = np.asarray(point, np.longdouble) - np.asarray(antenna, np.longdouble)
    d = np.sqrt(np.sum(diff * diff, axis=-1))
    turns = d * np.longdouble(frequency_hz) / np.longdouble(c)
    two_pi = 8 * np.arctan(np.longdouble(1))
    phase = (two_pi * (turns - np.floor(turns))).astype(np.float64)
    return np.exp(-1j * phase) / (np.sqrt(4 * np.pi) * d.astype(np.float64))


def sensing_matrix(scenario, points=None):
    """Eqs. (10)-(14), complex128, rows (subcarrier, pair, rx antenna, tx antenna)."""
    pts = scenario.voxel_centers() if points is None else np.asarray(points, float)
    ant = scenario.antenna_positions()
    lam0 = scenario.wavelength_m
    nf = scenario.n_subcarriers
    p_s = 10 ** ((scenario.sensing_power_dbm - 30) / 10) / nf  # per-subcarrier power [W]
    gain = np.sqrt(p_s) * lam0 * np.sqrt(scenario.antenna_gain) / np.sqrt(4 * np.pi)
    rows = []
    for f in scenario.subcarrier_frequencies_hz():
        for tx, rx in scenario.pairs():
            for r in range(ant.shape[1]):
                for t in range(ant.shape[1]):
                    rows.append(gain * link(ant[tx, t], pts, f) * link(ant[rx, r], pts, f))
    return np.array(rows)
