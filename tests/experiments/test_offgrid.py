import pytest

from skysense.experiments import EXPERIMENTS, PAPER_TABLE3, ImagingOffgrid, run_trials


def test_sp_and_backprojection_rows_without_training(tmp_path):
    exp = ImagingOffgrid(methods=("sp", "ahy"), chunk_size=5)
    res = run_trials(exp, 10, rng=1)
    assert set(res.results) == {"sp", "ahy"}
    for row in res.results.values():
        assert set(row) >= {"mse", "ssim", "ospa", "dr", "far", "ms_per_frame"}
        assert 0 <= row["dr"] <= 100
        assert row["n_test"] == 10
    # SP localises far better than thresholded back-projection (Table III ordering)
    assert res.results["sp"]["ospa"] < res.results["ahy"]["ospa"]
    assert res.results["sp"]["mse"] < res.results["ahy"]["mse"]
    assert "sp" in exp.table(res.results)
    assert exp.plot(res.results, tmp_path / "offgrid.png").stat().st_size > 0
    assert ImagingOffgrid in EXPERIMENTS
    assert set(PAPER_TABLE3) == {"sp", "ahy", "dnn_y", "dnn_sp", "dnn_ahy"}


def test_learned_row_tiny_budget():
    pytest.importorskip("torch")
    exp = ImagingOffgrid(
        methods=("dnn_y", "dnn_ahy"),
        n_train=24,
        epochs=1,
        channels=(2,),
        batch_size=8,
        chunk_size=4,
    )
    res = run_trials(exp, 4, rng=0)
    for row in res.results.values():
        assert row["train_wall_s"] > 0
        assert 0 <= row["ssim"] <= 1


def test_validation():
    with pytest.raises(ValueError, match="methods must be drawn from"):
        ImagingOffgrid(methods=("omp",))
    with pytest.raises(ValueError, match="n_train"):
        ImagingOffgrid(n_train=5)


def test_dnn_ahy_row_can_score_the_shipped_model():
    pytest.importorskip("torch")
    exp = ImagingOffgrid(methods=("dnn_ahy",), pretrained="default", chunk_size=4)
    res = run_trials(exp, 4, rng=0)
    row = res.results["dnn_ahy"]
    assert row["train_wall_s"] == 0.0  # loaded, not trained
    assert 0 <= row["dr"] <= 100 and row["n_test"] == 4


def test_pretrained_must_fit_the_scenario(tmp_path):
    pytest.importorskip("torch")
    from skysense.learn import OffGridImager

    path = OffGridImager.load_default().save(tmp_path / "m.pt")
    exp = ImagingOffgrid(methods=("dnn_ahy",), pretrained=str(path), n_antennas_side=4)
    with pytest.raises(ValueError, match="another scenario"):
        run_trials(exp, 2, rng=0)


def test_detector_row_scores_the_shipped_detector_at_any_count(tmp_path):
    pytest.importorskip("torch")
    import json

    from skysense.cli import main

    out = tmp_path / "r.json"
    argv = ["reproduce", "imaging-offgrid", "--methods", "sp,detector", "--trials", "8",
            "--targets", "3", "--processes", "0", "--json", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["config"]["n_targets"] == 3
    for row in doc["results"].values():
        assert set(row) >= {"mse", "ssim", "ospa", "dr", "far", "ms_per_frame"}
        assert row["n_test"] == 8
    # the detector reports one voxel per UAV: few false alarms, OSPA well below SP's
    det, sp = doc["results"]["detector"], doc["results"]["sp"]
    assert det["ospa"] < sp["ospa"] and det["far"] < sp["far"]
    with pytest.raises(SystemExit):
        main(["reproduce", "imaging-psf", "--targets", "3"])
    with pytest.raises(ValueError, match="n_targets"):
        ImagingOffgrid(n_targets=0)


def test_detector_row_rejects_a_refiner(tmp_path):
    pytest.importorskip("torch")
    from skysense.learn import OffGridImager

    path = OffGridImager.load_refiner().save(tmp_path / "refiner.pt")
    exp = ImagingOffgrid(methods=("detector",), detector=str(path), chunk_size=2)
    with pytest.raises(ValueError, match="not a DetectorNet"):
        run_trials(exp, 2, rng=0)


def test_sweep_pairs_the_detector_with_sp_at_its_best_sparsity(tmp_path):
    pytest.importorskip("torch")
    from skysense.experiments import ImagingOffgridSweep

    exp = ImagingOffgridSweep(counts=(2,), powers_dbm=(20.0,), table5=False, chunk_size=6)
    res = run_trials(exp, 6, rng=3)
    assert list(res.results) == ["count_2", "power_20dbm"]
    for row in res.results.values():
        assert row["n_test"] == 6
        assert row["sp"]["sparsity"] in exp.candidates(row["n_targets"])
        assert set(row["detector"]) >= {"mse", "ssim", "ospa", "dr", "far", "ms_per_frame"}
        lo, hi = row["difference"]["ospa"]["ci95"]
        assert lo <= row["difference"]["ospa"]["mean"] <= hi
    assert res.results["power_20dbm"]["sensing_power_dbm"] == 20.0
    assert "count_2" in exp.table(res.results)
    with pytest.raises(ValueError, match="counts"):
        ImagingOffgridSweep(counts=(0,))


def test_3d_experiment_detector_row_and_shipped_model(tmp_path):
    pytest.importorskip("torch")
    from skysense.experiments import ImagingOffgrid3d
    from skysense.imaging import Scenario
    from skysense.learn import DetectorConfig, OffGridImager, build_detector_net

    s = Scenario.paper_3d()
    cfg = DetectorConfig(grid_shape=s.grid_shape, n_pairs=len(s.pairs()), channels=(2,))
    path = OffGridImager(build_detector_net(cfg, rng=0), s).save(tmp_path / "d3.pt")
    exp = ImagingOffgrid3d(methods=("detector",), detector=str(path), n_targets=3, chunk_size=2)
    row = run_trials(exp, 2, rng=0).results["detector"]
    assert row["n_test"] == 2 and 0 <= row["dr"] <= 100
    # the shipped 3-D model (imager_3d.pt) is the default row
    shipped = OffGridImager.load_default_3d()
    assert shipped.is_detector and shipped.scenario == s
    assert shipped.model.config.grid_shape == s.grid_shape == (20, 20, 16)
    row = run_trials(ImagingOffgrid3d(methods=("detector",), chunk_size=2), 2, rng=0)
    assert row.results["detector"]["n_test"] == 2
