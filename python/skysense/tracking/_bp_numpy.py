"""Pure NumPy version of the BP tracking stages: the reference of ``tracking_bp.hpp``.

Same equations (docs/tracking.md, T1-T9), same gating, same argument names and return tuples
as the ``_core.tracking_*`` functions, written the obvious way (SciPy's multivariate normal
density, explicit exclusive sums, an explicit mixture). The particle stages draw from a NumPy
generator instead of the kernel's xoshiro streams, so they agree with the C++ stages in
distribution; with zero process noise (prediction) and on given particles (evaluation) they
agree to rounding, and the resampled existence probabilities (update) agree exactly.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.stats import multivariate_normal

_F64: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "tracking_associate",
    "tracking_birth_particles",
    "tracking_evaluate_gaussian",
    "tracking_evaluate_particles",
    "tracking_predict_gaussian",
    "tracking_predict_particles",
    "tracking_update_gaussian",
    "tracking_update_particles",
]


def _gen(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed))


def tracking_predict_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    transition: _F64,
    noise_cov: _F64,
    survival: float,
) -> tuple[_F64, _F64, _F64]:
    """(T1) x' = F x, P' = F P F^T + Q, r' = p_s r."""
    f = transition
    return (
        mean @ f.T,
        np.einsum("ij,kjl,ml->kim", f, cov, f) + noise_cov,
        survival * existence,
    )


def tracking_predict_particles(
    *,
    particles: _F64,
    existence: _F64,
    transition: _F64,
    noise_chol: _F64,
    survival: float,
    seed: int,
    n_threads: int,
) -> tuple[_F64, _F64]:
    """(T1) x' = F x + L_Q w per particle."""
    w = _gen(seed).standard_normal(particles.shape)
    return particles @ transition.T + w @ np.tril(noise_chol).T, survival * existence


def _beta(existence: _F64, ratio: _F64, detection_probability: float) -> _F64:
    r = existence[:, None]
    miss = (1.0 - existence) + existence * (1.0 - detection_probability)
    return np.concatenate([miss[:, None], r * ratio], axis=1)


def tracking_evaluate_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    clutter: _F64,
    detection_probability: float,
    gate: float,
) -> tuple[_F64, _F64]:
    """(T2, T3) ratio = p_d N(z_m; H x, H P H^T + R_m) / lambda_c(z_m), gated; beta rows."""
    n_dims = z.shape[1] if z.ndim == 2 else mean.shape[1] // 2
    k_count, m_count = mean.shape[0], z.shape[0]
    ratio = np.zeros((k_count, m_count))
    for k in range(k_count):
        for m in range(m_count):
            c = cov[k, :n_dims, :n_dims] + zcov[m]
            v = z[m] - mean[k, :n_dims]
            if v @ np.linalg.solve(c, v) <= gate:
                density = multivariate_normal(mean[k, :n_dims], c).pdf(z[m])
                ratio[k, m] = detection_probability * density / clutter[m]
    return _beta(existence, ratio, detection_probability), ratio


def tracking_evaluate_particles(
    *,
    particles: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    clutter: _F64,
    detection_probability: float,
    gate: float,
    n_threads: int,
) -> tuple[_F64, _F64, _F64, npt.NDArray[np.uint8]]:
    """(T2, T3) ratio = mean over particles of p_d N(z_m; H x_i, R_m) / lambda_c(z_m)."""
    n_dims = particles.shape[2] // 2
    k_count, n_particles = particles.shape[:2]
    m_count = z.shape[0]
    ratio = np.zeros((k_count, m_count))
    lik = np.zeros((k_count, m_count, n_particles))
    connected = np.zeros((k_count, m_count), dtype=np.uint8)
    for k in range(k_count):
        pos = particles[k, :, :n_dims]
        mu = pos.mean(axis=0)
        spread = np.cov(pos, rowvar=False, bias=True).reshape(n_dims, n_dims)
        for m in range(m_count):
            v = z[m] - mu
            if v @ np.linalg.solve(spread + zcov[m], v) > gate:
                continue
            connected[k, m] = 1
            density = multivariate_normal(np.zeros(n_dims), zcov[m]).pdf(z[m] - pos)
            lik[k, m] = detection_probability * np.atleast_1d(density) / clutter[m]
            ratio[k, m] = lik[k, m].mean()
    return _beta(existence, ratio, detection_probability), ratio, lik, connected


