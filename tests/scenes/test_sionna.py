"""Sionna RT adapters: run where ``sionna-rt`` and libLLVM >= 19 are installed (CI installs both)."""

import numpy as np
import pytest

from skysense.imaging import simulate, subspace_pursuit
from skysense.metrics import detection_rates
from skysense.scenes import background_csi
from skysense.scenes import sionna as sionna_scenes


def test_missing_llvm_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DRJIT_LIBLLVM_PATH", raising=False)
    monkeypatch.setattr(sionna_scenes, "_LLVM_GLOB", ("/nonexistent/libLLVM*.so*",))
    with pytest.raises(RuntimeError, match="libLLVM >= 19"):
        sionna_scenes.load_sionna()


def test_canyon_geometry_validation():
    with pytest.raises(ValueError, match="bs_inset_m must be <"):
        sionna_scenes.UrbanCanyon(width_m=10.0, bs_inset_m=6.0)
    with pytest.raises(ValueError, match="width_m"):
        sionna_scenes.UrbanCanyon(width_m=-1.0)
    canyon = sionna_scenes.UrbanCanyon()
    s = canyon.imaging_scenario()
    assert s.grid_shape == (8, 24, 8) and s.n_bs == 4
    np.testing.assert_allclose(s.bs_centers_m(), canyon.bs_positions_m())
    assert canyon.building_boxes_m().shape == (2, 5)


def test_sampler_seed_follows_the_rng_convention():
    seed = sionna_scenes._sampler_seed
    assert seed(3) == seed(np.random.default_rng(3)) == seed(np.random.SeedSequence(3))
    assert 0 <= seed(3) < 2**31 - 1
    with pytest.raises(TypeError, match="rng must be"):
        seed(1.5)


def _sionna():
    pytest.importorskip("sionna.rt")
    if sionna_scenes._find_llvm() is None:
        pytest.skip("no libLLVM >= 19")


CANYON = sionna_scenes.UrbanCanyon(length_m=70.0, building_height_m=40.0)


@pytest.fixture(scope="module")
def traced():
    _sionna()
    scenario = CANYON.imaging_scenario(
        roi_size_m=(40.0, 60.0, 40.0), voxel_size_m=10.0, n_antennas_side=3
    )
    return scenario, sionna_scenes.trace_pairs(CANYON, scenario, rng=3)


def test_traced_delays_follow_the_image_method(traced):
    scenario, paths = traced
    c = CANYON
    lengths = paths.delay_s * 299_792_458.0  # Sionna's (physical) speed of light
    pairs = [tuple(p) for p in paths.pairs]
    mono = sorted(lengths[pairs.index((0, 0))][paths.gain[pairs.index((0, 0))] != 0])
    # near facade, ground, far facade
    expected = sorted([2 * c.bs_inset_m, 2 * c.bs_height_m, 2 * (c.width_m - c.bs_inset_m)])
    np.testing.assert_allclose(mono, expected, atol=1e-3)
    # BS0 -> BS1 straight across the street (same y and height): off either facade the ray
    # runs along the street's width and back (length = width), off the ground it is the
    # image-method hypotenuse.
    bs = scenario.bs_centers_m()
    q = pairs.index((0, 1))
    got = sorted(lengths[q][paths.gain[q] != 0])
    across = np.linalg.norm(bs[1] - bs[0])
    expected = sorted([c.width_m, c.width_m, np.hypot(across, 2 * c.bs_height_m)])
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_trace_is_deterministic(traced):
    scenario, paths = traced
    again = sionna_scenes.trace_pairs(CANYON, scenario, rng=3)
    np.testing.assert_array_equal(again.delay_s, paths.delay_s)
    np.testing.assert_array_equal(again.gain, paths.gain)


def test_background_degrades_sp_imaging_end_to_end(traced):
    scenario, paths = traced
    h = background_csi(scenario, paths)
    assert h.shape == (scenario.n_measurements,) and np.isfinite(h).all()
    batch = simulate(scenario, 12, 3, rng=0)
    uav = np.linalg.norm(batch.measurements, axis=1).mean()
    dr = {}
    for ratio in (0.0, 10 * uav / np.linalg.norm(h)):  # residual 10x the UAV echoes
        y = batch.measurements + ratio * h
        res = subspace_pursuit(scenario_matrix(scenario), y, 3, threshold="max/5")
        det = detection_rates(
            np.abs(res.image), batch.labels, threshold=0.0, grid_shape=scenario.grid_shape
        )
        dr[ratio] = det.detection_rate
    clean, dirty = dr.values()
    assert clean >= 0.9 and dirty < clean


def scenario_matrix(scenario):
    from skysense.imaging import sensing_matrix

    return sensing_matrix(scenario)


def test_imaging_sionna_experiment_degrades_with_the_residual():
    _sionna()
    from skysense.experiments import ImagingSionna, run_trials

    exp = ImagingSionna(ratios=(0.0, 0.1), n_antennas_side=3, chunk_size=3)
    res = run_trials(exp, 6, rng=1)
    clean, dirty = res.results["0"], res.results["0.1"]
    assert clean["n_trials"] == 6
    assert clean["dr"] > 90.0 > dirty["dr"]
    assert clean["ssim"] > dirty["ssim"]
    assert "0.1" in exp.table(res.results)


def test_canyon_figure(tmp_path):
    from skysense.experiments import PAPER_TABLE6, ImagingSionna

    fake = {r: {**v, "dr": v["dr"] - 5} for r, v in PAPER_TABLE6.items()}
    out = ImagingSionna().plot(fake, tmp_path / "fig.png")
    assert out.stat().st_size > 10_000


def test_trace_mapping_equals_the_image_method_tracer():
    _sionna()
    from skysense import mapping
    from skysense.scenes.sionna import trace_mapping

    scene = mapping.default_scene(40)
    for b in range(scene.n_bs):
        ref, got = mapping.trace(scene, b), trace_mapping(scene, b, rng=0)
        np.testing.assert_array_equal(got.los_visible, ref.los_visible)
        np.testing.assert_array_equal(got.bistatic_visible, ref.bistatic_visible)
        np.testing.assert_array_equal(got.monostatic_visible, ref.monostatic_visible)
        both = ref.bistatic_visible
        np.testing.assert_allclose(
            got.bistatic_points_m[both], ref.bistatic_points_m[both], atol=1e-3
        )
        mono = ref.monostatic_visible
        np.testing.assert_allclose(
            got.monostatic_points_m[mono], ref.monostatic_points_m[mono], atol=1e-3
        )
    (data,) = mapping.simulate(
        scene, rng=0, bs_indices=[0], tracer=lambda sc, b: trace_mapping(sc, b, rng=0)
    )
    assert data.n_epochs == 40 and len(data.bistatic_ranges_m) == 40
