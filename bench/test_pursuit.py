"""(c) Subspace pursuit: the obvious call against one pass over A, in 2-D and 3-D.

2-D: the off-grid configuration (N0 = 5, mode A, 6250 x 1600, M = 6). One frame (complex128)
is timed against one contiguous GEMV ``A^H y`` over the same A: SP without ``gram=`` (the
cost model picks the residual form, on a half-precision copy of A), the same on A itself
(double-precision passes, the previous default), with ``gram=`` (the Monte-Carlo loop), on a
:class:`SensingOperator` without a Gram (residual form on the links) and with its cached Gram;
against the plain-NumPy Algorithm 1 of ``tests/_reference.py`` (lstsq on A[:, S] each
iteration), scikit-learn's OMP on the real-stacked problem (the Gram-form peer) and pylops'
matrix-free OMP. The batch group times 256 complex64 frames against the GEMM ``A^H Y``.

3-D: ``Scenario.paper_3d()`` (960 x 6400, N0 = 2, 6 subcarriers): the same one-frame and
batch groups, and the matrix-free ``SensingOperator.gram()`` against the dense ``A^H A``.

Every BLAS (NumPy's, SciPy's and the kernels') runs on one thread here and SP uses
``workers=1``, so kernel and reference run at equal thread counts; the notes give the load
average before and after each row and a paired (interleaved) ratio in process CPU time. On a
loaded machine, ``--benchmark-timer time.process_time`` times the rows in CPU time too. Recovery rates (on-grid frames) are printed in the notes.
"""

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from skysense.imaging import (
    Scenario,
    SensingOperator,
    pursuit,
    sensing_matrix,
    simulate,
    subspace_pursuit,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _reference  # the NumPy SP the tests check the kernel against

K = 6
N_BATCH = 256
N_RECOVERY = 64


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Every BLAS in the process on one thread (equal thread counts for kernel and reference)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        yield


def _load():
    return f"load {os.getloadavg()[0]:.1f}"


def _record(ratios, benchmark, group, name, load_before, note="", **kwargs):
    """``ratios.record`` with the BLAS threads and the load average before/after in the note."""
    text = f"1 BLAS thread; {load_before} -> {_load()}" + (f"; {note}" if note else "")
    ratios.record(benchmark, group, name, note=text, **kwargs)


def _paired(subject, reference, rounds):
    """Interleaved timing, ``reference`` and ``subject`` alternately: the ratios of their
    fastest and of their median rounds, so both see the same load (a shared machine).

    Timed in process CPU time: every product here runs on one thread, so CPU time is the work
    done, without the time slices that other processes take on a loaded machine (run with
    ``--benchmark-timer time.process_time`` to time the table's rows the same way)."""
    import time

    times = {"s": [], "r": []}
    for _ in range(rounds):
        for key, fn in (("r", reference), ("s", subject)):
            t0 = time.process_time()
            fn()
            times[key].append(time.process_time() - t0)
    s, r = np.array(times["s"]), np.array(times["r"])
    return f"paired x{rounds}: {s.min() / r.min():.2f}x (min), {np.median(s) / np.median(r):.2f}x (median)"


@pytest.fixture(scope="module")
def setup():
    scenario = Scenario(n_antennas_side=5, voxel_size_m=3.0, mode="A")
    a = sensing_matrix(scenario, np.complex128)
    op = SensingOperator(scenario, np.complex128)
    gram = op.gram()  # == A^H A to rounding (tests/imaging/test_sensing.py)
    off = simulate(scenario, N_BATCH, K, off_grid=True, noise_model="gaussian", rng=1)
    on = simulate(scenario, N_RECOVERY, K, noise_model="gaussian", rng=2)
    a64 = a.astype(np.complex64)
    return {
        "scenario": scenario,
        "a": a,
        "gram": np.array(gram),
        "a64": a64,
        "op64": SensingOperator(scenario, np.complex64),
        "gram64": gram.astype(np.complex64),
        "y": off.measurements[0],
        "y_batch": off.measurements.astype(np.complex64),
        "on": on,
    }


def _recovery(supports, on):
    truth = np.sort(on.voxel_index, axis=1)
    return float(np.mean([set(s) == set(t) for s, t in zip(supports, truth, strict=True)]))


def _stacked(a):
    """Real form ``[[Re a, -Im a], [Im a, Re a]]`` of a complex matrix."""
    return np.block([[a.real, -a.imag], [a.imag, a.real]])


def _omp_support(orthogonal_mp_gram, a, gram_stacked, y):
    # Stacked correlations A_s^T y_s = [Re(A^H y); Im(A^H y)] from one complex GEMV.
    z = np.conj(np.conj(y) @ a)
    with warnings.catch_warnings():
        # "ended prematurely due to linear dependence": adjacent voxels are nearly collinear;
        # OMP then returns fewer atoms, which the recovery rate accounts for.
        warnings.simplefilter("ignore", RuntimeWarning)
        coef = orthogonal_mp_gram(
            gram_stacked, np.concatenate([z.real, z.imag]), n_nonzero_coefs=2 * K
        )
    n_voxels = a.shape[1]
    power = coef[:n_voxels] ** 2 + coef[n_voxels:] ** 2
    return np.sort(np.argsort(-power, kind="stable")[:K])


GROUP_1 = "SP 1 fr c128 6250x1600"


def test_gemv(benchmark, ratios, setup):
    a, y = setup["a"], setup["y"]
    load = _load()
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a), rounds=20, warmup_rounds=2)
    _record(ratios, benchmark, GROUP_1, "GEMV A^H y", load, "reference")


