"""``mapping-csi`` on tiny settings: structure, seeding, figure."""

import json
from dataclasses import replace

import numpy as np
import pytest

from skysense.experiments import EXPERIMENTS, MappingCsi, run_trials


def test_registered():
    assert MappingCsi in EXPERIMENTS and MappingCsi.name == "mapping-csi"


def test_results_structure_and_seeding(tmp_path):
    exp = MappingCsi(methods=("fusion3", "bistatic"), bs_indices=(0,), n_epochs=10, n_particles=150)
    res = run_trials(exp, 1, rng=3)
    again = run_trials(exp, 1, rng=3)
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    results = doc["results"]
    assert set(results) == {"front_end", "fusion3", "fusion3_ideal", "bistatic", "bistatic_ideal"}
    for key in ("fusion3", "fusion3_ideal", "bistatic", "bistatic_ideal"):
        cell = results[key]["BS1"]
        assert set(cell) == {
            "mospa_all_m",
            "mospa_last_m",
            "completeness",
            "class_b_recovered",
            "false_vas",
            "ms_per_epoch",
        }
        assert cell["false_vas"] >= 0.0
        assert 0.0 <= cell["mospa_all_m"] <= exp.cutoff_m
        assert 0.0 <= cell["completeness"] <= 1.0
        assert cell["ms_per_epoch"] > 0
        assert cell["mospa_all_m"] == again.results[key]["BS1"]["mospa_all_m"]
    fe = results["front_end"]["BS1"]
    assert fe["ms_per_epoch"] > 0 and fe["paraming_ms_per_epoch"] > 0
    assert 0 <= fe["unmatched"] <= fe["measurements"] and fe["specular_paths"] >= 1
    assert fe["unsynchronised"] == 0.0 and fe["missynchronised"] == 0.0  # a known offset
    assert "front end" in exp.table(results)
    path = exp.plot(results, tmp_path / "csi.png")
    assert path.stat().st_size > 0
    assert np.isfinite(results["fusion3"]["BS1"]["mospa_last_m"])


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="methods must be drawn from"):
        MappingCsi(methods=("specular",))
    with pytest.raises(ValueError, match="bs_index"):
        MappingCsi(bs_indices=(9,))
    with pytest.raises(ValueError, match="scene must be one of"):
        MappingCsi(scene="nowhere")
    with pytest.raises(ValueError, match="snr_db"):
        MappingCsi(snr_db=float("nan"))
    with pytest.raises(ValueError, match="diffuse_mean must be >= 0"):
        MappingCsi(diffuse_mean=-1.0)
    with pytest.raises(ValueError, match="timing_offset_std_s must be >= 0"):
        MappingCsi(timing_offset_std_s=-1e-9)
    with pytest.raises(ValueError, match="cluster_db must be >= 0"):
        MappingCsi(cluster_db=-1.0)
    with pytest.raises(ValueError, match="angle_spread_rad must be >= 0"):
        MappingCsi(angle_spread_rad=-0.1)
    assert MappingCsi(angle_spread_rad=0.02).params("fusion4_angles").angle_spread_rad == 0.02


def test_diffuse_and_clock_offset_change_only_the_csi_rows():
    """The scatterers and the clock offsets draw from streams of their own: the ideal rows
    are unchanged, the CSI rows see the diffuse paths, and the LoS-synchronised receiver
    finds its offset in every epoch with a LoS."""
    small = MappingCsi(
        methods=("bistatic_angles",), bs_indices=(0,), n_epochs=12, n_particles=200, cluster_db=None
    )
    plain = run_trials(replace(small, diffuse_mean=0.0), 1, rng=5).results
    rough = run_trials(small, 1, rng=5).results
    clock = run_trials(replace(small, timing_offset_std_s=200e-9), 1, rng=5).results
    for other in (rough, clock):
        for field in ("mospa_all_m", "mospa_last_m", "completeness", "false_vas"):
            got = other["bistatic_angles_ideal"]["BS1"][field]
            assert got == plain["bistatic_angles_ideal"]["BS1"][field]
    assert plain["front_end"]["BS1"]["unmatched"] == 0.0
    assert rough["front_end"]["BS1"]["measurements"] >= plain["front_end"]["BS1"]["measurements"]
    fe = clock["front_end"]["BS1"]
    assert fe["unsynchronised"] <= 1 / 12 and fe["missynchronised"] == 0.0


def test_angle_methods_beat_range_only_from_csi_and_ideal_data():
    exp = MappingCsi(
        methods=("bistatic", "bistatic_angles"), bs_indices=(2,), n_epochs=16, n_particles=500
    )
    res = run_trials(exp, 1, rng=0).results
    assert set(res) == {
        "front_end",
        "bistatic",
        "bistatic_ideal",
        "bistatic_angles",
        "bistatic_angles_ideal",
    }
    for s in ("", "_ideal"):
        mospa = res["bistatic_angles" + s]["BS3"]["mospa_all_m"]
        assert mospa < res["bistatic" + s]["BS3"]["mospa_all_m"]
    assert "angle-aided" in exp.paper()["schemes"]["bistatic_angles"]


def test_monostatic_sets_from_echo_csi():
    small = MappingCsi(
        methods=("monostatic", "bistatic"), bs_indices=(0,), n_epochs=12, n_particles=200
    )
    ideal_mono = run_trials(small, 1, rng=5).results
    both = run_trials(replace(small, monostatic_csi=True), 1, rng=5).results
    # the flag draws its echo CSI from a stream of its own: every other draw is unchanged
    for key in ("bistatic", "bistatic_ideal", "monostatic_ideal"):
        assert both[key]["BS1"]["mospa_all_m"] == ideal_mono[key]["BS1"]["mospa_all_m"]
    # the monostatic-only filter now sees the estimated pseudo-positions
    assert (
        both["monostatic"]["BS1"]["mospa_all_m"] != ideal_mono["monostatic"]["BS1"]["mospa_all_m"]
    )
    assert 0.0 <= both["monostatic"]["BS1"]["mospa_all_m"] <= 10.0
