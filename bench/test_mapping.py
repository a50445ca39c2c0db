"""(c) Per-epoch particle SPA module (C++) against its pure NumPy version, P = 20,000.

State: the PMFs of Scheme II (Fusion 3) after 40 epochs of BS1 on the default scene; then one
epoch (41) is timed stage by stage (bistatic module call with births, monostatic module call
with births) and as whole Scheme I / Scheme II epochs. Both engines make the same module
calls on the same inputs; the NumPy draws differ, so the check is on the existence sum.
The paper's MATLAB times at P = 20,000 are 0.22-0.78 s (Scheme I) and 0.42-1.48 s (Scheme II)
per epoch on an i9-14900HX; the issue asks for >= 20x faster than those.
"""

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