@pytest.mark.parametrize(
    "impl",
    [
        "no gram (auto)",
        "no gram, passes over A itself",
        "gram=",
        "operator, no Gram",
        "operator, cached Gram",
    ],
)
def test_sp_single(benchmark, ratios, setup, impl, monkeypatch):
    a, y, g = setup["a"], setup["y"], setup["gram"]
    scenario = setup["scenario"]
    if impl == "no gram (auto)":
        args, kwargs, target = (a, y, K), {}, 6.0
    elif impl == "no gram, passes over A itself":
        # the residual form without its half-precision copy (the previous default)
        monkeypatch.setattr(pursuit, "_HALF_COPY_MIN_BYTES", 1 << 62)
        args, kwargs, target = (a, y, K), {}, None
    elif impl == "gram=":
        args, kwargs, target = (a, y, K), {"gram": g}, 1.5
    elif impl == "operator, no Gram":
        args, kwargs, target = (SensingOperator(scenario), y, K), {}, 6.0
    else:
        op = SensingOperator(scenario)
        op.gram()
        args, kwargs, target = (op, y, K), {}, 1.5
    load = _load()
    out = benchmark.pedantic(subspace_pursuit, args=args, kwargs=kwargs, rounds=20, warmup_rounds=2)
    ref_x, ref_support, _, _ = _reference.subspace_pursuit(a, y, K)
    np.testing.assert_array_equal(out.support, ref_support)
    np.testing.assert_allclose(out.image, ref_x, rtol=0, atol=1e-8 * np.abs(ref_x).max())
    gemv = lambda: np.conj(np.conj(y) @ a)
    note = f"n_iter {int(out.n_iter)}; " + _paired(
        lambda: subspace_pursuit(*args, **kwargs), gemv, 15
    )
    if impl == "gram=":
        on = setup["on"]
        rate = _recovery(subspace_pursuit(a, on.measurements, K, gram=g).support, on)
        note += f"; on-grid recovery {rate:.0%}; paper 52 ms"
    _record(
        ratios, benchmark, GROUP_1, f"SP {impl}", load, note, reference="GEMV A^H y", target=target
    )


def test_sixteen_gemvs(benchmark, ratios, setup):
    a, frames = setup["a"], setup["y_batch"][:16].astype(np.complex128)
    load = _load()

    def run():
        for frame in frames:
            np.conj(np.conj(frame) @ a)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    _record(ratios, benchmark, GROUP_1, "16 GEMVs", load, "reference of the 1-by-1 row")


