"""Each C++ BP stage against its NumPy twin (``skysense.tracking._bp_numpy``), fresh random
inputs, odd sizes, 2-D and 3-D. Relative errors: deterministic stages <= 1e-10 (rounding only);
particle draws are checked for their exact structural properties and in distribution."""

import itertools

import numpy as np
import pytest

from skysense import _blas, _core  # noqa: F401
from skysense.tracking import _bp_numpy as ref

RTOL = 1e-10


def _spd(rng, n, size, scale=1.0):
    a = rng.standard_normal((n, size, size))
    return scale * (a @ np.swapaxes(a, 1, 2) + size * np.eye(size))


def _problem(rng, n_dims, n_targets=7, n_meas=5):
    s = 2 * n_dims
    mean = rng.normal(0, 5, (n_targets, s))
    cov = _spd(rng, n_targets, s, 0.5)
    existence = rng.uniform(0.05, 0.95, n_targets)
    # measurements near some targets, plus clutter
    z = mean[rng.integers(n_targets, size=n_meas), :n_dims] + rng.normal(0, 1.5, (n_meas, n_dims))
    zcov = _spd(rng, n_meas, n_dims, 0.3)
    clutter = rng.uniform(1e-3, 1e-2, n_meas)
    return mean, cov, existence, z, zcov, clutter


@pytest.mark.parametrize("n_dims", [2, 3])
def test_predict_gaussian(rng, n_dims):
    mean, cov, ex, *_ = _problem(rng, n_dims)
    s = 2 * n_dims
    f = np.eye(s) + np.diag(np.full(n_dims, 0.1), n_dims)
    q = _spd(rng, 1, s, 0.01)[0]
    args = {
        "mean": mean,
        "cov": cov,
        "existence": ex,
        "transition": f,
        "noise_cov": q,
        "survival": 0.97,
    }
    for got, want in zip(
        _core.tracking_predict_gaussian(**args), ref.tracking_predict_gaussian(**args), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12)
        assert got.dtype == np.float64


@pytest.mark.parametrize("n_dims", [2, 3])
@pytest.mark.parametrize("gate", [4.0, 1e9])
def test_evaluate_gaussian(rng, n_dims, gate):
    mean, cov, ex, z, zcov, clutter = _problem(rng, n_dims)
    args = {
        "mean": mean,
        "cov": cov,
        "existence": ex,
        "z": z,
        "zcov": zcov,
        "clutter": clutter,
        "detection_probability": 0.8,
        "gate": gate,
    }
    beta, ratio = _core.tracking_evaluate_gaussian(**args)
    beta_ref, ratio_ref = ref.tracking_evaluate_gaussian(**args)
    np.testing.assert_allclose(ratio, ratio_ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(beta, beta_ref, rtol=RTOL, atol=0)
    assert beta.shape == (7, 6)
    if gate < 10:
        assert (ratio == 0).any()  # the gate cut some pairs


def _random_beta(rng, k, m):
    beta = np.zeros((k, m + 1))
    beta[:, 0] = rng.uniform(0.1, 1.0, k)
    beta[:, 1:] = rng.lognormal(0, 2, (k, m)) * (rng.uniform(size=(k, m)) < 0.6)
    return beta


@pytest.mark.parametrize(("k", "m"), [(7, 5), (1, 3), (3, 1), (0, 4), (4, 0), (11, 13)])
def test_associate(rng, k, m):
    beta = _random_beta(rng, k, m)
    xi = 1.0 + rng.lognormal(-2, 1, m)
    got = _core.tracking_associate(beta=beta, xi=xi, max_iter=200, tol=1e-9)
    want = ref.tracking_associate(beta=beta, xi=xi, max_iter=200, tol=1e-9)
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL)
    np.testing.assert_allclose(got[1], want[1], rtol=RTOL)
    assert got[2] == want[2]
    assert got[0].shape == (k, m) and got[1].shape == (m,)


def _exact_marginals(beta, xi):
    """p(a_k = m) by enumerating every consistent joint association (tiny problems only)."""
    k_count, m_count = beta.shape[0], beta.shape[1] - 1
    marg = np.zeros_like(beta)
    for a in itertools.product(range(m_count + 1), repeat=k_count):
        used = [v for v in a if v > 0]
        if len(used) != len(set(used)):
            continue
        w = np.prod([beta[k, a[k]] for k in range(k_count)])
        w *= np.prod([xi[j] for j in range(m_count) if j + 1 not in used])
        for k in range(k_count):
            marg[k, a[k]] += w
    return marg / marg.sum(axis=1, keepdims=True)


def _bp_marginals(beta, kappa):
    p = beta.copy()
    p[:, 1:] *= kappa
    return p / p.sum(axis=1, keepdims=True)


