import numpy as np
import pytest
from _reference import subspace_pursuit as reference_sp

from skysense.imaging import (
    PursuitResult,
    Scenario,
    SensingOperator,
    backproject,
    sensing_matrix,
    simulate,
    subspace_pursuit,
)

DTYPES = [np.complex64, np.complex128]
# x relative to max|x|; the kernel solves in double from G and z stored in the dtype.
RTOL = {np.complex64: 1e-4, np.complex128: 1e-10}
# Gram-identity residual ratio against ||y - A x|| / ||y||: about sqrt(eps) at worst.
RATIO_ATOL = {np.complex64: 2e-3, np.complex128: 1e-7}


def _gaussian(rng, n_frames, m=211, n_voxels=97, sparsity=5, noise=0.05, dtype=np.complex128):
    """Complex Gaussian A with unit-norm-ish columns and K-sparse frames plus noise."""
    a = (rng.standard_normal((m, n_voxels)) + 1j * rng.standard_normal((m, n_voxels))) / np.sqrt(
        2 * m
    )
    x = np.zeros((n_frames, n_voxels), complex)
    for f in range(n_frames):
        idx = rng.choice(n_voxels, sparsity, replace=False)
        x[f, idx] = rng.standard_normal(sparsity) + 1j * rng.standard_normal(sparsity)
    y = x @ a.T + noise * (
        rng.standard_normal((n_frames, m)) + 1j * rng.standard_normal((n_frames, m))
    )
    return a.astype(dtype), y.astype(dtype)


def _check_against_reference(
    result, a, y, sparsity, dtype, *, final="best", max_iter=100, same_n_iter=True
):
    a64, y64 = a.astype(np.complex128), y.astype(np.complex128)
    for f in range(y.shape[0]):
        x_ref, s_ref, n_ref, ratio_ref = reference_sp(
            a64, y64[f], sparsity, final=final, max_iter=max_iter
        )
        assert np.array_equal(result.support[f], s_ref), f"frame {f}"
        if same_n_iter:
            assert result.n_iter[f] == n_ref, f"frame {f}"
        scale = np.abs(x_ref).max()
        np.testing.assert_allclose(result.image[f], x_ref, rtol=0, atol=RTOL[dtype] * scale)
        assert abs(result.relative_residual[f] - ratio_ref) <= RATIO_ATOL[dtype]


