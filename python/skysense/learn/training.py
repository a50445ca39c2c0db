"""The training loop shared by both learned stages: epochs, optimiser, schedule, validation,
best-weights tracking, early stop, timed checkpoints and exact resume.

:func:`~skysense.learn.train_imager` and :func:`~skysense.learn.train_c2vnn` set up their
data, network, optimiser and schedule and hand them to :func:`fit`. Importing this module
imports torch.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from skysense._results import Result
from skysense.learn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["SCHEDULE_STEPS", "TrainResult", "fit"]

#: When :func:`fit` steps the learning-rate scheduler: after every batch, after every epoch,
#: or after every validation with the validation loss (``ReduceLROnPlateau``).
SCHEDULE_STEPS = ("batch", "epoch", "validation")

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
PathLike = str | os.PathLike[str]


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class TrainResult(Result):
    """Output of :func:`~skysense.learn.train_imager` and :func:`~skysense.learn.train_c2vnn`.

    Attributes
    ----------
    model : torch.nn.Module
        The trained network in eval mode: the weights of the best validation loss where the
        trainer keeps them (the imager), else those after the last epoch (IFFT-C2VNN).
    history : tuple of dict
        One entry per validation: ``epoch``, ``step`` (batches into the epoch),
        ``learning_rate``, ``train_loss`` (mean over the epoch's batches so far),
        ``validation_loss`` and the trainer's ``validation_*`` metrics.
    best_validation_loss : float
        Least validation loss (``inf`` if none ran).
    epochs_run : int
        Completed epochs (including those of a resumed run).
    stopped_early : bool
        Whether early stopping ended the run.
    wall_time_s : float
        Wall time of the call [s].
    """

    model: nn.Module
    history: tuple[dict[str, float], ...]
    best_validation_loss: float
    epochs_run: int
    stopped_early: bool
    wall_time_s: float

    @property
    def train_loss(self) -> np.ndarray:
        """``train_loss`` of each history entry, shape (n_validations,), float64."""
        return np.array([e["train_loss"] for e in self.history], dtype=np.float64)

    @property
    def validation_loss(self) -> np.ndarray:
        """``validation_loss`` of each history entry, shape (n_validations,), float64."""
        return np.array([e["validation_loss"] for e in self.history], dtype=np.float64)


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def fit(
    model: nn.Module,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    schedule_step: Literal["batch", "epoch", "validation"],
    epoch_batches: Callable[[int], Batches],
    n_batches: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validate: Callable[[nn.Module], tuple[float, Mapping[str, float]]],
    generator: torch.Generator,
    epochs: int,
    validations_per_epoch: int = 1,
    grad_clip: float | None = None,
    early_stop_patience: int | None = None,
    keep_best: bool = True,
    device: torch.device | str = "cpu",
    checkpoint: PathLike | None = None,
    checkpoint_every_s: float | None = None,
    resume: bool = False,
    resume_key: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place and return it with its validation history.

    Parameters
    ----------
    model : torch.nn.Module
        A learned network (``ImagerNet``, ``C2vnnNet``, ``C2vnn3dNet``) on ``device``.
    optimizer, scheduler
        The optimiser and its learning-rate scheduler (``scheduler`` may be None).
    schedule_step : {"batch", "epoch", "validation"}
        See :data:`SCHEDULE_STEPS`.
    epoch_batches : callable
        ``epoch_batches(skip)`` draws one epoch's order from ``generator`` and yields its
        ``(inputs, targets)`` batches from batch ``skip`` on (``skip > 0`` on a resume from
        a checkpoint written inside an epoch). It must draw from ``generator`` the same way
        whatever ``skip`` is.
    n_batches : int
        Batches per epoch.
    loss_fn : callable
        ``loss_fn(prediction, targets)`` -> scalar tensor.
    validate : callable
        ``validate(model)`` -> ``(loss, metrics)``; called in eval mode.
    generator : torch.Generator
        The shuffling generator (its state is checkpointed).
    epochs : int
        Epochs in all (a resumed run continues to this number).
    validations_per_epoch : int
        Validations per epoch, every ``n_batches // validations_per_epoch`` batches.
    grad_clip : float, optional
        Gradient-norm clip.
    early_stop_patience : int, optional
        Stop after this many validations without a new best loss.
    keep_best : bool
        Return the weights of the best validation loss (else those of the last step).
    device : torch.device or str
        Where the batches go.
    checkpoint : str or path-like, optional
        Training checkpoint (:func:`~skysense.learn.save_checkpoint` with a training state).
    checkpoint_every_s : float, optional
        None: write it after every epoch. A number: write it whenever that many seconds
        passed since the last write (checked after every batch, so also inside an epoch)
        and at the end of the run.
    resume : bool
        Continue from ``checkpoint`` if it exists; the result equals an uninterrupted run.
    resume_key : mapping, optional
        Plain-type settings that a resumed run must share with the checkpoint (the training
        configuration); a mismatch raises :class:`~skysense.learn.CheckpointError`.
    metadata : mapping, optional
        Plain-type record stored in every checkpoint.
    progress : callable, optional
        Called with each history entry.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense.learn import C2vnnConfig, build_c2vnn
    >>> net = build_c2vnn(C2vnnConfig(), rng=0)
    >>> x, y = torch.zeros(8, *net.sample_shape), torch.zeros(8, 3)
    >>> result = fit(
    ...     net,
    ...     optimizer=torch.optim.Adam(net.parameters()),
    ...     scheduler=None,
    ...     schedule_step="epoch",
    ...     epoch_batches=lambda skip: [(x, y)][skip:],
    ...     n_batches=1,
    ...     loss_fn=torch.nn.functional.mse_loss,
    ...     validate=lambda model: (0.0, {}),
    ...     generator=torch.Generator(),
    ...     epochs=2,
    ... )
    >>> result.epochs_run, len(result.history)
    (2, 2)
    """
    if schedule_step not in SCHEDULE_STEPS:
        raise ValueError(f"schedule_step must be one of {SCHEDULE_STEPS}, got {schedule_step!r}")
    start = time.perf_counter()
    key = dict(resume_key or {})
    history: list[dict[str, float]] = []
    epoch, step, running, n_seen, n_validations = 0, 0, 0.0, 0, 0
    best_loss, bad, best_state, stopped = float("inf"), 0, None, False
    epoch_generator_state = generator.get_state()
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        loaded = load_checkpoint(checkpoint)
        state = loaded.training_state
        if state is None:
            raise CheckpointError(f"{checkpoint} holds no training state to resume from")
        if loaded.model.config != getattr(model, "config", None) or state.get("key") != key:
            raise CheckpointError(
                f"{checkpoint} was written with another model or training config; "
                "start without resume or use a new checkpoint path"
            )
        model.load_state_dict(loaded.model.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        epoch_generator_state = state["generator"]
        history = list(state["history"])
        epoch, step = int(state["epoch"]), int(state["step"])
        running, n_seen = float(state["running_loss"]), int(state["n_seen"])
        n_validations = int(state["n_validations"])
        best_loss, bad, stopped = float(state["best_loss"]), int(state["bad"]), state["stopped"]
        best_state = state["best_state"]

    last_save = time.monotonic()

    def save(at_epoch: int, at_step: int) -> None:
        nonlocal last_save
        assert checkpoint is not None
        save_checkpoint(
            checkpoint,
            model,
            metadata=metadata,
            training_state={
                "key": key,
                "epoch": at_epoch,
                "step": at_step,
                "generator": epoch_generator_state,
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "history": history,
                "running_loss": running,
                "n_seen": n_seen,
                "n_validations": n_validations,
                "best_loss": best_loss,
                "bad": bad,
                "best_state": best_state,
                "stopped": stopped,
            },
        )
        last_save = time.monotonic()

    def due() -> bool:
        return (
            checkpoint is not None
            and checkpoint_every_s is not None
            and time.monotonic() - last_save >= checkpoint_every_s
        )

    val_every = max(1, n_batches // validations_per_epoch)
    while epoch < epochs and not stopped:
        generator.set_state(epoch_generator_state)
        model.train()
        for batch, (x, y) in enumerate(epoch_batches(step), start=step + 1):
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if schedule_step == "batch" and scheduler is not None:
                scheduler.step()
            running += float(loss.detach()) * x.shape[0]
            n_seen += x.shape[0]
            step = batch
            if batch % val_every == 0 and n_validations < validations_per_epoch:
                n_validations += 1
                model.eval()
                val_loss, metrics = validate(model)
                model.train()
                if schedule_step == "validation" and scheduler is not None:
                    scheduler.step(val_loss)
                entry = {
                    "epoch": epoch + 1,
                    "step": batch,
                    "learning_rate": optimizer.param_groups[0]["lr"],
                    "train_loss": running / n_seen,
                    "validation_loss": val_loss,
                    **{f"validation_{k}": v for k, v in metrics.items()},
                }
                history.append(entry)
                if progress is not None:
                    progress(entry)
                if val_loss < best_loss:
                    best_loss, bad = val_loss, 0
                    if keep_best:
                        best_state = _clone_state(model)
                else:
                    bad += 1
                if early_stop_patience is not None and bad >= early_stop_patience:
                    stopped = True
                    break
            if batch < n_batches and due():
                save(epoch, batch)
        if schedule_step == "epoch" and scheduler is not None and not stopped:
            scheduler.step()
        epoch, step, running, n_seen, n_validations = epoch + 1, 0, 0.0, 0, 0
        epoch_generator_state = generator.get_state()
        finished = stopped or epoch == epochs
        if checkpoint is not None and (checkpoint_every_s is None or finished or due()):
            save(epoch, 0)
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=model,
        history=tuple(history),
        best_validation_loss=best_loss,
        epochs_run=epoch,
        stopped_early=bool(stopped),
        wall_time_s=time.perf_counter() - start,
    )
