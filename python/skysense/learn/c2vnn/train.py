"""Training of IFFT-C2VNN (bistatic paper, Sec. III-B): simulated mixed-SNR windows, Adam,
batch 128, the MSE of eq. (25), cosine learning-rate decay.

``python -m skysense.learn.c2vnn.train OUT.pt [--draws N --epochs E --seed S ...]`` trains one
(``weights/README.md`` has the commands of the shipped models). Importing this module imports
torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_positive
from skysense.learn._torch import torch_generator, torch_threads
from skysense.learn.c2vnn.config import C2vnn3dConfig, C2vnnConfig, C2vnnCountConfig
from skysense.learn.c2vnn.data import (
    make_count_training_set,
    make_training_set,
    make_training_set_3d,
)
from skysense.learn.c2vnn.networks import build_c2vnn
from skysense.learn.checkpoint import save_checkpoint
from skysense.learn.training import TrainResult, fit

__all__ = ["C2vnnTrainConfig", "train_c2vnn"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class C2vnnTrainConfig:
    """Training set and optimiser settings of :func:`train_c2vnn`.

    Parameters
    ----------
    n_draws : int
        Simulated CSIs (each gives ~``n_targets + 1`` windows).
    snr_db : float or (float, float)
        Fixed SNR (specialist) or uniform mixed-SNR range [dB] (default, the paper's choice).
    epochs : int
        Passes over the training windows.
    batch_size : int
        Mini-batch (128 in the paper).
    learning_rate : float
        Initial Adam step size.
    final_learning_rate_fraction : float
        The step size follows a cosine decay to this fraction of ``learning_rate``.
    validation_fraction : float
        Share of windows held out for the validation loss.
    n_targets : int
        Targets per draw (plus the LoS path).
    fluctuation : {"none", "swerling1"}
        Gain model of :func:`~skysense.bistatic.simulate` (2-D model).
    doppler_loss_weight : float
        3-D model only: weight of the Doppler term (cycles per sub-frame, ``|nu| <~ 0.2`` against
        ``|sin| <= 1``) in the MSE; the other three outputs have weight 1.

    Examples
    --------
    >>> C2vnnTrainConfig(n_draws=1000, epochs=5).batch_size
    128
    """

    n_draws: int = 20_000
    snr_db: float | tuple[float, float] = (0.0, 30.0)
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    final_learning_rate_fraction: float = 0.05
    validation_fraction: float = 0.05
    n_targets: int = 3
    fluctuation: Literal["none", "swerling1"] = "none"
    doppler_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        check_count(self.n_draws, "n_draws")
        check_positive(self.doppler_loss_weight, "doppler_loss_weight")
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch_size")
        check_positive(self.learning_rate, "learning_rate")
        if self.fluctuation not in ("none", "swerling1"):
            raise ValueError(f"fluctuation must be 'none' or 'swerling1', got {self.fluctuation!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in checkpoints)."""
        d = dataclasses.asdict(self)
        snr = self.snr_db
        d["snr_db"] = float(snr) if isinstance(snr, int | float) else [float(v) for v in snr]
        return d


def train_c2vnn(
    config: C2vnnConfig,
    train_config: C2vnnTrainConfig | None = None,
    *,
    rng: RngLike = None,
    workers: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every_s: float | None = None,
    resume: bool = False,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Simulate a training set with ``bistatic.simulate`` and fit the network (Adam, MSE).

    Parameters
    ----------
    config : C2vnnConfig, C2vnn3dConfig or C2vnnCountConfig
        A ``C2vnn3dConfig`` trains the 3-D Doppler model on sub-frame stacks (targets up to
        100 m/s, unit gains; ``fluctuation`` is not used). A ``C2vnnCountConfig`` trains the
        path-count classifier on the candidate peaks of the same kind of draws
        (:func:`~skysense.learn.c2vnn.data.make_count_training_set`) with the cross-entropy
        loss; its history entries add ``validation_accuracy``.
    train_config : C2vnnTrainConfig, optional
        Training set and optimiser settings (default ``C2vnnTrainConfig()``).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Three independent generators are spawned from it: the training data, the initial
        weights and the mini-batch order.
    workers : int, optional
        torch CPU threads (``docs/conventions.md``; restored afterwards). Deterministic for
        a given ``rng`` and ``workers``.
    checkpoint, checkpoint_every_s, resume
        Training checkpoint, as :func:`~skysense.learn.train_imager`. Resuming regenerates
        the data from ``rng``, so it needs the same int seed (checked through a fingerprint
        of the data).
    progress : callable, optional
        ``progress(entry)`` after each epoch; entries also go to ``logging`` (INFO).

    Returns
    -------
    TrainResult
        The network after the last epoch; one history entry per epoch (``train_loss``,
        ``validation_loss``: the weighted MSE of the targets, or the cross-entropy of the
        count classes).

    Examples
    --------
    >>> from skysense.bistatic import Scenario
    >>> from skysense.learn import C2vnnConfig
    >>> config = C2vnnConfig(scenario=Scenario(n_tx=4, n_rx=4, n_subcarriers=32), n_filters=2)
    >>> result = train_c2vnn(config, C2vnnTrainConfig(n_draws=20, epochs=2), rng=0)
    >>> result.train_loss.shape
    (2,)
    """
    tc = C2vnnTrainConfig() if train_config is None else train_config
    start = time.perf_counter()
    data_rng, init_rng, order_rng = as_generator(rng).spawn(3)
    three_d = isinstance(config, C2vnn3dConfig)
    classify = isinstance(config, C2vnnCountConfig)
    x: np.ndarray
    y: np.ndarray
    if isinstance(config, C2vnn3dConfig):  # Doppler: sub-frames stacked, 4 outputs
        x, y = make_training_set_3d(
            config, tc.n_draws, snr_db=tc.snr_db, n_targets=tc.n_targets, rng=data_rng
        )
    elif isinstance(config, C2vnnCountConfig):  # path counts of the candidate peaks
        x, y = make_count_training_set(
            config,
            tc.n_draws,
            snr_db=tc.snr_db,
            n_targets=tc.n_targets,
            fluctuation=tc.fluctuation,
            rng=data_rng,
        )
    else:
        x, y = make_training_set(
            config.scenario,
            tc.n_draws,
            window=config.window,
            snr_db=tc.snr_db,
            n_targets=tc.n_targets,
            fluctuation=tc.fluctuation,
            rng=data_rng,
        )
    n_val = max(1, round(tc.validation_fraction * len(x)))
    if len(x) - n_val < 1:
        raise ValueError(f"only {len(x)} training windows; raise n_draws (got {tc.n_draws})")
    xt, yt = torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:])
    xv, yv = torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val])
    fingerprint = [float(np.sum(x, dtype=np.float64)), float(np.sum(y, dtype=np.float64))]
    weights = torch.ones(config.n_outputs)
    if three_d:
        weights[3] = tc.doppler_loss_weight

    def loss_fn(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if classify:  # count classes: cross-entropy of the logits
            return torch.nn.functional.cross_entropy(pred, target)
        # eq. (25), mean over windows and outputs, the Doppler term weighted
        return torch.mean((pred - target) ** 2 * weights)

    def validate(model: torch.nn.Module) -> tuple[float, dict[str, float]]:
        with torch.no_grad():
            pred = model(xv)
            extra = {"accuracy": float((pred.argmax(1) == yv).float().mean())} if classify else {}
            return float(loss_fn(pred, yv)), extra

    bs = tc.batch_size

    with torch_threads(workers):
        model = build_c2vnn(config, rng=init_rng)
        generator = torch_generator(order_rng)

        def epoch_batches(skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            perm = torch.randperm(len(xt), generator=generator)
            for i in range(skip * bs, len(xt), bs):
                idx = perm[i : i + bs]
                yield xt[idx], yt[idx]

        optimizer = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, tc.epochs, eta_min=tc.learning_rate * tc.final_learning_rate_fraction
        )

        def log(entry: dict[str, float]) -> None:
            _LOG.info(
                "epoch %d: train %.3e, validation %.3e%s",
                entry["epoch"],
                entry["train_loss"],
                entry["validation_loss"],
                f", accuracy {entry['validation_accuracy']:.4f}" if classify else "",
            )
            if progress is not None:
                progress(entry)

        result = fit(
            model,
            optimizer=optimizer,
            scheduler=scheduler,
            schedule_step="epoch",
            epoch_batches=epoch_batches,
            n_batches=-(-len(xt) // bs),
            loss_fn=loss_fn,
            validate=validate,
            generator=generator,
            epochs=tc.epochs,
            validations_per_epoch=1,
            keep_best=False,
            checkpoint=checkpoint,
            checkpoint_every_s=checkpoint_every_s,
            resume=resume,
            resume_key={"train_config": tc.to_dict(), "data": fingerprint},
            metadata={"train_config": tc.to_dict()},
            progress=log,
        )
    return dataclasses.replace(result, wall_time_s=time.perf_counter() - start)


def _training_metadata(
    train_config: C2vnnTrainConfig, result: TrainResult, int_rng: int | None
) -> dict[str, Any]:
    """JSON-able record of how a model was trained (stored in its checkpoint): the settings,
    the int ``rng`` of the run (as ``seed``), the final losses, wall time and torch build."""
    final_train, final_val = result.history[-1]["train_loss"], result.history[-1]["validation_loss"]
    return {
        "train_config": train_config.to_dict(),
        "seed": int_rng,
        "final_train_loss": float(final_train),
        "final_validation_loss": float(final_val),
        "wall_time_s": float(result.wall_time_s),
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "finite": bool(math.isfinite(final_train)),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m skysense.learn.c2vnn.train OUT.pt [--draws N --epochs E --seed S ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m skysense.learn.c2vnn.train",
        description="Train an IFFT-C2VNN for the default scenario",
    )
    parser.add_argument("out", help="checkpoint of the trained model")
    parser.add_argument("--draws", type=int, default=C2vnnTrainConfig.n_draws)
    parser.add_argument("--epochs", type=int, default=C2vnnTrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0, help="rng seed (data, weights, order)")
    parser.add_argument("--window", type=int, default=None, help="odd W (3; 5 with --count)")
    parser.add_argument("--filters", type=int, default=C2vnnConfig.n_filters)
    parser.add_argument("--hidden", type=int, default=C2vnnConfig.n_hidden)
    parser.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 30.0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--checkpoint", help="training checkpoint (written every few minutes)")
    parser.add_argument("--checkpoint-every-s", type=float, default=180.0)
    parser.add_argument("--resume", action="store_true", help="resume from --checkpoint")
    parser.add_argument("--subframes", type=int, default=0, help="S >= 2: the 3-D Doppler model")
    parser.add_argument(
        "--doppler-weight", type=float, default=1.0, help="3-D: Doppler loss weight"
    )
    parser.add_argument(
        "--count", action="store_true", help="the path-count classifier (window default 5)"
    )
    parser.add_argument(
        "--reach",
        type=float,
        default=C2vnnCountConfig.reach_cells,
        help="--count: a path counts for its nearest peak within this many cells",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    snr = args.snr_db[0] if len(args.snr_db) == 1 else tuple(args.snr_db)
    tc = C2vnnTrainConfig(
        n_draws=args.draws, epochs=args.epochs, snr_db=snr, doppler_loss_weight=args.doppler_weight
    )
    window = args.window or (C2vnnCountConfig.window if args.count else C2vnnConfig.window)
    sizes = {"window": window, "n_filters": args.filters, "n_hidden": args.hidden}
    config: C2vnnConfig
    if args.count:
        config = C2vnnCountConfig(reach_cells=args.reach, **sizes)
    elif args.subframes:
        config = C2vnn3dConfig(n_subframes=args.subframes, **sizes)
    else:
        config = C2vnnConfig(**sizes)
    result = train_c2vnn(
        config,
        tc,
        rng=args.seed,
        workers=args.threads,
        checkpoint=args.checkpoint,
        checkpoint_every_s=args.checkpoint_every_s if args.checkpoint else None,
        resume=args.resume,
    )
    with torch_threads(args.threads):
        metadata = _training_metadata(tc, result, args.seed)
    save_checkpoint(args.out, result.model, metadata=metadata)
    _LOG.info("saved %s after %.1f s", args.out, result.wall_time_s)


if __name__ == "__main__":
    main()