# -- well-conditioned random problems ----------------------------------------------------------
METHODS = ["gram", "residual"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("final", ["best", "last"])
def test_matches_reference_on_gaussian_problems(dtype, final, method, rng):
    a, y = _gaussian(rng, 9, dtype=dtype)
    result = subspace_pursuit(a, y, 5, final=final, method=method)
    assert isinstance(result, PursuitResult)
    assert result.image.dtype == dtype and result.image.shape == (9, 97)
    assert result.support.dtype == np.int64 and result.support.shape == (9, 5)
    assert result.n_iter.dtype == np.int64 and result.relative_residual.dtype == np.float64
    assert np.all(np.diff(result.support, axis=1) > 0)
    _check_against_reference(result, a, y, 5, dtype, final=final)


@pytest.mark.parametrize("method", METHODS)
def test_best_and_last_differ_and_both_match_reference(method, rng):
    # Under-determined and noisy: some iterations raise the residual, where the two rules part.
    a, y = _gaussian(rng, 24, m=61, sparsity=8, noise=0.3)
    best = subspace_pursuit(a, y, 8, final="best", method=method)
    last = subspace_pursuit(a, y, 8, final="last", method=method)
    assert not np.array_equal(best.support, last.support)
    _check_against_reference(best, a, y, 8, np.complex128, final="best")
    _check_against_reference(last, a, y, 8, np.complex128, final="last")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("max_iter", [0, 1])
def test_max_iter_cap(max_iter, method, rng):
    a, y = _gaussian(rng, 4, m=61, sparsity=8, noise=0.3)
    result = subspace_pursuit(a, y, 8, max_iter=max_iter, method=method)
    assert np.all(result.n_iter <= max_iter)
    _check_against_reference(result, a, y, 8, np.complex128, max_iter=max_iter)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_equals_loop_of_single_frames(dtype, method, rng):
    a, y = _gaussian(rng, 5, dtype=dtype)
    batch = subspace_pursuit(a, y, 5, method=method)
    for f in range(5):
        single = subspace_pursuit(a, y[f], 5, method=method)
        assert single.image.shape == (97,) and single.image.dtype == dtype
        assert np.array_equal(single.support, batch.support[f])
        assert single.n_iter == batch.n_iter[f]
        # z comes from a GEMV for one frame and a GEMM for a batch: rounding may differ.
        scale = np.abs(single.image).max()
        np.testing.assert_allclose(single.image, batch.image[f], rtol=0, atol=RTOL[dtype] * scale)


def test_independent_of_workers(rng):
    a, y = _gaussian(rng, 7)
    gram = a.conj().T @ a
    one = subspace_pursuit(a, y, 5, gram=gram, workers=1)
    three = subspace_pursuit(a, y, 5, gram=gram, workers=3)
    for name in ("image", "support", "n_iter", "relative_residual"):
        assert np.array_equal(getattr(one, name), getattr(three, name)), name


def test_residual_form_independent_of_workers(rng):
    # Frames over threads, and one frame's products over threads (a fixed voxel-slab split):
    # bit for bit, on a dense A (600 voxels: three slabs) and on the operator's links.
    a, y = _gaussian(rng, 5, m=301, n_voxels=600, sparsity=6)
    op = SensingOperator(Scenario(roi_size_m=(30.0, 60.0, 0.0), n_antennas_side=3))
    frames = simulate(op.scenario, 3, 4, rng=1).measurements
    for operator, data, k in ((a, y, 6), (op, frames, 4)):
        for batch in (data, data[0]):
            one = subspace_pursuit(operator, batch, k, method="residual", workers=1)
            many = subspace_pursuit(operator, batch, k, method="residual", workers=3)
            for name in ("image", "support", "n_iter", "relative_residual"):
                assert np.array_equal(getattr(one, name), getattr(many, name)), name


def test_threshold_zeroes_entries_below_fraction_of_max(rng):
    a, y = _gaussian(rng, 6, noise=0.1)
    raw = subspace_pursuit(a, y, 10)  # M° = 2 M: the extra entries fit noise and are small
    mag = np.abs(raw.image)
    expected = np.where(mag < mag.max(axis=1, keepdims=True) / 5, 0, raw.image)
    for threshold in ("max/5", 0.2):
        out = subspace_pursuit(a, y, 10, threshold=threshold)
        assert np.array_equal(out.image, expected)
        assert np.array_equal(out.support, raw.support)
        assert np.array_equal(out.relative_residual, raw.relative_residual)
    assert np.count_nonzero(expected) < np.count_nonzero(raw.image)  # the threshold did something


def test_all_zero_frames_give_zero_images(rng):
    a, y = _gaussian(rng, 3)
    y[1] = 0
    out = subspace_pursuit(a, y, 5)
    assert not out.image[1].any()
    assert out.relative_residual[1] == 0 and out.n_iter[1] == 0
    for f in (0, 2):  # the other frames are unaffected
        assert np.array_equal(out.support[f], subspace_pursuit(a, y[f], 5).support)
    single = subspace_pursuit(a, np.zeros(a.shape[0]), 5)
    assert not single.image.any() and single.relative_residual == 0


def test_collinear_columns_stay_finite_and_consistent(rng):
    # Duplicate columns make G[S, S] exactly singular: the eigen fallback must keep x finite
    # and the reported ratio must still be the residual of the returned x.
    a, _ = _gaussian(rng, 1)
    a[:, 41] = a[:, 40]
    a[:, 60] = a[:, 59] * (1 + 1e-9)
    x = np.zeros(97, complex)
    x[[40, 59, 7, 80, 90]] = [1.0, -2.0, 0.5j, 1.5, -1.0]
    y = np.stack([a @ x, a @ x + 0.01 * rng.standard_normal(211)])
    out = subspace_pursuit(a, y, 5)
    assert np.isfinite(out.image).all()
    for f in range(2):
        exact = np.linalg.norm(y[f] - a @ out.image[f]) / np.linalg.norm(y[f])
        assert abs(out.relative_residual[f] - exact) <= 1e-6
        assert exact <= reference_sp(a, y[f], 5)[3] + 1e-6


# -- the imaging problem (N0 = 4, d0 = 3 m: 2560 x 1600, cond(A) ~ 1e14) ------------------------
@pytest.fixture(scope="module")
def imaging():
    scenario = Scenario(n_antennas_side=4)
    op = SensingOperator(scenario)
    return scenario, sensing_matrix(scenario), op, op.gram()


@pytest.mark.parametrize("sparsity", [6, 10])
@pytest.mark.parametrize("noise", ["none", "exact_norm"])
def test_imaging_matches_reference(imaging, sparsity, noise):
    scenario, a, _, gram = imaging
    batch = simulate(scenario, 3, sparsity, noise_model=noise, rng=sparsity)
    out = subspace_pursuit(a, batch.measurements, sparsity, gram=gram)
    # Noise-free, the reference's exact residual reaches tol = 1e-10 while the Gram identity
    # bottoms out near 1e-8, so SP stops one iteration later, on the same (stable) support.
    _check_against_reference(
        out, a, batch.measurements, sparsity, np.complex128, same_n_iter=noise != "none"
    )


@pytest.mark.parametrize("sparsity", [6, 10])
def test_imaging_noise_free_recovery(imaging, sparsity):
    scenario, a, _, gram = imaging
    batch = simulate(scenario, 24, sparsity, noise_model="none", rng=100 + sparsity)
    out = subspace_pursuit(a, batch.measurements, sparsity, gram=gram)
    truth = np.sort(batch.voxel_index, axis=1)
    exact = (out.support == truth).all(axis=1)
    # SP with K = M does not always recover on this coherent grid (the reference neither, see
    # test_imaging_matches_reference); where it does, the image is exact.
    assert exact.mean() >= 0.5
    np.testing.assert_allclose(out.image[exact].real, batch.image[exact], rtol=0, atol=1e-6)
    assert np.abs(out.image[exact].imag).max() <= 1e-6
    assert out.relative_residual[exact].max() <= 1e-6


def test_imaging_operator_and_complex64(imaging):
    scenario, a, op, gram = imaging
    batch = simulate(scenario, 6, 6, rng=7)
    dense = subspace_pursuit(a, batch.measurements, 6, gram=gram)
    for method in ("auto", "gram", "residual"):  # the operator's Gram, or its links
        via_op = subspace_pursuit(op, batch.measurements, 6, method=method)
        assert np.array_equal(via_op.support, dense.support), method
        np.testing.assert_allclose(
            via_op.image, dense.image, rtol=0, atol=1e-9 * np.abs(dense.image).max()
        )
    residual = subspace_pursuit(a, batch.measurements, 6, method="residual")
    assert np.array_equal(residual.support, dense.support)
    np.testing.assert_allclose(
        residual.image, dense.image, rtol=0, atol=1e-9 * np.abs(dense.image).max()
    )
    single = subspace_pursuit(
        a.astype(np.complex64),
        batch.measurements.astype(np.complex64),
        6,
        gram=gram.astype(np.complex64),
    )
    assert single.image.dtype == np.complex64
    assert np.array_equal(single.support, dense.support)
    np.testing.assert_allclose(
        single.image, dense.image, rtol=0, atol=1e-4 * np.abs(dense.image).max()
    )


# -- back-projection ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_backproject_dense_and_operator(dtype, rng):
    s = Scenario(roi_size_m=(21.0, 15.0, 0.0), n_antennas_side=3)
    a = sensing_matrix(s, dtype)
    op = SensingOperator(s, dtype)
    y = (rng.standard_normal((3, s.shape[0])) + 1j * rng.standard_normal((3, s.shape[0]))).astype(
        dtype
    )
    expected = y.astype(np.complex128) @ a.astype(np.complex128).conj()
    for z in (backproject(a, y), backproject(op, y)):
        assert z.dtype == dtype and z.shape == (3, s.n_voxels)
        np.testing.assert_allclose(z, expected, rtol=0, atol=RTOL[dtype] * np.abs(expected).max())
    assert backproject(a, y[0]).shape == (s.n_voxels,)
    assert backproject(a.astype(np.complex128), y).dtype == np.complex128


@pytest.mark.parametrize("dtype", DTYPES)
def test_residual_form_over_row_blocks_matches_reference(dtype, rng):
    # m = 1103 rows: three row blocks of A^H r (partials summed in block order), odd sizes;
    # against the NumPy reference, and bit for bit over 1 and 3 threads (single frame: the
    # blocks run in parallel).
    a, y = _gaussian(rng, 4, m=1103, n_voxels=157, sparsity=6, dtype=dtype)
    result = subspace_pursuit(a, y, 6, method="residual")
    _check_against_reference(result, a, y, 6, dtype)
    for frame in y:
        one = subspace_pursuit(a, frame, 6, method="residual", workers=1)
        many = subspace_pursuit(a, frame, 6, method="residual", workers=3)
        for name in ("image", "support", "n_iter", "relative_residual"):
            assert np.array_equal(getattr(one, name), getattr(many, name)), name


# -- the residual form on a single-precision copy of A (certified selection) ---------------------
def _kernel_residual(a, y, sparsity, half_copy, n_threads=1):
    """The dense residual-form kernel itself: its outputs and its count of certified selections."""
    from skysense import _core

    n, nv = y.shape[0], a.shape[1]
    out = {
        "image": np.empty((n, nv), a.dtype),
        "support": np.empty((n, sparsity), np.int64),
        "n_iter": np.empty(n, np.int64),
        "relative_residual": np.empty(n),
        "status": np.empty(n, np.int64),
    }
    certified = _core.subspace_pursuit_matrix(
        matrix=np.ascontiguousarray(a),
        measurements=np.ascontiguousarray(y),
        sparsity=sparsity,
        rtol=1e-10,
        max_iter=100,
        keep_last=False,
        threshold=0.0,
        n_threads=n_threads,
        half_copy=half_copy,
        **out,
    )
    return out, certified


def _copy_problems(rng):
    """Dense complex128 problems for the copy: odd sizes, near-ties, wild row scales."""
    problems = {}
    a, y = _gaussian(rng, 6, m=1103, n_voxels=157, sparsity=6)
    problems["gaussian 1103x157"] = (a, y, 6)
    a, y = _gaussian(rng, 5, m=211, n_voxels=97, sparsity=5)
    problems["gaussian 211x97"] = (a, y, 5)
    # nearly collinear columns: correlations 1e-9 apart, below float32's resolution
    a, _ = _gaussian(rng, 1, m=301, n_voxels=99)
    a[:, 41] = a[:, 40] * (1 + 1e-9)
    a[:, 61] = a[:, 60] * (1 - 1e-9)
    x = np.zeros((4, 99), complex)
    x[:, [40, 61, 7, 80, 90]] = rng.standard_normal((4, 5)) + 1j
    y = x @ a.T + 0.01 * rng.standard_normal((4, 301))
    problems["near-collinear"] = (a, y, 5)
    # rows of A from 1e-50 to 1e50, beyond the range of float32: the copy scales each row
    a, y = _gaussian(rng, 4, m=307, n_voxels=101, sparsity=4)
    scale = 10.0 ** rng.uniform(-50, 50, size=(307, 1))
    problems["row scales 1e+-50"] = (a * scale, y, 4)
    a, y = _gaussian(rng, 3, m=13, n_voxels=7, sparsity=2)  # shorter than every vector loop
    problems["tiny 13x7"] = (a, y, 2)
    return problems


def test_half_copy_selects_what_double_precision_selects(rng):
    # The copy only decides which correlations are recomputed from A in double: every output
    # is bit for bit that of the kernel without it, on 1 and 3 threads, and the copy's
    # selections were used (certified) rather than skipped.
    for name, (a, y, k) in _copy_problems(rng).items():
        plain, none = _kernel_residual(a, y, k, half_copy=False)
        assert none == 0
        for threads in (1, 3):
            out, certified = _kernel_residual(a, y, k, half_copy=True, n_threads=threads)
            assert certified >= y.shape[0], name
            for key in ("image", "support", "n_iter", "relative_residual", "status"):
                assert np.array_equal(out[key], plain[key]), (name, key, threads)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_half_copy_at_extreme_scales_of_a_matches_reference(scale, rng):
    # |A^H y|^2 of A * 1e-300 underflows in double: the copy's scores are scaled first.
    a, y = _gaussian(rng, 3, m=257, n_voxels=93, sparsity=4)
    out, certified = _kernel_residual(a * scale, y, 4, half_copy=True)
    assert certified >= 3
    for f in range(3):
        x_ref, s_ref, n_ref, _ = reference_sp(a, y[f], 4)
        assert np.array_equal(out["support"][f], s_ref) and out["n_iter"][f] == n_ref
        np.testing.assert_allclose(
            out["image"][f] * scale, x_ref, rtol=0, atol=1e-10 * np.abs(x_ref).max()
        )


def test_half_copy_matches_reference(rng, monkeypatch):
    # Through subspace_pursuit: complex128 A, and complex64 A with complex128 y (worked in
    # complex128, so on the copy), odd sizes, against the NumPy reference; complex64 alone
    # stays complex64 (no copy).
    from skysense.imaging import pursuit

    monkeypatch.setattr(pursuit, "_HALF_COPY_MIN_BYTES", 0)
    a, y = _gaussian(rng, 5, m=1103, n_voxels=157, sparsity=6)
    for a_in, y_in in ((a, y), (a.astype(np.complex64), y)):
        result = subspace_pursuit(a_in, y_in, 6, method="residual")
        assert result.image.dtype == np.complex128
        _check_against_reference(result, a_in, y_in, 6, np.complex128)
    a32, y32 = a.astype(np.complex64), y.astype(np.complex64)
    result = subspace_pursuit(a32, y32, 6, method="residual")
    assert result.image.dtype == np.complex64
    _check_against_reference(result, a32, y32, 6, np.complex64)


def test_half_copy_with_nan_in_a_is_the_plain_path(rng, monkeypatch):
    from skysense.imaging import pursuit

    monkeypatch.setattr(pursuit, "_HALF_COPY_MIN_BYTES", 0)
    a, y = _gaussian(rng, 2, m=301, n_voxels=99)
    a[17, 5] = np.nan
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        subspace_pursuit(a, y, 5, method="residual")
    out = subspace_pursuit(a, y, 5, method="residual", check_finite=False)
    assert np.isnan(out.image).all() and (out.support == -1).all()
    _, certified = _kernel_residual(a, y, 5, half_copy=True)
    assert certified == 0


def test_half_copy_from_concurrent_threads(rng, monkeypatch):
    # One copy's memory is kept between calls and lent to one call at a time; a concurrent
    # call gets its own: results as from serial calls.
    from concurrent.futures import ThreadPoolExecutor

    from skysense.imaging import pursuit

    monkeypatch.setattr(pursuit, "_HALF_COPY_MIN_BYTES", 0)
    problems = [_gaussian(rng, 3, m=701, n_voxels=131 + 2 * i, sparsity=5) for i in range(4)]
    serial = [subspace_pursuit(a, y, 5, method="residual") for a, y in problems]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda p: subspace_pursuit(p[0], p[1], 5, method="residual"), problems * 3)
        )
    for i, result in enumerate(results):
        expected = serial[i % 4]
        assert np.array_equal(result.image, expected.image)
        assert np.array_equal(result.support, expected.support)


