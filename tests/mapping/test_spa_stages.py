"""Each stage of the C++ module against its NumPy twin, on the same inputs and random numbers.

The C++ stages run one at a time through ``skysense._core._spa_stages`` (the portable build of
``ModuleCall`` in mapping_spa.hpp); the twins are the functions of the same names in
``skysense.mapping._spa_numpy``. Each twin gets exactly what its C++ stage got: the particles
the previous C++ stage left, the edges and messages of the C++ graph, and the C++ random numbers
(``Rng`` / ``birth_randoms``). float64 throughout. Tolerances, stated per quantity:

* positions from the same draws: 1e-12 relative + 1e-9 m absolute (fastmath sincos and
  exp/log against NumPy's);
* log weights, log-likelihood ratios, log-odds, log messages: 1e-12 relative + 1e-9 absolute
  (the kernel forms the ratios in the linear domain and sums in another order); log ratios are
  compared above -690 (below, the linear form underflows towards the -700 floor);
* MMSE positions: 1e-8 m;
* resampled particles: equal to 1e-12 m except where a cumulative weight ties with a sampling
  point (at most 0.1 % of the particles).
"""

import numpy as np
import pytest

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense.mapping import Link, MappingParams, PmfState
from skysense.mapping._spa_numpy import (
    Edge,
    PmfSet,
    add_legacy_edges,
    add_new_pmf_edges,
    beliefs_and_estimates,
    birth_proposal,
    births_are_staged,
    censor_new_pmfs,
    confirm_new_pmfs,
    iterate_messages,
    place_new_pmf,
    predict_legacy_pmfs,
    resample_pmf,
    systematic_resample,
)

stages = _core._spa_stages

RTOL = 1e-12
ATOL_LOG = 1e-9
ATOL_M = 1e-9
SEED = 12345

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
    zb = np.r_[h + 0.2 * rng.standard_normal(), h + rng.exponential(2.0, 3), rng.uniform(0, 400)]
    zm = np.vstack(
        [FOOT + [0, rng.uniform(-8, 8), rng.uniform(-8, 8)] for _ in range(3)]
        + [[[10.0, -20.0, 30.0]]]
    )
    zm[:3, 0] += 0.1 * rng.standard_normal(3)
    b_birth = Link("bistatic", rng.permutation(zb), uav)
    m_birth = Link("monostatic", zm[rng.permutation(4)], BS)
    m_aux = Link("monostatic", zm, BS, births=False, visibility=0.7)
    b_aux = Link("bistatic", zb, uav, births=False, diffuse=False)
    return {
        "bistatic": [b_birth],
        "monostatic": [m_birth],
        "scheme1_b": [b_birth, m_aux],
        "scheme1_m": [m_birth, b_aux],
    }[config]


CASES = {
    # (config, legacy PMFs, particles, params)
    "bistatic": ("bistatic", 2, 211, MappingParams()),
    "monostatic": ("monostatic", 3, 37, MappingParams(censor_threshold=None)),
    "scheme1_b": ("scheme1_b", 3, 101, MappingParams(censor_threshold=0.5)),
    # new PMFs on fewer particles: resampled from them (no confirmation) / confirmed and redrawn
    "scheme1_m": (
        "scheme1_m",
        2,
        64,
        MappingParams(n_birth_particles=23, birth_confirm_margin=None),
    ),
    "confirm": (
        "scheme1_b",
        1,
        101,
        MappingParams(n_birth_particles=11, birth_confirm_margin=100.0),
    ),
    "vertical": (
        "bistatic",
        1,
        97,
        MappingParams(birth_height_std_m=1.0, birth_height_m=15.0, n_iterations=3),
    ),
    "no_iterations": ("scheme1_b", 2, 53, MappingParams(n_iterations=0, censor_threshold=None)),
    # confirmation on, but 90 of 101 particles save less than a second pass costs: P
    "confirm_unstaged": ("scheme1_b", 3, 101, MappingParams(n_birth_particles=90)),
    "censor_all": ("monostatic", 2, 41, MappingParams(censor_threshold=1e-6)),
}


def _setup(rng, case):
    config, n_pmfs, n_p, params = CASES[case]
    state = _legacy(rng, n_pmfs, n_p)
    links = _links(rng, config)
    kc = params._kernel_constants()
    call = stages.ModuleCall(
        params=kc.as_dict(),
        positions_m=state.positions_m,
        log_weights=state.log_weights,
        logodds=state.existence_logodds,
        link_kinds=[0 if link.kind == "bistatic" else 1 for link in links],
        measurements=[link.measurements_m for link in links],
        sensors_m=np.array([link.sensor_position_m for link in links]),
        births=[link.births for link in links],
        diffuse=[link.diffuse for link in links],
        visibility=[link.visibility for link in links],
        seed=SEED,
    )
    return state, links, params, kc, call