def test_sp_single_mean_over_frames(benchmark, ratios, setup):
    # The one-frame cost is (1 + n_iter) products: frame 0 needs 5 iterations, the mean is ~4.
    a, frames = setup["a"], setup["y_batch"][:16].astype(np.complex128)
    load = _load()

    def run():
        for frame in frames:
            subspace_pursuit(a, frame, K)

    benchmark.pedantic(run, rounds=3, warmup_rounds=0)
    n_iter = subspace_pursuit(a, frames, K, method="residual").n_iter
    # per frame: divide by the 16 frames through a reference of 16 GEMVs
    _record(
        ratios,
        benchmark,
        GROUP_1,
        "SP no gram, 16 frames 1 by 1",
        load,
        f"mean n_iter {n_iter.mean():.2f}; vs 16 GEMVs",
        reference="16 GEMVs",
        target=6.0,
    )


def test_sp_numpy(benchmark, ratios, setup):
    a, y = setup["a"], setup["y"]
    load = _load()
    benchmark.pedantic(_reference.subspace_pursuit, args=(a, y, K), rounds=3, warmup_rounds=0)
    _record(ratios, benchmark, GROUP_1, "NumPy SP (lstsq)", load, reference="GEMV A^H y")


def test_omp_sklearn(benchmark, ratios, setup):
    linear_model = pytest.importorskip("sklearn.linear_model")
    a, y = setup["a"], setup["y"]
    # The Gram of the stacked A is the stacked Gram of A: [[Re G, -Im G], [Im G, Re G]].
    # A scaled to unit mean column power: sklearn's rank test is absolute, and with
    # |A| ~ 1e-4 it stops before the first atom. Scaling leaves the supports unchanged.
    scale = 1.0 / np.sqrt(np.mean(np.diagonal(setup["gram"]).real))
    args = (linear_model.orthogonal_mp_gram, a * scale, _stacked(setup["gram"] * scale**2))
    load = _load()
    benchmark.pedantic(_omp_support, args=(*args, y), rounds=5, warmup_rounds=1)
    on = setup["on"]
    supports = [_omp_support(*args, frame) for frame in on.measurements]
    rate = _recovery(supports, on)
    _record(
        ratios,
        benchmark,
        GROUP_1,
        "sklearn OMP stacked",
        load,
        f"2K real atoms; on-grid recovery {rate:.0%}",
        reference="GEMV A^H y",
    )


def test_omp_pylops(benchmark, ratios, setup):
    pylops = pytest.importorskip("pylops")
    from pylops.optimization.sparsity import omp

    a, y = setup["a"], setup["y"]
    # Matrix-free peer on the complex problem: K outer OMP steps, LSQR (40 iterations, the
    # default) for the coefficients on the selected atoms; A scaled to unit column power.
    scale = 1.0 / np.sqrt(np.mean(np.diagonal(setup["gram"]).real))
    op = pylops.MatrixMult(a * scale, dtype=a.dtype)

    def support(frame):
        x = omp(op, frame, niter_outer=K, niter_inner=40, sigma=1e-12)[0]
        return np.sort(np.argsort(-np.abs(x), kind="stable")[:K])

    load = _load()
    benchmark.pedantic(support, args=(y,), rounds=5, warmup_rounds=1)
    rate = _recovery([support(frame) for frame in setup["on"].measurements], setup["on"])
    _record(
        ratios,
        benchmark,
        GROUP_1,
        "pylops OMP",
        load,
        f"MatrixMult, LSQR inner; on-grid recovery {rate:.0%}",
        reference="GEMV A^H y",
    )


GROUP_B = f"SP {N_BATCH} fr c64 6250x1600"


def test_gemm(benchmark, ratios, setup):
    a64, y = setup["a64"], setup["y_batch"]
    load = _load()
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a64), rounds=7, warmup_rounds=1)
    _record(ratios, benchmark, GROUP_B, "GEMM A^H Y", load, "reference")