def tracking_associate(
    *, beta: _F64, xi: _F64, max_iter: int, tol: float
) -> tuple[_F64, _F64, int]:
    """(T4 - T6) Loopy BP data association, exclusive sums written out as sums over m' != m."""
    k_count, m_count = beta.shape[0], beta.shape[1] - 1
    kappa = np.ones((k_count, m_count))
    if m_count == 0:
        return kappa, np.ones(0), 0
    if k_count == 0:
        return kappa, np.ones(m_count), 0
    nu = np.ones((k_count, m_count))
    phi = np.zeros((k_count, m_count))
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        term = beta[:, 1:] * nu
        for m in range(m_count):
            others = np.delete(term, m, axis=1).sum(axis=1)
            phi[:, m] = beta[:, 1 + m] / (beta[:, 0] + others)  # (T4)
        new = np.empty_like(nu)
        for k in range(k_count):
            others = np.delete(phi, k, axis=0).sum(axis=0)
            new[k] = 1.0 / (xi + others)  # (T5)
        change = np.max(np.abs(np.log(new / nu)))
        nu = new
        if change <= tol:
            break
    iota = 1.0 / (1.0 + phi.sum(axis=0))  # (T6)
    return nu, iota, n_iter


def tracking_update_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    ratio: _F64,
    kappa: _F64,
    detection_probability: float,
) -> tuple[_F64, _F64, _F64]:
    """(T7, T8) Mixture of the prior and one Kalman update per measurement, moment-matched."""
    n_dims = mean.shape[1] // 2
    h = np.eye(n_dims, mean.shape[1])
    mean_out, cov_out = np.empty_like(mean), np.empty_like(cov)
    total = np.empty(mean.shape[0])
    for k in range(mean.shape[0]):
        weights = [1.0 - detection_probability]
        means: list[Any] = [mean[k]]
        covs: list[Any] = [cov[k]]
        for m in range(z.shape[0]):
            w = kappa[k, m] * ratio[k, m]
            if w <= 0:
                continue
            s = h @ cov[k] @ h.T + zcov[m]
            gain = cov[k] @ h.T @ np.linalg.inv(s)
            means.append(mean[k] + gain @ (z[m] - h @ mean[k]))
            covs.append(cov[k] - gain @ s @ gain.T)
            weights.append(w)
        w = np.asarray(weights)
        total[k] = w.sum()
        mu = np.einsum("j,ja->a", w, np.asarray(means)) / total[k]
        d = np.asarray(means) - mu
        cov_out[k] = (
            np.einsum("j,jab->ab", w, np.asarray(covs)) + np.einsum("j,ja,jb->ab", w, d, d)
        ) / total[k]
        mean_out[k] = mu
    r = existence
    return mean_out, cov_out, r * total / (r * total + (1.0 - r))


def systematic_resample(weights: _F64, u0: float) -> npt.NDArray[np.intp]:
    """Indices of ``len(weights)`` systematic draws with offset ``u0`` in (0, 1)."""
    n = weights.size
    edges = np.cumsum(weights)
    edges[-1] = max(edges[-1], 1.0)
    return np.minimum(np.searchsorted(edges, (np.arange(n) + u0) / n), n - 1)


def tracking_update_particles(
    *,
    particles: _F64,
    existence: _F64,
    lik: _F64,
    connected: npt.NDArray[np.uint8],
    kappa: _F64,
    detection_probability: float,
    seed: int,
    n_threads: int,
) -> tuple[_F64, _F64]:
    """(T7, T8) Particle weights, existence, systematic resampling."""
    gen = _gen(seed)
    out = np.empty_like(particles)
    r_out = np.empty(particles.shape[0])
    for k in range(particles.shape[0]):
        keep = connected[k].astype(bool)
        w = (1.0 - detection_probability) + kappa[k, keep] @ lik[k, keep]
        mean_w = w.mean()
        r = existence[k]
        r_out[k] = r * mean_w / (r * mean_w + 1.0 - r)
        out[k] = particles[k, systematic_resample(w / w.sum(), gen.uniform())]
    return out, r_out


def tracking_birth_particles(
    *,
    z: _F64,
    zcov: _F64,
    n_particles: int,
    velocity_std: float,
    seed: int,
    n_threads: int,
) -> _F64:
    """(T9) position ~ N(z_m, R_m), velocity ~ N(0, velocity_std^2 I)."""
    gen = _gen(seed)
    m_count, n_dims = z.shape
    out = np.empty((m_count, n_particles, 2 * n_dims))
    for m in range(m_count):
        out[m, :, :n_dims] = gen.multivariate_normal(z[m], zcov[m], size=n_particles)
        out[m, :, n_dims:] = velocity_std * gen.standard_normal((n_particles, n_dims))
    return out
