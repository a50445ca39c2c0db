import numpy as np
import pytest
from _reference import sensing_matrix as reference_sensing_matrix

from skysense import MemoryLimitError
from skysense.imaging import Scenario, SensingOperator, sensing_matrix, steering_matrix

RTOL = {np.complex64: 1e-5, np.complex128: 1e-12}
DTYPES = [np.complex64, np.complex128]

# Odd, small configurations: 7 x 5 voxels, N0 = 3, three subcarriers, every mode, 3D.
ODD_SCENARIOS = [
    Scenario(roi_size_m=(21.0, 15.0, 0.0), n_antennas_side=3, n_subcarriers=3, mode="A"),
    Scenario(roi_size_m=(21.0, 15.0, 0.0), n_antennas_side=3, n_bs=5, mode="B"),
    Scenario(
        roi_size_m=(21.0, 15.0, 9.0),
        n_antennas_side=3,
        n_subcarriers=2,
        mode="C",
        subcarrier_grid="edges",
        spacing_factor=3.0,
    ),
    Scenario(roi_size_m=(33.0, 21.0, 0.0), n_antennas_side=3, legacy_rotation=True),
]


def _rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("scenario", ODD_SCENARIOS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_matches_numpy_reference(scenario, dtype):
    a = sensing_matrix(scenario, dtype)
    assert a.dtype == dtype
    assert a.shape == scenario.shape
    assert _rel_err(a, reference_sensing_matrix(scenario)) <= RTOL[dtype]


def test_steering_matrix_at_arbitrary_points(rng):
    s = ODD_SCENARIOS[0]
    lo, hi = s.roi_bounds_m()
    pts = rng.uniform(lo, hi, size=(13, 3))
    assert _rel_err(steering_matrix(s, pts), reference_sensing_matrix(s, pts)) <= 1e-12


def test_dense_independent_of_workers():
    s = ODD_SCENARIOS[0]
    assert np.array_equal(sensing_matrix(s, workers=1), sensing_matrix(s, workers=3))


@pytest.mark.parametrize("scenario", ODD_SCENARIOS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_operator_matches_dense(scenario, dtype, rng):
    op = SensingOperator(scenario, dtype, n_frames_per_chunk=2)
    a = sensing_matrix(scenario, np.complex128)
    m, n = a.shape
    assert op.shape == (m, n) and op.dtype == dtype
    x = rng.standard_normal((5, n)) + 1j * rng.standard_normal((5, n))
    y = rng.standard_normal((5, m)) + 1j * rng.standard_normal((5, m))
    fwd, adj = op.matvec(x), op.rmatvec(y)
    assert fwd.dtype == dtype and adj.dtype == dtype
    tol = 10 * RTOL[dtype]
    assert _rel_err(fwd, x @ a.T) <= tol
    assert _rel_err(adj, y @ a.conj()) <= tol
    assert _rel_err(op.matvec(x[0]), a @ x[0]) <= tol  # single vector
    assert op.rmatvec(y[0]).shape == (n,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_operator_large_batch_matches_dense(dtype, rng, monkeypatch):
    # >= _KHATRI_RAO_MIN_FRAMES frames take the GEMM-per-pair-block path; a tiny slab forces
    # several voxel slabs (an odd voxel count leaves a ragged last one).
    from skysense.imaging import sensing

    monkeypatch.setattr(sensing, "_KHATRI_RAO_BLOCK_BYTES", 1000)  # 6 or 13 voxels
    scenario = ODD_SCENARIOS[1]
    op = SensingOperator(scenario, dtype)
    a = sensing_matrix(scenario, np.complex128)
    k = sensing._KHATRI_RAO_MIN_FRAMES + 3
    y = rng.standard_normal((k, a.shape[0])) + 1j * rng.standard_normal((k, a.shape[0]))
    x = rng.standard_normal((k, a.shape[1])) + 1j * rng.standard_normal((k, a.shape[1]))
    adj, fwd = op.rmatvec(y), op.matvec(x)
    assert adj.dtype == dtype and fwd.dtype == dtype
    assert _rel_err(adj, y @ a.conj()) <= 10 * RTOL[dtype]
    assert _rel_err(fwd, x @ a.T) <= 10 * RTOL[dtype]
    assert _rel_err(op.rmatvec(y[:3]), y[:3] @ a.conj()) <= 10 * RTOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_operator_dot_test(dtype, rng):
    op = SensingOperator(ODD_SCENARIOS[2], dtype)
    m, n = op.shape
    x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    y = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    lhs = np.vdot(y, op.matvec(x))  # <A x, y>
    rhs = np.vdot(op.rmatvec(y), x)  # <x, A^H y>
    assert abs(lhs - rhs) <= 10 * RTOL[dtype] * abs(lhs)


def test_operator_real_input_is_accepted(rng):
    op = SensingOperator(ODD_SCENARIOS[0])
    x = rng.standard_normal(op.shape[1])
    assert _rel_err(op.matvec(x), op.matvec(x.astype(complex))) == 0


@pytest.mark.parametrize("scenario", ODD_SCENARIOS[:3])
def test_gram_is_hadamard_of_link_grams(scenario):
    op = SensingOperator(scenario)
    a = sensing_matrix(scenario)
    g = a.conj().T @ a
    assert _rel_err(op.gram(), g) <= 1e-12
    cols = np.array([0, 7, scenario.n_voxels - 1])
    assert _rel_err(op.gram(cols), g[:, cols]) <= 1e-12
    np.testing.assert_allclose(op.column_norms(), np.linalg.norm(a, axis=0), rtol=1e-12)


@pytest.mark.parametrize("mode", ["A", "B", "C"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gram_over_many_tiles_matches_dense(mode, dtype):
    # 3-D, 800 voxels: 13 x 4 tiles of the kernel, the mirrored lower triangle, 6 subcarriers
    s = Scenario.paper_3d(voxel_size_m=10.0, mode=mode)
    a = sensing_matrix(s)
    g = a.conj().T @ a
    op = SensingOperator(s, dtype)
    full = op.gram()
    assert full.dtype == dtype and full.shape == (800, 800)
    tol = {np.complex64: 2e-7, np.complex128: 2e-15}[dtype] * 8  # accumulated in double
    assert _rel_err(full, g) <= tol
    np.testing.assert_array_equal(full, full.conj().T)  # exactly Hermitian
    assert not full.diagonal().imag.any()
    cols = np.array([799, 0, 400, 401, 63, 64, 65])  # any order, across row blocks
    part = SensingOperator(s, dtype).gram(cols)  # computed, not from a cache
    assert _rel_err(part, g[:, cols]) <= tol
    np.testing.assert_allclose(part, full[:, cols], rtol=0, atol=tol * np.abs(g).max())


def test_gram_is_cached_read_only_and_counted():
    s = ODD_SCENARIOS[0]
    op = SensingOperator(s)
    links_bytes = op.memory_usage()
    g = op.gram()
    assert op.gram() is g and not g.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        g[0, 0] = 1.0
    assert op.memory_usage() == links_bytes + g.nbytes
    np.testing.assert_array_equal(op.gram([3, 1]), g[:, [3, 1]])  # columns from the cache
    op.clear_cache()
    assert op.memory_usage() == links_bytes
    np.testing.assert_array_equal(op.gram(), g)


def test_gram_is_formed_once_under_concurrent_calls(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    op = SensingOperator(Scenario.paper_3d(voxel_size_m=10.0))
    calls = []
    original = op._link_gram

    def counting(cols, scale):
        calls.append(cols)
        return original(cols, scale)

    monkeypatch.setattr(op, "_link_gram", counting)
    with ThreadPoolExecutor(4) as pool:
        grams = list(pool.map(lambda _: op.gram(), range(8)))
    assert len(calls) == 1 and all(g is grams[0] for g in grams)


def test_gram_that_overflows_is_an_error(monkeypatch):
    op = SensingOperator(ODD_SCENARIOS[0])
    monkeypatch.setattr(op, "_amplitude", 1e200)
    with pytest.raises(ValueError, match="Gram overflows complex128"):
        op.gram()


def test_large_array_stays_matrix_free():
    s = Scenario(n_antennas_side=8)  # dense complex128 A would be 40960 x 1600, 1.05 GB
    with pytest.raises(MemoryLimitError, match="SensingOperator"):
        sensing_matrix(s, max_bytes=2**29)
    op = SensingOperator(s)
    assert op.memory_usage() < 20 * 2**20
    x = np.zeros(s.n_voxels)
    x[[10, 900]] = 0.1
    y = op.matvec(x)
    assert y.shape == (40960,)
    cols = steering_matrix(s, s.voxel_centers_m()[[10, 900]])
    assert _rel_err(y, cols @ np.array([0.1, 0.1])) <= 1e-12


def test_todense_respects_memory_limit():
    op = SensingOperator(ODD_SCENARIOS[0])
    assert np.array_equal(op.todense(), sensing_matrix(ODD_SCENARIOS[0]))
    with pytest.raises(MemoryLimitError, match="max_bytes"):
        op.todense(max_bytes=1000)


def test_zero_distance_is_a_clear_error():
    s = ODD_SCENARIOS[0]
    antenna = s.antenna_positions_m()[1, 4]
    with pytest.raises(ValueError, match="impossible geometry.*zero distance"):
        steering_matrix(s, antenna[None, :])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda s, op: sensing_matrix(s, np.float64), TypeError, "complex64 or complex128"),
        (lambda s, op: sensing_matrix("scenario"), TypeError, "Scenario"),
        (lambda s, op: SensingOperator(s, np.int32), TypeError, "dtype"),
        (lambda s, op: op.matvec(np.ones(3)), ValueError, "Dimension mismatch"),
        (lambda s, op: op.rmatvec(np.ones((2, 3))), ValueError, "Dimension mismatch"),
        (lambda s, op: op.matvec(np.full(op.shape[1], np.nan)), ValueError, "NaN or Inf"),
        (lambda s, op: op.rmatvec(np.full(op.shape[0], np.inf)), ValueError, "NaN or Inf"),
        (lambda s, op: op.matvec(np.ones((0, op.shape[1]))), ValueError, "empty batch"),
        (lambda s, op: op.matvec(np.ones((1, 1, op.shape[1]))), ValueError, "ndim"),
        (lambda s, op: op.matvec(np.array(["a"] * op.shape[1])), TypeError, "dtype"),
        (lambda s, op: op.gram([op.shape[1]]), ValueError, "column_index"),
        (lambda s, op: steering_matrix(s, np.ones((4, 2))), ValueError, "points_m"),
        (lambda s, op: SensingOperator(s, n_frames_per_chunk=0), ValueError, "n_frames_per_chunk"),
        (lambda s, op: SensingOperator(s, n_frames_per_chunk=2.0), TypeError, "n_frames_per_chunk"),
        (lambda s, op: SensingOperator(s, workers=0), ValueError, "workers must be >= 1"),
        (lambda s, op: op.matmat(np.ones((3, 2))), ValueError, "dimension mismatch"),
        (lambda s, op: op.H @ np.ones(3), ValueError, "dimension mismatch"),
        (lambda s, op: op @ np.full((op.shape[1], 2), np.nan), ValueError, "NaN or Inf"),
        (lambda s, op: steering_matrix(s, np.full((1, 3), np.nan)), ValueError, "NaN"),
    ],
)
def test_bad_input(call, exc, match):
    s = ODD_SCENARIOS[0]
    op = SensingOperator(s)
    with pytest.raises(exc, match=match):
        call(s, op)


def test_operator_overflow_is_an_error():
    # |A| ~ 1e8 at 300 dBm: a finite y of 1e35 overflows complex64 in A^H y
    op = SensingOperator(ODD_SCENARIOS[0].replace(sensing_power_dbm=300.0), np.complex64)
    huge = np.full(op.shape[0], 1e35, np.complex64)
    with pytest.raises(ValueError, match="overflows complex64"):
        op.rmatvec(huge)
    with pytest.raises(ValueError, match="overflows complex64"):
        op.rmatvec(np.stack([huge] * 20))  # the many-frames path


# -- SciPy interoperability: a LinearOperator -------------------------------------------------
def test_operator_is_a_scipy_linear_operator(rng):
    from scipy.sparse.linalg import LinearOperator, aslinearoperator

    s = ODD_SCENARIOS[0]
    op = SensingOperator(s)
    a = sensing_matrix(s)
    assert isinstance(op, LinearOperator) and aslinearoperator(op) is op
    assert op.shape == a.shape and op.dtype == np.complex128
    n, m = a.shape[1], a.shape[0]
    x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    y = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    tol = 10 * RTOL[np.complex128]
    assert _rel_err(op @ x, a @ x) <= tol
    assert _rel_err(op.H @ y, a.conj().T @ y) <= tol
    assert _rel_err(op.adjoint() @ y, a.conj().T @ y) <= tol
    assert _rel_err(op.T @ y, a.T @ y) <= tol
    assert _rel_err(op.dot(x), a @ x) <= tol
    assert _rel_err(op(x), a @ x) <= tol
    # SciPy's column vectors keep their shape
    assert op.matvec(x[:, None]).shape == (m, 1)
    assert _rel_err(op.matvec(x[:, None])[:, 0], a @ x) <= tol
    assert op.rmatvec(y[:, None]).shape == (n, 1)
    assert _rel_err(op.rmatvec(y[:, None])[:, 0], a.conj().T @ y) <= tol
    # composition: the normal operator
    normal = op.H @ op
    assert _rel_err(normal @ x, a.conj().T @ (a @ x)) <= tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 20])  # 20 columns: the many-frames (Khatri-Rao) path
def test_matmat_columns_equal_matvec_rows(dtype, k, rng):
    s = ODD_SCENARIOS[0]
    op = SensingOperator(s, dtype)
    a = sensing_matrix(s)
    n, m = a.shape[1], a.shape[0]
    x = rng.standard_normal((n, k)) + 1j * rng.standard_normal((n, k))
    y = rng.standard_normal((m, k)) + 1j * rng.standard_normal((m, k))
    fwd, adj = op @ x, op.H @ y
    assert fwd.shape == (m, k) and adj.shape == (n, k)
    assert fwd.dtype == dtype and adj.dtype == dtype
    tol = 10 * RTOL[dtype]
    assert _rel_err(fwd, a @ x) <= tol
    assert _rel_err(adj, a.conj().T @ y) <= tol
    assert _rel_err(op.rmatmat(y), a.conj().T @ y) <= tol
    # the batch conventions agree: columns (n, k) <-> rows (k, n)
    np.testing.assert_array_equal(op.matmat(x), op.matvec(x.T).T)
    np.testing.assert_array_equal(op.rmatmat(y), op.rmatvec(y.T).T)


def test_matmat_takes_the_batched_path_once(rng):
    # k columns go through one batched product (not k matvecs), the GEMM path from 16 on
    from skysense.imaging import sensing

    op = SensingOperator(ODD_SCENARIOS[0])
    calls = []
    original = op._matvec_khatri_rao

    def spy(frames):
        calls.append(frames.shape)
        return original(frames)

    op._matvec_khatri_rao = spy
    k = sensing._KHATRI_RAO_MIN_FRAMES + 4
    op @ (rng.standard_normal((op.shape[1], k)) + 0j)
    assert calls == [(k, op.shape[1])]


def _lstsq_problem(rng, dtype=np.complex128):
    s = ODD_SCENARIOS[0]  # 2430 x 35, cond(A) = 80
    a = sensing_matrix(s)
    x_true = rng.standard_normal(a.shape[1]) + 1j * rng.standard_normal(a.shape[1])
    noise = rng.standard_normal(a.shape[0]) + 1j * rng.standard_normal(a.shape[0])
    y = a @ x_true + 0.1 * np.abs(a @ x_true).mean() * noise
    x_ref = np.linalg.lstsq(a, y, rcond=None)[0]
    return SensingOperator(s, dtype), y, x_ref


def test_scipy_solvers_give_the_dense_least_squares_answer(rng):
    from scipy.sparse.linalg import cg, lsmr, lsqr

    op, y, x_ref = _lstsq_problem(rng)
    # Relative error of the solution against numpy.linalg.lstsq: measured 1.2e-14 (lsqr,
    # lsmr) and 2e-13 (cg on the normal equations, cond(A^H A) = 6400); asserted 1e-10.
    tol = 1e-10
    x_lsqr = lsqr(op, y, atol=1e-15, btol=1e-15, iter_lim=500)[0]
    assert np.linalg.norm(x_lsqr - x_ref) / np.linalg.norm(x_ref) <= tol
    x_lsmr = lsmr(op, y, atol=1e-15, btol=1e-15, maxiter=500)[0]
    assert np.linalg.norm(x_lsmr - x_ref) / np.linalg.norm(x_ref) <= tol
    x_cg, info = cg(op.H @ op, op.H @ y, rtol=1e-14, maxiter=500)
    assert info == 0
    assert np.linalg.norm(x_cg - x_ref) / np.linalg.norm(x_ref) <= tol


def test_scipy_solver_in_single_precision(rng):
    from scipy.sparse.linalg import lsqr

    op, y, x_ref = _lstsq_problem(rng, np.complex64)
    x = lsqr(op, y.astype(np.complex64), atol=1e-7, btol=1e-7, iter_lim=200)[0]
    # complex64 operator: measured 7e-6 relative to the complex128 lstsq answer
    assert np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref) <= 1e-4


def test_operator_results_do_not_depend_on_workers(rng):
    import skysense

    s = ODD_SCENARIOS[0]
    one = SensingOperator(s, workers=1)
    with skysense.set_workers(2):
        two = SensingOperator(s)
    every = SensingOperator(s, workers=-1)
    x = rng.standard_normal((3, s.n_voxels)) + 0j
    for other in (two, every):
        np.testing.assert_array_equal(other.matvec(x), one.matvec(x))
        np.testing.assert_array_equal(other.gram(), one.gram())


def test_operator_pickles(rng):
    import pickle

    op = SensingOperator(ODD_SCENARIOS[0])
    op.gram()
    again = pickle.loads(pickle.dumps(op))
    assert again._gram_cache is None  # the cache stays behind; the lock is new
    np.testing.assert_array_equal(again.gram(), op.gram())
    x = rng.standard_normal(op.shape[1]) + 0j
    np.testing.assert_array_equal(again @ x, op @ x)
    assert repr(again) == repr(op)
