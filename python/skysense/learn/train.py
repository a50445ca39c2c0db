"""Training of the learned imager (Sec. IV-C, the authors' ``train.py`` conventions)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from skysense.learn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from skysense.learn.dataset import OffGridDataset, ShardSampler
from skysense.learn.evaluate import image_metrics
from skysense.learn.losses import ImagingLoss
from skysense.learn.networks import ImagerNet, ModelConfig, build_model

__all__ = ["TrainConfig", "TrainResult", "predict", "train_imager"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and loss of :func:`train_imager` (defaults: the authors' code).

    Parameters
    ----------
    epochs, batch_size : int
        200 and 32.
    lr, weight_decay, momentum : float
        RMSprop (1e-3, 1e-8, 0.999).
    grad_clip : float
        Gradient-norm clip (5.0).
    schedule : {"plateau", "cosine"}
        ``"plateau"`` (the authors'): ReduceLROnPlateau on the validation loss;
        ``"cosine"``: cosine decay from ``lr`` to ``min_lr`` over all training steps, one
        step per batch (better for short CPU budgets, where the plateau rule never fires).
    lr_factor, lr_patience, min_lr
        ReduceLROnPlateau on the validation loss (0.5, 5 validations, 2e-10).
    validations_per_epoch : int
        Validation passes per epoch (2: the scheduler's patience counts validations).
    early_stop_patience : int, optional
        Stop after this many validations without improvement (None: never).
    loss : ImagingLoss
        Default OHEM-1, eta = 10, n_min = 1, alpha = 1 (Net-9).
    seed : int
        Weights, shuffling: ``seed_everything(2)`` in the authors' code.
    """

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-8
    momentum: float = 0.999
    grad_clip: float = 5.0
    schedule: str = "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 5
    min_lr: float = 2e-10
    validations_per_epoch: int = 2
    early_stop_patience: int | None = None
    loss: ImagingLoss = field(default_factory=ImagingLoss)
    seed: int = 2

    def __post_init__(self):
        for name in ("epochs", "batch_size", "validations_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.schedule not in ("plateau", "cosine"):
            raise ValueError(f"schedule must be 'plateau' or 'cosine', got {self.schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not isinstance(self.loss, ImagingLoss):
            raise TypeError(f"loss must be an ImagingLoss, got {type(self.loss).__name__}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Output of :func:`train_imager`.

    Attributes
    ----------
    model : ImagerNet
        Weights of the best validation loss, eval mode.
    history : list of dict
        One entry per validation: epoch, step, lr, train_loss, val_loss, val_mse, val_dr,
        val_far [%].
    best_val_loss : float
    epochs_run : int
    stopped_early : bool
    wall_time_s : float
    """

    model: ImagerNet
    history: list
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    wall_time_s: float


def predict(model: ImagerNet, inputs, *, batch_size=256, device=None) -> np.ndarray:
    """Run ``model`` (eval mode, no grad) on ``inputs`` (n, C, *input_shape) -> (n, *grid)."""
    device = next(model.parameters()).device if device is None else torch.device(device)
    x = torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32))
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, x.shape[0], batch_size):
            out.append(model(x[lo : lo + batch_size].to(device)).cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty((0, *model.config.grid_shape), np.float32)


def _validate(model, data: OffGridDataset, loss_fn, device, batch_size):
    reader = data.reader
    frames = data.frames
    arrays = {k: [] for k in ("inputs", "labels", "positions")}
    for f in frames:
        j, k = reader.locate(int(f))
        shard = reader.shard(j)
        for name, parts in arrays.items():
            parts.append(shard[name][k])
    inputs, labels, positions = (np.stack(arrays[k]) for k in ("inputs", "labels", "positions"))
    pred = predict(model, inputs, batch_size=batch_size, device=device)
    with torch.no_grad():
        loss = float(loss_fn(torch.from_numpy(pred), torch.from_numpy(labels.astype(np.float32))))
    metrics = image_metrics(pred, labels, positions, reader.scenario)
    return loss, metrics


def train_imager(
    train_data: OffGridDataset,
    val_data: OffGridDataset,
    *,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    checkpoint=None,
    resume=False,
    init=None,
    device=None,
    progress=None,
) -> TrainResult:
    """Train an :class:`ImagerNet` on a dataset split.

    Parameters
    ----------
    train_data, val_data : OffGridDataset
        Training and validation frames (same dataset folder or the same scenario).
    model_config : ModelConfig, optional
        Default: the paper's resCNN on the dataset's grid and input shape.
    config : TrainConfig, optional
    checkpoint : str or Path, optional
        Written after every epoch (model, optimiser, scheduler, sampler RNG, history, best
        weights).
    resume : bool
        Continue from ``checkpoint`` if it exists (its configs must equal these).
    init : ImagerNet, optional
        Start from these weights (and buffers) instead of a fresh initialisation: a
        fine-tuning stage with a new optimiser and schedule. Its config must equal
        ``model_config``; a resumed checkpoint takes precedence.
    device : str or torch.device, optional
        Default ``"cuda"`` when available, else ``"cpu"``.
    progress : callable, optional
        ``progress(entry)`` after each validation with the history entry (dict).

    Returns
    -------
    TrainResult
    """
    config = TrainConfig() if config is None else config
    reader = train_data.reader
    if model_config is None:
        model_config = ModelConfig(
            grid_shape=reader.grid_shape,
            in_channels=reader.input_shape[0],
            input_shape=reader.input_shape[1:],
        )
    if tuple(model_config.grid_shape) != tuple(reader.grid_shape) or (
        (model_config.in_channels, *model_config.input_shape) != tuple(reader.input_shape)
    ):
        raise ValueError(
            f"model config (grid {model_config.grid_shape}, input "
            f"{(model_config.in_channels, *model_config.input_shape)}) does not fit the dataset "
            f"(grid {reader.grid_shape}, input {reader.input_shape})"
        )
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError("train_data and val_data must be non-empty")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    model = build_model(model_config, seed=config.seed)
    if init is not None:
        if not isinstance(init, ImagerNet) or init.config != model_config:
            raise ValueError("init must be an ImagerNet with the same config as model_config")
        model.load_state_dict(init.state_dict())
    elif model_config.voxel_gain:
        from skysense.learn.data import voxel_gain

        with torch.no_grad():
            model.voxel_gain.copy_(torch.from_numpy(voxel_gain(reader.scenario)))
    model = model.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.RMSprop(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum
    )
    loader = DataLoader(
        train_data, batch_size=config.batch_size, sampler=ShardSampler(train_data, gen)
    )
    n_batches = len(loader)
    if config.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=config.epochs * n_batches, eta_min=config.min_lr
        )
    else:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=config.lr_factor, patience=config.lr_patience, min_lr=config.min_lr
        )
    history, epoch0, best_loss, bad, best_state = [], 0, float("inf"), 0, None
    stopped = False
    scenario = asdict(reader.scenario)
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        loaded, doc = load_checkpoint(checkpoint, grid_shape=model_config.grid_shape)
        if loaded.config != model_config or doc.get("train_config") != config.to_dict():
            raise CheckpointError(
                f"{checkpoint} was written with another model or training config; "
                "start without resume or use a new checkpoint path"
            )
        model.load_state_dict(loaded.state_dict())
        opt.load_state_dict(doc["optimizer"])
        sched.load_state_dict(doc["scheduler"])
        gen.set_state(doc["generator"])
        history, epoch0 = list(doc["history"]), int(doc["epoch"])
        best_loss, bad, best_state = float(doc["best_val_loss"]), int(doc["bad"]), doc["best_state"]
        stopped = bool(doc["stopped_early"])

    loss_fn = config.loss
    val_every = max(1, n_batches // config.validations_per_epoch)
    t0 = time.perf_counter()
    epochs_run = epoch0
    for epoch in range(epoch0, config.epochs):
        if stopped:
            break
        model.train()
        running, n_seen, n_validations = 0.0, 0, 0
        for step, (x, y) in enumerate(loader, start=1):
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            if config.schedule == "cosine":
                sched.step()
            running += float(loss.detach()) * x.shape[0]
            n_seen += x.shape[0]
            if step % val_every or n_validations == config.validations_per_epoch:
                continue
            n_validations += 1
            val_loss, metrics = _validate(model, val_data, loss_fn, device, 256)
            model.train()
            if config.schedule == "plateau":
                sched.step(val_loss)
            entry = {
                "epoch": epoch + 1,
                "step": step,
                "lr": opt.param_groups[0]["lr"],
                "train_loss": running / n_seen,
                "val_loss": val_loss,
                **{f"val_{k}": v for k, v in metrics.items()},
            }
            history.append(entry)
            if progress is not None:
                progress(entry)
            if val_loss < best_loss:
                best_loss, bad = val_loss, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
            if config.early_stop_patience is not None and bad >= config.early_stop_patience:
                stopped = True
                break
        epochs_run = epoch + 1
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                model,
                scenario=scenario,
                train_config=config.to_dict(),
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                generator=gen.get_state(),
                history=history,
                epoch=epochs_run,
                best_val_loss=best_loss,
                bad=bad,
                best_state=best_state,
                stopped_early=stopped,
            )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=model,
        history=history,
        best_val_loss=best_loss,
        epochs_run=epochs_run,
        stopped_early=stopped,
        wall_time_s=time.perf_counter() - t0,
    )
