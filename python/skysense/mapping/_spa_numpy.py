"""Pure NumPy version of the per-epoch SPA module: the reference of the C++ kernel.

Same equations, same edge set and gating, same floors as ``cpp/include/skysense/mapping_spa.hpp``
(spec sections 2, 3.3, 3.4, 3.7); vectorised over particles, Python loops over edges. Its
random draws (births, process noise, resampling) come from a NumPy generator, so it agrees
with the C++ module in distribution; the deterministic core :func:`spa_core` agrees to
rounding on the same particles.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc, erfcx, logsumexp

LOG_FLOOR = -700.0
_LOG2PI = np.log(2 * np.pi)


def _log_norm(x, var):
    return -0.5 * (_LOG2PI + np.log(var) + x * x / var)


def _softplus(y):
    return np.logaddexp(0.0, y)


def log_emg(z, h, sig, lam):
    """log pdf of z = h + D + e, D ~ Exp(rate lam), e ~ N(0, sig^2); stable for all z (spec 2.1)."""
    z, h = np.broadcast_arrays(np.asarray(z, float), np.asarray(h, float))
    t = (h + lam * sig * sig - z) / (np.sqrt(2.0) * sig)
    out = np.empty_like(t)
    pos = t > 0
    out[pos] = np.log(lam / 2) - (z[pos] - h[pos]) ** 2 / (2 * sig * sig) + np.log(erfcx(t[pos]))
    neg = ~pos
    out[neg] = (
        np.log(lam / 2)
        + lam * (h[neg] - z[neg])
        + 0.5 * lam * lam * sig * sig
        + np.log(erfc(t[neg]))
    )
    return out


def llr(link, m, x, kp):
    """log L(z_m | x) of particles ``x`` (P, 3) on ``link``; ``kp`` = ``params.kernel_dict()``."""
    if link.kind == "bistatic":
        h = np.linalg.norm(x - link.sensor, axis=-1)
        z = link.z[m]
        ll = np.log(kp["mu_s"]) + _log_norm(z - h, kp["sig_r"] ** 2)
        if link.diffuse:
            ll = np.logaddexp(ll, np.log(kp["mu_d"]) + log_emg(z, h, kp["sig_r"], kp["lam_e"]))
        return ll - kp["log_clutter_b"]
    v = x - link.sensor
    nrm = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sum(v / nrm[:, None] * (link.z[m] - 0.5 * (x + link.sensor)), axis=-1)
    out = np.log(kp["mu_m"]) + _log_norm(d, kp["sig_z"] ** 2) - kp["log_area"] - kp["log_clutter_m"]
    return np.where(nrm > 0, out, -np.inf)


def link_mu(link, kp):
    if link.kind == "monostatic":
        return kp["mu_m"]
    return kp["mu_s"] + (kp["mu_d"] if link.diffuse else 0.0)


def _log_birth_pdf(x, kp):
    r = np.linalg.norm(x - np.asarray(kp["roi_c"]), axis=-1)
    return np.where(r <= kp["roi_r"], -np.log(4.0 / 3.0 * np.pi * kp["roi_r"] ** 3), -np.inf)


def _bistatic_proposal(link, m, kp):
    mexc = (kp["mu_d"] / (kp["mu_s"] + kp["mu_d"])) / kp["lam_e"] if link.diffuse else 0.0
    m0 = link.z[m] - 0.5 * mexc
    return m0, 4 * kp["sig_r"] ** 2 + mexc**2


def _mono_frame(link, m):
    w = link.z[m] - link.sensor
    u0 = w / np.linalg.norm(w)
    a = np.array([1.0, 0, 0]) if abs(u0[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(u0, a)
    e1 /= np.linalg.norm(e1)
    return w, u0, e1, np.cross(u0, e1)


def _vertical_log_weights(link, m, x, kp):
    """Bistatic births with the vertical-facade birth pdf: f_B = N(x_z; z_B, s_z^2) / A on the
    ROI ball, q = N_fold(r) N(x_z) / (2 pi r); the height factors cancel."""
    m0, var = _bistatic_proposal(link, m, kp)
    d = x - link.sensor
    r = np.linalg.norm(d, axis=-1)
    r_h2 = d[:, 0] ** 2 + d[:, 1] ** 2
    logq_r = np.logaddexp(_log_norm(r - m0, var), _log_norm(r + m0, var))
    dzc, sz = kp["birth_z"] - kp["roi_c"][2], kp["birth_z_std"]
    log_area = np.log(np.pi * (kp["roi_r"] ** 2 - dzc * dzc - sz * sz))
    inside = np.linalg.norm(x - np.asarray(kp["roi_c"]), axis=-1) <= kp["roi_r"]
    with np.errstate(divide="ignore"):
        lw = -log_area + np.log(2 * np.pi * r) - logq_r
    return np.where(inside & (r_h2 > 0), lw, -np.inf)


def birth_log_weights(link, m, x, kp):
    """Unfloored ``log f_B(x) - log q(x)`` of particles ``x`` (P, 3) proposed from measurement m."""
    if link.kind == "bistatic" and kp["birth_z_std"] > 0:
        return _vertical_log_weights(link, m, x, kp)
    if link.kind == "bistatic":
        m0, var = _bistatic_proposal(link, m, kp)
        r = np.linalg.norm(x - link.sensor, axis=-1)
        logq = np.logaddexp(_log_norm(r - m0, var), _log_norm(r + m0, var)) - np.log(
            4 * np.pi * r * r
        )
        return _log_birth_pdf(x, kp) - logq
    w, u0, _, _ = _mono_frame(link, m)
    v = x - link.sensor
    rho = 0.5 * np.linalg.norm(v, axis=-1)
    n = v / (2 * rho[:, None])
    cmax, s = kp["cone_cos"], 2 * kp["sig_z"]
    logq = -np.log(2 * np.pi * (1 - cmax)) + _log_norm(rho - n @ w, s * s) - np.log(8 * rho * rho)
    inside = n @ u0 >= cmax - 1e-12
    return np.where(inside, _log_birth_pdf(x, kp) - logq, -np.inf)


def draw_birth(link, m, n_particles, kp, rng):
    """Particles (P, 3) and floored log weights (P,) of the new PMF of measurement m."""
    if link.kind == "bistatic" and kp["birth_z_std"] > 0:
        m0, var = _bistatic_proposal(link, m, kp)
        r = np.abs(m0 + np.sqrt(var) * rng.standard_normal(n_particles))
        z = kp["birth_z"] + kp["birth_z_std"] * rng.standard_normal(n_particles)
        rho2 = r * r - (z - link.sensor[2]) ** 2
        rho = np.sqrt(np.maximum(rho2, 0.0))
        ph = rng.uniform(0, 2 * np.pi, n_particles)
        x = np.column_stack(
            [link.sensor[0] + rho * np.cos(ph), link.sensor[1] + rho * np.sin(ph), z]
        )
        lw = np.where(rho2 > 0, _vertical_log_weights(link, m, x, kp), -np.inf)
    elif link.kind == "bistatic":
        m0, var = _bistatic_proposal(link, m, kp)
        r = np.abs(m0 + np.sqrt(var) * rng.standard_normal(n_particles))
        v = rng.standard_normal((n_particles, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        x = link.sensor + r[:, None] * v
        lw = birth_log_weights(link, m, x, kp)
    else:
        w, u0, e1, e2 = _mono_frame(link, m)
        cmax = kp["cone_cos"]
        ct = rng.uniform(cmax, 1.0, n_particles)
        st = np.sqrt(np.maximum(0.0, 1 - ct * ct))
        ph = rng.uniform(0, 2 * np.pi, n_particles)
        n = ct[:, None] * u0 + (st * np.cos(ph))[:, None] * e1 + (st * np.sin(ph))[:, None] * e2
        rho0 = n @ w
        rho = rho0 + 2 * kp["sig_z"] * rng.standard_normal(n_particles)
        x = link.sensor + 2 * rho[:, None] * n
        lw = np.where(
            rho > 0,
            _log_birth_pdf(x, kp)
            + np.log(2 * np.pi * (1 - cmax))
            - _log_norm(rho - rho0, 4 * kp["sig_z"] ** 2)
            + np.log(8 * np.maximum(rho, 1e-300) ** 2),
            -np.inf,
        )
    return x, lw


def _consts(links, owner, k, li, kp):
    if owner[k] >= 0:
        return 0.0, -np.inf, 0.0
    pv = links[li].visibility
    return np.log(pv), (np.log1p(-pv) if pv < 1 else -np.inf), link_mu(links[li], kp)


def legacy_association_logodds(x, lam, eta0, links, kp):
    """Censoring statistic of every measurement: log of sum_k rho_km over the legacy PMFs in a
    legacy-only first iteration (all messages 1), i.e. the log-odds that measurement m is
    associated with some legacy PMF rather than clutter. One array (M_l,) per link.

    ``x`` (K, P, 3), ``lam`` (K, P), ``eta0`` (K,): the predicted legacy PMFs."""
    k_leg, n_p = lam.shape
    log_p = np.log(n_p)
    owner = [-1] * k_leg
    out = []
    phi0 = [
        [
            np.logaddexp(l1pv, lpv - mu)
            for lpv, l1pv, mu in (_consts(links, owner, k, li, kp) for li in range(len(links)))
        ]
        for k in range(k_leg)
    ]
    for li, link in enumerate(links):
        logs = np.full(link.n_meas, -np.inf)
        for k in range(k_leg):
            lpv, _, mu = _consts(links, owner, k, li, kp)
            other = sum(phi0[k][l2] for l2 in range(len(links)) if l2 != li)
            log_z0 = None
            for m in range(link.n_meas):
                ll = np.maximum(llr(link, m, x[k], kp), LOG_FLOOR)
                if ll.max() < kp["gate_log"]:
                    continue
                if log_z0 is None:
                    log_z0 = logsumexp(lam[k] + other + phi0[k][li]) - log_p
                log_z1 = logsumexp(lam[k] + other + lpv - mu + ll) - log_p
                rho = eta0[k] + log_z1 - _softplus(eta0[k] + log_z0)
                logs[m] = np.logaddexp(logs[m], rho)
        out.append(logs)
    return out


def spa_core(x, lam, eta0, owner, first_m, alive, links, kp, n_used=None):
    """Deterministic part of the module: messages, beliefs, existences, MMSE estimates.

    Parameters
    ----------
    x : ndarray, shape (Kt, P, 3); lam : ndarray, shape (Kt, P); eta0 : ndarray, shape (Kt,)
        Particles, floored log weights and prior log-odds of legacy then new PMFs.
    owner, first_m : ndarray, shape (Kt,), int
        Birth link and first measurement of new PMFs (-1 for legacy).
    alive : ndarray, shape (Kt,), bool
        False for new PMFs without birth support or censored (not connected).
    links : list of Link
    n_used : ndarray, shape (Kt,), int, optional
        Particles PMF k uses (its first ``n_used[k]``; default all P).

    Returns
    -------
    log_weights : ndarray, shape (Kt, P) (``-inf`` beyond ``n_used``); logodds : ndarray,
    shape (Kt,); x_hat : ndarray, shape (Kt, 3)
    """
    kt, n_p = lam.shape
    n_l = len(links)
    n_used = np.full(kt, n_p) if n_used is None else np.asarray(n_used)
    xs = [x[k, : n_used[k]] for k in range(kt)]
    lams = [lam[k, : n_used[k]] for k in range(kt)]
    edges = []  # [k, l, m, first, LL]
    for li, link in enumerate(links):
        for k in range(kt):
            if not alive[k] or (owner[k] >= 0 and owner[k] != li):
                continue
            start = 0 if owner[k] < 0 else first_m[k]
            for m in range(start, link.n_meas):
                first = owner[k] >= 0 and m == first_m[k]
                if (
                    owner[k] >= 0
                    and link.kind == "bistatic"
                    and abs(link.z[m] - link.z[first_m[k]]) > kp["gate_range"]
                ):
                    continue
                if (
                    owner[k] >= 0
                    and link.kind == "monostatic"
                    and np.linalg.norm(link.z[m] - link.z[first_m[k]]) > kp["gate_distance"]
                ):
                    continue
                ll = np.maximum(llr(link, m, xs[k], kp), LOG_FLOOR)
                if first or ll.max() >= kp["gate_log"]:
                    edges.append([k, li, m, first, ll])
    conn = np.zeros((kt, n_l), bool)
    for k in range(kt):
        for li in range(n_l):
            conn[k, li] = alive[k] and (owner[k] < 0 or owner[k] == li)

    def consts(k, li):
        return _consts(links, owner, k, li, kp)

    logkappa = np.zeros(len(edges))

    def g_of(e, init):
        if init:
            return np.zeros(n_used[edges[e][0]])
        v = logkappa[e] + edges[e][4]
        return np.maximum(v, LOG_FLOOR) if edges[e][3] else _softplus(v)

    def compute(init):
        big_g = [np.zeros((n_l, n_used[k])) for k in range(kt)]
        for e, (k, li, _, _, _) in enumerate(edges):
            big_g[k][li] += g_of(e, init)
        phi = [np.zeros((n_l, n_used[k])) for k in range(kt)]
        for k in range(kt):
            for li in range(n_l):
                if conn[k, li]:
                    lpv, l1pv, mu = consts(k, li)
                    phi[k][li] = np.logaddexp(l1pv, lpv - mu + big_g[k][li])
        return big_g, phi

    for t in range(kp["n_iter"]):
        init = t == 0
        big_g, phi = compute(init)
        logrho = np.empty(len(edges))
        for e, (k, li, _, first, ll) in enumerate(edges):
            lpv, l1pv, mu = consts(k, li)
            log_n = np.log(n_used[k])
            other = lams[k] + sum(phi[k][l2] for l2 in range(n_l) if l2 != li and conn[k, l2])
            gm = big_g[k][li] - g_of(e, init)
            log_z1 = logsumexp(other + lpv - mu + gm + ll) - log_n
            if first:
                logrho[e] = eta0[k] + log_z1
            else:
                log_z0 = logsumexp(other + np.logaddexp(l1pv, lpv - mu + gm)) - log_n
                logrho[e] = eta0[k] + log_z1 - _softplus(eta0[k] + log_z0)
        for li, link in enumerate(links):
            for m in range(link.n_meas):
                idx = [e for e, ed in enumerate(edges) if ed[1] == li and ed[2] == m]
                for a, e in enumerate(idx):
                    rest = [logrho[j] for b, j in enumerate(idx) if b != a]
                    loo = _softplus(logsumexp(rest)) if rest else 0.0
                    logkappa[e] = max(-loo, LOG_FLOOR)
    _, phi = compute(kp["n_iter"] == 0)
    s = np.full((kt, n_p), -np.inf)
    eta = np.full(kt, -np.inf)
    x_hat = np.full((kt, 3), np.nan)
    for k in range(kt):
        if not alive[k]:
            continue
        sk = lams[k] + np.where(conn[k][:, None], phi[k], 0.0).sum(axis=0)
        s[k, : n_used[k]] = sk
        a = logsumexp(sk)
        eta[k] = eta0[k] + a - np.log(n_used[k])
        x_hat[k] = np.exp(sk - a) @ xs[k]
    return s, eta, x_hat


def systematic_resample(w, u0, n_out=None):
    """Indices (n_out,) of systematic resampling of normalised weights ``w`` (n,) with offset
    ``u0`` (default ``n_out = n``)."""
    c = np.cumsum(w)
    c[-1] = 1.0
    n = w.shape[0]
    n_out = n if n_out is None else n_out
    return np.minimum(np.searchsorted(c, (np.arange(n_out) + u0) / n_out), n - 1)


def spa_update_numpy(x_leg, lam_leg, eta_leg, links, kp, predict, rng):
    """Whole module with NumPy random draws; returns (x_out, eta_out, x_hat)."""
    k_leg, n_p = lam_leg.shape
    n_b = kp["n_birth"] if 0 < kp["n_birth"] < n_p else n_p
    xs, lams, etas = [], [], []
    for k in range(k_leg):
        x, eta = x_leg[k], eta_leg[k]
        if predict:
            ps = kp["p_s"]
            eta = np.log(ps) - _softplus(-eta) - np.log((1 - ps) + ps / (1 + np.exp(eta)))
            x = x + kp["sig_q"] * rng.standard_normal(x.shape)
        xs.append(x)
        lams.append(np.maximum(lam_leg[k], LOG_FLOOR))
        etas.append(eta)
    owner, first_m, alive, n_used = [-1] * k_leg, [-1] * k_leg, [True] * k_leg, [n_p] * k_leg
    censor = [np.zeros(link.n_meas, bool) for link in links]
    if np.isfinite(kp["censor_logit"]) and k_leg > 0:
        stat = legacy_association_logodds(
            np.array(xs).reshape(k_leg, n_p, 3),
            np.array(lams).reshape(k_leg, n_p),
            np.array(etas, float),
            links,
            kp,
        )
        censor = [v > kp["censor_logit"] for v in stat]
    for li, link in enumerate(links):
        if not link.births:
            continue
        for m in range(link.n_meas):
            x, lw = np.tile(link.sensor, (n_p, 1)), np.full(n_p, -np.inf)
            if not censor[li][m]:
                xb, lb = draw_birth(link, m, n_b, kp, rng)
                x, lw[:n_b] = xb[np.arange(n_p) % n_b], lb  # rows padded cyclically
            xs.append(x)
            alive.append(bool(np.isfinite(lw).any()))
            lams.append(np.maximum(lw, LOG_FLOOR))
            etas.append(kp["log_mu_n"] - link_mu(link, kp))
            owner.append(li)
            first_m.append(m)
            n_used.append(n_b)
    kt = len(xs)
    x = np.array(xs).reshape(kt, n_p, 3)
    lam = np.array(lams).reshape(kt, n_p)
    s, eta, x_hat = spa_core(
        x,
        lam,
        np.array(etas, float),
        np.array(owner),
        np.array(first_m),
        np.array(alive),
        links,
        kp,
        np.array(n_used),
    )
    x_out = x.copy()
    for k in range(kt):
        if alive[k] and eta[k] >= kp["log_prune"]:
            sk = s[k, : n_used[k]]
            w = np.exp(sk - logsumexp(sk))
            idx = systematic_resample(w, rng.uniform(), n_p)
            x_out[k] = x[k, idx] + kp["sig_reg"] * rng.standard_normal((n_p, 3))
    return x_out, eta, x_hat
