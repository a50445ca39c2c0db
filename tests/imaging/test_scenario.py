import math

import numpy as np
import pytest

from skysense.imaging import Scenario


def test_paper_defaults():
    s = Scenario()
    assert s.grid_shape == (40, 40, 1)
    assert s.n_voxels == 1600
    assert s.shape == (2560, 1600)  # 10 pairs * 4**4
    assert Scenario(n_antennas_side=5).shape == (6250, 1600)  # the paper's footnote
    np.testing.assert_allclose(
        s.bs_centers_m(), [[-70, 70, 20], [70, 70, 20], [70, -70, 20], [-70, -70, 20]], atol=1e-12
    )
    assert math.isclose(s.wavelength_m, 3e8 / 2.6e9)
    # sqrt(G_s) lambda0 / sqrt(4 pi) = 0.0651 times sqrt(10 W)
    assert math.isclose(s.amplitude, math.sqrt(10.0) * 0.06510, rel_tol=1e-3)
    assert math.isclose(s.noise_power_w, 1e-14)


def test_paper_3d():
    s = Scenario.paper_3d()
    assert s.grid_shape == (20, 20, 16)
    c = s.voxel_centers_m()
    assert c[:, 2].min() == pytest.approx(42.5) and c[:, 2].max() == pytest.approx(117.5)


def test_voxel_order_is_c_order_z_fastest():
    s = Scenario.paper_3d()
    c = s.voxel_centers_m()
    np.testing.assert_allclose(c[1] - c[0], [0, 0, 5])
    np.testing.assert_allclose(c[16] - c[0], [0, 5, 0])
    np.testing.assert_allclose(c[16 * 20] - c[0], [5, 0, 0])
    assert np.array_equal(s.voxel_index(c), np.arange(s.n_voxels))
    assert s.voxel_index(np.array([[1e3, 0, 80]]))[0] == -1


def test_upa_faces_roi_centre_with_half_wavelength_spacing():
    s = Scenario(n_antennas_side=5, spacing_factor=2.0)
    ant = s.antenna_positions_m()
    assert ant.shape == (4, 25, 3)
    for b, p in enumerate(s.bs_centers_m()):
        normal = -p[:2] / np.linalg.norm(p[:2])
        offsets = ant[b] - p
        np.testing.assert_allclose(offsets[:, :2] @ normal, 0, atol=1e-12)  # vertical plane
        np.testing.assert_allclose(
            np.linalg.norm(offsets[1] - offsets[0]), s.wavelength_m, rtol=1e-12
        )
        np.testing.assert_allclose(offsets[5] - offsets[0], [0, 0, s.wavelength_m], atol=1e-12)
        np.testing.assert_allclose(offsets.mean(axis=0), 0, atol=1e-12)


def test_legacy_rotation_reproduces_matlab_offsets():
    s = Scenario(n_antennas_side=5, legacy_rotation=True)
    u = s.wavelength_m / 2
    off = s.antenna_positions_m() - s.bs_centers_m()[:, None, :]
    # get_antenna_pos.m: u * (0.707, 0.207) on BS1/BS3 (pi/4), u * (0.707, -1.207) on BS2/BS4.
    np.testing.assert_allclose(
        off[0, 3, :2] - off[0, 2, :2], u * np.array([0.7071, 0.2071]), atol=1e-5
    )
    np.testing.assert_allclose(
        off[1, 3, :2] - off[1, 2, :2], u * np.array([0.7071, -1.2071]), atol=1e-5
    )
    np.testing.assert_allclose(
        off[..., 2],
        Scenario(n_antennas_side=5).antenna_positions_m()[..., 2] - s.bs_centers_m()[:, None, 2],
    )


@pytest.mark.parametrize(
    ("mode", "pairs"),
    [
        ("A", [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]),
        ("B", [(0, 1), (0, 2), (1, 2)]),
        ("C", [(0, 0), (1, 1), (2, 2)]),
    ],
)
def test_mode_pairs(mode, pairs):
    s = Scenario(n_bs=3, mode=mode)
    assert s.pairs().tolist() == [list(p) for p in pairs]
    assert s.n_pairs == len(pairs)


def test_subcarrier_grids():
    s = Scenario(n_subcarriers=4, bandwidth_hz=40e6)
    np.testing.assert_allclose(s.subcarrier_frequencies_hz() - 2.6e9, [-15e6, -5e6, 5e6, 15e6])
    e = s.replace(subcarrier_grid="edges")
    np.testing.assert_allclose(
        e.subcarrier_frequencies_hz() - 2.6e9, [-20e6, -20e6 / 3, 20e6 / 3, 20e6]
    )
    # power split across subcarriers: amplitude falls by sqrt(N_f)
    assert math.isclose(s.amplitude, Scenario().amplitude / 2)