_ISA_COPY_CHILD = """
import sys
import numpy as np
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/.."]
from test_pursuit import _kernel_residual
data = np.load(sys.argv[1])
out, certified = _kernel_residual(data["a"], data["y"], 6, half_copy=True)
assert certified > 0
np.savez(sys.argv[1] + ".out.npz", **out)
"""


def test_half_copy_vector_and_portable_loops_agree_bit_for_bit(rng, tmp_path):
    # The copy is built and read in AVX2 where the CPU has it; SKYSENSE_ISA=generic forces the
    # portable loops.  Odd sizes (tails of every vector loop).
    import os
    import subprocess
    import sys
    from pathlib import Path

    a, y = _gaussian(rng, 4, m=1103, n_voxels=157, sparsity=6)
    path = str(tmp_path / "problem.npz")
    np.savez(path, a=a, y=y)
    env = dict(os.environ, SKYSENSE_ISA="generic")
    here_dir = str(Path(__file__).resolve().parent)
    subprocess.run([sys.executable, "-c", _ISA_COPY_CHILD, path, here_dir], env=env, check=True)
    generic = np.load(path + ".out.npz")
    out, _ = _kernel_residual(a, y, 6, half_copy=True)
    for key, value in out.items():
        assert np.array_equal(value, generic[key]), key


