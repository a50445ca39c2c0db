"""CSI-to-map pipeline: the bistatic front end per epoch against PARAMING's own time on the
same CSI (same run), and the front end's CRB against the bistatic package's FIM.

Single-threaded (``workers=1``, NumPy's BLAS pinned to one thread with threadpoolctl).
"""

import pytest
from threadpoolctl import threadpool_limits

from skysense import bistatic as bs
from skysense.mapping import default_scene
from skysense.pipeline import BistaticChannel, estimate_bistatic, simulate_bistatic_csi
from skysense.pipeline.bistatic_front_end import separable_fisher_information

EPOCH = 15  # BS 0 of the default scene (60 epochs): LoS + two specular paths


@pytest.fixture(scope="module")
def setup():
    scene = default_scene(60)
    ch = BistaticChannel(snr_db=0.0, diffuse_mean=0.0)
    (link,) = simulate_bistatic_csi(scene, ch, rng=20261206, bs_indices=[0])
    assert link.n_paths[EPOCH] == 3
    # the same epoch with diffuse clusters and an unknown clock offset (same noise draws)
    rough = BistaticChannel(snr_db=0.0, timing_offset_std_s=100e-9)
    (rough_link,) = simulate_bistatic_csi(scene, rough, rng=20261206, bs_indices=[0])
    return {
        "ch": ch,
        "csi": link.csi[EPOCH],
        "paths": link.paths[EPOCH],
        "rough": rough,
        "rough_csi": rough_link.csi[EPOCH],
        "bs": scene.base_stations_m[0],
        "uav": scene.trajectory_m[EPOCH],
    }


@pytest.fixture(autouse=True)
def _single_blas():
    with threadpool_limits(1):
        yield


FRONT_END = [
    "paraming",
    "front end, given order",
    "front end, MDL order",
    "front end, MDL order, diffuse clusters, LoS sync",
]


@pytest.mark.parametrize("impl", FRONT_END)
def test_front_end_epoch(benchmark, ratios, setup, impl):
    ch, csi = setup["ch"], setup["csi"]
    fn = {
        "paraming": lambda: bs.paraming(csi, 3, scenario=ch.scenario, workers=1),
        "front end, given order": lambda: estimate_bistatic(csi, ch, n_paths=3),
        "front end, MDL order": lambda: estimate_bistatic(csi, ch, n_paths="mdl"),
        "front end, MDL order, diffuse clusters, LoS sync": lambda: estimate_bistatic(
            setup["rough_csi"],
            setup["rough"],
            bs_position_m=setup["bs"],
            uav_positions_m=setup["uav"],
        ),
    }[impl]
    out = benchmark.pedantic(fn, rounds=20, warmup_rounds=2)
    note = "range, AoA, AoD + CRB covariance of 3 paths" if impl != "paraming" else "q = 3"
    if "diffuse" in impl:  # the same epoch's paths, each with its cluster, offset removed
        note = f"{int(out.n_measurements[0])} estimates; LoS + 2 facades with diffuse clusters"
    ratios.record(
        benchmark,
        "bistatic front end / epoch",
        impl,
        reference=None if impl == "paraming" else "paraming",
        note=note,
    )


@pytest.fixture(scope="module")
def echo_setup():
    from skysense.pipeline import simulate_monostatic_csi

    scene = default_scene(60)
    (echo,) = simulate_monostatic_csi(scene, rng=20261206, bs_indices=[0])
    return {"csi": echo.csi[EPOCH], "bs": scene.base_stations_m[0]}


def test_monostatic_front_end_epoch(benchmark, ratios, setup, echo_setup):
    """One epoch of the BS's echoes (4 UPA panels of 8 x 8, 64 subcarriers; specular and
    diffuse echoes) against PARAMING's time on one bistatic CSI (the row above, same run)."""
    from skysense.pipeline import estimate_monostatic

    csi, bs_m = echo_setup["csi"], echo_setup["bs"]
    meas = benchmark.pedantic(
        lambda: estimate_monostatic(csi, bs_m, workers=1), rounds=20, warmup_rounds=2
    )
    ratios.record(
        benchmark,
        "bistatic front end / epoch",
        "monostatic front end, MDL order",
        reference="paraming",
        note=f"{int(meas.n_measurements[0])} echoes on {csi.shape[0]} panels: delay, az, el, "
        "pseudo-positions + CRB",
    )


