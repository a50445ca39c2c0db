"""The C++ SPA module against its NumPy twin and exact oracles (whole module calls).

Stage-by-stage comparisons are in test_spa_stages.py."""

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp

from skysense.mapping import Link, MappingParams, PmfState, spa_update
from skysense.mapping._spa_numpy import (
    PmfSet,
    birth_log_weights,
    log_likelihood_ratio,
    messages_and_beliefs,
)

# float64 throughout; the kernel differs from its NumPy twin only by summation order and the
# linear-domain products of the messages: log-odds and log weights agree to 1e-12 relative or
# 1e-9 absolute, MMSE positions to 1e-8 m.
ATOL_LOG = 1e-9

BS = np.array([0.0, 30.0, 15.0])
VA = np.array([-50.0, 30.0, 15.0])
FOOT = 0.5 * (BS + VA)


def _legacy(rng, n_pmfs, n_p):
    centres = VA + rng.uniform(-30, 30, (n_pmfs, 3)) * (np.arange(n_pmfs)[:, None] > 0)
    x = centres[:, None, :] + rng.uniform(0.2, 1.0) * rng.standard_normal((n_pmfs, n_p, 3))
    lam = 0.3 * rng.standard_normal((n_pmfs, n_p))
    return PmfState(x, lam, rng.uniform(-3, 5, n_pmfs))


def _links(rng, config):
    uav = np.array([3.0, 10.0, 35.0]) + rng.uniform(-2, 2, 3)
    h = np.linalg.norm(uav - VA)
    zb = np.r_[h + 0.2 * rng.standard_normal(), h + rng.exponential(2.0, 2), rng.uniform(0, 400)]
    zm = np.vstack([FOOT + [0, rng.uniform(-8, 8), rng.uniform(-8, 8)], [[10.0, -20.0, 30.0]]])
    zm[0, 0] += 0.1 * rng.standard_normal()
    b_birth = Link("bistatic", rng.permutation(zb), uav)
    m_birth = Link("monostatic", zm, BS)
    m_aux = Link("monostatic", zm, BS, births=False, visibility=0.7)
    b_aux = Link("bistatic", zb, uav, births=False, diffuse=False)
    return {
        "bistatic": [b_birth],
        "monostatic": [m_birth],
        "scheme1_b": [b_birth, m_aux],
        "scheme1_m": [m_birth, b_aux],
        "empty": [Link("bistatic", np.zeros(0), uav), Link("monostatic", np.zeros((0, 3)), BS)],
    }[config]


def _meta(state, links, res):
    owner, first = [-1] * state.n_pmfs, [-1] * state.n_pmfs
    for li, link in enumerate(links):
        if link.births:
            owner += [li] * link.n_measurements
            first += list(range(link.n_measurements))
    alive = np.isfinite(res.state.existence_logodds)
    return np.array(owner), np.array(first), alive


def _pmf_set(state, links, res):
    """The PMFs the kernel's messages used (``res`` with ``return_inputs``), for the twin."""
    owner, first, alive = _meta(state, links, res)
    inp = res.inputs
    return PmfSet(
        positions_m=inp.positions_m,
        log_weights=inp.log_weights,
        prior_logodds=inp.existence_logodds,
        birth_link=owner,
        first_measurement=first,
        alive=alive,
        n_used=res.n_particles_used,
    )


def _numpy_core(state, links, res, params):
    """The NumPy twin of the kernel on the inputs ``res`` was computed from: (s, eta, x_hat)."""
    return messages_and_beliefs(_pmf_set(state, links, res), links, params._kernel_constants())


