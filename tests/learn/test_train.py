import numpy as np
import pytest

torch = pytest.importorskip("torch")

import itertools

from skysense.imaging import Scenario
from skysense.learn import (
    CheckpointError,
    DatasetReader,
    ImagerConfig,
    ImagerTrainConfig,
    ImagingLoss,
    OffGridDataset,
    generate_dataset,
    load_checkpoint,
    split_frames,
    train_imager,
)
from skysense.learn.imager.dataset import ShardSampler

SMALL = Scenario(roi_size_m=(24.0, 24.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)
TINY = ImagerConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3)


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "ds"
    return DatasetReader(
        generate_dataset(path, 40, scenario=SMALL, n_targets=2, shard_size=16, rng=0)
    )


def _split(reader):
    tr, va = split_frames(reader.n_frames, 0.25)
    return OffGridDataset(reader, tr), OffGridDataset(reader, va)


def _config(**kw):
    base = {"epochs": 2, "batch_size": 8, "momentum": 0.9, "loss": ImagingLoss("ohem2")}
    return ImagerTrainConfig(**(base | kw))


def _train(train, val, *, config=None, rng=3, **kw):
    return train_imager(train, val, net_config=TINY, config=config or _config(), rng=rng, **kw)


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
    res = _train(train, val, checkpoint=ckpt, progress=entries.append)
    # 4 batches per epoch, 2 validations per epoch
    assert [(e["epoch"], e["step"]) for e in res.history] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert tuple(entries) == res.history
    assert res.epochs_run == 2
    assert not res.stopped_early
    assert res.best_validation_loss == min(res.validation_loss)
    metrics = {"mse", "ssim", "ospa_m", "detection_rate", "false_alarm_rate"}
    assert {f"validation_{k}" for k in metrics} | {"learning_rate"} <= set(res.history[0])
    loaded = load_checkpoint(ckpt, expected_config=TINY)
    assert loaded.training_state["epoch"] == 2
    assert loaded.metadata["scenario"]["n_antennas_side"] == 2
    assert not loaded.model.training
    assert "TrainResult(" in repr(res)


def _assert_same_run(a, b):
    assert len(a.history) == len(b.history)
    for x, y in zip(a.history, b.history, strict=True):
        assert x["validation_loss"] == pytest.approx(y["validation_loss"], rel=1e-6)
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-6)
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=k)


def test_resume_equals_an_uninterrupted_run(reader, tmp_path):
    train, val = _split(reader)
    straight = _train(train, val, config=_config(epochs=3))
    ckpt = tmp_path / "ckpt.pt"
    # first two epochs, interrupted, then resumed to three
    first = _train(train, val, config=_config(epochs=2), checkpoint=ckpt)
    assert first.epochs_run == 2
    doc = torch.load(ckpt, weights_only=True)
    doc["training_state"]["key"]["train_config"]["epochs"] = 3  # as if started for 3 epochs
    torch.save(doc, ckpt)
    resumed = _train(train, val, config=_config(epochs=3), checkpoint=ckpt, resume=True)
    assert resumed.epochs_run == 3
    assert len(resumed.history) == 6
    _assert_same_run(straight, resumed)


class _Interrupt(Exception):
    pass


def test_timed_checkpoint_inside_an_epoch_resumes_exactly(reader, tmp_path):
    """checkpoint_every_s=0 writes after every batch; killing the run after batch 3 of
    epoch 1 and resuming gives the uninterrupted run."""
    train, val = _split(reader)
    config = _config(schedule="cosine")  # the scheduler steps per batch: its state matters
    straight = _train(train, val, config=config)
    ckpt = tmp_path / "ckpt.pt"
    calls = []

    def stop_after_first_validation(entry):
        calls.append(entry)
        if len(calls) == 2:  # epoch 1, step 4: the epoch-end checkpoint is not written yet
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _train(
            train,
            val,
            config=config,
            checkpoint=ckpt,
            checkpoint_every_s=0.0,
            progress=stop_after_first_validation,
        )
    state = load_checkpoint(ckpt).training_state
    assert (state["epoch"], state["step"], len(state["history"])) == (0, 3, 1)
    resumed = _train(train, val, config=config, checkpoint=ckpt, resume=True, rng=99)
    _assert_same_run(straight, resumed)  # the rng of a resumed run does not matter


