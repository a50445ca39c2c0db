"""(c) Per-epoch particle SPA module (C++) against its pure NumPy version, P = 20,000.

State: the PMFs of Scheme II (Fusion 3) after 40 epochs of BS1 on the default scene; then one
epoch (41) is timed stage by stage (bistatic module call with births, monostatic module call
with births) and as whole Scheme I / Scheme II epochs. Both engines make the same module
calls on the same inputs; the NumPy draws differ, so the check is on the existence sum.
The paper's MATLAB times at P = 20,000 are 0.22-0.78 s (Scheme I) and 0.42-1.48 s (Scheme II)
per epoch on an i9-14900HX. ``test_table2_cell`` times every cell of Table II, the defaults
against the paper's model in the same run, on 1 and 2 threads (``-k table2``).
"""

from dataclasses import replace

import numpy as np
import pytest

from skysense.mapping import (
    Link,
    Mapper,
    MappingParams,
    PmfState,
    default_scene,
    simulate,
    spa_update,
)

N_PARTICLES = 20000
EPOCH = 40


@pytest.fixture(scope="module")
def setup():
    params = MappingParams(n_particles=N_PARTICLES)
    (data,) = simulate(default_scene(), params, rng=1, bs_indices=[0])
    mapper = Mapper("fusion3", params)
    state = mapper.run(data, rng=0, n_epochs=EPOCH).state
    b, m = mapper._links(
        data.bistatic_ranges_m[EPOCH],
        data.monostatic_positions_m[EPOCH],
        data.uav_positions_m[EPOCH],
        data.bs_position_m,
    )
    return {"params": params, "state": state, "b": b, "m": m, "data": data}


def _stage(setup, kind, engine):
    link = setup["b"] if kind == "bistatic" else setup["m"]
    return lambda: spa_update(setup["state"], [link], setup["params"], rng=1, engine=engine)


@pytest.mark.parametrize("kind", ["bistatic", "monostatic"])
@pytest.mark.parametrize("engine", ["numpy", "cpp"])
def test_module_stage(benchmark, ratios, setup, kind, engine):
    fn = _stage(setup, kind, engine)
    rounds = 3 if engine == "numpy" else 7
    res = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
    ref = _stage(setup, kind, "cpp")()
    assert res.state.n_pmfs == ref.state.n_pmfs
    # legacy existences: same equations, different random draws (process noise)
    k = setup["state"].n_pmfs
    np.testing.assert_allclose(res.state.existence[:k], ref.state.existence[:k], atol=0.05)
    link = setup["b"] if kind == "bistatic" else setup["m"]
    ratios.record(
        benchmark,
        f"SPA {kind} stage P=20k",
        f"{engine} module",
        reference=None if engine == "numpy" else "numpy module",
        target=None,
        note=f"K={k} legacy, M={link.n_measurements}" if engine == "numpy" else "",
    )


def _epoch(setup, scheme, engine):
    d, e = setup["data"], EPOCH
    mapper = Mapper(scheme, setup["params"], engine=engine)
    return lambda: mapper.step(
        setup["state"],
        d.bistatic_ranges_m[e],
        d.monostatic_positions_m[e],
        d.uav_positions_m[e],
        d.bs_position_m,
        rng=1,
    )


@pytest.mark.parametrize("scheme", ["fusion1", "fusion3"])
@pytest.mark.parametrize("engine", ["numpy", "cpp"])
def test_epoch(benchmark, ratios, setup, scheme, engine):
    fn = _epoch(setup, scheme, engine)
    rounds = 3 if engine == "numpy" else 7
    state, _ = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
    assert isinstance(state, PmfState)
    label = "Scheme I" if scheme == "fusion1" else "Scheme II"
    paper = 0.222 if scheme == "fusion1" else 0.417
    ratios.record(
        benchmark,
        f"{label} epoch P=20k",
        f"{engine} mapper",
        reference=None if engine == "numpy" else "numpy mapper",
        target=None,
        note=f"paper MATLAB (lightest load) {paper} s",
    )


def test_links_are_nonempty(setup):
    assert isinstance(setup["b"], Link) and setup["m"].n_measurements > 0


# ---------------------------------------------------------------- Table II, cell by cell
# Per-epoch time of each cell of the paper's Table II (P = 5k / 10k / 20k, measurement loads
# 1 / 2 / 4, Scheme I = Fusion 1 and Scheme II = Fusion 3), with the defaults (new PMFs on
# n_birth_particles = 2,000 until confirmed, docs/mapping_model.md section 4.5) against the
# paper's model (n_birth_particles=None: every new PMF on P particles) in the same run; the
# note gives the factor against the paper's MATLAB time of the cell (the issue asks >= 40x on
# 2 threads, >= 20x on one). Epochs 70-72 of BS1 from the state after epochs 60-69.
TABLE_P = (5000, 10000, 20000)
TABLE_LOADS = (1.0, 2.0, 4.0)
N_TIMED = 3


@pytest.fixture(scope="module")
def table_data():
    return {}


def _table_cell(table_data, n_p, load, scheme, paper_model, threads):
    from skysense.experiments.mapping.runtime import MappingRuntime

    key = (n_p, load, scheme)
    if key not in table_data:
        params = MappingRuntime().params(n_p, load)
        (data,) = simulate(default_scene(), params, rng=1, bs_indices=[0])
        mapper = Mapper(scheme, params)
        state = PmfState.empty(n_p)
        for i, e in enumerate(range(60, 70)):
            state, _ = mapper.step(
                state,
                data.bistatic_ranges_m[e],
                data.monostatic_positions_m[e],
                data.uav_positions_m[e],
                data.bs_position_m,
                rng=e,
                first_epoch=i == 0,
            )
        table_data[key] = (params, data, state)
    params, data, state0 = table_data[key]
    if paper_model:
        params = replace(params, n_birth_particles=None)
    mapper = Mapper(scheme, params, workers=threads)

    def run():
        state = state0
        for e in range(70, 70 + N_TIMED):
            state, _ = mapper.step(
                state,
                data.bistatic_ranges_m[e],
                data.monostatic_positions_m[e],
                data.uav_positions_m[e],
                data.bs_position_m,
                rng=e,
            )
        return state

    return run


@pytest.mark.parametrize(
    ("threads", "n_p", "load", "scheme", "model"),
    [
        (threads, n_p, load, scheme, model)  # the paper's model first: its cell's reference
        for threads in (1, 2)
        for load in TABLE_LOADS
        for n_p in TABLE_P
        for scheme in ("fusion1", "fusion3")
        for model in ("paper", "default")
    ],
)
def test_table2_cell(benchmark, ratios, table_data, threads, n_p, load, scheme, model):
    from skysense.experiments.mapping.runtime import PAPER_MAPPING_RUNTIME

    fn = _table_cell(table_data, n_p, load, scheme, model == "paper", threads)
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    key = "scheme1_s" if scheme == "fusion1" else "scheme2_s"
    matlab = PAPER_MAPPING_RUNTIME[key][TABLE_LOADS.index(load)][TABLE_P.index(n_p)]
    per_epoch = benchmark.stats.stats.median / N_TIMED
    label = "Scheme I" if scheme == "fusion1" else "Scheme II"
    ratios.record(
        benchmark,
        f"{label} P={n_p // 1000}k load {load:g}, {threads} thread{'s' * (threads > 1)}",
        f"{model} model",
        reference=None if model == "paper" else "paper model",
        target=None,
        note=f"{per_epoch * 1e3:.1f} ms/epoch = {matlab / per_epoch:.0f}x MATLAB ({matlab} s)",
    )
