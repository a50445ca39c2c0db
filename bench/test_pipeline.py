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
    ch = BistaticChannel(snr_db=0.0)
    (link,) = simulate_bistatic_csi(default_scene(60), ch, rng=20261206, bs_indices=[0])
    assert link.n_paths[EPOCH] == 3
    return {"ch": ch, "csi": link.csi[EPOCH], "paths": link.paths[EPOCH]}


@pytest.fixture(autouse=True)
def _single_blas():
    with threadpool_limits(1):
        yield


FRONT_END = ["paraming", "front end, given order", "front end, MDL order"]


@pytest.mark.parametrize("impl", FRONT_END)
def test_front_end_epoch(benchmark, ratios, setup, impl):
    ch, csi = setup["ch"], setup["csi"]
    fn = {
        "paraming": lambda: bs.paraming(csi, 3, scenario=ch.scenario, workers=1),
        "front end, given order": lambda: estimate_bistatic(csi, ch, n_paths=3),
        "front end, MDL order": lambda: estimate_bistatic(csi, ch, n_paths="mdl"),
    }[impl]
    benchmark.pedantic(fn, rounds=20, warmup_rounds=2)
    ratios.record(
        benchmark,
        "bistatic front end / epoch",
        impl,
        reference=None if impl == "paraming" else "paraming",
        note="range, AoA, AoD + CRB covariance of 3 paths" if impl != "paraming" else "q = 3",
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
