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
