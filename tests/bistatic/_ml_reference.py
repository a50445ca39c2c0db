"""NumPy reference of the ML refinement of PARAMING (the C++ kernel's iteration, step by step).

Model (bistatic paper, eq. 15): ``h[t, r, n] = sum_i gamma_i a_t(mu_t,i)[t] a_r(mu_r,i)[r]
c(nu_i)[n]`` with ``x(mu)[k] = exp(-j 2 pi mu k)``; the spatial frequencies are
``mu_t = d_t sin(AoD)``, ``mu_r = d_r sin(AoA)`` and ``nu = df ToA``.  Levenberg-Marquardt on
the cost concentrated over the gains, ``f(eta) = ||h - B G^-1 y||^2`` (``y = B^H h``,
``G = B^H B``): the step solves the joint (angles, delays, gains) normal equations at the LS
gains (so the gain gradient is zero and the step is the variable-projection step of Kaufman),
damped by ``lam diag``, and is accepted when it lowers f.  Converged when the Gauss-Newton
model predicts a decrease below ``rtol f + 1e4 eps^2 ||h||^2``.
"""

from __future__ import annotations

import numpy as np

RTOL = 1e-9
LAMBDA0 = 1e-3
LAMBDA_MAX = 1e8
FLOOR = 1e4


def _vec(n, mu):
    """(n, q) columns exp(-j 2 pi mu_i k), k = 0..n-1."""
    return np.exp(-2j * np.pi * np.outer(np.arange(n), mu))


def atoms(shape, eta):
    """B, shape (nt nr n, q): the separable atoms a_t (x) a_r (x) c."""
    nt, nr, n = shape
    b = np.einsum("ti,ri,ni->trni", _vec(nt, eta[0]), _vec(nr, eta[1]), _vec(n, eta[2]))
    return b.reshape(-1, len(eta[2]))


def concentrated(h, eta):
    """(cost f, LS gains) at eta = (mu_t, mu_r, nu), each (q,)."""
    b = atoms(h.shape, eta)
    y = b.conj().T @ h.ravel()
    gamma = np.linalg.solve(b.conj().T @ b, y)
    resid = h.ravel() - b @ gamma
    return np.vdot(resid, resid).real, gamma


def normal_equations(h, eta, gamma):
    """Real normal matrix Re(J^H J) and right-hand side Re(J^H r), parameters ordered
    [mu_t (q), mu_r (q), nu (q), Re gamma (q), Im gamma (q)], r = h - B gamma."""
    q = len(gamma)
    vecs = [_vec(size, mu) for size, mu in zip(h.shape, eta, strict=True)]
    cols = []
    for axis in range(3):
        parts = [v.copy() for v in vecs]
        k = np.arange(h.shape[axis])[:, None]
        parts[axis] = -2j * np.pi * k * parts[axis]
        cols.append(np.einsum("ti,ri,ni->trni", *parts).reshape(-1, q) * gamma)
    base = np.einsum("ti,ri,ni->trni", *vecs).reshape(-1, q)
    jac = np.concatenate([*cols, base, 1j * base], axis=1)
    resid = h.ravel() - base @ gamma
    return (jac.conj().T @ jac).real, (jac.conj().T @ resid).real


def refine(h, eta, *, max_iter=50, rtol=RTOL):
    """LM from eta; returns (eta, gamma, f, n_iter, converged)."""
    eta = [np.array(e, float) for e in eta]
    q = len(eta[0])
    f, gamma = concentrated(h, eta)
    floor = FLOOR * np.finfo(float).eps ** 2 * np.vdot(h, h).real
    lam = LAMBDA0
    for it in range(max_iter):
        jtj, g = normal_equations(h, eta, gamma)
        d = np.diag(jtj)
        gn = np.linalg.solve(jtj, g)
        if 0.5 * g @ gn <= rtol * f + floor:
            return eta, gamma, f, it, True
        while True:
            step = np.linalg.solve(jtj + lam * np.diag(d), g)
            trial = [eta[a] + step[a * q : (a + 1) * q] for a in range(3)]
            f_new, gamma_new = concentrated(h, trial)
            if f_new < f:
                break
            lam *= 10.0
            if lam > LAMBDA_MAX:
                return eta, gamma, f, it, False
        eta, gamma, f = trial, gamma_new, f_new
        lam = max(lam / 10.0, 1e-12)
    return eta, gamma, f, max_iter, False
