import pickle

import pytest

torch = pytest.importorskip("torch")

from skysense.learn import (
    CheckpointError,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)

CFG = ModelConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3)


@pytest.fixture
def ckpt(tmp_path):
    model = build_model(CFG, seed=0)
    return save_checkpoint(tmp_path / "m.pt", model, scenario={"voxel_size_m": 3.0}, epoch=4), model


def test_round_trip(ckpt):
    path, model = ckpt
    loaded, doc = load_checkpoint(path, grid_shape=(8, 8))
    assert loaded.config == CFG
    assert doc["epoch"] == 4
    assert doc["scenario"] == {"voxel_size_m": 3.0}
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert not loaded.training


def test_checkpoint_for_another_grid(ckpt):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match=r"grid \(8, 8\), not \(40, 40\)"):
        load_checkpoint(path, grid_shape=(40, 40))


@pytest.mark.parametrize(
    "content", [b"", b"garbage bytes, not a zip", b"PK\x03\x04truncated zip header"]
)
def test_corrupted_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable skysense checkpoint"):
        load_checkpoint(path)


def test_truncated_file(ckpt, tmp_path):
    path, _ = ckpt
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(cut)


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_arbitrary_pickles_are_refused(tmp_path):
    """weights_only loading: a checkpoint that would execute code is rejected."""
    path = tmp_path / "evil.pt"
    torch.save({"format": "skysense-offgrid-imager", "payload": _Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(
        pickle.dumps({"format": "skysense-offgrid-imager", "p": _Payload()}, protocol=2)
    )
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)


def test_other_format_and_bad_contents(ckpt, tmp_path):
    path, _ = ckpt
    doc = torch.load(path, weights_only=True)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": doc["state_dict"]}, other)
    with pytest.raises(CheckpointError, match="is not a skysense-offgrid-imager checkpoint"):
        load_checkpoint(other)

    shape = tmp_path / "shape.pt"
    bad = dict(doc, state_dict=dict(doc["state_dict"]))
    bad["state_dict"]["stem.0.weight"] = torch.zeros(5, 2, 3, 3)
    torch.save(bad, shape)
    with pytest.raises(CheckpointError, match=r"stem.0.weight has shape"):
        load_checkpoint(shape)

    nan = tmp_path / "nan.pt"
    bad = dict(doc, state_dict=dict(doc["state_dict"]))
    bad["state_dict"]["head.0.bias"] = torch.full_like(
        doc["state_dict"]["head.0.bias"], float("nan")
    )
    torch.save(bad, nan)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(nan)

    cfg = tmp_path / "cfg.pt"
    torch.save(dict(doc, model_config={**doc["model_config"], "kernel_size": 4}), cfg)
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(cfg)

    missing = tmp_path / "missing.pt"
    bad = dict(doc, state_dict=dict(doc["state_dict"]))
    del bad["state_dict"]["head.1.weight"]
    torch.save(bad, missing)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(missing)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
