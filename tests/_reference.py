"""Naive, obviously-correct NumPy references written straight from the papers' equations.

Loop-based on purpose: these are the ground truth the compiled kernels are tested
against, not fast code.
"""

from __future__ import annotations

import numpy as np


def link(antenna, point, wavelength):
    """Eq. (11): h = exp(-j 2 pi d / lambda) / (sqrt(4 pi) d)."""
    d = np.linalg.norm(np.asarray(point, float) - np.asarray(antenna, float), axis=-1)
    return np.exp(-2j * np.pi * d / wavelength) / (np.sqrt(4 * np.pi) * d)


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
        lam = 3e8 / f
        for tx, rx in scenario.pairs():
            for r in range(ant.shape[1]):
                for t in range(ant.shape[1]):
                    rows.append(gain * link(ant[tx, t], pts, lam) * link(ant[rx, r], pts, lam))
    return np.array(rows)