@pytest.mark.parametrize("dtype", DTYPES)
def test_gram_form_odd_voxel_counts_match_reference(dtype, rng):
    # 4k + 1, 4k + 3 voxels and a chunk edge (257): the vectorised correlation's tails.
    for n_voxels in (97, 99, 257):
        a, y = _gaussian(rng, 3, m=301, n_voxels=n_voxels, sparsity=5, dtype=dtype)
        result = subspace_pursuit(a, y, 5, method="gram")
        _check_against_reference(result, a, y, 5, dtype)


@pytest.mark.parametrize(
    ("macs", "n_frames"),
    [
        (None, 3),  # one GEMM
        (7 * 701 * 40, 7),  # voxel slabs of 40 (7 frames x 701 rows x 40 voxels per GEMM)
        (5 * 37 * 613, 9),  # frames in chunks of 5 and 4, blocks of 37 rows (last 35)
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backproject_chunked_products_match_one_gemm(macs, n_frames, dtype, rng, monkeypatch):
    from skysense.imaging import backprojection

    m, nv = 701, 613  # odd sizes: ragged slabs and row blocks
    monkeypatch.setattr(backprojection, "_MIN_BLOCK", 37)
    if macs is not None:
        monkeypatch.setattr(backprojection, "GEMM_CHUNK_MACS", macs)
    a = rng.standard_normal((m, nv)) + 1j * rng.standard_normal((m, nv))
    y = rng.standard_normal((n_frames, m)) + 1j * rng.standard_normal((n_frames, m))
    expected = y @ a.conj()
    z = backproject(a.astype(dtype), y.astype(dtype))
    assert z.dtype == dtype and z.flags.c_contiguous
    # relative error to the one-GEMM complex128 NumPy product: about 1e-16 (summation order
    # only) in complex128, the rounding of A and y (~1e-7) in complex64
    tol = 1e-13 if dtype == np.complex128 else 1e-5
    np.testing.assert_allclose(z, expected, rtol=0, atol=tol * np.abs(expected).max())


# -- invalid input --------------------------------------------------------------------------------
def _bad_inputs():
    rng = np.random.default_rng(0)
    a, y = _gaussian(rng, 2, m=31, n_voxels=17, sparsity=3)
    nan_y = y.copy()
    nan_y[0, 3] = np.nan
    inf_a = a.copy()
    inf_a[5, 2] = np.inf
    nan_gram = a.conj().T @ a
    nan_gram[1, 1] = np.nan
    return [
        ((a, y, 0), {}, ValueError, "sparsity must be >= 1"),
        ((a, y, 18), {}, ValueError, "sparsity must be <= n_voxels"),
        ((a, y, 2.5), {}, TypeError, "sparsity must be an integer"),
        ((a, y[:, :30], 3), {}, ValueError, "Dimension mismatch"),
        ((a, y[0, :30], 3), {}, ValueError, "Dimension mismatch"),
        ((a, nan_y, 3), {}, ValueError, "y contains NaN or Inf"),
        ((inf_a, y, 3), {}, ValueError, "a contains NaN or Inf"),
        # with a precomputed gram, A is checked through A^H y
        ((inf_a, y, 3), {"gram": a.conj().T @ a}, ValueError, "a contains NaN or Inf"),
        ((a, y, 3), {"gram": nan_gram}, ValueError, "gram contains NaN or Inf"),
        ((a, y, 3), {"gram": np.eye(16)}, ValueError, "gram must have shape"),
        ((a, y[:0], 3), {}, ValueError, "empty batch"),
        ((a, y.astype(str), 3), {}, TypeError, "y has dtype"),
        ((a > 0, y, 3), {}, TypeError, "a has dtype"),
        ((a, y[None], 3), {}, ValueError, "y must have ndim"),
        ((a, y, 3), {"final": "first"}, ValueError, "final must be one of"),
        ((a, y, 3), {"threshold": 1.5}, ValueError, "threshold must lie in"),
        ((a, y, 3), {"threshold": "max/3"}, ValueError, "threshold must be None"),
        ((a, y, 3), {"rtol": -1.0}, ValueError, "rtol must be >= 0"),
        ((a, y, 3), {"tol": 1e-3}, TypeError, "tol"),
        ((a, y, 3), {"max_iter": -1}, ValueError, "max_iter must be >= 0"),
        ((a, y, 3), {"workers": 0}, ValueError, "workers must be >= 1"),
        ((a, y, 3), {"method": "lstsq"}, ValueError, "method must be one of"),
        ((a, y, 3), {"method": "residual", "gram": np.eye(17)}, ValueError, "method='gram' only"),
        ((a, y, 3), {"max_iter": 2**70}, ValueError, "max_iter must be <= 2147483647"),
        ((inf_a, y, 3), {"method": "residual"}, ValueError, "a contains NaN or Inf"),
    ]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), _bad_inputs())