def _pmf_set(call):
    """The C++ PMFs as the twin's PmfSet."""
    p = call.pmfs()
    return PmfSet(
        positions_m=p["positions_m"],
        log_weights=p["log_weights"],
        prior_logodds=p["prior_logodds"],
        birth_link=p["birth_link"],
        first_measurement=p["first_measurement"],
        alive=p["alive"],
        n_used=p["n_used"],
    )


def _cpp_edges(call):
    """The C++ graph as the twin's edges (the C++ log-likelihood ratios on the used particles)."""
    e = call.edges()
    n_used = call.pmfs()["n_used"]
    return [
        Edge(int(k), int(li), int(m), bool(f), row[: n_used[k]])
        for k, li, m, f, row in zip(
            e["pmf"], e["link"], e["measurement"], e["first"], e["log_ratios"], strict=True
        )
    ]


def _compare_edges(cpp, twin):
    keys = list(zip(cpp["pmf"], cpp["link"], cpp["measurement"], cpp["first"], strict=True))
    assert keys == [(e.pmf, e.link, e.measurement, e.first) for e in twin]
    for row, e in zip(cpp["log_ratios"], twin, strict=True):
        n = e.log_ratios.shape[0]
        np.testing.assert_array_equal(np.isneginf(row), np.arange(row.size) >= n)
        np.testing.assert_allclose(
            np.maximum(row[:n], -690.0), np.maximum(e.log_ratios, -690.0), rtol=RTOL, atol=ATOL_LOG
        )


def _run_until(call, stage, predict=True):
    order = [
        "predict_legacy_pmfs",
        "add_legacy_edges",
        "censor_new_pmfs",
        "draw_new_pmfs",
        "add_new_pmf_edges",
        "iterate_messages",
        "beliefs_and_estimates",
        "confirm_new_pmfs",
        "resample_pmfs",
    ]
    for name in order[: order.index(stage) + 1]:
        if name == "predict_legacy_pmfs":
            call.predict_legacy_pmfs(predict=predict)
        elif name == "confirm_new_pmfs":
            if call.confirm_new_pmfs():  # redrawn new PMFs: messages and beliefs again
                call.iterate_messages()
                call.beliefs_and_estimates()
        else:
            getattr(call, name)()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("predict", [True, False])
