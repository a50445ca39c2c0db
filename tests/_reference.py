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
    pts = scenario.voxel_centers_m() if points is None else np.asarray(points, float)
    ant = scenario.antenna_positions_m()
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


# ----------------------------------------------------------------------------- bistatic


def cordic_atan2(y, x, iterations, fixed_point=None):
    """CORDIC vectoring, one value at a time in Python (ints are exact: bit-true reference)."""
    import math

    if x == 0 and y == 0:
        return 0.0
    e = math.frexp(max(abs(x), abs(y)))[1]
    x, y = math.ldexp(x, -e), math.ldexp(y, -e)
    if fixed_point is None:
        acc = 0.0
        if x < 0:
            x, y, acc = (y, -x, math.pi / 2) if math.copysign(1, y) > 0 else (-y, x, -math.pi / 2)
        for i in range(iterations):
            xs, ys, a = math.ldexp(x, -i), math.ldexp(y, -i), math.atan(math.ldexp(1.0, -i))
            if y < 0:
                x, y, acc = x - ys, y + xs, acc - a
            else:
                x, y, acc = x + ys, y - xs, acc + a
        return acc
    _, frac = fixed_point

    def q(v):
        return int(np.rint(math.ldexp(v, frac)))

    xi, yi, acc = q(x), q(y), 0
    if xi < 0:
        if math.copysign(1, y) > 0:
            xi, yi, acc = yi, -xi, q(math.pi / 2)
        else:
            xi, yi, acc = -yi, xi, -q(math.pi / 2)
    for i in range(iterations):
        xs, ys, a = xi >> i, yi >> i, q(math.atan(math.ldexp(1.0, -i)))
        if yi < 0:
            xi, yi, acc = xi - ys, yi + xs, acc - a
        else:
            xi, yi, acc = xi + ys, yi - xs, acc + a
    return math.ldexp(acc, -frac)


def bistatic_csi(aoa, aod, delay, gain, n_tx, n_rx, n_sub, df, d_tx=0.5, d_rx=0.5):
    """Eq. (4)/(11) by loops: csi[nt, nr, n] = sum_i gamma_i a_r[nr] a_t[nt] c_n(tau_i)."""
    csi = np.zeros((n_tx, n_rx, n_sub), complex)
    for i in range(len(aoa)):
        for nt in range(n_tx):
            for nr in range(n_rx):
                for n in range(n_sub):
                    csi[nt, nr, n] += gain[i] * np.exp(
                        -2j * np.pi * (d_rx * nr * np.sin(aoa[i]) + d_tx * nt * np.sin(aod[i]))
                        - 2j * np.pi * n * df * delay[i]
                    )
    return csi


def hankel3(h, mt, mr, m):
    """Eqs. (26)-(28) as literal nested blocks of h (Nt, Nr, N)."""
    n_tx, n_rx, n_sub = h.shape
    kt, kr, kn = n_tx - mt + 1, n_rx - mr + 1, n_sub - m + 1
    blocks = []
    for at in range(mt):
        row = []
        for ct in range(kt):
            nt = at + ct
            row.append(
                np.block(
                    [
                        [
                            np.array(
                                [[h[nt, r + cr, am + cn] for cr in range(kr)] for r in range(mr)]
                            )
                            for cn in range(kn)
                        ]
                        for am in range(m)
                    ]
                )
            )
        blocks.append(row)
    return np.block(blocks), (kt, kr, kn)


def paraming(h, q, df, mt, mr, m, d_tx=0.5, d_rx=0.5):
    """PARAMING in plain NumPy (numpy.angle instead of CORDIC); h (Nt, Nr, N)."""
    n_tx, n_rx, n_sub = h.shape
    x, (kt, kr, kn) = hankel3(h, mt, mr, m)
    j1 = np.array(
        [cr + kr * (cn + kn * ct) for ct in range(kt) for cn in range(kn - 1) for cr in range(kr)]
    )
    x1, x2 = x[:, j1], x[:, j1 + kr]
    u, s, vh = np.linalg.svd(x1, full_matrices=False)
    psi = (u[:, :q].conj().T @ x2 @ vh[:q].conj().T) / s[:q, None]
    z = np.linalg.eigvals(psi)
    tau = np.sort(np.mod(-np.angle(z) / (2 * np.pi), 1.0)) / df
    c = np.exp(-2j * np.pi * np.arange(n_sub)[:, None] * df * tau[None, :])
    g = h.reshape(n_tx * n_rx, n_sub) @ np.linalg.pinv(c.T)
    nt_idx, nr_idx = np.meshgrid(np.arange(n_tx), np.arange(n_rx), indexing="ij")
    t = np.column_stack([nr_idx.ravel(), nt_idx.ravel(), np.ones(n_tx * n_rx)])
    aoa, aod, gain = np.empty(q), np.empty(q), np.empty(q, complex)
    for i in range(q):
        nrm = np.linalg.norm(g[:, i])
        ph = np.unwrap(np.unwrap(np.angle(g[:, i] / nrm).reshape(n_tx, n_rx), axis=1), axis=0)
        mu_r, mu_t, off = np.linalg.lstsq(t, ph.ravel(), rcond=None)[0]
        mu_r, mu_t = np.angle(np.exp(1j * mu_r)), np.angle(np.exp(1j * mu_t))
        aoa[i] = np.arcsin(np.clip(-mu_r / (2 * np.pi * d_rx), -1, 1))
        aod[i] = np.arcsin(np.clip(-mu_t / (2 * np.pi * d_tx), -1, 1))
        gain[i] = nrm / np.sqrt(n_tx * n_rx) * np.exp(1j * off)
    return tau, aoa, aod, gain, s