def test_invalid_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        subspace_pursuit(*args, **kwargs)


def test_operator_without_gram_needs_gram_argument():
    class OnlyAdjoint:
        shape = (4, 3)
        dtype = np.dtype(np.complex128)

        def rmatvec(self, y):
            return np.zeros((np.asarray(y).shape[0], 3), complex)

    with pytest.raises(TypeError, match="has no gram"):
        subspace_pursuit(OnlyAdjoint(), np.ones(4), 2)
    out = subspace_pursuit(OnlyAdjoint(), np.ones(4), 2, gram=np.eye(3))
    assert not out.image.any() and out.relative_residual == 1.0


def test_backproject_rejects_bad_input():
    a = np.ones((5, 3), complex)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        backproject(a, np.ones(4))
    with pytest.raises(ValueError, match="y contains NaN"):
        backproject(a, np.full(5, np.nan))
    with pytest.raises(ValueError, match="empty batch"):
        backproject(a, np.ones((0, 5)))
    nan_a = a.copy()
    nan_a[2, 1] = np.nan
    for y in (np.ones(5), np.array([1.0, 1.0, 0.0, 1.0, 1.0])):  # NaN * 0 is NaN too
        with pytest.raises(ValueError, match="a contains NaN or Inf"):
            backproject(nan_a, y)
        with pytest.raises(ValueError, match="a contains NaN or Inf"):
            backproject(nan_a, np.stack([y, y]))
    assert np.isnan(backproject(nan_a, np.ones(5), check_finite=False)[1])


