"""Baseline "fusion without diffuse modelling" ([23]-style, spec 4.4), in NumPy.

Monostatic points initialise PMFs at the specular VAs ``2 z~ - p_B`` (first epoch); bistatic
pseudo-ranges then update them with the classic one-to-one (probabilistic) data association
and a specular-only Gaussian likelihood, with one potential new PMF per measurement.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from skysense.mapping._spa_numpy import systematic_resample
from skysense.mapping.params import MappingParams
from skysense.mapping.state import PmfState

__all__ = ["associate_one_to_one", "one_to_one_init", "one_to_one_update"]

_LOG2PI = np.log(2 * np.pi)


def associate_one_to_one(beta0, beta, xi, *, max_iter=1000, tol=1e-6):
    """Loopy BP for one-to-one association (Williams & Lau).

    Parameters
    ----------
    beta0 : ndarray, shape (n_pmfs,)
        Missed-detection / non-existence weight per PMF.
    beta : ndarray, shape (n_meas, n_pmfs)
        Association weight of measurement m to PMF k.
    xi : ndarray, shape (n_meas,)
        Weight of "clutter or new feature" per measurement.

    Returns
    -------
    nu : ndarray, shape (n_meas, n_pmfs)
        Measurement -> PMF messages.
    zeta : ndarray, shape (n_meas, n_pmfs)
        PMF -> measurement messages.
    """
    m, k = beta.shape
    nu = np.ones((m, k))
    zeta = np.zeros((m, k))
    if m == 0 or k == 0:
        return nu, zeta
    for _ in range(max_iter):
        old = nu
        prod = nu * beta
        zeta = beta / (beta0[None, :] + prod.sum(0, keepdims=True) - prod)
        nu = 1.0 / (xi[:, None] + zeta.sum(1, keepdims=True) - zeta)
        if np.max(np.abs(np.log(nu / old))) < tol:
            break
    return nu, zeta


def one_to_one_init(zm, bs, params: MappingParams, rng) -> PmfState:
    """PMFs at the specular VAs ``2 z~ - p_B`` of monostatic points (existence 0.5)."""
    n_p = params.n_particles
    zm = np.asarray(zm, float).reshape(-1, 3)
    x = (2 * zm - bs)[:, None, :] + 4 * params.position_std_m * rng.standard_normal(
        (zm.shape[0], n_p, 3)
    )
    return PmfState(x, np.zeros((zm.shape[0], n_p)), np.zeros(zm.shape[0]))


def one_to_one_update(state: PmfState, zb, uav, params: MappingParams, rng) -> PmfState:
    """Prediction + one-to-one bistatic update + births; returns the resampled PMFs."""
    n_p, pd = state.n_particles, params.detect_prob_oto
    fa = params.clutter_mean_b / params.range_max_m
    var = params.range_std_m**2
    ps = params.survival
    p = ps * state.existence
    x = state.positions + params.process_std_m * rng.standard_normal(state.positions.shape)
    k, m = state.n_pmfs, zb.shape[0]
    h = np.linalg.norm(x - uav, axis=-1)  # (K, P)
    logf = -0.5 * (_LOG2PI + np.log(var) + (zb[:, None, None] - h[None]) ** 2 / var)  # (M,K,P)
    beta0 = p * (1 - pd) + (1 - p)
    beta = p[None, :] * pd * np.exp(logsumexp(logf, axis=2) - np.log(n_p)) / fa
    vertical = params.birth_height_std_m is not None and params.birth_height_m is not None
    if vertical:  # vertical-facade birth pdf (MappingParams.birth_height_std_m): ring density
        dzc = params.birth_height_m - params.roi_center_m[2]
        area = np.pi * (params.roi_radius_m**2 - dzc**2 - params.birth_height_std_m**2)
        c = params.undetected_mean * pd * (2 * np.pi * zb / area) / fa
    else:
        roi_volume = 4.0 / 3.0 * np.pi * params.roi_radius_m**3
        c = params.undetected_mean * pd * (4 * np.pi * zb**2 / roi_volume) / fa
    nu, zeta = associate_one_to_one(beta0, beta.reshape(m, k), 1.0 + c)
    xs, etas = [], []
    for j in range(k):
        w = (1 - pd) + (pd / fa * np.exp(logf[:, j, :]) * nu[:, j][:, None]).sum(0)
        alive, dead = p[j] * w.mean(), 1 - p[j]
        idx = systematic_resample(w / w.sum(), rng.uniform())
        xs.append(x[j, idx] + params.jitter_std_m * rng.standard_normal((n_p, 3)))
        etas.append(np.log(alive) - np.log(dead))
    nu_new = 1.0 / (1.0 + zeta.sum(1)) if k else np.ones(m)
    for i in range(m):
        r = zb[i] + params.range_std_m * rng.standard_normal(n_p)
        if vertical:
            z = params.birth_height_m + params.birth_height_std_m * rng.standard_normal(n_p)
            rho = np.sqrt(np.maximum(r * r - (z - uav[2]) ** 2, 0.0))
            ph = rng.uniform(0, 2 * np.pi, n_p)
            xs.append(np.column_stack([uav[0] + rho * np.cos(ph), uav[1] + rho * np.sin(ph), z]))
        else:
            v = rng.standard_normal((n_p, 3))
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            xs.append(uav + r[:, None] * v)
        etas.append(np.log(nu_new[i] * c[i]))
    n = len(xs)
    return PmfState(np.array(xs).reshape(n, n_p, 3), np.zeros((n, n_p)), np.array(etas, float))