@pytest.mark.parametrize("config", ["bistatic", "monostatic", "scheme1_b", "scheme1_m", "empty"])
@pytest.mark.parametrize(("n_pmfs", "n_p"), [(0, 1), (1, 37), (3, 211)])
@pytest.mark.parametrize("censor", [None, 0.9])
def test_core_matches_numpy(rng, config, n_pmfs, n_p, censor):
    params = MappingParams(censor_threshold=censor)
    state = _legacy(rng, n_pmfs, n_p)
    links = _links(rng, config)
    res = spa_update(state, links, params, rng=rng, return_inputs=True)
    s, eta, x_hat = _numpy_core(state, links, res, params)
    alive = np.isfinite(res.state.existence_logodds)
    assert res.state.existence_logodds.dtype == np.float64
    np.testing.assert_allclose(res.state.existence_logodds, eta, rtol=1e-12, atol=ATOL_LOG)
    fin = np.isfinite(s)
    np.testing.assert_array_equal(fin, np.isfinite(res.posterior_log_weights))
    np.testing.assert_allclose(res.posterior_log_weights[fin], s[fin], rtol=1e-12, atol=ATOL_LOG)
    np.testing.assert_allclose(res.estimates_m[alive], x_hat[alive], rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", ["bistatic", "monostatic"])
def test_birth_weights_match_proposal_density(rng, kind):
    params = MappingParams()
    links = _links(rng, kind)
    res = spa_update(PmfState.empty(301), links, params, rng=rng, return_inputs=True)
    kp = params._kernel_constants()
    for m in range(links[0].n_measurements):
        lw = np.maximum(birth_log_weights(links[0], m, res.inputs.positions_m[m], kp), -700.0)
        np.testing.assert_allclose(res.inputs.log_weights[m], lw, rtol=1e-12, atol=1e-9)
        # prior log-odds of a new PMF: log mu_n - mu_l
        mu = params.link_mpc_mean(kind)
        assert res.inputs.existence_logodds[m] == pytest.approx(np.log(params.birth_mean) - mu)


def test_single_pmf_is_exact(rng):
    # One legacy PMF, one link, no births: kappa = 1, so BP is exact and
    # eta_post = eta - mu + log mean_i exp(lam_i) prod_m (1 + L(z_m | x_i)).
    params = MappingParams()
    state = _legacy(rng, 1, 499)
    link = Link(
        "bistatic",
        _links(rng, "bistatic")[0].measurements_m,
        _links(rng, "bistatic")[0].sensor_position_m,
        births=False,
    )
    kp = params._kernel_constants()
    res = spa_update(state, [link], params, predict=False, rng=rng, return_inputs=True)
    x, lam = res.inputs.positions_m[0], res.inputs.log_weights[0]
    acc = lam.copy()
    for m in range(link.n_measurements):
        acc += np.logaddexp(0.0, np.maximum(log_likelihood_ratio(link, m, x, kp), -700.0))
    expected = (
        state.existence_logodds[0] - params.link_mpc_mean("bistatic") + logsumexp(acc) - np.log(499)
    )
    assert res.state.existence_logodds[0] == pytest.approx(expected, abs=1e-9)
    one = spa_update(state, [link], MappingParams(n_iterations=1), predict=False, rng=rng)
    assert one.state.existence_logodds[0] == pytest.approx(res.state.existence_logodds[0], abs=1e-9)


@pytest.mark.parametrize("visibility", [1.0, 0.5])
def test_empty_link_applies_visibility_factor(rng, visibility):
    params = MappingParams()
    state = _legacy(rng, 2, 53)
    link = Link("monostatic", np.zeros((0, 3)), BS, visibility=visibility)
    res = spa_update(state, [link], params, predict=False, rng=rng)
    mu = params.monostatic_mpc_mean
    mass = logsumexp(state.log_weights, axis=1) - np.log(53)
    expected = state.existence_logodds + mass + np.log((1 - visibility) + visibility * np.exp(-mu))
    np.testing.assert_allclose(res.state.existence_logodds, expected, atol=1e-9)


def test_deterministic_and_thread_independent(rng):
    params = MappingParams()
    state = _legacy(rng, 3, 101)
    links = _links(rng, "scheme1_b")
    a = spa_update(state, links, params, rng=7, workers=1)
    b = spa_update(state, links, params, rng=7, workers=2)
    c = spa_update(state, links, params, rng=8, workers=1)
    np.testing.assert_array_equal(a.state.positions_m, b.state.positions_m)
    np.testing.assert_array_equal(a.state.existence_logodds, b.state.existence_logodds)
    assert not np.array_equal(a.state.positions_m, c.state.positions_m)


def test_permuting_legacy_pmfs_permutes_outputs(rng):
    params = MappingParams()
    state = _legacy(rng, 4, 67)
    links = [Link("monostatic", _links(rng, "monostatic")[0].measurements_m, BS, births=False)]
    perm = np.array([2, 0, 3, 1])
    a = spa_update(state, links, params, predict=False, rng=1)
    permuted = PmfState(
        state.positions_m[perm], state.log_weights[perm], state.existence_logodds[perm]
    )
    b = spa_update(permuted, links, params, predict=False, rng=1)
    np.testing.assert_allclose(
        b.state.existence_logodds, a.state.existence_logodds[perm], atol=1e-9
    )
    np.testing.assert_allclose(b.estimates_m, a.estimates_m[perm], atol=1e-9)


def test_systematic_resampling_counts(rng):
    params = MappingParams(jitter_std_m=0.0)
    n_p = 257
    x = rng.standard_normal((1, n_p, 3))
    lam = rng.normal(0, 1.5, (1, n_p))
    res = spa_update(PmfState(x, lam, np.zeros(1)), [], params, predict=False, rng=rng)
    w = np.exp(lam[0] - logsumexp(lam[0]))
    # each output particle is an input particle; counts are floor/ceil of P w
    match = np.all(res.state.positions_m[0][:, None, :] == x[0][None], axis=-1)
    assert match.any(axis=1).all()
    counts = match.sum(axis=0)
    assert np.all(counts >= np.floor(n_p * w) - 1e-9)
    assert np.all(counts <= np.ceil(n_p * w) + 1e-9)
    np.testing.assert_allclose(res.estimates_m[0], w @ x[0], atol=1e-12)


def test_numpy_engine_agrees_in_distribution(rng):
    params = MappingParams()
    state = _legacy(rng, 1, 4001)
    links = [Link("monostatic", _links(rng, "monostatic")[0].measurements_m, BS, births=False)]
    a = spa_update(state, links, params, rng=1, engine="cpp")
    b = spa_update(state, links, params, rng=1, engine="numpy")
    assert a.state.existence_logodds.shape == b.state.existence_logodds.shape
    # process noise (0.02 m) changes the particles slightly; existence and estimate agree
    np.testing.assert_allclose(
        a.state.existence_logodds, b.state.existence_logodds, rtol=0.05, atol=0.5
    )
    np.testing.assert_allclose(a.estimates_m, b.estimates_m, atol=0.05)


def test_bad_input(rng):
    params = MappingParams()
    state = _legacy(rng, 1, 11)
    uav = np.array([0.0, 0.0, 30.0])
    with pytest.raises(ValueError, match="NaN"):
        Link("bistatic", np.array([10.0, np.nan]), uav)
    with pytest.raises(ValueError, match=">= 0"):
        Link("bistatic", np.array([-1.0]), uav)
    with pytest.raises(ValueError, match="shape"):
        Link("monostatic", np.zeros((2, 2)), BS)
    with pytest.raises(ValueError, match="range_max_m"):
        spa_update(state, [Link("bistatic", np.array([1e4]), uav)], params)
    with pytest.raises(ValueError, match="clutter_box_m"):
        spa_update(state, [Link("monostatic", np.array([[0.0, 0.0, 500.0]]), BS)], params)
    with pytest.raises(ValueError, match="n_particles"):
        PmfState(np.zeros((1, 0, 3)), np.zeros((1, 0)), np.zeros(1))
    with pytest.raises(ValueError, match="position_std_m must be > 0, got 0.0"):
        MappingParams(position_std_m=0.0)
    with pytest.raises(ValueError, match="visibility"):
        Link("bistatic", np.zeros(0), uav, visibility=0.0)
    with pytest.raises(ValueError, match="engine"):
        spa_update(state, [], params, engine="matlab")
    with pytest.raises(TypeError, match="Link"):
        spa_update(state, [np.zeros(3)], params)
    # a monostatic point at the BS itself: no birth support, the new PMF is dropped
    res = spa_update(PmfState.empty(11), [Link("monostatic", BS[None], BS)], params, rng=rng)
    assert res.state.existence_logodds[0] == -np.inf
    assert res.state.prune(1e-3).n_pmfs == 0
    # no PMFs and no measurements: empty result
    empty = spa_update(PmfState.empty(5), [Link("bistatic", np.zeros(0), uav)], params)
    assert empty.state.n_pmfs == 0


def test_pickled_inputs_work(rng):
    # unpickled arrays carry their own dtype objects (equal to, not the same as, NumPy's
    # canonical float64); the binding used to reject them with "wrong dtype float64"
    params = MappingParams()
    state = _legacy(rng, 2, 31)
    links = _links(rng, "scheme1_b")
    a = spa_update(state, links, params, rng=3)
    state2, links2, params2 = pickle.loads(pickle.dumps((state, links, params)))
    b = spa_update(state2, links2, params2, rng=3)
    np.testing.assert_array_equal(a.state.positions_m, b.state.positions_m)
    np.testing.assert_array_equal(a.state.existence_logodds, b.state.existence_logodds)


def test_non_native_byte_order_is_a_clear_error():
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    with pytest.raises(
        ValueError, match="positions_m: wrong dtype >f8 \\(non-native byte order\\)"
    ):
        _core.spa_update(
            params=MappingParams()._kernel_constants().as_dict(),
            positions_m=np.zeros((1, 3, 3), dtype=">f8"),
            log_weights=np.zeros((1, 3)),
            logodds=np.zeros(1),
            link_kinds=[],
            measurements=[],
            sensors_m=np.zeros((0, 3)),
            births=[],
            diffuse=[],
            visibility=[],
            predict=False,
            seed=1,
            out_positions_m=np.empty((1, 3, 3)),
            out_logodds=np.empty(1),
            out_estimates_m=np.empty((1, 3)),
        )


def test_kernel_takes_arguments_by_name_only_as_declared():
    # every argument of the binding has a name (py::arg); a misspelt or missing one is an error
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    with pytest.raises(TypeError):
        _core.spa_update(params={}, positions_m=np.zeros((0, 3, 3)))
    with pytest.raises(ValueError, match="params: missing key 'n_iterations'"):
        _core.spa_update(
            params={},
            positions_m=np.zeros((0, 3, 3)),
            log_weights=np.zeros((0, 3)),
            logodds=np.zeros(0),
            link_kinds=[],
            measurements=[],
            sensors_m=np.zeros((0, 3)),
            births=[],
            diffuse=[],
            visibility=[],
            predict=False,
            seed=1,
            out_positions_m=np.empty((0, 3, 3)),
            out_logodds=np.empty(0),
            out_estimates_m=np.empty((0, 3)),
        )


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
@pytest.mark.parametrize("config", ["scheme1_b", "scheme1_m", "bistatic"])
def test_isa_builds_agree(rng, monkeypatch, config, isa):
    # same source, same random streams; only FMA contraction, vector width and (AVX-512) the
    # reciprocal of the message update (vrcp14pd + 2 Newton steps, within an ulp) differ
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    monkeypatch.setenv("SKYSENSE_ISA", isa)
    try:
        _core.mapping_isa()
    except ValueError:
        pytest.skip(f"CPU without the {isa} kernel (only the portable one)")
    params = MappingParams()
    state = _legacy(rng, 3, 211)
    links = _links(rng, config)
    monkeypatch.setenv("SKYSENSE_ISA", "generic")
    a = spa_update(state, links, params, rng=5, return_inputs=True)
    monkeypatch.setenv("SKYSENSE_ISA", isa)
    b = spa_update(state, links, params, rng=5, return_inputs=True)
    np.testing.assert_allclose(a.inputs.positions_m, b.inputs.positions_m, rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(
        a.state.existence_logodds, b.state.existence_logodds, rtol=1e-12, atol=ATOL_LOG
    )
    alive = np.isfinite(a.state.existence_logodds)
    np.testing.assert_allclose(a.estimates_m[alive], b.estimates_m[alive], rtol=0, atol=1e-8)
    # resampled states: identical indices except at (rare) ties of the cumulative weights
    close = np.isclose(a.state.positions_m, b.state.positions_m, rtol=0, atol=1e-9).all(axis=-1)
    assert close.mean() > 0.99


def test_isa_override(monkeypatch):
    from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

    monkeypatch.setenv("SKYSENSE_ISA", "generic")
    assert _core.mapping_isa() == "generic"
    monkeypatch.setenv("SKYSENSE_ISA", "sse9")
    with pytest.raises(ValueError, match="SKYSENSE_ISA must be one of"):
        spa_update(PmfState.empty(3), [], MappingParams())


@pytest.mark.parametrize("config", ["bistatic", "monostatic", "scheme1_b", "scheme1_m"])
@pytest.mark.parametrize("n_birth", [1, 23, 211])
@pytest.mark.parametrize("margin", [None, 100.0])
def test_core_matches_numpy_with_fewer_birth_particles(rng, config, n_birth, margin):
    # margin None: new PMFs stay on n_birth particles; 100: every alive one is confirmed and
    # redrawn on P (docs section 4.5), and the messages the outputs come from used those
    params = MappingParams(n_birth_particles=n_birth, birth_confirm_margin=margin)
    state = _legacy(rng, 2, 97)
    links = _links(rng, config)
    res = spa_update(state, links, params, rng=rng, return_inputs=True)
    owner, _, alive = _meta(state, links, res)
    inp, n_used = res.inputs, res.n_particles_used
    n_new = 97 if margin is not None else min(n_birth, 97)
    expect = np.where(owner < 0, 97, np.where(alive, n_new, min(n_birth, 97)))
    np.testing.assert_array_equal(n_used[alive | (owner < 0)], expect[alive | (owner < 0)])
    s, eta, x_hat = _numpy_core(state, links, res, params)
    np.testing.assert_allclose(res.state.existence_logodds, eta, rtol=1e-12, atol=ATOL_LOG)
    np.testing.assert_array_equal(np.isfinite(s), np.isfinite(res.posterior_log_weights))
    fin = np.isfinite(s)
    np.testing.assert_allclose(res.posterior_log_weights[fin], s[fin], rtol=1e-12, atol=ATOL_LOG)
    np.testing.assert_allclose(res.estimates_m[alive], x_hat[alive], rtol=0, atol=1e-8)
    # padding repeats the used particles; the output has P particles per PMF
    for k in np.flatnonzero(owner >= 0):
        np.testing.assert_array_equal(
            inp.positions_m[k], inp.positions_m[k][np.arange(97) % n_used[k]]
        )
    assert res.state.positions_m.shape == (len(owner), 97, 3)


def test_birth_particles_are_resampled_to_p(rng):
    params = MappingParams(
        n_birth_particles=7, birth_confirm_margin=None, jitter_std_m=0.0, prune_threshold=1e-300
    )
    links = _links(rng, "monostatic")
    res = spa_update(PmfState.empty(50), links, params, rng=rng, return_inputs=True)
    for k in np.flatnonzero(np.isfinite(res.state.existence_logodds)):
        used = res.inputs.positions_m[k, :7]
        out = res.state.positions_m[k]
        assert np.all(np.isclose(out[:, None, :], used[None]).all(axis=-1).any(axis=1))
        w = np.exp(res.posterior_log_weights[k, :7] - logsumexp(res.posterior_log_weights[k, :7]))
        np.testing.assert_allclose(res.estimates_m[k], w @ used, atol=1e-9)


@pytest.mark.parametrize("config", ["bistatic", "monostatic", "scheme1_b", "scheme1_m"])
@pytest.mark.parametrize("threshold", [1e-6, 0.5, 0.999])
def test_censoring_matches_numpy(rng, config, threshold):
    from skysense.mapping._spa_numpy import add_legacy_edges, censor_new_pmfs

    params = MappingParams(censor_threshold=threshold)
    state = _legacy(rng, 3, 151)
    # legacy PMF 0 sits on the VA: its facade's measurements are explained by it
    links = _links(rng, config)
    res = spa_update(state, links, params, rng=5, return_inputs=True)
    # new PMFs without birth support are dropped with or without censoring (same draws)
    off = MappingParams(censor_threshold=None)
    unsupported = np.isneginf(spa_update(state, links, off, rng=5).state.existence_logodds)
    kp = params._kernel_constants()
    pmfs = _pmf_set(state, links, res)
    stat = censor_new_pmfs(pmfs, add_legacy_edges(pmfs, links, kp), links, kp)
    owner, first, _ = _meta(state, links, res)
    births = owner >= 0
    expect = np.array(
        [stat[o][m] > kp.censor_logodds for o, m in zip(owner, first, strict=True) if o >= 0]
    )
    expect |= unsupported[births]
    censored = ~np.isfinite(res.state.existence_logodds[births])
    np.testing.assert_array_equal(censored, expect)
    if threshold == 1e-6:
        assert censored.any()
    _, eta, _ = messages_and_beliefs(pmfs, links, kp)
    np.testing.assert_allclose(res.state.existence_logodds, eta, rtol=1e-12, atol=ATOL_LOG)
    # the NumPy module censors the same measurements (no prediction: same legacy particles)
    nres = spa_update(state, links, params, predict=False, rng=1, engine="numpy")
    cres = spa_update(state, links, params, predict=False, rng=1)
    np.testing.assert_array_equal(
        np.isneginf(nres.state.existence_logodds), np.isneginf(cres.state.existence_logodds)
    )


def test_censoring_off_and_no_legacy_change_nothing(rng):
    state = _legacy(rng, 2, 61)
    links = _links(rng, "scheme1_b")
    a = spa_update(state, links, MappingParams(censor_threshold=None), rng=4)
    b = spa_update(state, links, MappingParams(censor_threshold=1 - 1e-12), rng=4)
    np.testing.assert_array_equal(a.state.existence_logodds, b.state.existence_logodds)
    empty = PmfState.empty(61)
    c = spa_update(empty, links, MappingParams(censor_threshold=None), rng=4)
    d = spa_update(empty, links, MappingParams(censor_threshold=1e-9), rng=4)
    np.testing.assert_array_equal(c.state.existence_logodds, d.state.existence_logodds)


def test_speed_options_bad_input():
    with pytest.raises(ValueError, match="n_birth_particles"):
        MappingParams(n_birth_particles=0)
    with pytest.raises(TypeError, match="n_birth_particles"):
        MappingParams(n_birth_particles=2.5)
    for bad in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match="censor_threshold"):
            MappingParams(censor_threshold=bad)
    with pytest.raises(ValueError, match="censor_threshold"):
        MappingParams(censor_threshold=float("nan"))


def test_select_checks_the_mask(rng):
    state = _legacy(rng, 3, 5)
    assert state.select([True, False, True]).n_pmfs == 2
    with pytest.raises(ValueError, match="mask must have shape"):
        state.select([True, False])


@pytest.mark.parametrize("engine", ["cpp", "numpy"])
@pytest.mark.parametrize("config", ["bistatic", "scheme1_b", "scheme1_m"])
def test_prune_equals_pruning_the_result(rng, engine, config):
    params = MappingParams(prune_threshold=0.2)
    state = _legacy(rng, 3, 41)
    links = _links(rng, config)
    full = spa_update(state, links, params, rng=11, engine=engine)
    pruned = spa_update(state, links, params, rng=11, engine=engine, prune=True)
    expected = full.state.prune(params.prune_threshold)
    keep = full.state.existence_logodds >= np.log(0.2) - np.log1p(-0.2)
    assert 0 < pruned.state.n_pmfs == expected.n_pmfs < full.state.n_pmfs
    np.testing.assert_array_equal(pruned.state.positions_m, expected.positions_m)
    np.testing.assert_array_equal(pruned.state.log_weights, expected.log_weights)
    np.testing.assert_array_equal(pruned.state.existence_logodds, expected.existence_logodds)
    np.testing.assert_array_equal(pruned.estimates_m, full.estimates_m[keep])
    # the next call takes the pruned state (a view of the kernel's output) as input
    nxt = spa_update(pruned.state, links, params, rng=12, engine=engine, prune=True)
    ref = spa_update(expected, links, params, rng=12, engine=engine, prune=True)
    np.testing.assert_array_equal(nxt.state.positions_m, ref.state.positions_m)


def test_prune_bad_input(rng):
    state = _legacy(rng, 1, 5)
    links = _links(rng, "bistatic")
    with pytest.raises(TypeError, match="prune must be a bool"):
        spa_update(state, links, MappingParams(), prune="yes")
    with pytest.raises(ValueError, match="prune and return_inputs"):
        spa_update(state, links, MappingParams(), prune=True, return_inputs=True)


@pytest.mark.parametrize("config", ["scheme1_b", "monostatic"])
def test_thread_independent_with_particle_blocks(rng, config):
    # P > the kernel's 2048-particle blocks of the G products, split by cost over the threads
    state = _legacy(rng, 2, 4500)
    links = _links(rng, config)
    params = MappingParams(prune_threshold=1e-6)
    runs = [spa_update(state, links, params, rng=3, workers=w, prune=True) for w in (1, 2, 3)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].state.positions_m, other.state.positions_m)
        np.testing.assert_array_equal(
            runs[0].state.existence_logodds, other.state.existence_logodds
        )
        np.testing.assert_array_equal(runs[0].estimates_m, other.estimates_m)