@pytest.mark.parametrize("scale", [2.0**-500, 2.0**-70, 1.0, 2.0**70, 3.1e307 / 10])
def test_extreme_scales_give_the_scaled_result(scale, rng):
    # SP is scale-invariant: ||y||^2 must neither overflow nor underflow in the kernel.
    a, y = _gaussian(rng, 3)
    ref = subspace_pursuit(a, y, 5)
    with np.errstate(over="ignore", under="ignore"):
        out = subspace_pursuit(a, y * scale, 5)
    np.testing.assert_array_equal(out.support, ref.support)
    np.testing.assert_allclose(out.relative_residual, ref.relative_residual, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        out.image / scale, ref.image, rtol=1e-9, atol=1e-12 * np.abs(ref.image).max()
    )


def test_overflowing_image_is_an_error():
    a = np.full((4, 1), 1e-300, complex)
    with pytest.raises(ValueError, match="overflows"):
        subspace_pursuit(a, np.full(4, 1e300, complex), 1)


def test_frame_whose_modulus_overflows_is_rescaled():
    # Fuzz finding: |y| = |-1.57e308 (1 + 1j)| overflows to inf although y is finite; the
    # exponent must come from max(|Re|, |Im|) so that the relative residual is not inf/inf.
    a = np.zeros((1, 7), complex)
    a[0, 3] = 1.0
    y = np.array([[1.48e307j], [-1.5721e308 - 1.5721e308j], [-2.5e303]])
    out = subspace_pursuit(a, y, 2)
    assert np.isfinite(out.relative_residual).all() and np.isfinite(out.image).all()
    np.testing.assert_allclose(out.image[:, 3], y[:, 0], rtol=1e-12)
    np.testing.assert_allclose(out.relative_residual, 0.0, atol=1e-12)


# -- interoperability, workers, repr ---------------------------------------------------------------
def test_any_scipy_linear_operator_works(rng):
    # A generic LinearOperator (here around a dense A) is applied through rmatmat; SP needs its
    # Gram passed in, as it has no gram() method.
    from scipy.sparse.linalg import aslinearoperator

    a, y = _gaussian(rng, 4)
    op = aslinearoperator(a)
    np.testing.assert_allclose(backproject(op, y), backproject(a, y), rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="has no gram"):
        subspace_pursuit(op, y, 5)
    via_op = subspace_pursuit(op, y, 5, gram=a.conj().T @ a)
    dense = subspace_pursuit(a, y, 5, gram=a.conj().T @ a)
    np.testing.assert_array_equal(via_op.support, dense.support)
    np.testing.assert_allclose(via_op.image, dense.image, rtol=0, atol=1e-12)


