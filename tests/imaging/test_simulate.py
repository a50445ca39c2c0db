import numpy as np
import pytest

from skysense.imaging import Scenario, sensing_matrix, simulate, steering_matrix

SMALL = Scenario(roi_size_m=(33.0, 27.0, 0.0), n_antennas_side=3)
SMALL_3D = Scenario(
    roi_size_m=(30.0, 30.0, 15.0), voxel_size_m=5.0, n_antennas_side=2, n_subcarriers=3
)


@pytest.mark.parametrize("scenario", [SMALL, SMALL_3D])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_on_grid_measurements_equal_a_sigma(scenario, dtype):
    batch = simulate(scenario, 7, 3, noise="none", dtype=dtype, seed=11)
    assert batch.y.dtype == dtype and batch.y.shape == (7, scenario.n_measurements)
    a = sensing_matrix(scenario)
    expected = batch.sigma @ a.T
    rtol = 1e-5 if dtype == np.complex64 else 1e-12
    assert np.abs(batch.y - expected).max() <= rtol * np.abs(expected).max()
    # positions are voxel centres, labels and sigma agree with them
    np.testing.assert_array_equal(batch.positions, scenario.voxel_centers()[batch.voxel_indices])
    assert batch.labels.sum(axis=1).tolist() == [3] * 7
    np.testing.assert_array_equal(batch.labels, batch.sigma > 0)


def test_off_grid_uses_true_positions():
    batch = simulate(SMALL, 4, 3, off_grid=True, noise="none", seed=2)
    lo, hi = SMALL.roi_bounds()
    assert np.all(batch.positions >= lo) and np.all(batch.positions <= hi)
    np.testing.assert_allclose(batch.positions[..., 2], SMALL.roi_center_m[2])  # 2D layer
    assert not np.allclose(batch.positions, SMALL.voxel_centers()[batch.voxel_indices])
    np.testing.assert_array_equal(batch.voxel_indices, SMALL.voxel_index(batch.positions))
    for n in range(4):
        cols = steering_matrix(SMALL, batch.positions[n])
        expected = cols @ batch.coefficients[n]
        assert np.abs(batch.y[n] - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.parametrize("off_grid", [False, True])
def test_minimum_separation(off_grid):
    batch = simulate(SMALL, 20, 4, off_grid=off_grid, min_separation_voxels=3.0, seed=5)
    d = np.linalg.norm(batch.positions[:, :, None] - batch.positions[:, None], axis=-1)
    d += np.eye(4) * 1e9
    assert d.min() >= 3.0 * SMALL.voxel_size_m - 1e-9


def test_deterministic_and_thread_independent():
    a = simulate(SMALL, 5, 3, off_grid=True, seed=123, workers=1)
    b = simulate(SMALL, 5, 3, off_grid=True, rng=np.random.default_rng(123), workers=2)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.positions, b.positions)
    c = simulate(SMALL, 5, 3, off_grid=True, seed=124)
    assert not np.array_equal(a.y, c.y)


def test_noise_models():
    clean = simulate(SMALL, 50, 2, noise="none", seed=9)
    exact = simulate(SMALL, 50, 2, noise="exact_norm", seed=9)
    m = SMALL.n_measurements
    power = np.sum(np.abs(exact.y - clean.y) ** 2, axis=1) / m
    np.testing.assert_allclose(power, SMALL.noise_power_w, rtol=1e-10)  # exact norm per frame
    gauss = simulate(SMALL, 50, 2, noise="gaussian", seed=9)
    z = (gauss.y - clean.y).ravel()
    est = np.mean(np.abs(z) ** 2)
    assert abs(est / SMALL.noise_power_w - 1) < 5 / np.sqrt(z.size)  # ~5 standard errors
    assert abs(np.mean(z.real * z.imag)) < 5 * SMALL.noise_power_w / np.sqrt(z.size)


def test_coefficient_models():
    code = simulate(SMALL, 200, 2, noise="none", seed=1).coefficients
    assert abs(code.mean() - 0.1) < 1e-3 and abs(code.std() - 1e-3) < 2e-4
    rcs = simulate(SMALL, 200, 2, noise="none", coefficient_model="rcs", seed=1).coefficients
    assert np.all(rcs > 0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_frames": 0}, ValueError, "n_frames"),
        ({"n_targets": 0}, ValueError, "n_targets"),
        ({"n_targets": 2.0}, TypeError, "n_targets"),
        ({"n_targets": 10_000}, ValueError, "exceeds the number of voxels"),
        ({"n_targets": 40}, ValueError, "cannot place"),
        ({"n_targets": 40, "off_grid": True}, ValueError, "cannot place"),
        ({"noise": "pink"}, ValueError, "noise"),
        ({"coefficient_model": "swerling"}, ValueError, "coefficient_model"),
        ({"dtype": np.float32}, TypeError, "dtype"),
        ({"min_separation_voxels": float("nan")}, ValueError, "min_separation_voxels"),
        ({"seed": 1, "rng": 2}, TypeError, "either rng or seed"),
        ({"max_bytes": 10}, MemoryError, "max_bytes"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"n_frames": 2, "n_targets": 2, **kwargs}
    with pytest.raises(exc, match=match):
        simulate(SMALL, **args)