@pytest.mark.parametrize("impl", ["gram=", "operator, cached Gram", "no gram (auto)"])
def test_sp_batch(benchmark, ratios, setup, impl):
    a64, y, g64 = setup["a64"], setup["y_batch"], setup["gram64"]
    if impl == "gram=":
        args, kwargs, target = (a64, y, K), {"gram": g64}, 1.2
    elif impl == "operator, cached Gram":
        setup["op64"].gram()
        args, kwargs, target = (setup["op64"], y, K), {}, 1.2
    else:
        args, kwargs, target = (a64, y, K), {}, None
    load = _load()
    rounds = 3 if impl == "no gram (auto)" else 7
    out = benchmark.pedantic(
        subspace_pursuit, args=args, kwargs=kwargs, rounds=rounds, warmup_rounds=1
    )
    assert out.image.dtype == np.complex64 and out.support.shape == (N_BATCH, K)
    gemm = lambda: np.conj(np.conj(y) @ a64)
    note = _paired(lambda: subspace_pursuit(*args, **kwargs), gemm, 2 if target is None else 5)
    if target is None:
        note += "; forms A^H A per call (pass gram=)"
    _record(
        ratios,
        benchmark,
        GROUP_B,
        f"SP batch {impl}",
        load,
        note,
        reference="GEMM A^H Y",
        target=target,
    )


# -- 3-D: Scenario.paper_3d() ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def setup_3d():
    scenario = Scenario.paper_3d()
    a = sensing_matrix(scenario, np.complex128)
    op = SensingOperator(scenario, np.complex128)
    off = simulate(scenario, N_BATCH, K, off_grid=True, noise_model="gaussian", rng=3)
    return {
        "scenario": scenario,
        "a": a,
        "a64": a.astype(np.complex64),
        "op": op,
        "y": off.measurements[0],
        "y_batch": off.measurements.astype(np.complex64),
    }


GROUP_3D = "SP 1 fr c128 paper_3d 960x6400"
GROUP_3D_B = f"SP {N_BATCH} fr c64 paper_3d"
GROUP_3D_G = "Gram c128 paper_3d 6400^2"


def test_gemv_3d(benchmark, ratios, setup_3d):
    a, y = setup_3d["a"], setup_3d["y"]
    load = _load()
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a), rounds=20, warmup_rounds=2)
    _record(ratios, benchmark, GROUP_3D, "GEMV A^H y", load, "reference")


def test_dense_gram_3d(benchmark, ratios, setup_3d):
    a = setup_3d["a"]
    load = _load()
    benchmark.pedantic(lambda: a.conj().T @ a, rounds=3, warmup_rounds=0)
    _record(ratios, benchmark, GROUP_3D_G, "dense A^H A", load, "reference (NumPy GEMM)")


def test_operator_gram_3d(benchmark, ratios, setup_3d):
    op = setup_3d["op"]

    def fresh():
        op.clear_cache()
        return op.gram()

    load = _load()
    gram = benchmark.pedantic(fresh, rounds=3, warmup_rounds=0)
    a = setup_3d["a"]
    cols = np.array([0, 777, 6399])
    expected = a.conj().T @ a[:, cols]
    np.testing.assert_allclose(gram[:, cols], expected, rtol=0, atol=1e-13 * np.abs(expected).max())
    _record(
        ratios,
        benchmark,
        GROUP_3D_G,
        "SensingOperator.gram()",
        load,
        "matrix-free, link kernel",
        reference="dense A^H A",
        target=1.0,
    )


@pytest.mark.parametrize(
    "impl", ["no gram (auto)", "no gram, passes over A itself", "gram=", "operator, no Gram"]
)
def test_sp_single_3d(benchmark, ratios, setup_3d, impl, monkeypatch):
    a, y = setup_3d["a"], setup_3d["y"]
    if impl == "no gram (auto)":
        args, kwargs, target = (a, y, K), {}, 6.0
    elif impl == "no gram, passes over A itself":
        monkeypatch.setattr(pursuit, "_HALF_COPY_MIN_BYTES", 1 << 62)
        args, kwargs, target = (a, y, K), {}, None
    elif impl == "gram=":
        args, kwargs, target = (a, y, K), {"gram": setup_3d["op"].gram()}, 1.5
    else:
        args, kwargs, target = (SensingOperator(setup_3d["scenario"]), y, K), {}, 6.0
    load = _load()
    out = benchmark.pedantic(subspace_pursuit, args=args, kwargs=kwargs, rounds=20, warmup_rounds=2)
    ref = subspace_pursuit(a, y, K, method="residual")
    np.testing.assert_array_equal(out.support, ref.support)
    paired = _paired(lambda: subspace_pursuit(*args, **kwargs), lambda: np.conj(np.conj(y) @ a), 15)
    _record(
        ratios,
        benchmark,
        GROUP_3D,
        f"SP {impl}",
        load,
        f"n_iter {int(out.n_iter)}; {paired}",
        reference="GEMV A^H y",
        target=target,
    )