def test_stage_predict_legacy_pmfs(rng, case, predict):
    state, _, _, kc, call = _setup(rng, case)
    call.predict_legacy_pmfs(predict=predict)
    got = call.pmfs()
    k, n_p = state.n_pmfs, state.n_particles
    noise = None
    if predict:  # the kernel's draws: SoA (3, P) blocks of Rng(seed, PREDICT, k)
        noise = np.stack(
            [
                stages.Rng(SEED, stages.PREDICT, j).normals(3 * n_p).reshape(3, n_p).T
                for j in range(k)
            ]
        ).reshape(k, n_p, 3)
    x, lam, eta = predict_legacy_pmfs(
        state.positions_m, state.log_weights, state.existence_logodds, kc, noise
    )
    np.testing.assert_allclose(got["positions_m"][:k], x, rtol=RTOL, atol=ATOL_M)
    np.testing.assert_array_equal(got["log_weights"][:k], lam)
    np.testing.assert_allclose(got["prior_logodds"][:k], eta, rtol=RTOL, atol=ATOL_LOG)
    assert np.isnan(got["positions_m"][k:]).all()  # new PMFs: not drawn yet


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_add_legacy_edges(rng, case):
    _, links, _, kc, call = _setup(rng, case)
    _run_until(call, "add_legacy_edges")
    twin = add_legacy_edges(_pmf_set(call), links, kc)
    assert twin  # the legacy PMF at the VA explains measurements
    _compare_edges(call.edges(), twin)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_censor_new_pmfs(rng, case):
    _, links, params, kc, call = _setup(rng, case)
    _run_until(call, "censor_new_pmfs")
    pmfs = _pmf_set(call)
    got = call.pmfs()
    if params.censor_threshold is None:
        assert np.isneginf(got["association_logodds"]).all() and not got["censored"].any()
        return
    twin = censor_new_pmfs(pmfs, add_legacy_edges(pmfs, links, kc), links, kc)
    flat = np.concatenate(twin)
    np.testing.assert_array_equal(np.isneginf(got["association_logodds"]), np.isneginf(flat))
    fin = np.isfinite(flat)
    np.testing.assert_allclose(got["association_logodds"][fin], flat[fin], rtol=RTOL, atol=ATOL_LOG)
    owner, first = got["birth_link"], got["first_measurement"]
    expect = [
        twin[li][m] > kc.censor_logodds for li, m in zip(owner, first, strict=True) if li >= 0
    ]
    np.testing.assert_array_equal(got["censored"][owner >= 0], expect)
    if case == "censor_all":
        assert got["censored"].any()


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_draw_new_pmfs(rng, case):
    _, links, _, kc, call = _setup(rng, case)
    _run_until(call, "draw_new_pmfs")
    got = call.pmfs()
    n_b = got["n_used"][got["birth_link"] >= 0]
    assert n_b.size > 0
    # new PMFs on n_birth_particles only where the cost rule says so (docs section 4.5)
    pmfs = _pmf_set(call)
    staged = births_are_staged(pmfs, add_legacy_edges(pmfs, links, kc), got["censored"], links, kc)
    n_p = got["positions_m"].shape[1]
    assert (n_b == (min(kc.n_birth_particles, n_p) if staged else n_p)).all()
    if case in ("confirm", "confirm_unstaged"):
        assert staged == (case == "confirm")
    for k in np.flatnonzero(got["birth_link"] >= 0):
        link = links[got["birth_link"][k]]
        n = got["n_used"][k]
        if got["censored"][k]:
            assert not got["alive"][k]
            continue
        draws = stages.birth_randoms(SEED, k, birth_proposal(link, kc), n)
        x, lw, n_supported = place_new_pmf(link, got["first_measurement"][k], draws, kc)
        np.testing.assert_allclose(got["positions_m"][k, :n], x, rtol=RTOL, atol=ATOL_M)
        np.testing.assert_allclose(got["log_weights"][k, :n], lw, rtol=RTOL, atol=ATOL_LOG)
        assert got["alive"][k] == (n_supported > 0)
        # rows beyond n_used repeat the used particles
        n_p = got["positions_m"].shape[1]
        np.testing.assert_array_equal(
            got["positions_m"][k], got["positions_m"][k][np.arange(n_p) % n]
        )


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_add_new_pmf_edges(rng, case):
    _, links, _, kc, call = _setup(rng, case)
    _run_until(call, "add_new_pmf_edges")
    pmfs = _pmf_set(call)
    twin = add_new_pmf_edges(pmfs, add_legacy_edges(pmfs, links, kc), links, kc)
    got = call.edges()
    assert got["first"].any() or not pmfs.alive[pmfs.birth_link >= 0].any()
    _compare_edges(got, twin)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_iterate_messages(rng, case):
    _, links, params, kc, call = _setup(rng, case)
    _run_until(call, "iterate_messages")
    got = call.edges()
    log_kappa, log_rho = iterate_messages(_pmf_set(call), _cpp_edges(call), links, kc)
    np.testing.assert_allclose(got["log_kappa"], log_kappa, rtol=RTOL, atol=ATOL_LOG)
    if params.n_iterations > 0:
        np.testing.assert_allclose(got["log_rho"], log_rho, rtol=RTOL, atol=ATOL_LOG)
        pairs = list(zip(got["link"], got["measurement"], strict=True))
        if len(set(pairs)) < len(pairs):  # a measurement with several edges is contested
            assert (log_kappa < 0).any()


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_beliefs_and_estimates(rng, case):
    _, links, _, kc, call = _setup(rng, case)
    _run_until(call, "beliefs_and_estimates")
    got = call.beliefs()
    log_kappa = call.edges()["log_kappa"]
    s, eta, x_hat = beliefs_and_estimates(_pmf_set(call), _cpp_edges(call), log_kappa, links, kc)
    np.testing.assert_allclose(got["logodds"], eta, rtol=RTOL, atol=ATOL_LOG)
    fin = np.isfinite(s)
    np.testing.assert_array_equal(np.isfinite(got["posterior_log_weights"]), fin)
    np.testing.assert_allclose(got["posterior_log_weights"][fin], s[fin], rtol=RTOL, atol=ATOL_LOG)
    alive = np.isfinite(eta)
    np.testing.assert_allclose(got["estimates_m"][alive], x_hat[alive], rtol=0, atol=1e-8)
    assert np.isnan(got["estimates_m"][~alive]).all()


