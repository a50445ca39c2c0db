"""One checkpoint format for every learned model: atomic writes, validated weights-only loads."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.bistatic import Scenario as BistaticScenario
from skysense.learn import (
    C2vnn3dConfig,
    C2vnnConfig,
    CheckpointError,
    ImagerConfig,
    build_c2vnn,
    build_imager_net,
    load_checkpoint,
    save_checkpoint,
)
from skysense.learn import checkpoint as checkpoint_module

CFG = ImagerConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3)
SMALL = BistaticScenario(n_tx=3, n_rx=4, n_subcarriers=16)


@pytest.fixture
def ckpt(tmp_path):
    model = build_imager_net(CFG, rng=0)
    meta = {"scenario": {"voxel_size_m": 3.0}, "epoch": 4}
    return save_checkpoint(tmp_path / "m.pt", model, metadata=meta), model


@pytest.mark.parametrize(
    "cfg",
    [
        CFG,
        ImagerConfig(arch="dn-cnn", grid_shape=(4, 4, 3), channels=(2,), voxel_gain=False),
        C2vnnConfig(scenario=SMALL, n_filters=2, n_hidden=8),
        C2vnn3dConfig(scenario=SMALL, n_filters=2, n_hidden=8, n_subframes=3),
    ],
    ids=["imager", "imager-3d", "c2vnn", "c2vnn3d"],
)
def test_round_trip_of_every_model(cfg, tmp_path):
    build = build_imager_net if isinstance(cfg, ImagerConfig) else build_c2vnn
    model = build(cfg, rng=1)
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, metadata={"note": [1, 2.5, "x"]})
    loaded = load_checkpoint(path, expected_config=cfg)
    assert type(loaded.model) is type(model)
    assert loaded.model.config == cfg
    assert loaded.metadata == {"note": [1, 2.5, "x"]}
    assert loaded.training_state is None
    assert not loaded.model.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)
    x = torch.randn(2, *model.sample_shape)
    assert torch.equal(loaded.model(x), model.eval()(x))
    assert "model=" in repr(loaded)


def test_expected_config(ckpt):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match="not the expected"):
        load_checkpoint(path, expected_config=ImagerConfig(grid_shape=(40, 40)))
    with pytest.raises(CheckpointError, match="not the expected"):
        load_checkpoint(path, expected_config=C2vnnConfig())


def test_atomic_write_keeps_the_old_file_on_failure(ckpt, monkeypatch):
    path, model = ckpt
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # no temporary left


def test_save_refuses_other_modules(tmp_path):
    with pytest.raises(TypeError, match="model must be one of"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))


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


def test_arbitrary_pickles_are_refused(tmp_path, capsys):
    """weights_only loading: a checkpoint that would execute code is rejected."""
    path = tmp_path / "evil.pt"
    torch.save({"format": "skysense-learn", "payload": _Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"format": "skysense-learn", "p": _Payload()}, protocol=2))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)
    assert "code ran" not in capsys.readouterr().out


def _edit(doc, tmp_path, name, **changes):
    path = tmp_path / name
    torch.save({**doc, **changes}, path)
    return path


def test_other_format_and_bad_contents(ckpt, tmp_path):
    path, _ = ckpt
    doc = torch.load(path, weights_only=True)
    state = doc["state_dict"]
    cases = [
        ({"format": "skysense-offgrid-imager"}, "is not a skysense-learn checkpoint"),
        ({"version": 0}, "checkpoint version 0, expected 2"),
        ({"model": "unet"}, "unknown model 'unet'"),
        ({"config": {**doc["config"], "kernel_size": 4}}, "invalid imager config"),
        ({"config": {**doc["config"], "depth": 3}}, "invalid imager config"),
        ({"state_dict": [1, 2]}, "holds no state_dict"),
        ({"state_dict": {**state, "stem.0.weight": torch.zeros(5, 2, 3, 3)}}, "stem.0.weight has"),
        ({"state_dict": {k: v for k, v in state.items() if k != "head.1.weight"}}, "missing"),
        ({"state_dict": {**state, "extra": torch.zeros(1)}}, "unexpected"),
        ({"state_dict": {**state, "head.0.bias": state["head.0.bias"] * np.nan}}, "NaN or Inf"),
        ({"state_dict": {**state, "head.0.bias": state["head.0.bias"] + np.inf}}, "NaN or Inf"),
        ({"training_state": {"best": {"w": torch.tensor([1.0, np.nan])}}}, "training_state"),
        ({"metadata": [1]}, "metadata and training_state must be dicts"),
    ]
    for i, (change, match) in enumerate(cases):
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(_edit(doc, tmp_path, f"bad{i}.pt", **change))
    # integer buffers (BatchNorm's num_batches_tracked) are not checked for finiteness
    assert any(not v.is_floating_point() for v in state.values())


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_shipped_weights_load_in_the_shared_format():
    from importlib import resources

    folder = resources.files("skysense.learn").joinpath("weights")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".pt"))
    assert names == [
        "c2vnn.pt",
        "c2vnn_count.pt",
        "imager_2d.pt",
        "imager_2d_rescnn.pt",
        "imager_3d.pt",
    ]
    kinds = []
    for name in names:
        with resources.as_file(folder.joinpath(name)) as path:
            kinds.append(type(load_checkpoint(path).model).__name__)
    assert kinds == ["C2vnnNet", "C2vnnCountNet", "DetectorNet", "ImagerNet", "DetectorNet"]


def test_flipped_bytes_in_the_tensors_are_refused(ckpt, tmp_path):
    """A damaged file must not load wrong weights: the stored SHA-256 catches flipped bytes."""
    path, _ = ckpt
    data = bytearray(path.read_bytes())
    doc = torch.load(path, weights_only=True)
    # flip bytes inside one tensor's payload (found by its exact bytes in the file)
    raw = doc["state_dict"]["head.1.weight"].numpy().tobytes()
    at = bytes(data).find(raw)
    assert at > 0
    for k in range(0, len(raw), 7):
        data[at + k] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(bad)


def test_digest_is_required_and_checked(ckpt, tmp_path):
    path, _ = ckpt
    doc = torch.load(path, weights_only=True)
    assert len(doc["sha256"]) == 64
    no_digest = {k: v for k, v in doc.items() if k != "sha256"}
    with pytest.raises(CheckpointError, match="stores no SHA-256"):
        load_checkpoint(_edit(no_digest, tmp_path, "nodigest.pt"))
    state = {**doc["state_dict"]}
    state["head.1.weight"] = state["head.1.weight"] + 1e-6  # finite, right shape: only the digest
    with pytest.raises(CheckpointError, match="differs from the one stored"):
        load_checkpoint(_edit(doc, tmp_path, "edited.pt", state_dict=state))
    # a training state edited after save is caught as well
    with pytest.raises(CheckpointError, match="differs from the one stored"):
        load_checkpoint(
            _edit(doc, tmp_path, "ts.pt", training_state={"best": {"w": torch.ones(2)}})
        )


def test_non_finite_weights_are_not_saved(ckpt, tmp_path):
    _, net = ckpt
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="refusing to save .* NaN or Inf"):
        save_checkpoint(tmp_path / "nan.pt", net)
    assert not (tmp_path / "nan.pt").exists()
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[0] = 0.0
    with pytest.raises(ValueError, match="training_state"):
        save_checkpoint(
            tmp_path / "nan.pt", net, training_state={"m": torch.tensor([float("inf")])}
        )


def test_shipped_weights_carry_a_valid_digest():
    from importlib import resources

    names = ("c2vnn.pt", "c2vnn_count.pt", "imager_2d.pt", "imager_2d_rescnn.pt", "imager_3d.pt")
    for name in names:
        with resources.as_file(resources.files("skysense.learn") / "weights" / name) as p:
            doc = torch.load(p, weights_only=True)
            assert doc["version"] == 2 and len(doc["sha256"]) == 64
            load_checkpoint(p)  # verifies the digest


@pytest.mark.parametrize("value", [torch.__version__, np.float64(1.5), {"nested": [np.int64(3)]}])
def test_metadata_that_would_not_load_back_is_refused(ckpt, tmp_path, value):
    """A str/float subclass passes isinstance checks but pickles as its class, which the
    weights-only loader refuses: such a file must not be written."""
    _, net = ckpt
    with pytest.raises(TypeError, match="metadata must hold plain types only"):
        save_checkpoint(tmp_path / "meta.pt", net, metadata={"v": value})
    assert not (tmp_path / "meta.pt").exists()
    plain = save_checkpoint(tmp_path / "ok.pt", net, metadata={"v": str(torch.__version__)})
    assert load_checkpoint(plain).metadata["v"] == str(torch.__version__)
