"""Bistatic estimation: PARAMING (C++; Krylov, Gram and full-SVD paths) against one LAPACK SVD
of its Hankel matrix, against the grid baselines at 1-degree grids, batched throughput, and
CORDIC against ``numpy.angle``.

Everything single-threaded except the batched group (``workers=-1``: every CPU): NumPy's BLAS
is pinned to one thread with threadpoolctl so the SVD reference and the kernel use the same
resources.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from skysense import bistatic as bs
from skysense import cordic
from skysense.bistatic.paraming import _hankel_svd

N_BATCH = 16


@pytest.fixture(scope="module")
def setup():
    sc = bs.Scenario()
    rng = np.random.default_rng(20260105)
    paths = bs.random_paths(sc, rng=rng)
    csi = np.stack([bs.simulate(sc, paths, 20.0, rng=rng).csi[0] for _ in range(N_BATCH)])
    mt, mr, m = bs.default_subarrays(sc)
    x = bs.hankel_matrix(csi[0], (mt, mr, m))
    kr, kn = sc.n_rx - mr + 1, sc.n_subcarriers - m + 1
    keep = (np.arange(x.shape[1]) // kr) % kn != kn - 1  # J1: drop the last subcarrier block
    return {"sc": sc, "paths": paths, "csi": csi, "x1": np.ascontiguousarray(x[:, keep])}


@pytest.fixture(autouse=True)
def _single_blas():
    with threadpool_limits(1):
        yield


SVD_IMPLS = [
    "numpy SVD of X1",
    "paraming krylov",
    "paraming gram",
    "paraming svd",
    "krylov triplets",
]


@pytest.mark.parametrize("impl", SVD_IMPLS)
def test_paraming_vs_svd(benchmark, ratios, setup, impl):
    sc, csi, x1 = setup["sc"], setup["csi"][0], setup["x1"]
    assert x1.shape == bs.hankel_shape(sc)
    fn = {
        "numpy SVD of X1": lambda: np.linalg.svd(x1, full_matrices=False),
        "paraming krylov": lambda: bs.paraming(csi, 4, scenario=sc, workers=1, method="krylov"),
        "paraming gram": lambda: bs.paraming(csi, 4, scenario=sc, workers=1, method="gram"),
        "paraming svd": lambda: bs.paraming(csi, 4, scenario=sc, workers=1, method="svd"),
        "krylov triplets": lambda: _hankel_svd(csi, 4, scenario=sc),
    }[impl]
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    ref = None if impl.startswith("numpy") else "numpy SVD of X1"
    notes = {
        "numpy SVD of X1": "numpy.linalg.svd(X1), thin, 1 thread",
        "krylov triplets": "q = 4 triplets of X1 alone",
    }
    ratios.record(
        benchmark,
        "PARAMING per CSI, 640x960 X1, c128",
        impl,
        reference=ref,
        target={"paraming gram": 1.5, "paraming krylov": 0.05}.get(impl),
        note=notes.get(impl, "whole pipeline"),
    )
    if impl in ("paraming krylov", "paraming gram"):
        ratios.record(
            benchmark,
            "PARAMING krylov vs gram",
            impl,
            reference=None if impl == "paraming gram" else "paraming gram",
            target=None if impl == "paraming gram" else 0.1,
        )


@pytest.mark.parametrize("impl", ["dml", "music", "bartlett", "paraming krylov", "paraming gram"])
def test_paraming_vs_grid_methods(benchmark, ratios, setup, impl):
    sc, csi = setup["sc"], setup["csi"][0]
    grid = bs.Grid.uniform(sc)  # 1 degree, 1/(4 N df) up to T_cp: 181 x 181 x 65 voxels
    fn = {
        "dml": lambda: bs.dml(csi, 4, scenario=sc, grid=grid),
        "music": lambda: bs.music(csi, 4, scenario=sc, grid=grid),
        "bartlett": lambda: bs.bartlett(csi, 4, scenario=sc, grid=grid),
        "paraming krylov": lambda: bs.paraming(csi, 4, scenario=sc, workers=1, method="krylov"),
        "paraming gram": lambda: bs.paraming(csi, 4, scenario=sc, workers=1, method="gram"),
    }[impl]
    benchmark.pedantic(fn, rounds=3, warmup_rounds=0)
    counts = bs.operation_counts(sc, 4, grid=grid)  # the algorithms as published
    ratios.record(
        benchmark,
        "PARAMING vs grid methods (1 deg grid)",
        impl,
        reference=None if impl == "dml" else "dml",
        target=0.01 if impl == "paraming krylov" else None,
        note="separable-correlation DML, 2 AP sweeps" if impl == "dml" else "",
        flops=counts.paraming if impl.startswith("paraming") else getattr(counts, impl),
    )
    if impl in ("music", "paraming krylov"):
        ratios.record(
            benchmark,
            "PARAMING vs MUSIC (1 deg grid)",
            impl,
            reference=None if impl == "music" else "music",
            target=None if impl == "music" else 0.01,
        )


@pytest.mark.parametrize("impl", ["loop of single calls", "one batched call"])
def test_paraming_batch(benchmark, ratios, setup, impl):
    sc, csi = setup["sc"], setup["csi"]

    def loop():
        return [bs.paraming(h, 4, scenario=sc, workers=1) for h in csi]

    fn = loop if impl.startswith("loop") else lambda: bs.paraming(csi, 4, scenario=sc, workers=-1)
    benchmark.pedantic(fn, rounds=3, warmup_rounds=0)
    ratios.record(
        benchmark,
        f"PARAMING batch of {N_BATCH} CSIs",
        impl,
        reference=None if impl.startswith("loop") else "loop of single calls",
        note="workers=-1: every CPU" if not impl.startswith("loop") else "",
    )


@pytest.mark.parametrize("impl", ["numpy.angle", "cordic float64", "cordic fixed (32, 28)"])
def test_cordic_throughput(benchmark, ratios, impl):
    rng = np.random.default_rng(7)
    z = rng.standard_normal(1 << 20) + 1j * rng.standard_normal(1 << 20)
    fn = {
        "numpy.angle": lambda: np.angle(z),
        "cordic float64": lambda: cordic.phase(z),
        "cordic fixed (32, 28)": lambda: cordic.phase(z, iterations=28, fixed_point=(32, 28)),
    }[impl]
    out = benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    tol = 1e-14 if impl == "cordic float64" else 2e-7
    np.testing.assert_allclose(out, np.angle(z), rtol=0, atol=tol if impl != "numpy.angle" else 0)
    ratios.record(
        benchmark,
        "phase of 2^20 complex128",
        impl,
        reference=None if impl == "numpy.angle" else "numpy.angle",
        note="54 iterations" if impl == "cordic float64" else "",
    )
