import json

import numpy as np
import pytest

from skysense.cli import main
from skysense.experiments import (
    EXPERIMENTS,
    BistaticAccuracy,
    BistaticDoppler,
    BistaticLatency,
    BistaticSeparation,
    BistaticTimingOffset,
    BistaticWeakPath,
    run_trials,
)
from skysense.experiments.bistatic.weak_path import detectable_deflection

COARSE = {"angle_step_deg": 6.0, "toa_step_cells": 1.0}


def test_registered():
    names = {cls.name for cls in EXPERIMENTS}
    assert {
        "bistatic-accuracy",
        "bistatic-separation",
        "bistatic-timing-offset",
        "bistatic-doppler",
        "bistatic-latency",
        "bistatic-weak-path",
    } <= names


def test_accuracy_tiny_run(tmp_path):
    exp = BistaticAccuracy(
        snrs_db=(30.0,),
        methods=("paraming", "root_music_2d", "dml"),
        paraming_subarrays=(4, 5, 22),
        chunk_size=2,
        **COARSE,
    )
    res = run_trials(exp, 2, rng=3)
    doc = json.loads(json.dumps(res.to_json()))
    cell = doc["results"]["30"]
    assert cell["n_trials"] == 2
    assert cell["root_music_2d"]["rmse_toa"] is None  # no ToA from Root-MUSIC-2D
    # PARAMING is near the bound at 30 dB (orthogonal pilots); a 6-degree grid is not
    assert abs(cell["paraming"]["gap_db"]["mse_aoa"]) < 6.0
    assert cell["dml"]["mse_aoa"] > 10 * cell["crb"]["mse_aoa"]
    # robust statistics: medians of |error| and the ToA outlier fraction
    sq = res.trials[30.0]["paraming_toa"]
    assert cell["paraming"]["median_abs_toa"] == pytest.approx(np.sqrt(np.median(sq)))
    assert cell["paraming"]["outlier_fraction"] == np.mean(sq > 1.0)
    assert cell["root_music_2d"]["outlier_fraction"] is None
    assert cell["root_music_2d"]["median_abs_aoa"] is not None
    # 95 % bootstrap intervals of the means over trials bracket the means
    for key in ("rmse_toa", "mse_aoa", "mse_aod"):
        lo, hi = cell["paraming"][f"ci95_{key}"]
        assert 0.0 < lo <= cell["paraming"][key] <= hi
    assert cell["root_music_2d"]["ci95_rmse_toa"] is None
    assert "PARAMING" in exp.table(doc["results"]) or "paraming" in exp.table(doc["results"])
    assert exp.plot(doc["results"], tmp_path / "acc.png").stat().st_size > 0
    # same seed, same numbers
    again = run_trials(exp, 2, rng=3)
    np.testing.assert_array_equal(
        res.trials[30.0]["paraming_aoa"], again.trials[30.0]["paraming_aoa"]
    )


def test_accuracy_refinement_on_and_off_at_another_size():
    """paraming (refined) against paraming_pencil (refine=False) on a 5 x 7 x 33 link: every
    CSI refined by the one and none by the other, no path flagged at 20 dB, and the refined
    ToA closer to the CRB (the pencil's sub-arrays leave it ~3 dB above)."""
    exp = BistaticAccuracy(
        snrs_db=(20.0,),
        methods=("paraming", "paraming_pencil"),
        array_sizes=(5, 7, 33),
        chunk_size=4,
    )
    assert exp.scenario().csi_shape == (5, 7, 33)
    cell = run_trials(exp, 8, rng=5).results["20"]
    assert cell["paraming"]["refined_fraction"] == 1.0
    assert cell["paraming_pencil"]["refined_fraction"] == 0.0
    assert cell["paraming"]["unreliable_paths"] == cell["paraming_pencil"]["unreliable_paths"] == 0
    assert cell["paraming"]["outlier_fraction"] == 0.0
    refined, pencil = cell["paraming"]["gap_db"], cell["paraming_pencil"]["gap_db"]
    assert refined["rmse_toa"] < pencil["rmse_toa"] - 1.0
    assert abs(refined["rmse_toa"]) < 1.5 and abs(refined["mse_aoa"]) < 1.5


def test_weak_path_tiny_run(tmp_path):
    """A target 30 dB below the LoS at 20 dB: CRB-detectable, found by every criterion with
    the right order; at -10 dB nothing is detectable and the GLRT adds no path."""
    exp = BistaticWeakPath(snrs_db=(-10.0, 20.0), criteria=("true", "mdl", "glrt"), chunk_size=2)
    res = run_trials(exp, 3, rng=6)
    doc = json.loads(json.dumps(res.to_json()))
    high, low = doc["results"]["20"], doc["results"]["-10"]
    need = 10 * np.log10(detectable_deflection(exp.setup(20.0), 1e-3))
    assert high["needed_deflection_db"] == pytest.approx(need)
    assert high["detectable"] == 3 and low["detectable"] == 0
    for c in ("true", "mdl", "glrt"):
        assert high[c]["found"] == high[c]["found_when_detectable"] == 3
        assert high[c]["order_histogram"] == {"2": 3}
    assert low["glrt"]["order_histogram"] == {"1": 3}
    assert low["glrt"]["found_when_detectable"] == 0
    assert "glrt" in exp.table(doc["results"])
    assert exp.plot(doc["results"], tmp_path / "weak.png").stat().st_size > 0