@pytest.mark.parametrize("impl", ["bistatic.fisher_information", "separable FIM"])
def test_fisher_information(benchmark, ratios, setup, impl):
    ch, paths = setup["ch"], setup["paths"]
    fn = {
        "bistatic.fisher_information": lambda: bs.fisher_information(ch.scenario, paths, 1.0),
        "separable FIM": lambda: separable_fisher_information(ch.scenario, paths, 1.0),
    }[impl]
    benchmark.pedantic(fn, rounds=20, warmup_rounds=2)
    ratios.record(
        benchmark,
        "FIM q=3",
        impl,
        reference=None if impl == "bistatic.fisher_information" else "bistatic.fisher_information",
    )


@pytest.fixture(scope="module")
def stream_setup():
    from skysense.mapping import simulate

    scene = default_scene(40)
    ch = BistaticChannel(diffuse_mean=0.0)  # three paths at epoch 30, as in docs/pipeline.md
    (link,) = simulate_bistatic_csi(scene, ch, rng=1, bs_indices=[0])
    (data,) = simulate(scene, rng=1, bs_indices=[0])
    return {"ch": ch, "link": link, "data": data}


def test_csi_to_map_epoch(benchmark, ratios, stream_setup):
    """CSI in, map out, Scheme II, P = 2,000: a warm stream (30 epochs) then one epoch per
    round (three paths), against the PARAMING row of this group (three paths too)."""
    from skysense.mapping import Mapper, MappingParams
    from skysense.pipeline import CsiMapper

    ch, link, data = stream_setup["ch"], stream_setup["link"], stream_setup["data"]
    mapper = Mapper("fusion3", MappingParams(n_particles=2000, birth_height_std_m=1.0))
    stream = CsiMapper(data.bs_position_m, mapper, ch, rng=0)
    for e in range(30):
        stream.update(link.csi[e], data.uav_positions_m[e], data.monostatic_positions_m[e])
    state, n = stream.state, stream.n_epochs

    def one_epoch():
        stream._state, stream._epoch = state, n  # the same epoch every round
        e = 30
        return stream.update(link.csi[e], data.uav_positions_m[e], data.monostatic_positions_m[e])

    up = benchmark.pedantic(one_epoch, rounds=10, warmup_rounds=1)
    assert up.n_pmfs >= 1
    ratios.record(
        benchmark,
        "bistatic front end / epoch",
        "CSI -> map, P=2000 fusion3",
        reference="paraming",
        note=f"front end {1e3 * up.front_end_s:.1f} ms + filter {1e3 * up.filter_s:.1f} ms",
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_csi_to_map_both_links(benchmark, ratios, stream_setup, workers):
    """CSI in, map out on both links (issue 19's target: <= 10 ms per epoch on 2 threads):
    the bistatic CSI through PARAMING and the BS's echo CSI through the 3-D pencil, Scheme II,
    P = 2,000, warm stream (30 epochs), one epoch per round; against the PARAMING row."""
    import skysense
    from skysense.mapping import Mapper, MappingParams, default_scene
    from skysense.pipeline import CsiMapper, simulate_monostatic_csi

    ch, link, data = stream_setup["ch"], stream_setup["link"], stream_setup["data"]
    if "echo" not in stream_setup:
        (echo,) = simulate_monostatic_csi(default_scene(40), rng=1, bs_indices=[0])
        stream_setup["echo"] = echo
    echo = stream_setup["echo"]
    mapper = Mapper("fusion3", MappingParams(n_particles=2000, birth_height_std_m=1.0))
    stream = CsiMapper(data.bs_position_m, mapper, ch, rng=0)
    with skysense.set_workers(workers):
        for e in range(30):
            stream.update(link.csi[e], data.uav_positions_m[e], monostatic_csi=echo.csi[e])
        state, n = stream.state, stream.n_epochs

        def one_epoch():
            stream._state, stream._epoch = state, n  # the same epoch every round
            e = 30
            return stream.update(link.csi[e], data.uav_positions_m[e], monostatic_csi=echo.csi[e])

        up = benchmark.pedantic(one_epoch, rounds=10, warmup_rounds=1)
    assert up.monostatic is not None
    ratios.record(
        benchmark,
        "bistatic front end / epoch",
        f"CSI -> map, both links, P=2000 fusion3, {workers} worker{'s' * (workers > 1)}",
        reference="paraming",
        note=f"median {1e3 * benchmark.stats.stats.median:.1f} ms/epoch (issue 19: <= 10 ms on "
        f"2 workers); front end {1e3 * up.front_end_s:.1f} ms + filter {1e3 * up.filter_s:.1f} ms",
    )
