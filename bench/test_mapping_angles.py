"""Angle-aided bistatic module call (ours, docs/pipeline.md) against the range-only one, P = 2,000.

State: the PMFs of angle-aided Fusion 4 after 40 epochs of BS1 on the default scene, from CSI
(PARAMING front end); then epoch 41's bistatic module call with births is timed with and
without the angles, on the same PMFs and ranges, in interleaved rounds (ratio angles / range).
"""

from dataclasses import replace

import numpy as np
import pytest

from skysense.mapping import Link, Mapper, MappingParams, default_scene, simulate, spa_update
from skysense.pipeline import (
    BistaticChannel,
    estimate_bistatic,
    simulate_bistatic_csi,
    with_bistatic_measurements,
)

N_PARTICLES = 2000
EPOCH = 40


@pytest.fixture(scope="module")
def setup():
    params = MappingParams(
        n_particles=N_PARTICLES,
        birth_height_std_m=1.0,
        visibility_monostatic=0.2,
        bistatic_angles=True,
    )
    scene = default_scene(EPOCH + 1)
    channel = BistaticChannel(diffuse_mean=0.0)  # the CSI these rows were measured on
    (ideal,) = simulate(scene, params, rng=1, bs_indices=[0])
    (link,) = simulate_bistatic_csi(scene, channel, rng=2, bs_indices=[0])
    data = with_bistatic_measurements(ideal, estimate_bistatic(link.csi, channel), channel=channel)
    mapper = Mapper("fusion4", params)
    state = mapper.run(data, rng=0, n_epochs=EPOCH).state
    prm = replace(params, birth_height_m=float(data.bs_position_m[2]))
    b, _ = mapper._links(
        data.bistatic_ranges_m[EPOCH],
        data.monostatic_positions_m[EPOCH],
        data.uav_positions_m[EPOCH],
        data.bs_position_m,
        data.bistatic_angles[EPOCH],
    )
    return {"params": prm, "state": state, "b": b}


def _call(setup, angles):
    b = setup["b"]
    link = b if angles else Link("bistatic", b.measurements_m, b.sensor_position_m)
    return lambda: spa_update(setup["state"], [link], setup["params"], rng=1)


@pytest.mark.parametrize("angles", [False, True])
def test_bistatic_module_angles(benchmark, ratios, setup, angles):
    fn = _call(setup, angles)
    res = benchmark.pedantic(fn, rounds=7, warmup_rounds=1)
    assert res.state.n_pmfs == setup["state"].n_pmfs + setup["b"].n_measurements
    assert np.isfinite(res.state.existence_logodds[: setup["state"].n_pmfs]).all()
    ratios.record(
        benchmark,
        "SPA bistatic stage P=2k, angle-aided",
        "cpp angles" if angles else "cpp range only",
        reference="cpp range only" if angles else None,
        target=None,
        note=f"K={setup['state'].n_pmfs} legacy, M={setup['b'].n_measurements}",
    )
