"""The front end's angles in the angle-aided mapper (ours, docs/pipeline.md)."""

import numpy as np

from skysense.mapping import Mapper, MappingParams, default_scene, simulate
from skysense.pipeline import (
    BistaticChannel,
    CsiMapper,
    estimate_bistatic,
    measured_angles,
    simulate_bistatic_csi,
    with_bistatic_measurements,
)


def test_measured_angles_are_the_paths_angles_within_their_crb():
    scene = default_scene(6)
    ch = BistaticChannel(snr_db=30.0, uav_axis=(0.2, 1.0, 0.1), diffuse_mean=0.0)
    (link,) = simulate_bistatic_csi(scene, ch, rng=0, bs_indices=[1])
    meas = estimate_bistatic(link.csi, ch, n_paths=link.n_paths)
    angles = measured_angles(meas, scene.base_stations_m[1], ch)
    assert len(angles) == scene.n_epochs
    for e, ang in enumerate(angles):
        paths = link.paths[e]
        np.testing.assert_allclose(ang.uav_axis, np.asarray(ch.uav_axis))
        np.testing.assert_array_equal(ang.bs_position_m, scene.base_stations_m[1])
        for i, r in enumerate(meas.ranges_m[e]):
            # the true path: nearest in range, then AoA (BS2 sees two facades at one range)
            cost = np.abs(paths.toa_s * 299792458.0 - r) + np.abs(paths.aoa_rad - ang.aoa_rad[i])
            j = int(np.argmin(cost))
            # within 6 CRB stds (a path of a close pair can exceed the bound ~2x)
            assert abs(ang.aoa_rad[i] - paths.aoa_rad[j]) < 6 * ang.aoa_std_rad[i] + 1e-6
            assert abs(ang.aod_rad[i] - paths.aod_rad[j]) < 6 * ang.aod_std_rad[i] + 1e-6


def test_angle_aided_stream_equals_batch_and_uses_the_angles():
    scene = default_scene(12)
    ch = BistaticChannel()
    (link,) = simulate_bistatic_csi(scene, ch, rng=3, bs_indices=[0])
    (data,) = simulate(scene, rng=4, bs_indices=[0])
    with_csi = with_bistatic_measurements(data, estimate_bistatic(link.csi, ch), channel=ch)
    params = MappingParams(n_particles=300, birth_height_std_m=1.0, bistatic_angles=True)
    mapper = Mapper("bistatic", params)
    batch = mapper.run(with_csi, rng=5)
    stream = CsiMapper(data.bs_position_m, mapper, ch, rng=5)
    for e in range(scene.n_epochs):
        up = stream.update(link.csi[e], data.uav_positions_m[e], data.monostatic_positions_m[e])
        np.testing.assert_array_equal(up.estimates_m, batch.estimates_m[e])
    range_only = Mapper("bistatic", MappingParams(n_particles=300, birth_height_std_m=1.0))
    other = range_only.run(with_csi, rng=5)
    assert not np.array_equal(other.state.positions_m, batch.state.positions_m)