def test_associate_exact_on_a_tree(rng):
    """One legacy target: the factor graph is a tree, so BP gives the exact marginals."""
    beta = _random_beta(rng, 1, 4)
    beta[0, 1:] += 0.1
    xi = 1.0 + rng.lognormal(-1, 1, 4)
    kappa, _, _ = _core.tracking_associate(beta=beta, xi=xi, max_iter=100, tol=1e-12)
    np.testing.assert_allclose(_bp_marginals(beta, kappa), _exact_marginals(beta, xi), rtol=1e-10)


def test_associate_close_to_exact_on_loops(rng):
    """Three targets and three measurements (a loopy graph): BP approximates the exact
    association probabilities; over 100 random problems the median error is ~4e-4 and the
    worst ~0.09 (two targets sharing two strong measurements)."""
    errors = []
    for _ in range(100):
        beta = _random_beta(rng, 3, 3)
        xi = 1.0 + rng.lognormal(-2, 1, 3)
        kappa, _, n_iter = _core.tracking_associate(beta=beta, xi=xi, max_iter=1000, tol=1e-12)
        assert n_iter < 1000
        errors.append(np.abs(_bp_marginals(beta, kappa) - _exact_marginals(beta, xi)).max())
    assert np.median(errors) < 0.005
    assert np.max(errors) < 0.15