@pytest.mark.parametrize("case", ["confirm", "confirm_unstaged", "scheme1_m", "bistatic"])
def test_stage_confirm_new_pmfs(rng, case):
    _, links, _, kc, call = _setup(rng, case)
    _run_until(call, "beliefs_and_estimates")
    pmfs = _pmf_set(call)  # the PMFs before confirmation (copies)
    logodds = call.beliefs()["logodds"].copy()
    n_p = pmfs.positions_m.shape[1]
    redrawn = call.confirm_new_pmfs()

    def draws(k):
        return stages.birth_randoms(SEED, k, birth_proposal(links[pmfs.birth_link[k]], kc), n_p)

    twin = confirm_new_pmfs(pmfs, logodds, links, kc, draws)
    assert redrawn == bool(twin)
    assert bool(twin) == (case == "confirm")  # margin 100: every alive new PMF; others: none
    got = call.pmfs()
    np.testing.assert_array_equal(got["n_used"], pmfs.n_used)
    np.testing.assert_array_equal(got["alive"], pmfs.alive)
    for k in twin:
        np.testing.assert_allclose(
            got["positions_m"][k], pmfs.positions_m[k], rtol=RTOL, atol=ATOL_M
        )
        np.testing.assert_allclose(
            got["log_weights"][k], pmfs.log_weights[k], rtol=RTOL, atol=ATOL_LOG
        )
    # the second pass: the graph and the beliefs on the redrawn PMFs
    call.iterate_messages()
    call.beliefs_and_estimates()
    edges = add_new_pmf_edges(pmfs, add_legacy_edges(pmfs, links, kc), links, kc)
    _compare_edges(call.edges(), edges)
    log_kappa, _ = iterate_messages(pmfs, edges, links, kc)
    _, eta, x_hat = beliefs_and_estimates(pmfs, edges, log_kappa, links, kc)
    got = call.beliefs()
    np.testing.assert_allclose(got["logodds"], eta, rtol=RTOL, atol=ATOL_LOG)
    alive = np.isfinite(eta)
    np.testing.assert_allclose(got["estimates_m"][alive], x_hat[alive], rtol=0, atol=1e-8)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stage_resample_pmfs(rng, case):
    state, _, _, kc, call = _setup(rng, case)
    _run_until(call, "resample_pmfs")
    got = call.resampled()
    beliefs = call.beliefs()
    pmfs = _pmf_set(call)
    n_p = state.n_particles
    n_resampled = 0
    for k in range(pmfs.n_pmfs):
        x, _ = pmfs.particles(k)
        if not pmfs.alive[k] or beliefs["logodds"][k] < kc.log_prune_odds:
            # not resampled: the particles the messages used, padded cyclically
            np.testing.assert_array_equal(got[k], x[np.arange(n_p) % x.shape[0]])
            continue
        n_resampled += 1
        r = stages.Rng(SEED, stages.RESAMPLE, k)
        offset = r.uniform()
        noise = r.normals(3 * n_p).reshape(n_p, 3)
        s = beliefs["posterior_log_weights"][k, : x.shape[0]]
        twin = resample_pmf(x, s, n_p, offset, noise, kc.jitter_std_m)
        same = np.isclose(got[k], twin, rtol=0, atol=1e-12).all(axis=1)
        assert same.mean() >= 0.999
    assert n_resampled > 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_stages_chain_is_the_kernel(rng, case, monkeypatch):
    # the stages run one by one give the whole portable kernel's outputs bit for bit
    monkeypatch.setenv("SKYSENSE_ISA", "generic")
    state, links, _, kc, call = _setup(rng, case)
    _run_until(call, "resample_pmfs")
    kt = call.pmfs()["n_used"].shape[0]
    n_p = state.n_particles
    out = {
        "out_positions_m": np.empty((kt, n_p, 3)),
        "out_logodds": np.empty(kt),
        "out_estimates_m": np.empty((kt, 3)),
        "out_posterior_log_weights": np.empty((kt, n_p)),
    }
    _core.spa_update(
        params=kc.as_dict(),
        positions_m=state.positions_m,
        log_weights=state.log_weights,
        logodds=state.existence_logodds,
        link_kinds=[0 if link.kind == "bistatic" else 1 for link in links],
        measurements=[link.measurements_m for link in links],
        sensors_m=np.array([link.sensor_position_m for link in links]),
        births=[link.births for link in links],
        diffuse=[link.diffuse for link in links],
        visibility=[link.visibility for link in links],
        predict=True,
        seed=SEED,
        n_threads=2,
        **out,
    )
    got = call.beliefs()
    np.testing.assert_array_equal(out["out_logodds"], got["logodds"])
    np.testing.assert_array_equal(out["out_estimates_m"], got["estimates_m"])
    np.testing.assert_array_equal(out["out_posterior_log_weights"], got["posterior_log_weights"])
    np.testing.assert_array_equal(out["out_positions_m"], call.resampled())


