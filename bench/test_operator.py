"""(b) Matrix-free ``SensingOperator`` (complex64, N0 = 5, 6250 x 1600) against the dense GEMM.

``rmatvec`` (A^H Y) on 256 frames is compared with ``Y @ conj(A)`` and ``matvec`` with
``X @ A.T`` (conj(A) and A precomputed, so the reference is the bare GEMM). The plain-NumPy
Khatri-Rao operator (each pair's block of A built on the fly, one GEMM per block) is timed
too, as the matrix-free alternative, and so is SciPy's column convention ``op.H @ Y.T``
(``rmatmat``: the same batched product). Single-frame latency is its own group.
"""

import _plain_numpy as plain
import numpy as np
import pytest

from skysense.imaging import Scenario, SensingOperator, sensing_matrix

N_FRAMES = 256
RTOL = 1e-4  # complex64, relative to the largest entry


@pytest.fixture(scope="module")
def setup():
    scenario = Scenario(n_antennas_side=5, voxel_size_m=3.0, mode="A")
    a = sensing_matrix(scenario, np.complex64)
    rng = np.random.default_rng(20260101)
    shape_y = (N_FRAMES, scenario.n_measurements)
    shape_x = (N_FRAMES, scenario.n_voxels)
    y = (rng.standard_normal(shape_y) + 1j * rng.standard_normal(shape_y)).astype(np.complex64)
    x = (rng.standard_normal(shape_x) + 1j * rng.standard_normal(shape_x)).astype(np.complex64)
    op = SensingOperator(scenario, np.complex64)
    links = plain.link_matrices(scenario, dtype=np.complex64)
    return {
        "scenario": scenario,
        "a": a,
        "a_conj": a.conj(),
        "y": y,
        "x": x,
        "op": op,
        "links": links,
    }


def _check(out, expected):
    np.testing.assert_allclose(out, expected, rtol=0, atol=RTOL * np.abs(expected).max())


def _khatri_rao(setup, kind):
    s = setup["scenario"]
    fn = plain.khatri_rao_rmatvec if kind == "rmatvec" else plain.khatri_rao_matvec
    return lambda v: fn(setup["links"], s.pairs(), s.amplitude, v)


@pytest.mark.parametrize(
    "impl", ["dense GEMM", "skysense operator", "skysense op.H @ Y.T", "NumPy Khatri-Rao"]
)
def test_rmatvec(benchmark, ratios, setup, impl):
    y, a_conj = setup["y"], setup["a_conj"]
    fn = {
        "dense GEMM": lambda v: v @ a_conj,
        "skysense operator": setup["op"].rmatvec,
        "skysense op.H @ Y.T": lambda v: (setup["op"].H @ v.T).T,
        "NumPy Khatri-Rao": _khatri_rao(setup, "rmatvec"),
    }[impl]
    out = benchmark.pedantic(fn, args=(y,), rounds=7, warmup_rounds=1)
    _check(out, y @ a_conj)
    ref = None if impl == "dense GEMM" else "dense GEMM"
    ratios.record(
        benchmark,
        f"rmatvec {N_FRAMES} fr c64",
        impl,
        reference=ref,
        target=2.0 if impl.startswith("skysense") else None,
        note="A^H Y" if ref is None else "",
    )


@pytest.mark.parametrize(
    "impl", ["dense GEMM", "skysense operator", "skysense op @ X.T", "NumPy Khatri-Rao"]
)
def test_matvec(benchmark, ratios, setup, impl):
    x, a = setup["x"], setup["a"]
    fn = {
        "dense GEMM": lambda v: v @ a.T,
        "skysense operator": setup["op"].matvec,
        "skysense op @ X.T": lambda v: (setup["op"] @ v.T).T,
        "NumPy Khatri-Rao": _khatri_rao(setup, "matvec"),
    }[impl]
    out = benchmark.pedantic(fn, args=(x,), rounds=7, warmup_rounds=1)
    _check(out, x @ a.T)
    ref = None if impl == "dense GEMM" else "dense GEMM"
    ratios.record(
        benchmark,
        f"matvec {N_FRAMES} fr c64",
        impl,
        reference=ref,
        target=2.0 if impl.startswith("skysense") else None,
        note="A X" if ref is None else "",
    )


@pytest.mark.parametrize("impl", ["dense GEMV", "skysense operator"])
def test_rmatvec_single_frame(benchmark, ratios, setup, impl):
    y, a_conj = setup["y"][0], setup["a_conj"]
    fn = {"dense GEMV": lambda v: v @ a_conj, "skysense operator": setup["op"].rmatvec}[impl]
    out = benchmark.pedantic(fn, args=(y,), rounds=20, warmup_rounds=2)
    _check(out, y @ a_conj)
    ref = None if impl == "dense GEMV" else "dense GEMV"
    ratios.record(
        benchmark, "rmatvec 1 fr c64", impl, reference=ref, note="A^H y" if ref is None else ""
    )