def test_gemm_3d(benchmark, ratios, setup_3d):
    a64, y = setup_3d["a64"], setup_3d["y_batch"]
    load = _load()
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a64), rounds=7, warmup_rounds=1)
    _record(ratios, benchmark, GROUP_3D_B, "GEMM A^H Y", load, "reference")


def test_sp_batch_3d(benchmark, ratios, setup_3d):
    a64, y = setup_3d["a64"], setup_3d["y_batch"]
    g64 = setup_3d["op"].gram().astype(np.complex64)
    load = _load()
    out = benchmark.pedantic(
        subspace_pursuit, args=(a64, y, K), kwargs={"gram": g64}, rounds=7, warmup_rounds=1
    )
    assert out.support.shape == (N_BATCH, K)
    paired = _paired(
        lambda: subspace_pursuit(a64, y, K, gram=g64), lambda: np.conj(np.conj(y) @ a64), 5
    )
    _record(
        ratios,
        benchmark,
        GROUP_3D_B,
        "SP batch gram=",
        load,
        paired,
        reference="GEMM A^H Y",
        target=1.2,
    )


GROUP_2D_G = "Gram c128 N0=5 1600^2"


def test_dense_gram_2d(benchmark, ratios, setup):
    a = setup["a"]
    load = _load()
    benchmark.pedantic(lambda: a.conj().T @ a, rounds=3, warmup_rounds=0)
    _record(ratios, benchmark, GROUP_2D_G, "dense A^H A", load, "reference (NumPy GEMM)")


def test_operator_gram_2d(benchmark, ratios, setup):
    op = SensingOperator(setup["scenario"])

    def fresh():
        op.clear_cache()
        return op.gram()

    load = _load()
    gram = benchmark.pedantic(fresh, rounds=5, warmup_rounds=1)
    np.testing.assert_allclose(gram, setup["gram"], rtol=0, atol=1e-14 * np.abs(gram).max())
    _record(
        ratios,
        benchmark,
        GROUP_2D_G,
        "SensingOperator.gram()",
        load,
        "matrix-free, link kernel",
        reference="dense A^H A",
        target=1.0,
    )


# -- paper scale: N0 = 8 (A would be 40960 x 1600 complex128, 1.05 GB), matrix-free ------------
_MEMORY_CHILD = """
import sys
import numpy as np
from skysense.imaging import Scenario, SensingOperator, simulate, subspace_pursuit

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

s = Scenario(n_antennas_side=8)
op = SensingOperator(s)
y = simulate(s, int(sys.argv[2]), 6, rng=0).measurements
# BLAS allocates its per-process work buffers on first use: take them out of the count
small = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=8)
for method in ("gram", "residual"):
    subspace_pursuit(SensingOperator(small), simulate(small, 32, 2, rng=0).measurements, 2,
                     method=method)
before = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
subspace_pursuit(op, y, 6, method=sys.argv[1])
print(rss("VmHWM:") - before, s.n_voxels**2 * 16)
"""


@pytest.mark.parametrize(("method", "n_frames"), [("gram", 16), ("residual", 1), ("auto", 32)])
def test_paper_scale_memory(benchmark, ratios, method, n_frames):
    """Peak extra RSS of matrix-free SP at N0 = 8 (fresh process), against the Gram's bytes."""
    import subprocess

    load = _load()

    def run():
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, method, str(n_frames)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak, gram_bytes = (int(v) for v in out.stdout.split())
        return peak, gram_bytes

    peak, gram_bytes = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    print(f"N0=8 SP {method} {n_frames} frames: peak {peak / gram_bytes:.2f}x Gram")
    assert peak <= 2 * gram_bytes
    _record(
        ratios,
        benchmark,
        "SP memory N0=8 2-D",
        f"SP {method}, {n_frames} fr",
        load,
        f"peak extra RSS {peak / 2**20:.1f} MiB = {peak / gram_bytes:.2f}x the Gram's "
        f"{gram_bytes / 2**20:.1f} MiB (target <= 2x)",
    )