@pytest.mark.parametrize("proposal", ["sphere", "vertical_circle", "cone"])
@pytest.mark.parametrize("n", [1, 7, 333])
def test_place_new_pmf_on_fresh_draws(rng, proposal, n):
    # the birth transform alone, on random numbers from the test's generator (edge cases
    # included: uniforms at 0 and 1, a folded range, offsets behind the BS)
    params = MappingParams(birth_height_std_m=1.0, birth_height_m=15.0)
    if proposal == "sphere":
        params = MappingParams()
    kc = params._kernel_constants()
    uav = np.array([3.0, 10.0, 35.0])
    if proposal == "cone":
        link = Link("monostatic", np.vstack([FOOT, [10.0, -20.0, 30.0]]), BS)
    else:
        link = Link("bistatic", np.array([0.4, 90.0]), uav)
    rows = {"sphere": "NUU", "vertical_circle": "NNU", "cone": "UUN"}[proposal]
    draws = np.stack(
        [rng.standard_normal(n) * 3 if r == "N" else rng.uniform(size=n) for r in rows]
    )
    if n >= 7:  # uniforms at the ends of (0, 1), normals far out (folded range, plane behind)
        for i, r in enumerate(rows):
            draws[i, :2] = (-40.0, 40.0) if r == "N" else (0.0, 1.0)
    for m in range(2):
        x, lw, geometry, n_ok = stages.place_new_pmf(
            params=kc.as_dict(),
            link_kind=0 if link.kind == "bistatic" else 1,
            measurements=link.measurements_m,
            sensor_m=link.sensor_position_m,
            diffuse=True,
            measurement_index=m,
            draws=draws,
        )
        x_t, lw_t, n_ok_t = place_new_pmf(link, m, draws, kc)
        np.testing.assert_allclose(x, x_t, rtol=RTOL, atol=ATOL_M)
        np.testing.assert_allclose(lw, lw_t, rtol=RTOL, atol=ATOL_LOG)
        assert n_ok == n_ok_t
        # the link geometry the kernel keeps: |x - s| (bistatic), unit normal and |x - s|/2
        d = x - link.sensor_position_m
        dist = np.linalg.norm(d, axis=1)
        ok = dist > 1e-9
        if link.kind == "bistatic":
            np.testing.assert_allclose(geometry[0][ok], dist[ok], rtol=1e-9, atol=1e-9)
        else:
            np.testing.assert_allclose(geometry[3][ok], 0.5 * dist[ok], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(
                geometry[:3, ok].T, d[ok] / dist[ok, None], rtol=1e-9, atol=1e-9
            )


@pytest.mark.parametrize("n", [1, 5, 64, 1001])
def test_systematic_resample_matches(rng, n):
    w = rng.exponential(size=n) ** 3
    w /= w.sum()
    for offset in (0.0, rng.uniform(), 1 - 1e-12):
        for n_out in (n, 2 * n + 1):
            got = stages.systematic_resample(weights=w, n_out=n_out, offset=offset)
            np.testing.assert_array_equal(got, systematic_resample(w, offset, n_out))


def test_stage_binding_bad_input():
    kc = MappingParams()._kernel_constants().as_dict()
    with pytest.raises(ValueError, match="proposal must be"):
        stages.birth_randoms(seed=1, pmf_index=0, proposal="torus", n=3)
    with pytest.raises(ValueError, match="draws: expected shape"):
        stages.place_new_pmf(
            params=kc,
            link_kind=0,
            measurements=np.array([10.0]),
            sensor_m=np.zeros(3),
            diffuse=True,
            measurement_index=0,
            draws=np.zeros((2, 4)),
        )
    with pytest.raises(ValueError, match="measurement_index out of range"):
        stages.place_new_pmf(
            params=kc,
            link_kind=0,
            measurements=np.array([10.0]),
            sensor_m=np.zeros(3),
            diffuse=True,
            measurement_index=1,
            draws=np.zeros((3, 4)),
        )
