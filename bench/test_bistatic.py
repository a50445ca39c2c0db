"""Bistatic estimation: PARAMING (C++; Krylov, Gram and full-SVD paths) against one LAPACK SVD
of its Hankel matrix, against its own q-triplet iteration, with and without its ML refinement,
against the grid baselines at 1-degree grids, batched throughput on 1 and 2 threads, and CORDIC
against ``numpy.angle``.

Everything single-threaded except the batched groups: NumPy's BLAS is pinned to one thread with
threadpoolctl so the SVD reference and the kernel use the same resources.  The thread-scaling
group also reports, per round, the CPU time of the busiest thread against the 1-thread CPU time
(the critical path, which load on a shared machine does not inflate) and the load average.
"""

import os
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from skysense import bistatic as bs
from skysense import cordic
from skysense.bistatic.paraming import _hankel_svd

N_BATCH = 16
N_SCALING = 64


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


REFINE_SIZES = [(8, 10, 64), (5, 7, 33), (6, 9, 47)]
REFINE_IMPLS = ["krylov triplets", "refine=False", "refined (default)"]


def _refinement_case(size):
    """Scenario, 4 CSIs (LoS + 3 targets, 20 dB) and the three calls compared, per CSI."""
    nt, nr, n = size
    sc = bs.Scenario(n_tx=nt, n_rx=nr, n_subcarriers=n)
    rng = np.random.default_rng(20260121)
    paths = bs.random_paths(sc, rng=rng)
    csis = [bs.simulate(sc, paths, 20.0, rng=rng, pilots="orthogonal").csi[0] for _ in range(4)]
    q = paths.n_paths
    fns = {
        "krylov triplets": lambda h: _hankel_svd(h, q, scenario=sc),
        "refine=False": lambda h: bs.paraming(h, q, scenario=sc, workers=1, refine=False),
        "refined (default)": lambda h: bs.paraming(h, q, scenario=sc, workers=1),
    }
    return csis, fns


@pytest.fixture(scope="module")
def refinement_cpu():
    """CPU time of the calling thread per call [s], (min, median) over 15 rounds in which the
    three calls alternate, each on the same 4 CSIs: load on a shared machine inflates wall
    times, and drifts between separately timed groups, but hits the three alike here."""
    out = {}
    with threadpool_limits(1):
        for size in REFINE_SIZES:
            csis, fns = _refinement_case(size)
            times = {k: [] for k in fns}
            for _ in range(15):
                for k, fn in fns.items():
                    t0 = time.thread_time()
                    for h in csis:
                        fn(h)
                    times[k].append((time.thread_time() - t0) / len(csis))
            out[size] = {k: (min(v), float(np.median(v))) for k, v in times.items()}
    return out


@pytest.mark.parametrize("size", REFINE_SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", REFINE_IMPLS)
def test_refinement_cost(benchmark, ratios, refinement_cpu, impl, size):
    """The ML refinement's cost as a ratio to PARAMING itself (target 1.5x, issue 21), and
    PARAMING's Krylov path against its own q-triplet iteration (target 1.5x, issue 17).  The
    wall medians come from separate groups of rounds; the notes give the interleaved CPU
    times of :func:`refinement_cpu` (min / median) and their ratios, the numbers to trust
    on a loaded machine."""
    csis, fns = _refinement_case(size)
    fn = fns[impl]
    benchmark.pedantic(lambda: fn(csis[0]), rounds=15, warmup_rounds=2)
    name = "x".join(map(str, size))
    cpu = refinement_cpu[size]

    def note(ref):
        lo, med = cpu[impl]
        text = f"CPU {1e3 * lo:.2f}/{1e3 * med:.2f} ms"
        if ref is not None:
            text += f" = {lo / cpu[ref][0]:.2f}x/{med / cpu[ref][1]:.2f}x"
        return text

    if impl != "krylov triplets":
        ratios.record(
            benchmark,
            f"PARAMING refinement cost, {name}",
            impl,
            reference=None if impl == "refine=False" else "refine=False",
            target=1.5 if impl == "refined (default)" else None,
            note=note(None if impl == "refine=False" else "refine=False"),
        )
    if impl != "refined (default)":
        ratios.record(
            benchmark,
            f"PARAMING Krylov path vs its q triplets, {name}",
            impl,
            reference=None if impl == "krylov triplets" else "krylov triplets",
            target=1.5 if impl == "refine=False" else None,
            note=note(None if impl == "krylov triplets" else "krylov triplets"),
        )


def _thread_cpu_ns():
    """Per-thread CPU time of this process [ns] (Linux schedstat; {} elsewhere)."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except OSError:
            pass
    return out


def _busiest_thread_ms(fn):
    """(wall [ms], CPU of the busiest thread [ms], total CPU [ms]) of one call of fn."""
    before = _thread_cpu_ns()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    after = _thread_cpu_ns()
    used = [after[k] - before.get(k, 0) for k in after]
    return 1e3 * wall, 1e-6 * max(used, default=0), 1e-6 * sum(used)


@pytest.fixture(scope="module")
def scaling_batch():
    sc = bs.Scenario()
    rng = np.random.default_rng(20260117)
    paths = bs.random_paths(sc, rng=rng)
    csi = np.stack(
        [
            bs.simulate(sc, paths, 20.0, rng=rng, pilots="orthogonal").csi[0]
            for _ in range(N_SCALING)
        ]
    )
    return sc, csi


@pytest.mark.parametrize("refine", [False, True], ids=["refine=False", "refined"])
@pytest.mark.parametrize("threads", [1, 2])
def test_paraming_thread_scaling(benchmark, ratios, scaling_batch, threads, refine):
    """A batch of 64 CSIs on 2 threads against 1 thread (target 0.6x, issue 17).  The wall
    ratio needs two idle cores: under load the session's threads share one scheduler entity
    (Linux autogroup), so the note also gives the busiest thread's CPU time against the
    1-thread CPU time (the critical path) and the load average around the rounds."""
    sc, csi = scaling_batch

    def fn():
        return bs.paraming(csi, 4, scenario=sc, workers=threads, refine=refine)

    load0 = os.getloadavg()[0]
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    load1 = os.getloadavg()[0]
    _, busiest, total = _busiest_thread_ms(fn)
    benchmark.extra_info.update(
        {"busiest_thread_ms": busiest, "total_cpu_ms": total, "load": [load0, load1]}
    )
    group = f"PARAMING batch of {N_SCALING} CSIs, {'refined' if refine else 'refine=False'}"
    key = (group, "cpu")
    if threads == 1:
        _CPU[key] = total
        note = f"CPU {total:.0f} ms; load {load0:.1f}->{load1:.1f}"
    else:
        one = _CPU.get(key)
        crit = f"critical path {busiest / one:.2f}x of 1-thread CPU" if one else ""
        note = f"{crit}; CPU {total:.0f} ms; load {load0:.1f}->{load1:.1f}"
    ratios.record(
        benchmark,
        group,
        f"{threads} thread{'s' if threads > 1 else ''}",
        reference=None if threads == 1 else "1 thread",
        target=0.6 if threads == 2 else None,
        note=note,
    )


_CPU: dict = {}
