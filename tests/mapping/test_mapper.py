"""Mapper schemes on small scenes: facades recovered, metrics, bad input."""

import numpy as np
import pytest

from skysense.mapping import (
    SCHEMES,
    Mapper,
    MappingParams,
    Scene,
    reconstruct_facade,
    simulate,
    union_map,
)
from skysense.metrics import completeness, ospa_per_epoch

TRUE_VA = np.array([0.0, 50.0, 15.0])


@pytest.fixture(scope="module")
def one_facade():
    """One building whose south facade (y = 25) is seen by both links of a BS at the origin."""
    n = 40
    x = np.linspace(-8.0, 8.0, n)
    traj = np.column_stack([x, np.full(n, 5.0), 30.0 + 3 * np.sin(np.linspace(0, 6, n))])
    scene = Scene([(0.0, 30.0, 30.0, 10.0, 30.0)], [(0.0, 0.0, 15.0)], traj)
    return simulate(scene, rng=11)[0]


def test_one_facade_scene_has_one_class_a_va(one_facade):
    np.testing.assert_allclose(one_facade.visibility.va_positions_m, [TRUE_VA])
    assert one_facade.visibility.classes().tolist() == ["A"]


@pytest.mark.parametrize("scheme", ["fusion3", "fusion2", "monostatic"])
def test_facade_recovered(one_facade, scheme):
    params = MappingParams(n_particles=800)
    res = Mapper(scheme, params).run(one_facade, rng=5)
    final = res.estimates_m[-1]
    assert final.shape == (1, 3)
    assert np.linalg.norm(final[0] - TRUE_VA) < 0.5
    point, normal = reconstruct_facade(one_facade.bs_position_m, final[0])
    assert abs(point[1] - 25.0) < 0.25
    np.testing.assert_allclose(normal, [0, -1, 0], atol=0.02)
    err = ospa_per_epoch(res.estimates_m, one_facade, cutoff_m=10.0, order=2)
    assert err.shape == (one_facade.n_epochs,)
    assert err[-5:].max() < 1.0
    assert completeness(final, one_facade) == 1.0


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_runs(one_facade, scheme):
    params = MappingParams(n_particles=150)
    res = Mapper(scheme, params).run(one_facade, rng=1, n_epochs=6)
    assert len(res.estimates_m) == 6
    assert res.n_pmfs.shape == (6,)
    for est in res.estimates_m:
        assert est.ndim == 2 and est.shape[1] == 3 and np.isfinite(est).all()
    assert union_map([res, res]).shape[0] == 2 * res.estimates_m[-1].shape[0]


def test_numpy_engine_maps_too(one_facade):
    params = MappingParams(n_particles=300)
    res = Mapper("fusion4", params, engine="numpy").run(one_facade, rng=2, n_epochs=12)
    assert np.linalg.norm(res.estimates_m[-1] - TRUE_VA, axis=1).min() < 1.0


def test_mapper_is_seeded(one_facade):
    params = MappingParams(n_particles=200)
    a = Mapper("fusion1", params).run(one_facade, rng=3, n_epochs=8)
    b = Mapper("fusion1", params).run(one_facade, rng=3, n_epochs=8)
    for x, y in zip(a.estimates_m, b.estimates_m, strict=True):
        np.testing.assert_array_equal(x, y)


def test_epochs_streams_what_run_returns(one_facade):
    mapper = Mapper("fusion3", MappingParams(n_particles=200))
    res = mapper.run(one_facade, rng=4, n_epochs=6)
    streamed = list(mapper.epochs(one_facade, rng=4, n_epochs=6))
    assert len(streamed) == 6
    for (state, est), ref, n in zip(streamed, res.estimates_m, res.n_pmfs, strict=True):
        np.testing.assert_array_equal(est, ref)
        assert state.n_pmfs == n
    np.testing.assert_array_equal(streamed[-1][0].positions_m, res.state.positions_m)


def test_mapper_bad_input():
    with pytest.raises(ValueError, match="scheme"):
        Mapper("fusion5")
    with pytest.raises(ValueError, match="engine"):
        Mapper("fusion1", engine="matlab")


def test_mapper_workers_and_repr(one_facade):
    import skysense

    params = MappingParams(n_particles=200)
    assert Mapper("fusion1", params).workers is None
    ref = Mapper("fusion1", params, workers=1).run(one_facade, rng=6, n_epochs=5)
    with skysense.set_workers(2):
        got = Mapper("fusion1", params).run(one_facade, rng=6, n_epochs=5)
    for x, y in zip(ref.estimates_m, got.estimates_m, strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="workers"):
        Mapper("fusion1", params, workers=0)
    assert len(repr(ref).splitlines()) <= 5
    assert len(repr(one_facade).splitlines()) <= 9
    assert "va_positions_m=float64[1, 3]" in repr(one_facade.visibility)


def test_step_takes_rng_by_keyword(one_facade):
    from skysense.mapping import PmfState

    mapper = Mapper("fusion3", MappingParams(n_particles=100))
    args = (
        PmfState.empty(100),
        one_facade.bistatic_ranges_m[0],
        one_facade.monostatic_positions_m[0],
        one_facade.uav_positions_m[0],
        one_facade.bs_position_m,
    )
    with pytest.raises(TypeError):
        mapper.step(*args, 1)  # rng is keyword-only
    a, est_a = mapper.step(*args, rng=3)
    b, est_b = mapper.step(*args, rng=3)
    np.testing.assert_array_equal(a.positions_m, b.positions_m)
    np.testing.assert_array_equal(est_a, est_b)