def test_resume_with_another_config_is_refused(reader, tmp_path):
    train, val = _split(reader)
    ckpt = tmp_path / "ckpt.pt"
    _train(train, val, config=_config(epochs=1), checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="another model or training config"):
        _train(
            train, val, config=_config(epochs=1, learning_rate=1e-2), checkpoint=ckpt, resume=True
        )
    from skysense.learn import save_checkpoint

    save_checkpoint(ckpt, load_checkpoint(ckpt).model)  # a finished model, no training state
    with pytest.raises(CheckpointError, match="no training state"):
        _train(train, val, config=_config(epochs=1), checkpoint=ckpt, resume=True)


def test_early_stop(reader):
    train, val = _split(reader)
    res = _train(train, val, config=_config(epochs=5, early_stop_patience=1))
    losses = list(res.validation_loss)
    # stops at the first validation that does not improve on the best so far
    first_bad = next(k for k in range(1, len(losses)) if losses[k] >= min(losses[:k]))
    assert res.stopped_early
    assert len(losses) == first_bad + 1 < 10
    assert res.best_validation_loss == min(losses)


def test_seeded_training_is_reproducible(reader):
    train, val = _split(reader)
    threads = torch.get_num_threads()
    a = _train(train, val, config=_config(epochs=1))
    b = _train(train, val, config=_config(epochs=1))
    c = _train(train, val, config=_config(epochs=1), rng=4)
    assert list(a.validation_loss) == list(b.validation_loss)
    assert list(a.validation_loss) != list(c.validation_loss)
    # torch's backward reductions depend on the thread count: reproducible per `workers`
    two = _train(train, val, config=_config(epochs=1), workers=2)
    assert torch.get_num_threads() == threads  # restored after the call
    np.testing.assert_allclose(two.validation_loss, a.validation_loss, rtol=1e-3)


def test_model_config_must_fit_the_dataset(reader):
    train, val = _split(reader)
    with pytest.raises(ValueError, match="does not fit the dataset"):
        train_imager(train, val, net_config=ImagerConfig(grid_shape=(9, 8), channels=(2,)))


def test_train_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        ImagerTrainConfig(epochs=0)
    with pytest.raises(TypeError, match="ImagingLoss"):
        ImagerTrainConfig(loss="mse")
    with pytest.raises(ValueError, match="validation_fraction"):
        split_frames(10, 1.0)


def test_split_is_contiguous_tail():
    tr, va = split_frames(10, 0.2)
    np.testing.assert_array_equal(tr, np.arange(8))
    np.testing.assert_array_equal(va, [8, 9])


def test_cosine_schedule_decays_to_min_lr_per_step(reader):
    train, val = _split(reader)
    res = _train(train, val, config=_config(schedule="cosine", min_learning_rate=1e-6))
    lrs = [e["learning_rate"] for e in res.history]
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(1e-6)  # 8 steps in all: the last one reaches eta_min
    with pytest.raises(ValueError, match="schedule"):
        ImagerTrainConfig(schedule="step")


def test_voxel_gain_is_set_from_the_dataset_scenario_and_saved(reader, tmp_path):
    from skysense.learn import OffGridImager
    from skysense.learn.imager.data import voxel_gain

    train, val = _split(reader)
    cfg = ImagerConfig(grid_shape=(8, 8), channels=(3, 4), kernel_size=3, voxel_gain=True)
    res = train_imager(train, val, net_config=cfg, config=_config(epochs=1), rng=3)
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
    first = _train(train, val, config=_config(epochs=1)).model
    again = _train(train, val, config=_config(epochs=1, learning_rate=1e-12), init=first).model
    for k, v in first.state_dict().items():
        if v.is_floating_point() and "running" not in k:
            torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=1e-6)
    other = ImagerConfig(grid_shape=(8, 8), channels=(3,), kernel_size=3)
    with pytest.raises(ValueError, match="same config"):
        train_imager(train, val, net_config=other, config=_config(epochs=1), init=first)
