"""``skysense train-imager``: generate (optionally) a dataset and train a refiner (private).

The command line (:mod:`skysense.cli`) owns the Dask cluster: it passes a ``client`` to
:func:`run` when ``--processes`` asks for one, so this module never imports
:mod:`skysense.experiments` (which imports :mod:`skysense.learn`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the ``train-imager`` subcommand."""
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument(
        "--generate",
        type=int,
        default=None,
        metavar="N",
        help="first simulate N off-grid frames into --data (Table III scenario)",
    )
    p.add_argument("--n0", type=int, default=5, help="UPA side N0 of a generated dataset")
    p.add_argument("--targets", type=int, default=6, help="UAVs per generated frame")
    p.add_argument("--data-seed", type=int, default=0, help="seed of a generated dataset")
    p.add_argument("--shard-size", type=int, default=1024, help="frames per shard")
    p.add_argument(
        "--kind",
        default="backprojection",
        choices=("backprojection", "pursuit", "measurements"),
        help="network input of a generated dataset",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=0,
        help="Dask worker processes for the dataset generation (0: in this process)",
    )
    p.add_argument("--out", type=Path, required=True, help="training checkpoint (every epoch)")
    p.add_argument("--save-model", type=Path, default=None, help="write the best model here")
    p.add_argument("--resume", action="store_true", help="continue from --out")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="MODEL",
        help="start from this model's weights (a fine-tuning stage; same architecture)",
    )
    p.add_argument("--arch", default="rescnn", choices=("rescnn", "cnn", "dn-rescnn", "dn-cnn"))
    p.add_argument("--channels", type=_ints, default=(64, 128, 128, 128, 64, 32))
    p.add_argument("--kernel", type=int, default=5, help="convolution kernel size")
    p.add_argument(
        "--magnitude",
        action="store_true",
        help="feed sqrt(Re^2 + Im^2) as a third stem input (not in the paper)",
    )
    p.add_argument(
        "--voxel-gain",
        action="store_true",
        help="scale the input per voxel by (min ||a_v|| / ||a_v||)^2 (not in the paper)",
    )
    p.add_argument("--loss", default="ohem1", choices=("mse", "ohem1", "ohem2"))
    p.add_argument("--eta", type=float, default=10.0, help="OHEM hard negatives per positive (eta)")
    p.add_argument("--min-hard", type=int, default=1, help="OHEM least hard negatives per image")
    p.add_argument("--alpha", type=float, default=1.0, help="sparsity weight (alpha)")
    p.add_argument(
        "--mse-weight",
        type=float,
        default=0.0,
        help="weight of a plain MSE over all voxels added to the loss (not in the paper)",
    )
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--momentum", type=float, default=0.999, help="RMSprop momentum")
    p.add_argument(
        "--schedule",
        default="plateau",
        choices=("plateau", "cosine"),
        help="lr schedule: ReduceLROnPlateau (the authors') or per-step cosine decay",
    )
    p.add_argument(
        "--validations-per-epoch", type=int, default=2, help="validation passes per epoch"
    )
    p.add_argument(
        "--validation-fraction", type=float, default=0.1, help="share of validation frames"
    )
    p.add_argument("--patience", type=int, default=None, help="early stop after N validations")
    p.add_argument("--seed", type=int, default=2, help="seed of the weights and the shuffling")
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=None,
        help="write --out every this many minutes, also inside an epoch (default: every epoch)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, client: Any = None
) -> dict[str, float]:
    """Execute ``train-imager``; returns the best validation entry.

    ``client`` (a ``distributed.Client``) builds the dataset shards on a Dask cluster; the
    command line opens one for ``--processes N``.
    """
    from dataclasses import asdict

    from skysense.imaging import Scenario
    from skysense.learn import (
        DatasetReader,
        ImagerConfig,
        ImagerNet,
        ImagerTrainConfig,
        ImagingLoss,
        OffGridDataset,
        OffGridImager,
        generate_dataset,
        load_checkpoint,
        save_checkpoint,
        split_frames,
        train_imager,
    )

    if args.generate is not None:
        from tqdm import tqdm

        bar = tqdm(desc="dataset", unit="shard", file=sys.stderr, disable=args.quiet)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        generate_dataset(
            args.data,
            args.generate,
            scenario=Scenario(n_antennas_side=args.n0),
            n_targets=args.targets,
            kind=args.kind,
            shard_size=args.shard_size,
            rng=args.data_seed,
            client=client,
            progress=progress,
        )
        bar.close()
    reader = DatasetReader(args.data)
    try:
        train_idx, val_idx = split_frames(reader.n_frames, args.validation_fraction)
        net_config = ImagerConfig(
            arch=args.arch,
            grid_shape=reader.grid_shape,
            in_channels=reader.input_shape[0],
            input_shape=reader.input_shape[1:],
            channels=args.channels,
            kernel_size=args.kernel,
            voxel_gain=args.voxel_gain,
            magnitude=args.magnitude,
        )
        config = ImagerTrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            momentum=args.momentum,
            schedule=args.schedule,
            validations_per_epoch=args.validations_per_epoch,
            early_stop_patience=args.patience,
            loss=ImagingLoss(args.loss, args.eta, args.min_hard, args.alpha, args.mse_weight),
        )
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))

    def show(entry: dict[str, float]) -> None:
        if not args.quiet:
            print(
                f"epoch {entry['epoch']:3d} step {entry['step']:5d} "
                f"lr {entry['learning_rate']:.2e} train {entry['train_loss']:.4f} "
                f"val {entry['validation_loss']:.4f} mse {entry['validation_mse']:.4f} "
                f"ssim {entry['validation_ssim']:.3f} ospa {entry['validation_ospa_m']:.2f} "
                f"dr {100 * entry['validation_detection_rate']:.1f}% "
                f"far {100 * entry['validation_false_alarm_rate']:.1f}%",
                flush=True,
            )

    init = None
    if args.init is not None:
        loaded = load_checkpoint(args.init).model
        if not isinstance(loaded, ImagerNet) or loaded.config != net_config:
            parser.error(f"--init {args.init} is not an imager of the same architecture")
        init = loaded
    every_s = None if args.checkpoint_minutes is None else 60.0 * args.checkpoint_minutes
    result = train_imager(
        OffGridDataset(reader, train_idx),
        OffGridDataset(reader, val_idx),
        net_config=net_config,
        config=config,
        init=init,
        rng=args.seed,
        workers=args.threads,
        device=args.device,
        checkpoint=args.out,
        checkpoint_every_s=every_s,
        resume=args.resume,
        progress=show,
    )
    best = min(result.history, key=lambda e: e["validation_loss"]) if result.history else {}
    print(
        f"trained {result.epochs_run} epochs in {result.wall_time_s:.1f} s "
        f"({len(train_idx)} train / {len(val_idx)} validation frames); best validation: "
        + json.dumps({k: round(v, 4) for k, v in best.items() if isinstance(v, float)})
    )
    if args.save_model is not None:
        assert isinstance(result.model, ImagerNet)
        if net_config.in_channels == 2 and reader.meta["kind"] == "backprojection":
            OffGridImager(result.model, reader.scenario).save(args.save_model)
        else:
            save_checkpoint(
                args.save_model, result.model, metadata={"scenario": asdict(reader.scenario)}
            )
        print(f"wrote {args.save_model}")
    return best