def test_explicit_bs_positions_and_polygon():
    s = Scenario(bs_positions_m=((-80, 0, 25), (80, 0, 25), (0, 90, 25)), mode="B")
    assert s.n_bs == 3 and s.n_pairs == 3
    hexagon = Scenario(n_bs=6, bs_spacing_m=100.0)
    p = hexagon.bs_centers_m()
    np.testing.assert_allclose(np.linalg.norm(np.diff(p[:, :2], axis=0), axis=1), 100.0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"voxel_size_m": 0}, ValueError, "voxel_size_m"),
        ({"voxel_size_m": -1}, ValueError, "voxel_size_m"),
        ({"voxel_size_m": 200}, ValueError, "larger than the ROI"),
        ({"roi_size_m": (-1, 120, 0)}, ValueError, "roi_size_m"),
        ({"roi_size_m": (0, 120, 0)}, ValueError, "roi_size_m"),
        ({"roi_size_m": (120, 120)}, ValueError, "3 entries"),
        ({"n_antennas_side": 0}, ValueError, "n_antennas_side"),
        ({"n_antennas_side": 2.5}, TypeError, "n_antennas_side"),
        ({"n_bs": -2}, ValueError, "n_bs"),
        ({"carrier_frequency_hz": float("nan")}, ValueError, "carrier_frequency_hz"),
        ({"sensing_power_dbm": float("inf")}, ValueError, "sensing_power_dbm"),
        ({"roi_center_m": (0, float("nan"), 40)}, ValueError, "roi_center_m"),
        ({"mode": "D"}, ValueError, "mode"),
        ({"mode": "B", "n_bs": 1}, ValueError, "n_bs >= 2"),
        ({"subcarrier_grid": "random"}, ValueError, "subcarrier_grid"),
        ({"n_subcarriers": 3, "bandwidth_hz": 0}, ValueError, "bandwidth_hz"),
        ({"bs_height_m": 40.0, "bs_spacing_m": 20.0}, ValueError, "inside the ROI"),
        ({"bs_positions_m": ((0, 0, 40),)}, ValueError, "inside the ROI"),
        ({"bs_positions_m": ((0, 0),)}, ValueError, "bs_positions_m"),
        ({"spacing_factor": 0}, ValueError, "spacing_factor"),
        ({"voxel_size_m": "3"}, TypeError, "voxel_size_m"),
    ],
)
def test_bad_parameters_raise(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Scenario(**kwargs)


def test_scenario_is_frozen_and_hashable():
    s = Scenario()
    with pytest.raises(AttributeError):
        s.mode = "B"
    assert hash(s) == hash(Scenario())


def test_geometry_in_metres_and_wavenumbers():
    s = Scenario(roi_size_m=(9.0, 6.0, 0.0), n_subcarriers=2)
    x, y, z = s.axis_centers_m()
    assert x.tolist() == [-3.0, 0.0, 3.0] and y.tolist() == [-1.5, 1.5] and z.tolist() == [40.0]
    np.testing.assert_allclose(s.roi_bounds_m(), [[-4.5, -3.0, 40.0], [4.5, 3.0, 40.0]])
    np.testing.assert_allclose(
        s.wavenumbers_rad_per_m(), 2 * np.pi * s.subcarrier_frequencies_hz() / 3e8, rtol=1e-15
    )
    assert s.voxel_index([[-3.0, 1.5, 40.0], [10.0, 0.0, 40.0]]).tolist() == [1, -1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sensing_power_dbm": 1e300}, r"sensing_power_dbm must lie in \[-300, 300\] dBm"),
        ({"noise_power_dbm": -1e300}, r"noise_power_dbm must lie in \[-300, 300\] dBm"),
        ({"carrier_frequency_hz": 1e-310}, r"carrier_frequency_hz must lie in \[3, 3e\+12\] Hz"),
        ({"carrier_frequency_hz": 1e30}, "carrier_frequency_hz must lie in"),
        ({"antenna_gain": 1e300}, r"antenna_gain must lie in \[1e-30, 1e\+30\]"),
        ({"roi_center_m": (1e300, 0.0, 40.0)}, r"roi_center_m\[0\] must lie in \[0, 1e\+06\] m"),
        ({"roi_size_m": (1e300, 1e300, 0.0), "voxel_size_m": 1e299}, r"voxel_size_m must lie in"),
        ({"bs_height_m": -1e300}, "bs_height_m must lie in"),
        ({"bs_spacing_m": 1e300}, "bs_spacing_m must lie in"),
        (
            {"bs_positions_m": ((1e300, 0.0, 0.0), (0.0, 1.0, 0.0))},
            r"bs_positions_m must lie within",
        ),
        ({"spacing_factor": 1e300}, r"spacing_factor=1e\+300 gives a .* m array"),
    ],
)
def test_physically_meaningless_values_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Scenario(**kwargs)


def test_extreme_but_valid_values_give_a_finite_model():
    from skysense.imaging import sensing_matrix

    for kwargs in (
        {"sensing_power_dbm": 300.0, "antenna_gain": 1e30, "carrier_frequency_hz": 1e3},
        {"sensing_power_dbm": -300.0, "antenna_gain": 1e-30, "carrier_frequency_hz": 3e12},
    ):
        s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2, **kwargs)
        a = sensing_matrix(s)
        assert np.isfinite(a).all() and np.all(np.abs(a).sum(axis=0) > 0), kwargs


def test_voxel_index_far_nan_and_single_point():
    s = Scenario()
    assert s.voxel_index([0.5, 0.5, 40.0]).shape == ()  # 0-d in, 0-d out
    assert s.voxel_index([[1e300, 0.0, 40.0], [-1e300, -1e300, 40.0]]).tolist() == [-1, -1]
    with pytest.raises(ValueError, match="points_m contains NaN"):
        s.voxel_index([np.nan, 0.0, 40.0])
    with pytest.raises(ValueError, match="points_m must have shape"):
        s.voxel_index([0.0, 0.0])


def test_counts_beyond_a_c_int_name_the_parameter():
    from skysense.imaging import SensingOperator, subspace_pursuit

    s = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
    y = np.ones(s.n_measurements, np.complex128)
    # used to surface as pybind's "incompatible function arguments"
    with pytest.raises(
        ValueError, match=r"max_iter must be <= 2147483647, got 1180591620717411303424"
    ):
        subspace_pursuit(SensingOperator(s), y, 2, max_iter=2**70)