def test_workers_none_follows_set_workers(rng):
    import skysense

    a, y = _gaussian(rng, 6)
    gram = a.conj().T @ a
    ref = subspace_pursuit(a, y, 5, gram=gram, workers=1)
    with skysense.set_workers(2):
        inside = subspace_pursuit(a, y, 5, gram=gram)
    every = subspace_pursuit(a, y, 5, gram=gram, workers=-1)
    for out in (inside, every):
        np.testing.assert_array_equal(out.image, ref.image)
        np.testing.assert_array_equal(out.support, ref.support)


def test_result_repr_is_short(rng):
    a, y = _gaussian(rng, 50)
    text = repr(subspace_pursuit(a, y, 5))
    assert text.startswith("PursuitResult(") and len(text.splitlines()) == 6
    assert "image=complex128[50, 97]" in text and len(text) < 800


# -- method selection (cost model) and the operator's cached Gram -----------------------------------
def test_cost_model_picks_the_cheaper_form(imaging):
    from skysense.imaging.pursuit import _resolve_method

    scenario, a, _, _ = imaging
    dense = lambda n: _resolve_method("auto", a, None, n, 6, 100, np.complex128)
    assert dense(1) == "residual"  # (1 + ~4) GEMVs against a 2560 x 1600^2 Gram
    assert dense(256) == "gram"  # 256 frames pay for the Gram
    assert _resolve_method("auto", a, np.eye(2), 1, 6, 100, np.complex128) == "gram"
    assert _resolve_method("residual", a, None, 256, 6, 100, np.complex128) == "residual"
    op = SensingOperator(scenario)
    assert _resolve_method("auto", op, None, 1, 6, 100, np.complex128) == "residual"
    op.gram()  # cached: free from now on
    assert _resolve_method("auto", op, None, 1, 6, 100, np.complex128) == "gram"
    # a Gram above 1 GiB is never formed by "auto": 12000 voxels of complex128 is 2.1 GiB
    big = Scenario(roi_size_m=(120.0, 100.0, 0.0), voxel_size_m=1.0, n_antennas_side=1)
    assert _resolve_method("auto", SensingOperator(big), None, 10**6, 6, 100, "c16") == "residual"


def test_operator_keeps_the_gram_sp_forms(imaging):
    scenario = imaging[0]
    op = SensingOperator(scenario)
    batch = simulate(scenario, 40, 6, rng=3)
    subspace_pursuit(op, batch.measurements[0], 6)  # one frame: residual form, no Gram
    assert op._gram_cache is None
    first = subspace_pursuit(op, batch.measurements, 6)  # 40 frames: the Gram form forms it
    cached = op._gram_cache
    assert cached is not None and not cached.flags.writeable
    again = subspace_pursuit(op, batch.measurements, 6)
    assert op._gram_cache is cached
    np.testing.assert_array_equal(first.image, again.image)


# -- non-finite data never read as a fit ----------------------------------------------------------
class _NanGramOperator:
    """An operator whose gram() is all NaN (its adjoint is fine)."""

    def __init__(self, a):
        self._a = a
        self.shape = a.shape
        self.dtype = a.dtype

    def rmatvec(self, y):
        return np.conj(np.conj(np.asarray(y)) @ self._a)

    def gram(self):
        return np.full((self.shape[1], self.shape[1]), np.nan, complex)


def test_nan_gram_is_not_a_perfect_fit(rng):
    a, y = _gaussian(rng, 3)
    op = _NanGramOperator(a)
    with pytest.raises(ValueError, match="a contains NaN or Inf.*frame"):
        subspace_pursuit(op, y, 5)
    out = subspace_pursuit(op, y, 5, check_finite=False)
    assert np.isnan(out.relative_residual).all() and np.isnan(out.image).all()
    assert (out.support == -1).all()
    with pytest.raises(ValueError, match="gram contains NaN or Inf"):
        subspace_pursuit(a, y, 5, gram=np.full((97, 97), np.nan))


@pytest.mark.parametrize("method", METHODS)
def test_nan_in_y_without_checks_gives_nan_not_zero(method, rng):
    a, y = _gaussian(rng, 3)
    y[1, 4] = np.nan
    out = subspace_pursuit(a, y, 5, check_finite=False, method=method)
    assert np.isnan(out.relative_residual[1]) and np.isnan(out.image[1]).all()
    assert (out.support[1] == -1).all()
    clean = subspace_pursuit(a, y[[0, 2]], 5, method=method)  # the other frames are unaffected
    np.testing.assert_array_equal(out.support[[0, 2]], clean.support)
    assert np.isfinite(out.relative_residual[[0, 2]]).all()