def test_separation_and_timing_offset(tmp_path):
    sep = run_trials(
        BistaticSeparation(separations_beamwidths=(1.0,), methods=("paraming",), chunk_size=2),
        2,
        rng=1,
    )
    assert sep.results["1"]["paraming"]["resolved_pct"] == 100.0
    off = BistaticTimingOffset(offsets_cells=(0.0, 2.0), chunk_size=2)
    res = run_trials(off, 2, rng=1)
    assert res.results["2"]["paraming"]["toa_bias"] == pytest.approx(2.0, abs=0.05)
    assert res.results["0"]["paraming"]["toa_bias"] == pytest.approx(0.0, abs=0.05)
    assert res.results["2"]["paraming"]["mse_aoa"] < 1e-4
    assert off.plot(res.results, tmp_path / "off.png").stat().st_size > 0


def test_doppler_and_latency(tmp_path):
    dop = run_trials(BistaticDoppler(snrs_db=(30.0,), n_subframes=10, chunk_size=1), 2, rng=2)
    # |f_D| up to 6 kHz; the per-symbol rotation inside a sub-frame leaves a small bias
    assert dop.results["30"]["paraming"]["median_abs_err_hz"] < 50.0
    lat = BistaticLatency(methods=("paraming", "root_music_2d"), chunk_size=1, **COARSE)
    res = run_trials(lat, 1, rng=2)
    assert res.results["paraming"]["vs_paraming"] == 1.0
    assert lat.plot(res.results, tmp_path / "lat.png").stat().st_size > 0


def test_doppler_counts_draws_with_too_few_delay_peaks(monkeypatch, tmp_path):
    from skysense.experiments.bistatic import doppler as bistatic_doppler

    calls = []

    def flaky(csi, q, sc):  # fails on its first draw as IFFT-C2VNN does on merged peaks
        calls.append(1)
        if len(calls) == 1:
            raise ValueError(f"found {q - 1} delay peaks but n_paths = {q} for CSI 0")
        return bistatic_doppler._DOPPLER["paraming"](csi, q, sc)

    monkeypatch.setitem(bistatic_doppler._DOPPLER, "ifft_c2vnn", flaky)
    exp = BistaticDoppler(snrs_db=(30.0,), methods=("paraming", "ifft_c2vnn"), chunk_size=3)
    res = run_trials(exp, 3, rng=4)
    cell, raw = res.results["30"], res.trials[30.0]
    assert cell["ifft_c2vnn"]["n_failed"] == 1 and cell["paraming"]["n_failed"] == 0
    assert np.isnan(raw["ifft_c2vnn_abs_err_hz"][0]).all()
    # the flaky method is PARAMING on the draws it estimates: same errors there
    np.testing.assert_array_equal(raw["ifft_c2vnn_abs_err_hz"][1:], raw["paraming_abs_err_hz"][1:])
    assert cell["ifft_c2vnn"]["mae_hz"] == pytest.approx(raw["paraming_abs_err_hz"][1:].mean())
    assert cell["ifft_c2vnn"]["mae_hz_common"] == cell["paraming"]["mae_hz_common"]
    assert "failed" in exp.table(res.results)
    assert exp.plot(res.results, tmp_path / "dop.png").stat().st_size > 0

    def broken(csi, q, sc):
        raise ValueError("csi must have shape (batch, 10, ...)")

    monkeypatch.setitem(bistatic_doppler._DOPPLER, "ifft_c2vnn", broken)
    with pytest.raises(ValueError, match="csi must have shape"):
        run_trials(exp, 1, rng=4)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (BistaticAccuracy, {"methods": ("esprit",)}, "methods"),
        (BistaticAccuracy, {"pilots": "zc"}, "pilots"),
        (BistaticAccuracy, {"paraming_subarrays": (9, 5, 32)}, "do not fit"),
        (BistaticAccuracy, {"array_sizes": (8, 10)}, "array_sizes"),
        (BistaticWeakPath, {"criteria": ("bic",)}, "criteria"),
        (BistaticWeakPath, {"false_alarm_probability": 0.0}, "false_alarm_probability"),
        (BistaticWeakPath, {"snrs_db": ()}, "snrs_db"),
        (BistaticTimingOffset, {"methods": ("root_music_2d",)}, "ToA"),
        (BistaticSeparation, {"separations_beamwidths": (0.0,)}, "separations_beamwidths"),
        (BistaticDoppler, {"n_subframes": 1}, "n_subframes"),
        (BistaticDoppler, {"methods": ("music",)}, "Doppler methods"),
    ],
)
def test_bad_configs(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_cli_reproduce_timing_offset(tmp_path, capsys):
    out_json, out_png = tmp_path / "off.json", tmp_path / "off.png"
    main(
        [
            "reproduce",
            "bistatic-timing-offset",
            "--methods",
            "paraming,bartlett",
            "--trials",
            "1",
            "--processes",
            "0",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--quiet",
        ]
    )
    doc = json.loads(out_json.read_text())
    assert doc["experiment"] == "bistatic-timing-offset" and set(doc["results"]) == {
        "0",
        "0.5",
        "1",
        "2",
        "4",
    }
    assert set(doc["results"]["1"]) == {"paraming", "bartlett", "n_trials"}
    assert out_png.stat().st_size > 0
    assert "ToA bias" in capsys.readouterr().out


def test_dask_matches_in_process():
    pytest.importorskip("distributed")
    from skysense.experiments import dask_client

    exp = BistaticTimingOffset(offsets_cells=(1.0,), chunk_size=1)
    ref = run_trials(exp, 2, rng=4)
    with dask_client(n_processes=1) as client:
        res = run_trials(exp, 2, rng=4, client=client)
    for name, values in ref.trials[1.0].items():
        np.testing.assert_array_equal(res.trials[1.0][name], values)
