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


def subspace_pursuit(a, y, sparsity, *, tol=1e-10, max_iter=100, final="best"):
    """Algorithm 1 (SP) in plain NumPy, least squares by ``np.linalg.lstsq`` on A[:, S].

    ``final="last"`` is the authors' CS_SP.m (error initialised to 1, the last iterate returned
    even when worse); ``"best"`` keeps the previous iterate when the residual does not drop.
    "K largest" ties go to the smaller index. Returns ``(x, support, n_iter, ratio)``.
    """
    a = np.asarray(a)
    y = np.asarray(y)
    y_norm = np.linalg.norm(y)
    x = np.zeros(a.shape[1], dtype=np.result_type(a, y, np.complex64))
    if y_norm == 0:
        return x, np.arange(sparsity), 0, 0.0

    def largest(values, k):
        return np.sort(np.argsort(-np.abs(values), kind="stable")[:k])

    def least_squares(support):
        coef = np.linalg.lstsq(a[:, support], y, rcond=None)[0]
        return coef, np.linalg.norm(y - a[:, support] @ coef) / y_norm

    a_h = a.conj().T  # A^H, formed once
    support = largest(a_h @ y, sparsity)  # S0 = f_sel(y, A)
    coef, ratio = least_squares(support)
    previous = 1.0 if final == "last" else ratio
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        residual = y - a[:, support] @ coef
        expanded = np.union1d(support, largest(a_h @ residual, sparsity))  # step 5
        wide, _ = least_squares(expanded)
        new_support = expanded[largest(wide, sparsity)]  # step 6: K largest |LS|
        new_coef, new_ratio = least_squares(new_support)  # step 7
        divergent = not new_ratio < previous
        if not divergent or final == "last":
            support, coef, ratio = new_support, new_coef, new_ratio
        if divergent or new_ratio <= tol:
            break
        previous = new_ratio
    x[support] = coef
    return x, support, n_iter, ratio