@pytest.mark.parametrize("n_dims", [2, 3])
def test_update_gaussian(rng, n_dims):
    mean, cov, ex, z, zcov, clutter = _problem(rng, n_dims)
    _, ratio = ref.tracking_evaluate_gaussian(
        mean=mean,
        cov=cov,
        existence=ex,
        z=z,
        zcov=zcov,
        clutter=clutter,
        detection_probability=0.8,
        gate=30.0,
    )
    kappa = rng.uniform(0.1, 1.0, ratio.shape)
    args = {
        "mean": mean,
        "cov": cov,
        "existence": ex,
        "z": z,
        "zcov": zcov,
        "ratio": ratio,
        "kappa": kappa,
        "detection_probability": 0.8,
    }
    for got, want in zip(
        _core.tracking_update_gaussian(**args), ref.tracking_update_gaussian(**args), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # covariances stay symmetric positive definite
    cov_out = _core.tracking_update_gaussian(**args)[1]
    np.testing.assert_array_equal(cov_out, np.swapaxes(cov_out, 1, 2))
    assert (np.linalg.eigvalsh(cov_out) > 0).all()


def _particles(rng, n_dims, k=5, p=301):
    centres = rng.normal(0, 5, (k, 1, 2 * n_dims))
    return centres + rng.normal(0, 1, (k, p, 2 * n_dims))


@pytest.mark.parametrize("n_dims", [2, 3])
def test_predict_particles_deterministic_part(rng, n_dims):
    x = _particles(rng, n_dims)
    ex = rng.uniform(size=x.shape[0])
    s = 2 * n_dims
    f = np.eye(s) + np.diag(np.full(n_dims, 0.1), n_dims)
    got, r = _core.tracking_predict_particles(
        particles=x,
        existence=ex,
        transition=f,
        noise_chol=np.zeros((s, s)),
        survival=0.9,
        seed=3,
        n_threads=1,
    )
    np.testing.assert_allclose(got, x @ f.T, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(r, 0.9 * ex, rtol=RTOL)


def test_predict_particles_noise_distribution(rng):
    x = np.zeros((2, 20000, 4))
    chol = np.linalg.cholesky(_spd(rng, 1, 4, 0.2)[0])
    got, _ = _core.tracking_predict_particles(
        particles=x,
        existence=np.ones(2),
        transition=np.eye(4),
        noise_chol=chol,
        survival=1.0,
        seed=11,
        n_threads=1,
    )
    for k in range(2):
        np.testing.assert_allclose(
            np.cov(got[k], rowvar=False), chol @ chol.T, atol=0.08 * np.abs(chol @ chol.T).max()
        )
    assert abs(got.mean()) < 0.05


@pytest.mark.parametrize("n_dims", [2, 3])
def test_evaluate_particles(rng, n_dims):
    x = _particles(rng, n_dims)
    ex = rng.uniform(0.1, 0.9, x.shape[0])
    z = x[:3, 0, :n_dims] + 0.5
    zcov = _spd(rng, 3, n_dims, 0.3)
    clutter = np.full(3, 2e-3)
    args = {
        "particles": x,
        "existence": ex,
        "z": z,
        "zcov": zcov,
        "clutter": clutter,
        "detection_probability": 0.7,
        "gate": 12.0,
    }
    beta, ratio, lik, conn = _core.tracking_evaluate_particles(**args, n_threads=1)
    b_ref, r_ref, l_ref, c_ref = ref.tracking_evaluate_particles(**args, n_threads=1)
    np.testing.assert_array_equal(conn, c_ref)
    assert conn.any() and not conn.all()
    np.testing.assert_allclose(ratio, r_ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(beta, b_ref, rtol=RTOL, atol=0)
    on = conn.astype(bool)
    np.testing.assert_allclose(lik[on], l_ref[on], rtol=RTOL, atol=0)


def test_update_particles(rng):
    x = _particles(rng, 2, k=4, p=257)
    ex = rng.uniform(0.1, 0.9, 4)
    z = np.ascontiguousarray(x[:2, 0, :2])
    zcov = _spd(rng, 2, 2, 0.5)
    _, _, lik, conn = _core.tracking_evaluate_particles(
        particles=x,
        existence=ex,
        z=z,
        zcov=zcov,
        clutter=np.full(2, 1e-3),
        detection_probability=0.7,
        gate=50.0,
        n_threads=1,
    )
    kappa = rng.uniform(0.2, 1.0, (4, 2))
    args = {
        "particles": x,
        "existence": ex,
        "lik": lik,
        "connected": conn,
        "kappa": kappa,
        "detection_probability": 0.7,
        "seed": 5,
        "n_threads": 1,
    }
    got, r = _core.tracking_update_particles(**args)
    _, r_ref = ref.tracking_update_particles(**args)
    np.testing.assert_allclose(r, r_ref, rtol=RTOL)
    # systematic resampling: every particle is an input particle, copied floor or ceil(P w) times
    for k in range(4):
        on = conn[k].astype(bool)
        w = 0.3 + kappa[k, on] @ lik[k, on]
        w = w / w.sum() * x.shape[1]
        rows = {tuple(v): i for i, v in enumerate(x[k])}
        counts = np.bincount([rows[tuple(v)] for v in got[k]], minlength=x.shape[1])
        assert np.all(counts >= np.floor(w) - 1e-9) and np.all(counts <= np.ceil(w) + 1e-9)


def test_birth_particles_distribution(rng):
    z = np.array([[1.0, 2.0, 3.0], [-4.0, 0.0, 5.0]])
    zcov = _spd(rng, 2, 3, 0.2)
    out = _core.tracking_birth_particles(
        z=z, zcov=zcov, n_particles=20001, velocity_std=4.0, seed=2, n_threads=1
    )
    assert out.shape == (2, 20001, 6)
    for m in range(2):
        np.testing.assert_allclose(out[m, :, :3].mean(axis=0), z[m], atol=0.05)
        np.testing.assert_allclose(
            np.cov(out[m, :, :3], rowvar=False), zcov[m], atol=0.08 * zcov[m].max()
        )
        np.testing.assert_allclose(out[m, :, 3:].std(axis=0), 4.0, rtol=0.03)


def test_particle_stages_do_not_depend_on_threads(rng):
    x = _particles(rng, 3, k=9, p=100)
    ex = rng.uniform(size=9)
    f = np.eye(6)
    chol = 0.1 * np.eye(6)
    one = _core.tracking_predict_particles(
        particles=x, existence=ex, transition=f, noise_chol=chol, survival=1.0, seed=7, n_threads=1
    )
    two = _core.tracking_predict_particles(
        particles=x, existence=ex, transition=f, noise_chol=chol, survival=1.0, seed=7, n_threads=2
    )
    np.testing.assert_array_equal(one[0], two[0])
    z = np.ascontiguousarray(x[:4, 0, :3])
    zcov = np.repeat(np.eye(3)[None], 4, axis=0)
    ev = {
        n: _core.tracking_evaluate_particles(
            particles=x,
            existence=ex,
            z=z,
            zcov=zcov,
            clutter=np.full(4, 1e-3),
            detection_probability=0.5,
            gate=20.0,
            n_threads=n,
        )
        for n in (1, 2)
    }
    for a, b in zip(ev[1], ev[2], strict=True):
        on = ev[1][3].astype(bool)
        if a.ndim == 3:
            a, b = a[on], b[on]
        np.testing.assert_array_equal(a, b)
    up = [
        _core.tracking_update_particles(
            particles=x,
            existence=ex,
            lik=ev[1][2],
            connected=ev[1][3],
            kappa=np.ones((9, 4)),
            detection_probability=0.5,
            seed=1,
            n_threads=n,
        )
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(up[0][0], up[1][0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": np.ones((2, 3)), "xi": np.ones(3)}, "xi: expected shape"),
        ({"beta": -np.ones((2, 3)), "xi": np.ones(2)}, "beta: entries must be finite"),
        ({"beta": np.array([[0.0, 1.0]]), "xi": np.ones(1)}, "missed-detection column"),
        ({"beta": np.ones((2, 3)), "xi": np.full(2, 0.5)}, "xi: entries must be finite and >= 1"),
        ({"beta": np.ones((2, 3), np.float32), "xi": np.ones(2)}, "wrong dtype"),
    ],
)
def test_kernel_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _core.tracking_associate(**kwargs, max_iter=10, tol=1e-6)


def test_kernel_rejects_bad_state_width():
    with pytest.raises(ValueError, match="state: expected 4"):
        _core.tracking_predict_gaussian(
            mean=np.zeros((2, 5)),
            cov=np.zeros((2, 5, 5)),
            existence=np.ones(2),
            transition=np.eye(5),
            noise_cov=np.eye(5),
            survival=1.0,
        )
