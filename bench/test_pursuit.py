"""(c) Subspace pursuit on the off-grid configuration (N0 = 5, mode A, 6250 x 1600, M = 6).

One frame (complex128, the Gram matrix precomputed as in a Monte-Carlo loop) is timed
against one GEMV ``A^H y`` over the same A, against the plain-NumPy Algorithm 1 of
``tests/_reference.py`` (lstsq on A[:, S] each iteration) and against scikit-learn's OMP on
the real-stacked problem ``[[Re A, -Im A], [Im A, Re A]]`` (2K real atoms),
the peer (``orthogonal_mp_gram``, Gram form as ours), and against pylops' matrix-free OMP on
the complex problem. The batch group times 256 complex64 frames against the GEMM ``A^H Y``.

Recovery rates (on-grid frames, so the true support is a set of voxels) are printed in the
notes: the fraction of frames whose K-voxel support equals the truth.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from skysense.imaging import Scenario, sensing_matrix, simulate, subspace_pursuit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _reference  # the NumPy SP the tests check the kernel against

K = 6
N_BATCH = 256
N_RECOVERY = 64


@pytest.fixture(scope="module")
def setup():
    scenario = Scenario(n_antennas_side=5, voxel_size_m=3.0, mode="A")
    a = sensing_matrix(scenario, np.complex128)
    gram = a.conj().T @ a
    off = simulate(scenario, N_BATCH, K, off_grid=True, noise_model="gaussian", rng=1)
    on = simulate(scenario, N_RECOVERY, K, noise_model="gaussian", rng=2)
    a64 = a.astype(np.complex64)
    return {
        "a": a,
        "gram": gram,
        "a64": a64,
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
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a), rounds=20, warmup_rounds=2)
    ratios.record(benchmark, GROUP_1, "GEMV A^H y", note="reference")


def test_sp_single(benchmark, ratios, setup):
    a, y, g = setup["a"], setup["y"], setup["gram"]
    out = benchmark.pedantic(
        subspace_pursuit, args=(a, y, K), kwargs={"gram": g}, rounds=20, warmup_rounds=2
    )
    ref_x, ref_support, _, _ = _reference.subspace_pursuit(a, y, K)
    np.testing.assert_array_equal(out.support, ref_support)
    np.testing.assert_allclose(out.image, ref_x, rtol=0, atol=1e-8 * np.abs(ref_x).max())
    on = setup["on"]
    rate = _recovery(subspace_pursuit(a, on.measurements, K, gram=g).support, on)
    ratios.record(
        benchmark,
        GROUP_1,
        "skysense SP",
        reference="GEMV A^H y",
        target=2.0,
        note=f"checks on; on-grid recovery {rate:.0%}; paper 52 ms",
    )


def test_sp_numpy(benchmark, ratios, setup):
    a, y = setup["a"], setup["y"]
    benchmark.pedantic(_reference.subspace_pursuit, args=(a, y, K), rounds=3, warmup_rounds=0)
    ratios.record(benchmark, GROUP_1, "NumPy SP (lstsq)", reference="GEMV A^H y")


def test_omp_sklearn(benchmark, ratios, setup):
    linear_model = pytest.importorskip("sklearn.linear_model")
    a, y = setup["a"], setup["y"]
    # The Gram of the stacked A is the stacked Gram of A: [[Re G, -Im G], [Im G, Re G]].
    # A scaled to unit mean column power: sklearn's rank test is absolute, and with
    # |A| ~ 1e-4 it stops before the first atom. Scaling leaves the supports unchanged.
    scale = 1.0 / np.sqrt(np.mean(np.diagonal(setup["gram"]).real))
    args = (linear_model.orthogonal_mp_gram, a * scale, _stacked(setup["gram"] * scale**2))
    benchmark.pedantic(_omp_support, args=(*args, y), rounds=5, warmup_rounds=1)
    on = setup["on"]
    supports = [_omp_support(*args, frame) for frame in on.measurements]
    rate = _recovery(supports, on)
    ratios.record(
        benchmark,
        GROUP_1,
        "sklearn OMP stacked",
        reference="GEMV A^H y",
        note=f"2K real atoms; on-grid recovery {rate:.0%}",
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

    benchmark.pedantic(support, args=(y,), rounds=5, warmup_rounds=1)
    rate = _recovery([support(frame) for frame in setup["on"].measurements], setup["on"])
    ratios.record(
        benchmark,
        GROUP_1,
        "pylops OMP",
        reference="GEMV A^H y",
        note=f"MatrixMult, LSQR inner; on-grid recovery {rate:.0%}",
    )


GROUP_B = f"SP {N_BATCH} fr c64"


def test_gemm(benchmark, ratios, setup):
    a64, y = setup["a64"], setup["y_batch"]
    benchmark.pedantic(lambda: np.conj(np.conj(y) @ a64), rounds=7, warmup_rounds=1)
    ratios.record(benchmark, GROUP_B, "GEMM A^H Y", note="reference")


def test_sp_batch(benchmark, ratios, setup):
    a64, y, g64 = setup["a64"], setup["y_batch"], setup["gram64"]
    out = benchmark.pedantic(
        subspace_pursuit, args=(a64, y, K), kwargs={"gram": g64}, rounds=7, warmup_rounds=1
    )
    assert out.image.dtype == np.complex64 and out.support.shape == (N_BATCH, K)
    ratios.record(benchmark, GROUP_B, "skysense SP batch", reference="GEMM A^H Y", target=1.5)