def test_workers_default_and_set_workers(rng):
    # workers=None is skysense.get_workers() (1 unless set_workers); -1 is every CPU; the
    # results never depend on it
    import skysense

    params = MappingParams()
    state = _legacy(rng, 3, 301)
    links = _links(rng, "scheme1_m")
    ref = spa_update(state, links, params, rng=9, workers=1)
    with skysense.set_workers(2):
        in_block = spa_update(state, links, params, rng=9)
    every_cpu = spa_update(state, links, params, rng=9, workers=-1)
    default = spa_update(state, links, params, rng=9)
    for res in (in_block, every_cpu, default):
        np.testing.assert_array_equal(res.state.positions_m, ref.state.positions_m)
        np.testing.assert_array_equal(res.state.existence_logodds, ref.state.existence_logodds)
    with pytest.raises(ValueError, match="workers"):
        spa_update(state, links, params, workers=0)
    with pytest.raises(TypeError, match="workers"):
        spa_update(state, links, params, workers=1.5)


def test_rng_forms_give_the_same_kernel_seed(rng):
    # an int, its SeedSequence and a fresh Generator of it draw the same kernel seed; a
    # Generator passed in advances (the next call differs)
    params = MappingParams()
    state = _legacy(rng, 2, 51)
    links = _links(rng, "bistatic")
    a = spa_update(state, links, params, rng=21)
    b = spa_update(state, links, params, rng=np.random.SeedSequence(21))
    gen = np.random.default_rng(21)
    c = spa_update(state, links, params, rng=gen)
    d = spa_update(state, links, params, rng=gen)
    for res in (b, c):
        np.testing.assert_array_equal(res.state.positions_m, a.state.positions_m)
    assert not np.array_equal(d.state.positions_m, a.state.positions_m)
    with pytest.raises(TypeError, match="rng must be None, an int seed"):
        spa_update(state, links, params, rng="seven")


def test_results_have_a_short_repr(rng):
    params = MappingParams()
    res = spa_update(_legacy(rng, 2, 2001), _links(rng, "scheme1_b"), params, rng=1)
    text = repr(res)
    assert text.startswith("SpaResult(") and len(text.splitlines()) <= 6
    assert "estimates_m=float64[" in text
    state_text = repr(res.state)
    assert len(state_text.splitlines()) <= 5 and "positions_m=float64[" in state_text
