import pytest

torch = pytest.importorskip("torch")

from skysense.cli import main
from skysense.learn import OffGridImager, load_checkpoint


def test_train_imager_generates_trains_and_saves(tmp_path, capsys):
    data, ckpt, model = tmp_path / "data", tmp_path / "run.pt", tmp_path / "model.pt"
    argv = [
        "train-imager", "--data", str(data), "--generate", "24", "--n0", "2", "--targets", "2",
        "--shard-size", "10", "--out", str(ckpt), "--save-model", str(model),
        "--channels", "2,3", "--kernel", "3", "--epochs", "1", "--batch-size", "8",
        "--validation-fraction", "0.25", "--momentum", "0.9", "--threads", "1", "--quiet",
    ]  # fmt: skip
    main(argv)
    out = capsys.readouterr().out
    assert "trained 1 epochs" in out
    assert "(18 train / 6 validation frames)" in out
    assert load_checkpoint(ckpt).training_state["epoch"] == 1
    imager = OffGridImager.from_checkpoint(model)
    assert imager.model.config.channels == (2, 3)
    assert imager.scenario.n_antennas_side == 2
    # resume: the checkpoint already holds epoch 1 of 1, so nothing is trained again
    main([*argv[:3], *argv[11:], "--resume"])
    assert "trained 1 epochs" in capsys.readouterr().out


def test_train_imager_argument_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        main(["train-imager", "--data", str(tmp_path), "--out", str(tmp_path / "x.pt")])


def test_train_imager_recipe_flags(tmp_path, capsys):
    model = tmp_path / "model.pt"
    main([
        "train-imager", "--data", str(tmp_path / "d"), "--generate", "20", "--n0", "2",
        "--targets", "2", "--shard-size", "10", "--out", str(tmp_path / "run.pt"),
        "--save-model", str(model), "--channels", "2", "--kernel", "3", "--epochs", "1",
        "--batch-size", "8", "--validation-fraction", "0.25", "--momentum", "0.9", "--threads", "1",
        "--voxel-gain", "--magnitude", "--schedule", "cosine", "--validations-per-epoch", "1",
        "--loss", "ohem2", "--eta", "5", "--mse-weight", "3", "--quiet",
    ])  # fmt: skip
    assert "trained 1 epochs" in capsys.readouterr().out
    cfg = OffGridImager.from_checkpoint(model).model.config
    assert cfg.voxel_gain and cfg.magnitude
    state = load_checkpoint(tmp_path / "run.pt").training_state
    loss = state["key"]["train_config"]["loss"]
    assert loss == {"kind": "ohem2", "negatives_per_positive": 5.0, "min_hard_negatives": 1,
                    "sparsity_weight": 1.0, "mse_weight": 3.0}  # fmt: skip
