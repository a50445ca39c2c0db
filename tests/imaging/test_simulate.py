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
    batch = simulate(scenario, 7, 3, noise_model="none", dtype=dtype, rng=11)
    assert batch.measurements.dtype == dtype and batch.measurements.shape == (
        7,
        scenario.n_measurements,
    )
    a = sensing_matrix(scenario)
    expected = batch.image @ a.T
    rtol = 1e-5 if dtype == np.complex64 else 1e-12
    assert np.abs(batch.measurements - expected).max() <= rtol * np.abs(expected).max()
    # positions are voxel centres, labels and sigma agree with them
    np.testing.assert_array_equal(batch.positions_m, scenario.voxel_centers_m()[batch.voxel_index])
    assert batch.labels.sum(axis=1).tolist() == [3] * 7
    np.testing.assert_array_equal(batch.labels, batch.image > 0)


def test_off_grid_uses_true_positions():
    batch = simulate(SMALL, 4, 3, off_grid=True, noise_model="none", rng=2)
    lo, hi = SMALL.roi_bounds_m()
    assert np.all(batch.positions_m >= lo) and np.all(batch.positions_m <= hi)
    np.testing.assert_allclose(batch.positions_m[..., 2], SMALL.roi_center_m[2])  # 2D layer
    assert not np.allclose(batch.positions_m, SMALL.voxel_centers_m()[batch.voxel_index])
    np.testing.assert_array_equal(batch.voxel_index, SMALL.voxel_index(batch.positions_m))
    for n in range(4):
        cols = steering_matrix(SMALL, batch.positions_m[n])
        expected = cols @ batch.coefficients[n]
        assert np.abs(batch.measurements[n] - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.parametrize("off_grid", [False, True])
def test_minimum_separation(off_grid):
    batch = simulate(SMALL, 20, 4, off_grid=off_grid, min_separation_voxels=3.0, rng=5)
    d = np.linalg.norm(batch.positions_m[:, :, None] - batch.positions_m[:, None], axis=-1)
    d += np.eye(4) * 1e9
    assert d.min() >= 3.0 * SMALL.voxel_size_m - 1e-9


def test_deterministic_and_thread_independent():
    a = simulate(SMALL, 5, 3, off_grid=True, rng=123, workers=1)
    b = simulate(SMALL, 5, 3, off_grid=True, rng=np.random.default_rng(123), workers=2)
    np.testing.assert_array_equal(a.measurements, b.measurements)
    np.testing.assert_array_equal(a.positions_m, b.positions_m)
    c = simulate(SMALL, 5, 3, off_grid=True, rng=124)
    assert not np.array_equal(a.measurements, c.measurements)


def test_noise_models():
    clean = simulate(SMALL, 50, 2, noise_model="none", rng=9)
    exact = simulate(SMALL, 50, 2, noise_model="exact_norm", rng=9)
    m = SMALL.n_measurements
    power = np.sum(np.abs(exact.measurements - clean.measurements) ** 2, axis=1) / m
    np.testing.assert_allclose(power, SMALL.noise_power_w, rtol=1e-10)  # exact norm per frame
    gauss = simulate(SMALL, 50, 2, noise_model="gaussian", rng=9)
    z = (gauss.measurements - clean.measurements).ravel()
    est = np.mean(np.abs(z) ** 2)
    assert abs(est / SMALL.noise_power_w - 1) < 5 / np.sqrt(z.size)  # ~5 standard errors
    assert abs(np.mean(z.real * z.imag)) < 5 * SMALL.noise_power_w / np.sqrt(z.size)


def test_coefficient_models():
    code = simulate(SMALL, 200, 2, noise_model="none", rng=1).coefficients
    assert abs(code.mean() - 0.1) < 1e-3 and abs(code.std() - 1e-3) < 2e-4
    rcs = simulate(SMALL, 200, 2, noise_model="none", coefficient_model="rcs", rng=1).coefficients
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
        ({"noise_model": "pink"}, ValueError, "noise_model"),
        ({"coefficient_model": "swerling"}, ValueError, "coefficient_model"),
        ({"dtype": np.float32}, TypeError, "dtype"),
        ({"min_separation_voxels": float("nan")}, ValueError, "min_separation_voxels"),
        ({"seed": 1}, TypeError, "seed"),
        ({"rng": 1.5}, TypeError, "rng must be None, an int seed"),
        ({"rng": -1}, ValueError, "non-negative"),
        ({"rng": np.random.RandomState(0)}, TypeError, "rng must be"),
        ({"workers": 0}, ValueError, "workers must be >= 1"),
        ({"max_bytes": 10}, MemoryError, "max_bytes"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"n_frames": 2, "n_targets": 2, **kwargs}
    with pytest.raises(exc, match=match):
        simulate(SMALL, **args)


def test_rng_accepts_int_seed_sequence_and_generator():
    by_int = simulate(SMALL, 3, 2, off_grid=True, rng=7)
    by_seq = simulate(SMALL, 3, 2, off_grid=True, rng=np.random.SeedSequence(7))
    np.testing.assert_array_equal(by_int.measurements, by_seq.measurements)
    # a Generator is used as is: its stream advances, so a second call differs
    gen = np.random.default_rng(7)
    first = simulate(SMALL, 3, 2, off_grid=True, rng=gen)
    second = simulate(SMALL, 3, 2, off_grid=True, rng=gen)
    np.testing.assert_array_equal(first.measurements, by_int.measurements)
    assert not np.array_equal(first.measurements, second.measurements)


def test_stream_is_unchanged_by_the_rng_convention():
    # The rng keyword replaced a seed keyword without changing the stream: frame positions
    # come first from default_rng(seed), voxel by voxel (the numbers of earlier releases).
    batch = simulate(SMALL, 2, 2, rng=5)
    gen = np.random.default_rng(5)
    first = gen.integers(SMALL.n_voxels)
    assert batch.voxel_index[0, 0] == first


def test_workers_default_and_set_workers_give_the_same_numbers():
    import skysense

    ref = simulate(SMALL, 4, 2, rng=3, workers=1)
    with skysense.set_workers(2):
        inside = simulate(SMALL, 4, 2, rng=3)
    every = simulate(SMALL, 4, 2, rng=3, workers=-1)
    np.testing.assert_array_equal(inside.measurements, ref.measurements)
    np.testing.assert_array_equal(every.measurements, ref.measurements)


def test_batch_repr_is_short():
    batch = simulate(Scenario(), 20, 6, rng=0)  # 20 x 2560 measurements
    text = repr(batch)
    assert text.startswith("ImagingBatch(") and len(text.splitlines()) == 8
    assert "measurements=complex128[20, 2560]" in text and len(text) < 1000
