import numpy as np
import pytest

torch = pytest.importorskip("torch")

import itertools

from skysense.imaging import Scenario
from skysense.learn import (
    CheckpointError,
    DatasetReader,
    ImagingLoss,
    ModelConfig,
    OffGridDataset,
    ShardSampler,
    TrainConfig,
    generate_dataset,
    load_checkpoint,
    split_frames,
    train_imager,
)

SMALL = Scenario(roi_size_m=(24.0, 24.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)
TINY = ModelConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3)


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "ds"
    return DatasetReader(generate_dataset(path, 40, scenario=SMALL, n_targets=2, shard_size=16))


def _split(reader):
    tr, va = split_frames(reader.n_frames, 0.25)
    return OffGridDataset(reader, tr), OffGridDataset(reader, va)


def _config(**kw):
    base = {"epochs": 2, "batch_size": 8, "momentum": 0.9, "loss": ImagingLoss("ohem2"), "seed": 3}
    return TrainConfig(**(base | kw))


def test_dataset_items_and_sampler(reader):
    train, val = _split(reader)
    assert len(train) == 30
    assert len(val) == 10
    x, y = train[17]
    assert x.shape == (2, 8, 8)
    assert x.dtype == torch.float32
    assert y.shape == (8, 8)
    assert float(y.sum()) == 2.0
    order = list(ShardSampler(train, torch.Generator().manual_seed(0)))
    assert sorted(order) == list(range(30))
    # shard-local: positions 0..15 (shard 0) and 16..29 (shard 1) each form one run
    shard = [0 if i < 16 else 1 for i in order]
    assert sum(a != b for a, b in itertools.pairwise(shard)) == 1
    assert order == list(ShardSampler(train, torch.Generator().manual_seed(0)))


def test_training_runs_validates_and_checkpoints(reader, tmp_path):
    train, val = _split(reader)
    entries = []
    ckpt = tmp_path / "ckpt.pt"
    res = train_imager(
        train, val, model_config=TINY, config=_config(), checkpoint=ckpt, progress=entries.append
    )
    # 4 batches per epoch, 2 validations per epoch
    assert [(e["epoch"], e["step"]) for e in res.history] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert entries == res.history
    assert res.epochs_run == 2
    assert not res.stopped_early
    assert res.best_val_loss == min(e["val_loss"] for e in res.history)
    assert {"val_mse", "val_ssim", "val_ospa", "val_dr", "val_far", "lr"} <= set(res.history[0])
    model, doc = load_checkpoint(ckpt, grid_shape=(8, 8))
    assert doc["epoch"] == 2
    assert model.config == TINY
    assert not model.training


def test_resume_equals_an_uninterrupted_run(reader, tmp_path):
    train, val = _split(reader)
    straight = train_imager(train, val, model_config=TINY, config=_config(epochs=3))
    ckpt = tmp_path / "ckpt.pt"
    # first two epochs, interrupted, then resumed to three
    first = train_imager(train, val, model_config=TINY, config=_config(epochs=2), checkpoint=ckpt)
    assert first.epochs_run == 2
    doc = torch.load(ckpt, weights_only=True)
    doc["train_config"]["epochs"] = 3  # as if the run had been started for 3 epochs
    torch.save(doc, ckpt)
    resumed = train_imager(
        train, val, model_config=TINY, config=_config(epochs=3), checkpoint=ckpt, resume=True
    )
    assert resumed.epochs_run == 3
    assert len(resumed.history) == 6
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)
    for (k, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


def test_resume_with_another_config_is_refused(reader, tmp_path):
    train, val = _split(reader)
    ckpt = tmp_path / "ckpt.pt"
    train_imager(train, val, model_config=TINY, config=_config(epochs=1), checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="another model or training config"):
        train_imager(
            train,
            val,
            model_config=TINY,
            config=_config(epochs=1, lr=1e-2),
            checkpoint=ckpt,
            resume=True,
        )


def test_early_stop(reader):
    train, val = _split(reader)
    res = train_imager(
        train, val, model_config=TINY, config=_config(epochs=5, early_stop_patience=1)
    )
    losses = [e["val_loss"] for e in res.history]
    # stops at the first validation that does not improve on the best so far
    first_bad = next(k for k in range(1, len(losses)) if losses[k] >= min(losses[:k]))
    assert res.stopped_early
    assert len(losses) == first_bad + 1 < 10
    assert res.best_val_loss == min(losses)


def test_seeded_training_is_reproducible(reader):
    train, val = _split(reader)
    a = train_imager(train, val, model_config=TINY, config=_config(epochs=1))
    b = train_imager(train, val, model_config=TINY, config=_config(epochs=1))
    c = train_imager(train, val, model_config=TINY, config=_config(epochs=1, seed=4))
    assert [e["val_loss"] for e in a.history] == [e["val_loss"] for e in b.history]
    assert [e["val_loss"] for e in a.history] != [e["val_loss"] for e in c.history]


def test_model_config_must_fit_the_dataset(reader):
    train, val = _split(reader)
    with pytest.raises(ValueError, match="does not fit the dataset"):
        train_imager(train, val, model_config=ModelConfig(grid_shape=(9, 8), channels=(2,)))


def test_train_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="ImagingLoss"):
        TrainConfig(loss="mse")
    with pytest.raises(ValueError, match="val_fraction"):
        split_frames(10, 1.0)


def test_split_is_contiguous_tail():
    tr, va = split_frames(10, 0.2)
    np.testing.assert_array_equal(tr, np.arange(8))
    np.testing.assert_array_equal(va, [8, 9])


def test_cosine_schedule_decays_to_min_lr_per_step(reader):
    train, val = _split(reader)
    res = train_imager(
        train, val, model_config=TINY, config=_config(schedule="cosine", min_lr=1e-6)
    )
    lrs = [e["lr"] for e in res.history]
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(1e-6)  # 8 steps in all: the last one reaches eta_min
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def test_voxel_gain_is_set_from_the_dataset_scenario_and_saved(reader, tmp_path):
    from skysense.learn import OffGridImager
    from skysense.learn.data import voxel_gain

    train, val = _split(reader)
    cfg = ModelConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3, voxel_gain=True)
    res = train_imager(train, val, model_config=cfg, config=_config(epochs=1))
    gain = voxel_gain(reader.scenario)
    assert gain.shape == (8, 8) and gain.max() == pytest.approx(1.0) and gain.min() > 0
    np.testing.assert_allclose(res.model.voxel_gain.numpy(), gain)
    imager = OffGridImager(res.model, reader.scenario)
    again = OffGridImager.from_checkpoint(imager.save(tmp_path / "g.pt"))
    np.testing.assert_array_equal(again.model.voxel_gain.numpy(), gain)
    other = Scenario(
        roi_size_m=(24.0, 24.0, 0.0), voxel_size_m=3.0, n_antennas_side=2, bs_spacing_m=60.0
    )
    with pytest.raises(ValueError, match="voxel_gain"):
        OffGridImager(res.model, other)


def test_init_starts_from_given_weights(reader):
    train, val = _split(reader)
    first = train_imager(train, val, model_config=TINY, config=_config(epochs=1)).model
    again = train_imager(
        train, val, model_config=TINY, config=_config(epochs=1, lr=1e-12), init=first
    ).model
    for k, v in first.state_dict().items():
        if v.is_floating_point() and "running" not in k:
            torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=1e-6)
    other = ModelConfig(grid_shape=(8, 8), channels=(3,), kernel_size=3)
    with pytest.raises(ValueError, match="same config"):
        train_imager(train, val, model_config=other, config=_config(epochs=1), init=first)