def test_gram_is_checked_where_read_not_scanned(rng):
    # A NaN in a Gram row that SP never reads cannot change the result; one it reads raises.
    a, y = _gaussian(rng, 1)
    gram = a.conj().T @ a
    clean = subspace_pursuit(a, y, 5, gram=gram)
    unread = int(np.setdiff1d(np.arange(97), clean.support)[0])
    far = gram.copy()
    far[unread, unread] = np.nan  # only on the diagonal of an unvisited voxel
    out = subspace_pursuit(a, y, 5, gram=far)
    np.testing.assert_array_equal(out.support, clean.support)
    np.testing.assert_array_equal(out.image, clean.image)
    near = gram.copy()
    near[clean.support[0], unread] = np.nan  # in a row of the final support
    near[unread, clean.support[0]] = np.nan
    with pytest.raises(ValueError, match="gram contains NaN or Inf"):
        subspace_pursuit(a, y, 5, gram=near)


# -- scale invariance: c from 1e-300 to 1e300 -----------------------------------------------------
from hypothesis import given, settings
from hypothesis import strategies as st

_SCALE_SETTINGS = settings(max_examples=30, deadline=None)
_A, _Y = _gaussian(np.random.default_rng(12), 3)
_REF = subspace_pursuit(_A, _Y, 5)


@_SCALE_SETTINGS
@given(exponent=st.floats(-300.0, 300.0), method=st.sampled_from(METHODS))
def test_scale_of_y_changes_nothing_but_the_scale(exponent, method):
    c = 10.0**exponent
    out = subspace_pursuit(_A, _Y * c, 5, method=method)
    np.testing.assert_array_equal(out.support, _REF.support)
    np.testing.assert_allclose(out.relative_residual, _REF.relative_residual, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        out.image / c, _REF.image, rtol=1e-9, atol=1e-12 * np.abs(_REF.image).max()
    )


@_SCALE_SETTINGS
@given(exponent=st.floats(-290.0, 290.0), method=st.sampled_from(METHODS))
def test_scale_of_a_changes_nothing_but_the_scale(exponent, method):
    # (|A| ~ 0.05, so c A stays normal down to c = 1e-290; below, A itself loses digits)
    c = 10.0**exponent
    out = subspace_pursuit(_A * c, _Y, 5, method=method)
    np.testing.assert_array_equal(out.support, _REF.support)
    np.testing.assert_allclose(out.relative_residual, _REF.relative_residual, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        out.image * c, _REF.image, rtol=1e-9, atol=1e-12 * np.abs(_REF.image).max()
    )


@_SCALE_SETTINGS
@given(exponent=st.floats(-300.0, 300.0))
def test_scale_of_y_scales_the_backprojection(exponent):
    c = 10.0**exponent
    ref = backproject(_A, _Y)
    z = backproject(_A, _Y * c)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z / c, ref, rtol=1e-12, atol=1e-14 * np.abs(ref).max())


def test_backprojection_that_overflows_names_y():
    with pytest.raises(ValueError, match="A\\^H y overflows complex128: y too large"):
        backproject(np.full((4, 2), 1e10, complex), np.full(4, 1e300, complex))


def test_far_exponents_is_far_exponent_elementwise():
    from skysense.imaging.backprojection import far_exponent, far_exponents

    values = np.array(
        [0.0, 1.0, 2.0**70, 2.0**-80, 3e-300, np.inf, np.nan, 1e300, 2.0**64, 2.0**63]
    )
    assert far_exponents(values).dtype == np.int64
    assert far_exponents(values).tolist() == [far_exponent(v) for v in values]


_ISA_CHILD = """
import sys
import numpy as np
from skysense.imaging import subspace_pursuit
data = np.load(sys.argv[1])
for key in ("c64", "c128"):
    a, y = data["a_" + key], data["y_" + key]
    r = subspace_pursuit(a, y, 5, gram=a.conj().T @ a)
    np.save(sys.argv[1] + "." + key + ".npy", r.image)
"""


def test_gram_form_vector_and_portable_loops_agree_bit_for_bit(rng, tmp_path):
    # The Gram form's correlations run in AVX2 where the CPU has it; SKYSENSE_ISA=generic
    # forces the portable loop: both do the same operations in the same order.
    import os
    import subprocess
    import sys

    arrays = {}
    for key, dtype in (("c64", np.complex64), ("c128", np.complex128)):
        arrays["a_" + key], arrays["y_" + key] = _gaussian(rng, 6, n_voxels=263, dtype=dtype)
    path = str(tmp_path / "problem.npz")
    np.savez(path, **arrays)
    env = dict(os.environ, SKYSENSE_ISA="generic")
    subprocess.run([sys.executable, "-c", _ISA_CHILD, path], env=env, check=True)
    for key in ("c64", "c128"):
        a, y = arrays["a_" + key], arrays["y_" + key]
        here = subspace_pursuit(a, y, 5, gram=a.conj().T @ a).image
        assert np.array_equal(here, np.load(path + "." + key + ".npy")), key
