"""Scene, VAs, facade reconstruction, the numba tracer and the simulator."""

import dataclasses

import numpy as np
import pytest

from skysense.mapping import (
    MappingParams,
    Scene,
    default_scene,
    reconstruct_facade,
    simulate,
    trace,
    virtual_anchor,
)


def _hits_box(p, q, lo, hi, eps=1e-6):
    # slab test, loop form (docs/mapping_model.md, section 7)
    d = q - p
    t0, t1 = eps, 1 - eps
    for i in range(3):
        if abs(d[i]) < 1e-12:
            if p[i] <= lo[i] + 1e-9 or p[i] >= hi[i] - 1e-9:
                return False
        else:
            ta, tb = sorted(((lo[i] - p[i]) / d[i], (hi[i] - p[i]) / d[i]))
            t0, t1 = max(t0, ta), min(t1, tb)
            if t0 >= t1:
                return False
    return True


def _naive_bistatic(scene, bs, u, f):
    n, a, t = scene.facade_normals[f], scene.facade_points_m[f], scene.facade_tangents[f]
    if np.dot(n, bs - a) <= 0 or np.dot(n, u - a) <= 0:
        return None
    v = virtual_anchor(bs, a, n)
    s = v + np.dot(n, a - v) / np.dot(n, u - v) * (u - v)
    on = abs(np.dot(s - a, t)) <= scene.facade_half_widths_m[f] + 1e-6
    on &= -1e-6 <= s[2] <= scene.facade_heights_m[f] + 1e-6
    if not on:
        return None
    boxes = zip(scene.box_lo_m, scene.box_hi_m, strict=True)
    if any(_hits_box(bs, s, lo, hi) or _hits_box(s, u, lo, hi) for lo, hi in boxes):
        return None
    return s


def test_default_scene_observability_classes():
    scene = default_scene()
    vis = trace(scene, 0)
    np.testing.assert_allclose(
        vis.va_positions_m, [[-50, 30, 15], [50, 30, 15], [0, -90, 15], [0, 90, 15]], atol=1e-12
    )
    assert vis.classes().tolist() == ["A", "A", "B", "C"]
    classes = np.concatenate([trace(scene, i).classes() for i in range(scene.n_bs)])
    assert {"A", "B", "C"} <= set(classes.tolist())
    # coplanar facades (two buildings at y = 15..45, x = +-25) share one VA per BS
    _, facade_va = scene.virtual_anchors(0)
    assert np.bincount(facade_va[facade_va >= 0]).max() >= 1


def test_tracer_matches_loop_reference(rng):
    scene = default_scene(41)
    for i in range(scene.n_bs):
        vis = trace(scene, i)
        bs = scene.base_stations_m[i]
        for e in rng.choice(scene.n_epochs, 7, replace=False):
            for f in range(scene.n_facades):
                s = _naive_bistatic(scene, bs, scene.trajectory_m[e], f)
                assert vis.bistatic_visible[e, f] == (s is not None)
                if s is not None:
                    np.testing.assert_allclose(vis.bistatic_points_m[e, f], s, atol=1e-9)


def test_reflection_paths_are_specular():
    scene = default_scene(60)
    vis = trace(scene, 0)
    bs = scene.base_stations_m[0]
    e, f = np.argwhere(vis.bistatic_visible)[0]
    s, u = vis.bistatic_points_m[e, f], scene.trajectory_m[e]
    va = vis.va_positions_m[vis.facade_va_index[f]]
    # path length BS -> s -> UAV equals |UAV - VA|
    assert np.linalg.norm(s - bs) + np.linalg.norm(u - s) == pytest.approx(np.linalg.norm(u - va))


@pytest.mark.parametrize("bs_index", [0, 1, 2, 3])
def test_reconstruct_facade_from_va(bs_index):
    scene = default_scene()
    vas, facade_va = scene.virtual_anchors(bs_index)
    bs = scene.base_stations_m[bs_index]
    point, normal = reconstruct_facade(np.broadcast_to(bs, vas.shape), vas)
    for f, j in enumerate(facade_va):
        if j < 0:
            continue
        np.testing.assert_allclose(normal[j], scene.facade_normals[f], atol=1e-12)
        assert np.dot(
            point[j] - scene.facade_points_m[f], scene.facade_normals[f]
        ) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="coincides"):
        reconstruct_facade(bs, bs)


