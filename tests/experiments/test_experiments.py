import json

import numpy as np
import pytest

from skysense.experiments import (
    PAPER_TABLE2,
    ImagingPsf,
    ImagingTable2,
    ImagingTradeoff,
    run_trials,
)

TINY = ImagingTable2(modes=("A", "C"), voxel_sizes_m=(5.0, 4.0), chunk_size=1)


@pytest.fixture(scope="module")
def tiny_result():
    return run_trials(TINY, 2, rng=11)


def test_table2_json_schema(tiny_result):
    doc = json.loads(json.dumps(tiny_result.to_json(), allow_nan=False))
    assert doc["experiment"] == "imaging-table2"
    assert doc["n_trials"] == 2 and doc["seed"] == 11 and doc["chunk_size"] == 1
    assert doc["config"]["modes"] == ["A", "C"] and doc["config"]["sparsity"] == 10
    assert set(doc["results"]) == {"A", "C"}
    for mode in ("A", "C"):
        assert set(doc["results"][mode]) == {"4", "5"}
        for cell in doc["results"][mode].values():
            for key in ("dr", "far", "dr_blob", "far_blob"):
                assert 0.0 <= cell[key] <= 100.0
            assert cell["mse"] >= 0 and cell["mse_1e4"] == pytest.approx(1e4 * cell["mse"])
            assert cell["n_trials"] == 2
    assert doc["paper"]["values"]["A"]["3"]["dr"] == 96.47
    assert "Table II" in doc["paper"]["source"]


def test_table2_trials_are_consistent(tiny_result):
    trials = tiny_result.trials[("A", 5.0)]
    assert np.all(trials["n_true"] == 6)
    # mode A at d0 = 5 m images every target exactly, under both rules
    for rule in ("exact", "blob"):
        np.testing.assert_array_equal(trials[f"detected_{rule}"], 6)
        np.testing.assert_array_equal(trials[f"false_{rule}"], 0)
    assert tiny_result.results["A"]["5"]["dr"] == 100.0
    for cell, trials in tiny_result.trials.items():
        exact, blob = trials["detected_exact"], trials["detected_blob"]
        false_exact, false_blob = trials["false_exact"], trials["false_blob"]
        # the two rules score the same SP image: every predicted voxel is a hit or a false
        # alarm; blobs are disjoint sets of predicted voxels, and an unmatched blob holds no
        # target, so each false blob has false-alarm voxels of its own
        assert np.all(trials["n_predicted"] == exact + false_exact), cell
        assert np.all(blob + false_blob <= trials["n_predicted"]), cell
        assert np.all(false_blob <= false_exact), cell
        assert np.all(blob <= trials["n_true"]), cell
        # a target voxel hit exactly lies in a blob that the blob rule matches
        assert np.all((exact > 0) <= (blob > 0)), cell
    # mode C (one BS pair) is far from perfect at d0 = 5 m: it misses and it false-alarms
    assert tiny_result.results["C"]["5"]["dr"] < 50.0 < tiny_result.results["C"]["5"]["far"]


def test_table2_subset_reproduces_the_grid(tiny_result):
    sub = run_trials(ImagingTable2(modes=("C",), voxel_sizes_m=(4.0,), chunk_size=1), 2, rng=11)
    for name, values in sub.trials[("C", 4.0)].items():
        np.testing.assert_array_equal(values, tiny_result.trials[("C", 4.0)][name])


def test_paper_table2_constant():
    assert set(PAPER_TABLE2) == {"A", "B", "C"}
    for mode in PAPER_TABLE2.values():
        assert set(mode) == {"1", "2", "3", "4", "5"}
    assert PAPER_TABLE2["C"]["1"] == {
        "mse": pytest.approx(466.72e-4),
        "mse_1e4": 466.72,
        "dr": 0.32,
        "far": 98.77,
    }


def test_psf_experiment_tiny():
    exp = ImagingPsf(
        n0_values=(2,),
        xi_values=(1.0, 2.0),
        voxel_sizes_m=(5.0,),
        roi_sides_m=(60.0,),
        subcarrier_counts=(1,),
        bandwidths_mhz=(40.0,),
        offsets_m=(1e-4, 1e-1),
        chunk_size=2,
    )
    res = run_trials(exp, 3, rng=0)
    r = res.results
    assert set(r["fig4a"]) == {"1", "2"} and set(r["fig4a"]["1"]) == {"2"}
    assert 0 < r["fig4b"]["60"]["5"]["mean"] <= 1
    assert r["fig5"]["0.0001"]["mean_db"] < r["fig5"]["0.1"]["mean_db"]
    assert 0 < r["fig3"]["p_fig3_voxel"] <= 1
    assert "Fig. 5" in exp.table(r)


def test_tradeoff_experiment_tiny():
    exp = ImagingTradeoff(
        sensing_powers_dbm=(30.0, 50.0), n_targets=2, sparsity=3, voxel_size_m=20.0, chunk_size=1
    )
    res = run_trials(exp, 1, rng=0)
    low, high = res.results["30"], res.results["50"]
    # more sensing power: stronger sensing interference and a smaller ISAC-symbol SE
    assert high["sir_roi_db"] < low["sir_roi_db"]
    assert high["se_isac_roi"] < low["se_isac_roi"] <= low["se_comm_only"]
    assert high["sir_nullspace_db"] > high["sir_roi_db"]
    assert low["se_comm_only"] == pytest.approx(high["se_comm_only"], rel=1e-2)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ImagingTable2(modes=("D",)), "modes"),
        (lambda: ImagingTable2(modes=("A", "A")), "duplicates"),
        (lambda: ImagingTable2(voxel_sizes_m=()), "non-empty"),
        (lambda: ImagingTable2(voxel_sizes_m=(-1.0,)), "voxel_size_m"),
        (lambda: ImagingTable2(final="first"), "final"),
        (lambda: ImagingTradeoff(sensing_powers_dbm=(60.0,)), "below total_power_dbm"),
        (lambda: ImagingTradeoff(sensing_powers_dbm=()), "non-empty"),
    ],
)
def test_bad_config(make, match):
    with pytest.raises(ValueError, match=match):
        make()
