"""CsiMapper: one object per BS, state across calls, equal to the batch path."""

import numpy as np
import pytest

from skysense.mapping import Mapper, MappingParams, default_scene, simulate
from skysense.pipeline import (
    BistaticChannel,
    CsiMapper,
    estimate_bistatic,
    simulate_bistatic_csi,
    with_bistatic_measurements,
)


@pytest.mark.parametrize("scheme", ["fusion3", "bistatic", "specular"])
def test_stream_equals_batch_mapper_run(scheme):
    scene = default_scene(12)
    ch = BistaticChannel()
    (link,) = simulate_bistatic_csi(scene, ch, rng=3, bs_indices=[0])
    (data,) = simulate(scene, rng=4, bs_indices=[0])
    mapper = Mapper(scheme, MappingParams(n_particles=300))
    batch = mapper.run(with_bistatic_measurements(data, estimate_bistatic(link.csi, ch)), rng=5)
    stream = CsiMapper(data.bs_position_m, mapper, ch, rng=5)
    for e in range(scene.n_epochs):
        up = stream.update(link.csi[e], data.uav_positions_m[e], data.monostatic_positions_m[e])
        np.testing.assert_array_equal(up.estimates_m, batch.estimates_m[e])
        assert up.n_pmfs == batch.n_pmfs[e] and up.epoch == e
        assert up.existence.shape == (up.estimates_m.shape[0],)
        assert np.all(up.existence > mapper.params.detect_threshold)
        assert up.front_end_s > 0 and up.filter_s > 0
    np.testing.assert_array_equal(stream.state.positions_m, batch.state.positions_m)
    assert stream.n_epochs == scene.n_epochs


def test_covariances_are_the_particle_spread():
    scene = default_scene(20)
    (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    (data,) = simulate(scene, rng=0, bs_indices=[0])
    stream = CsiMapper(data.bs_position_m, Mapper("fusion3", MappingParams(n_particles=300)), rng=0)
    for e in range(scene.n_epochs):
        up = stream.update(link.csi[e], data.uav_positions_m[e], data.monostatic_positions_m[e])
    assert up.estimates_m.shape[0] >= 1
    cov = up.covariances_m2
    np.testing.assert_allclose(cov, np.swapaxes(cov, 1, 2), atol=1e-12)
    assert np.all(np.linalg.eigvalsh(cov) >= -1e-12)
    # the reference: NumPy's weighted covariance of one PMF
    state = stream.state
    p = state.existence_logodds > 0
    k = int(np.flatnonzero(p)[0])
    w = np.exp(state.log_weights[k] - state.log_weights[k].max())
    ref = np.cov(state.positions_m[k].T, aweights=w, bias=True)
    np.testing.assert_allclose(cov[0], ref, rtol=1e-9, atol=1e-12)


def test_reset_restarts_the_map_and_instances_are_independent():
    scene = default_scene(4)
    (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    bs = scene.base_stations_m[0]
    mapper = Mapper("bistatic", MappingParams(n_particles=200))
    a, b = CsiMapper(bs, mapper, rng=9), CsiMapper(bs, mapper, rng=9)
    first = [a.update(link.csi[e], scene.trajectory_m[e]).estimates_m for e in range(4)]
    a.reset(rng=9)
    again = [a.update(link.csi[e], scene.trajectory_m[e]).estimates_m for e in range(4)]
    other = [b.update(link.csi[e], scene.trajectory_m[e]).estimates_m for e in range(4)]
    for x, y, z in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_update_rejects_bad_input():
    stream = CsiMapper([0.0, 0.0, 15.0], Mapper("bistatic", MappingParams(n_particles=100)), rng=0)
    good = np.ones((8, 10, 64), complex)
    with pytest.raises(ValueError, match=r"csi must be one epoch of shape .*got \(2, 8, 10, 64\)"):
        stream.update(np.stack([good, good]), [0.0, 10.0, 30.0])
    bad = good.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="csi contains NaN or Inf"):
        stream.update(bad, [0.0, 10.0, 30.0])
    with pytest.raises(ValueError, match=r"uav_position_m must have shape \(3\)"):
        stream.update(good, [0.0, 10.0])
    with pytest.raises(ValueError, match=r"monostatic_positions_m must have shape \(n, 3\)"):
        stream.update(good, [0.0, 10.0, 30.0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cluster_db must be >= 0"):
        CsiMapper([0.0, 0.0, 15.0], cluster_db=-6.0)
    with pytest.raises(ValueError, match="n_paths must be an int >= 0 or 'mdl'"):
        CsiMapper([0.0, 0.0, 15.0], n_paths="aic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapper must be a mapping Mapper"):
        CsiMapper([0.0, 0.0, 15.0], mapper="fusion3")  # type: ignore[arg-type]
    assert stream.n_epochs == 0  # nothing was processed


def test_ranges_beyond_the_filter_interval_are_not_passed_on():
    scene = default_scene(3)
    (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    params = MappingParams(n_particles=100, range_max_m=30.0)
    stream = CsiMapper(scene.base_stations_m[0], Mapper("bistatic", params), rng=0)
    for e in range(3):  # LoS of 38-92 m: beyond range_max_m, which spa_update would refuse
        up = stream.update(link.csi[e], scene.trajectory_m[e])
        assert up.measurements.ranges_m[0].max() > 30.0
