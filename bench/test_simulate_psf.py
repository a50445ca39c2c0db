"""(c) ``simulate`` of 1000 off-grid frames (N0 = 4, M = 6) and ``max_sidelobe`` on the
full 1600-voxel grid (N0 = 4, d0 = 3 m: A is 2560 x 1600), against plain NumPy.
"""

import _plain_numpy as plain
import numpy as np
import pytest

from skysense.imaging import Scenario, SensingOperator, max_sidelobe, sensing_matrix, simulate

N_FRAMES, N_TARGETS, SEED = 1000, 6, 7


@pytest.fixture(scope="module")
def scenario():
    return Scenario(n_antennas_side=4, voxel_size_m=3.0, mode="A")


@pytest.mark.parametrize("impl", ["plain NumPy", "skysense.simulate"])
def test_simulate_off_grid(benchmark, ratios, scenario, impl):
    if impl == "plain NumPy":

        def run():
            return plain.simulate_off_grid(scenario, N_FRAMES, N_TARGETS, rng=SEED)[0]
    else:

        def run():
            return simulate(scenario, N_FRAMES, N_TARGETS, off_grid=True, rng=SEED).measurements

    y = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert y.shape == (N_FRAMES, scenario.n_measurements)
    norms = np.linalg.norm(y, axis=1)
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)
    ref = None if impl == "plain NumPy" else "plain NumPy"
    ratios.record(
        benchmark,
        "simulate 1000 off-grid",
        impl,
        reference=ref,
        note="sampler + CSI + exact-norm noise" if ref is None else "",
    )


@pytest.fixture(scope="module")
def psf_inputs(scenario):
    a = sensing_matrix(scenario)
    return {"a": a, "op": SensingOperator(scenario), "expected": plain.max_sidelobe(a)}


@pytest.mark.parametrize("impl", ["NumPy dense Gram", "skysense dense A", "skysense operator"])
def test_max_sidelobe(benchmark, ratios, psf_inputs, impl):
    if impl == "NumPy dense Gram":
        fn, arg, rounds = plain.max_sidelobe, psf_inputs["a"], 5
    else:
        fn, rounds = max_sidelobe, 5
        arg = psf_inputs["a"] if impl == "skysense dense A" else psf_inputs["op"]
    out = benchmark.pedantic(fn, args=(arg,), rounds=rounds, warmup_rounds=1)
    np.testing.assert_allclose(out, psf_inputs["expected"], rtol=1e-9, atol=1e-12)
    ref = None if impl == "NumPy dense Gram" else "NumPy dense Gram"
    ratios.record(
        benchmark,
        "max_sidelobe 1600 c128",
        impl,
        reference=ref,
        note="A^H A, |G|/outer(n, n)" if ref is None else "",
    )
