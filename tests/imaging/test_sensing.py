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
    lo, hi = s.roi_bounds()
    pts = rng.uniform(lo, hi, size=(13, 3))
    assert _rel_err(steering_matrix(s, pts), reference_sensing_matrix(s, pts)) <= 1e-12


def test_dense_independent_of_workers():
    s = ODD_SCENARIOS[0]
    assert np.array_equal(sensing_matrix(s, workers=1), sensing_matrix(s, workers=3))


@pytest.mark.parametrize("scenario", ODD_SCENARIOS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_operator_matches_dense(scenario, dtype, rng):
    op = SensingOperator(scenario, dtype, frames_per_chunk=2)
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
    cols = steering_matrix(s, s.voxel_centers()[[10, 900]])
    assert _rel_err(y, cols @ np.array([0.1, 0.1])) <= 1e-12


def test_todense_respects_memory_limit():
    op = SensingOperator(ODD_SCENARIOS[0])
    assert np.array_equal(op.todense(), sensing_matrix(ODD_SCENARIOS[0]))
    with pytest.raises(MemoryLimitError, match="max_bytes"):
        op.todense(max_bytes=1000)


def test_zero_distance_is_a_clear_error():
    s = ODD_SCENARIOS[0]
    antenna = s.antenna_positions()[1, 4]
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
        (lambda s, op: op.gram([op.shape[1]]), ValueError, "columns"),
        (lambda s, op: steering_matrix(s, np.ones((4, 2))), ValueError, "points"),
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