def test_scene_rejects_bad_geometry():
    buildings = [(0.0, 0.0, 10.0, 10.0, 20.0)]
    with pytest.raises(ValueError, match="UAV lies inside a building at epoch 1"):
        Scene(buildings, [(30.0, 0.0, 10.0)], [(20.0, 0.0, 30.0), (1.0, 1.0, 5.0)])
    with pytest.raises(ValueError, match="base station 0 lies inside a building"):
        Scene(buildings, [(0.0, 0.0, 10.0)], [(20.0, 0.0, 30.0)])
    with pytest.raises(ValueError, match="NaN"):
        Scene(buildings, [(30.0, 0.0, 10.0)], [(np.nan, 0.0, 30.0)])
    with pytest.raises(ValueError, match="non-empty"):
        Scene(buildings, np.zeros((0, 3)), [(20.0, 0.0, 30.0)])
    with pytest.raises(ValueError, match=r"bs_index must lie in \[0, 3\], got 4"):
        default_scene(5).virtual_anchors(4)


def test_simulate_seeding_and_content():
    scene = default_scene(30)
    params = MappingParams()
    all_bs = simulate(scene, params, rng=3)
    (one,) = simulate(scene, params, rng=3, bs_indices=[1])
    assert len(all_bs) == scene.n_bs
    for a, b in zip(all_bs[1].bistatic_ranges_m, one.bistatic_ranges_m, strict=True):
        np.testing.assert_array_equal(a, b)
    (again,) = simulate(scene, params, rng=3, bs_indices=[0])
    np.testing.assert_array_equal(
        all_bs[0].monostatic_positions_m[5], again.monostatic_positions_m[5]
    )
    (other,) = simulate(scene, params, rng=4, bs_indices=[0])
    assert not np.array_equal(all_bs[0].monostatic_positions_m[5], other.monostatic_positions_m[5])
    # BS1: the foot points of the two monostatic-visible VAs appear every epoch (+- noise)
    d = all_bs[0]
    feet = 0.5 * (d.bs_position_m + d.visibility.va_positions_m[:2])
    hits = [
        min(np.linalg.norm(zm - foot, axis=1).min() for zm in d.monostatic_positions_m)
        for foot in feet
    ]
    assert max(hits) < 0.5
    for e in range(d.n_epochs):
        zb = d.bistatic_ranges_m[e]
        assert zb.ndim == 1 and (zb >= 0).all() and (zb <= params.range_max_m).all()
        assert d.monostatic_positions_m[e].shape[1] == 3


def test_simulate_rng_conventions():
    # an int seed, its SeedSequence and a Generator seeded with it give the same data (BS i
    # draws from the i-th child spawned from rng); a Generator's own stream does not advance
    scene = default_scene(8)
    (a,) = simulate(scene, rng=7, bs_indices=[2])
    (b,) = simulate(scene, rng=np.random.SeedSequence(7), bs_indices=[2])
    gen = np.random.default_rng(7)
    state = gen.bit_generator.state
    (c,) = simulate(scene, rng=gen, bs_indices=[2])
    assert gen.bit_generator.state == state
    for x in (b, c):
        for e in range(scene.n_epochs):
            np.testing.assert_array_equal(a.bistatic_ranges_m[e], x.bistatic_ranges_m[e])
            np.testing.assert_array_equal(a.monostatic_positions_m[e], x.monostatic_positions_m[e])
    with pytest.raises(TypeError, match="rng must be None, an int seed"):
        simulate(scene, rng=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        simulate(scene, rng=-1)
    with pytest.raises(TypeError, match="params must be a MappingParams"):
        simulate(scene, 3)


def test_simulate_takes_a_tracer():
    from skysense import mapping

    scene = mapping.default_scene(12)

    def no_los(scene, i):
        vis = mapping.trace(scene, i)
        return dataclasses.replace(vis, los_visible=np.zeros_like(vis.los_visible))

    (ref,) = mapping.simulate(scene, rng=5, bs_indices=[0])
    (blocked,) = mapping.simulate(scene, rng=5, bs_indices=[0], tracer=no_los)
    assert blocked.visibility.los_visible.sum() == 0 < ref.visibility.los_visible.sum()
    with pytest.raises(TypeError, match="must return a Visibility"):
        mapping.simulate(scene, rng=5, bs_indices=[0], tracer=lambda s, i: None)
    with pytest.raises(TypeError, match="tracer must be callable"):
        mapping.simulate(scene, rng=5, tracer=3)
