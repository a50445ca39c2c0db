"""Training of the learned imager (imaging paper, Sec. IV-C; the authors' ``train.py``
conventions): RMSprop, ReduceLROnPlateau or cosine decay, gradient clipping, OHEM losses.

Importing this module imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count
from skysense.learn._torch import torch_generator, torch_threads
from skysense.learn.imager.data import voxel_gain
from skysense.learn.imager.dataset import OffGridDataset, ShardSampler
from skysense.learn.imager.detector import DetectorConfig, DetectorNet, build_detector_net
from skysense.learn.imager.evaluate import image_metrics
from skysense.learn.imager.features import grid_symmetries
from skysense.learn.imager.losses import ImagingLoss
from skysense.learn.imager.networks import ImagerConfig, ImagerNet, build_imager_net
from skysense.learn.training import TrainResult, fit

__all__ = ["SCHEDULES", "ImagerTrainConfig", "predict", "train_imager"]

#: Learning-rate schedules of :class:`ImagerTrainConfig`.
SCHEDULES = ("plateau", "cosine", "onecycle")
#: Optimisers of :class:`ImagerTrainConfig`.
OPTIMIZERS = ("rmsprop", "adamw")


@dataclass(frozen=True)
class ImagerTrainConfig:
    """Optimiser, schedule and loss of :func:`train_imager` (defaults: the authors' code).

    Parameters
    ----------
    epochs, batch_size : int
        200 and 32.
    learning_rate, weight_decay, momentum : float
        RMSprop (1e-3, 1e-8, 0.999); ``momentum`` is unused by AdamW.
    optimizer : {"rmsprop", "adamw"}
        RMSprop (the authors') or AdamW (decoupled weight decay).
    grad_clip : float
        Gradient-norm clip (5.0).
    schedule : {"plateau", "cosine", "onecycle"}
        ``"plateau"`` (the authors'): ReduceLROnPlateau on the validation loss;
        ``"cosine"``: cosine decay from ``learning_rate`` to ``min_learning_rate`` over all
        training steps, one step per batch (better for short CPU budgets, where the plateau
        rule never fires); ``"onecycle"``: torch's OneCycleLR, a linear warm-up over the
        first ``warmup_fraction`` of the steps to ``learning_rate``, then cosine annealing.
    warmup_fraction : float
        Warm-up share of ``"onecycle"`` (0.1).
    augment : bool
        Train on random symmetries of the square BS layout (flips and the x-y transpose of
        the grid with the matching permutation of pair channels, :func:`~skysense.learn.
        imager.features.grid_symmetries`): 8 times the distinct frames. Only for
        :class:`DetectorNet` inputs (``"pairs"``), on symmetric scenarios.
    plateau_factor, plateau_patience : float, int
        ReduceLROnPlateau's factor (0.5) and patience in validations (5).
    min_learning_rate : float
        Floor of both schedules (2e-10).
    validations_per_epoch : int
        Validation passes per epoch (2: the scheduler's patience counts validations).
    early_stop_patience : int, optional
        Stop after this many validations without improvement (None: never).
    loss : ImagingLoss
        Default OHEM-1, eta = 10, n_min = 1, alpha = 1 (the paper's Net-9).

    Examples
    --------
    >>> ImagerTrainConfig(epochs=4, schedule="cosine").batch_size
    32
    """

    epochs: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-8
    momentum: float = 0.999
    optimizer: str = "rmsprop"
    grad_clip: float = 5.0
    schedule: str = "plateau"
    warmup_fraction: float = 0.1
    augment: bool = False
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    min_learning_rate: float = 2e-10
    validations_per_epoch: int = 2
    early_stop_patience: int | None = None
    loss: ImagingLoss = field(default_factory=ImagingLoss)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "validations_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not 0 < self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in (0, 1), got {self.warmup_fraction}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not isinstance(self.loss, ImagingLoss):
            raise TypeError(f"loss must be an ImagingLoss, got {type(self.loss).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (stored in training checkpoints)."""
        return asdict(self)


def predict(
    model: ImagerNet | DetectorNet,
    inputs: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Run ``model`` in eval mode without gradients on a batch of inputs.

    Parameters
    ----------
    model : ImagerNet or DetectorNet
        Its training mode is restored afterwards (a detector returns its heat map).
    inputs : array_like, shape (n, C, input_shape...), float
        Network inputs (cast to float32).
    batch_size : int
        Frames per forward pass.
    device : str or torch.device, optional
        Default: the model's device.
    workers : int, optional
        torch CPU threads of the call (``docs/conventions.md``; restored afterwards).

    Returns
    -------
    ndarray, shape (n, grid_shape...), float32, in [0, 1]
        Model outputs (occupancy probabilities, or a detector's heat map).

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> net = build_imager_net(ImagerConfig(grid_shape=(8, 8), channels=(4,)), rng=0)
    >>> predict(net, np.zeros((3, 2, 8, 8))).shape
    (3, 8, 8)
    """
    with torch_threads(workers):
        return _predict(model, inputs, batch_size, device)


def _predict(
    model: ImagerNet | DetectorNet, inputs: Any, batch_size: int, device: str | torch.device | None
) -> np.ndarray:
    """:func:`predict` in the caller's torch thread setting."""
    batch_size = check_count(batch_size, "batch_size")  # -1 would silently give no frames
    device = next(model.parameters()).device if device is None else torch.device(device)
    x = torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32))
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, x.shape[0], batch_size):
            out.append(model(x[lo : lo + batch_size].to(device)).cpu())
    model.train(was_training)
    if not out:
        return np.empty((0, *model.config.grid_shape), np.float32)
    result: np.ndarray = torch.cat(out).numpy()
    return result


def _validator(
    data: OffGridDataset, loss_fn: ImagingLoss, device: torch.device, batch_size: int
) -> Callable[[torch.nn.Module], tuple[float, dict[str, float]]]:
    """Validation on ``data``: the loss and the Table III/IV metrics of its frames (of the
    rendered detections for a :class:`DetectorNet`)."""
    reader = data.reader
    arrays = reader.read_frames(data.frames, ("inputs", "labels", "positions_m"))
    labels, positions_m = arrays["labels"], arrays["positions_m"]
    inputs = arrays["inputs"].astype(np.float32, copy=False)
    targets = torch.from_numpy(labels.astype(np.float32))

    def validate(model: torch.nn.Module) -> tuple[float, dict[str, float]]:
        assert isinstance(model, ImagerNet | DetectorNet)
        pred = _predict(model, inputs, batch_size, device)
        with torch.no_grad():
            heat = torch.from_numpy(pred)
            loss = float(loss_fn(heat, targets))
            if isinstance(model, DetectorNet):
                pred = model.render(heat).numpy()
        return loss, asdict(image_metrics(pred, labels, positions_m, reader.scenario))

    return validate


def _augmenter(
    scenario: Any, n_pairs: int
) -> Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]:
    """``augment(x, y, k)``: symmetry ``k`` of :func:`grid_symmetries` applied to a batch."""
    symmetries = grid_symmetries(scenario)
    if not symmetries:
        raise ValueError(
            "augment=True needs a scenario whose BS layout is symmetric about the square grid "
            "(grid_symmetries(scenario) is empty)"
        )
    sources = []
    for _, _, _, perm in symmetries:
        inverse = np.argsort(perm)  # new channel q' takes old channel inverse[q']
        sources.append(torch.from_numpy(np.concatenate([inverse, n_pairs + inverse])))

    def augment(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        flip_x, flip_y, transpose, _ = symmetries[k]
        # grid axes: x at dim 2 (inputs) / 1 (labels), y next
        if transpose:
            x, y = x.transpose(2, 3), y.transpose(1, 2)
        if flip_x:
            x, y = x.flip(2), y.flip(1)
        if flip_y:
            x, y = x.flip(3), y.flip(2)
        return x[:, sources[k]].contiguous(), y.contiguous()

    return augment


def train_imager(
    train_data: OffGridDataset,
    validation_data: OffGridDataset,
    *,
    net_config: ImagerConfig | DetectorConfig | None = None,
    config: ImagerTrainConfig | None = None,
    init: ImagerNet | DetectorNet | None = None,
    rng: RngLike = None,
    workers: int | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every_s: float | None = None,
    resume: bool = False,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train an :class:`ImagerNet` (the paper's refiner) or a :class:`DetectorNet` on a
    dataset split.

    Parameters
    ----------
    train_data, validation_data : OffGridDataset
        Training and validation frames (same dataset folder or the same scenario).
    net_config : ImagerConfig or DetectorConfig, optional
        Default: the paper's resCNN on the dataset's grid and input shape. A
        ``DetectorConfig`` needs a dataset of ``kind="pairs"``.
    config : ImagerTrainConfig, optional
        Optimiser, schedule and loss (default: the authors' settings).
    init : ImagerNet or DetectorNet, optional
        Start from these weights (and buffers) instead of a fresh initialisation: a
        fine-tuning stage with a new optimiser and schedule. Its config must equal
        ``net_config``; a resumed checkpoint takes precedence.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Initial weights and the shuffling order (two torch generators seeded from it).
    workers : int, optional
        torch CPU threads (``docs/conventions.md``; restored afterwards). The losses are
        reproducible for a given ``rng`` and ``workers``.
    device : str or torch.device, optional
        Default ``"cuda"`` when available, else ``"cpu"``.
    checkpoint : str or path-like, optional
        Training checkpoint: model, optimiser, schedule, shuffling state, history and best
        weights; loadable with :func:`~skysense.learn.load_checkpoint` (its metadata records
        the scenario, so :meth:`OffGridImager.from_checkpoint` reads it too).
    checkpoint_every_s : float, optional
        None: write the checkpoint after every epoch; a number: whenever that many seconds
        passed (also inside an epoch) and at the end.
    resume : bool
        Continue from ``checkpoint`` if it exists (the configs must equal these); the result
        equals an uninterrupted run.
    progress : callable, optional
        ``progress(entry)`` after each validation with the history entry (dict).

    Returns
    -------
    TrainResult
        The weights of the best validation loss; ``history`` entries carry
        ``validation_mse``, ``validation_ssim``, ``validation_ospa_m``,
        ``validation_detection_rate`` and ``validation_false_alarm_rate`` (of the rendered
        detections at the config's threshold for a detector).

    Examples
    --------
    >>> import tempfile
    >>> from skysense.imaging import Scenario
    >>> from skysense.learn import DatasetReader, OffGridDataset, generate_dataset, split_frames
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> reader = DatasetReader(generate_dataset(tempfile.mkdtemp() + "/ds", 12, scenario=s,
    ...                                         n_targets=1, rng=0))
    >>> train, validation = split_frames(reader.n_frames, 0.25)
    >>> result = train_imager(
    ...     OffGridDataset(reader, train),
    ...     OffGridDataset(reader, validation),
    ...     net_config=ImagerConfig(grid_shape=(5, 5), channels=(2,), kernel_size=3),
    ...     config=ImagerTrainConfig(epochs=1, batch_size=4, validations_per_epoch=1),
    ...     rng=0,
    ...     device="cpu",
    ... )
    >>> result.epochs_run, len(result.history)
    (1, 1)
    """
    config = ImagerTrainConfig() if config is None else config
    reader = train_data.reader
    if net_config is None:
        net_config = ImagerConfig(
            grid_shape=reader.grid_shape,
            in_channels=reader.input_shape[0],
            input_shape=reader.input_shape[1:],
        )
    if isinstance(net_config, DetectorConfig) and reader.meta["kind"] != "pairs":
        raise ValueError(f"a DetectorConfig needs a 'pairs' dataset, got {reader.meta['kind']!r}")
    if net_config.grid_shape != reader.grid_shape or net_config.sample_shape != tuple(
        reader.input_shape
    ):
        raise ValueError(
            f"net_config (grid {net_config.grid_shape}, input {net_config.sample_shape}) does "
            f"not fit the dataset (grid {reader.grid_shape}, input {reader.input_shape})"
        )
    if len(train_data) == 0 or len(validation_data) == 0:
        raise ValueError("train_data and validation_data must be non-empty")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    init_rng, order_rng = as_generator(rng).spawn(2)

    with torch_threads(workers):
        if isinstance(net_config, DetectorConfig):
            model: ImagerNet | DetectorNet = build_detector_net(net_config, rng=init_rng)
        else:
            model = build_imager_net(net_config, rng=init_rng)
        if init is not None:
            if not isinstance(init, ImagerNet | DetectorNet) or init.config != net_config:
                raise ValueError("init must be a network with the same config as net_config")
            model.load_state_dict(init.state_dict())
        elif isinstance(net_config, ImagerConfig) and net_config.voxel_gain:
            assert isinstance(model, ImagerNet)
            with torch.no_grad():
                model.voxel_gain.copy_(torch.from_numpy(voxel_gain(reader.scenario)))
        model = model.to(device)
        generator = torch_generator(order_rng)
        optimizer: torch.optim.Optimizer
        if config.optimizer == "adamw":
            optimizer = torch.optim.AdamW(
                model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
            )
        else:
            optimizer = torch.optim.RMSprop(
                model.parameters(),
                lr=config.learning_rate,
                weight_decay=config.weight_decay,
                momentum=config.momentum,
            )
        bs = config.batch_size
        n_batches = -(-len(train_data) // bs)
        scheduler: Any
        if config.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=config.epochs * n_batches, eta_min=config.min_learning_rate
            )
        elif config.schedule == "onecycle":
            total = config.epochs * n_batches
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.learning_rate,
                total_steps=total,
                # at least two warm-up steps (torch divides by the phase length)
                pct_start=min(0.5, max(config.warmup_fraction, 2.0 / total)),
            )
        else:
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                factor=config.plateau_factor,
                patience=config.plateau_patience,
                min_lr=config.min_learning_rate,
            )
        augment = None
        if config.augment:
            if not isinstance(net_config, DetectorConfig):
                raise ValueError("augment=True is for DetectorNet training (pairs inputs)")
            augment = _augmenter(reader.scenario, net_config.n_pairs)

        def epoch_batches(skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            order = list(ShardSampler(train_data, generator))  # draws the epoch's order
            loader = DataLoader(train_data, batch_size=bs, sampler=order[skip * bs :])
            if augment is None:
                yield from loader
                return
            # the epoch's symmetries, one per batch, drawn before any batch is skipped
            kinds = torch.randint(8, (n_batches,), generator=generator).tolist()
            for k, (x, y) in zip(kinds[skip:], loader, strict=True):
                yield augment(x, y, k)

        metadata: Mapping[str, Any] = {"scenario": asdict(reader.scenario)}
        return fit(
            model,
            optimizer=optimizer,
            scheduler=scheduler,
            schedule_step="validation" if config.schedule == "plateau" else "batch",
            epoch_batches=epoch_batches,
            n_batches=n_batches,
            loss_fn=config.loss,
            validate=_validator(validation_data, config.loss, device, 256),
            generator=generator,
            epochs=config.epochs,
            validations_per_epoch=config.validations_per_epoch,
            grad_clip=config.grad_clip,
            early_stop_patience=config.early_stop_patience,
            keep_best=True,
            device=device,
            checkpoint=checkpoint,
            checkpoint_every_s=checkpoint_every_s,
            resume=resume,
            resume_key={"train_config": config.to_dict()},
            metadata=metadata,
            progress=progress,
        )
