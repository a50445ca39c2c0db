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


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


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
    p.add_argument(
        "--scenario",
        default="2d",
        choices=("2d", "3d"),
        help="generated scenario: Scenario(n_antennas_side=N0) or Scenario.paper_3d()",
    )
    p.add_argument(
        "--targets",
        type=_ints,
        default=(6,),
        help="UAVs per generated frame: M, or LO,HI for a uniform draw per frame",
    )
    p.add_argument(
        "--power-range",
        type=_floats,
        default=None,
        metavar="LO,HI",
        help="half the generated frames at P_s drawn from LO..HI dBm (1 dB steps)",
    )
    p.add_argument("--data-seed", type=int, default=0, help="seed of a generated dataset")
    p.add_argument("--shard-size", type=int, default=1024, help="frames per shard")
    p.add_argument(
        "--kind",
        default="backprojection",
        choices=("backprojection", "pursuit", "measurements", "pairs"),
        help="network input of a generated dataset (pairs: the detector's)",
    )
    p.add_argument(
        "--validation-data",
        type=Path,
        default=None,
        help="validate on this dataset folder (all its frames) instead of a split of --data",
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
    p.add_argument(
        "--arch",
        default="rescnn",
        choices=("rescnn", "cnn", "dn-rescnn", "dn-cnn", "detector"),
        help="the paper's refiners, or the U-Net detector on per-pair inputs (DetectorNet)",
    )
    p.add_argument(
        "--channels",
        type=_ints,
        default=None,
        help="widths: refiner stem + blocks (default the paper's 64,128,128,128,64,32), "
        "detector U-Net levels (default 16,32,64)",
    )
    p.add_argument(
        "--features",
        default="magnitude",
        choices=("magnitude", "complex", "both"),
        help="detector: what the network sees of each pair's back-projection",
    )
    p.add_argument(
        "--no-coordinates", action="store_true", help="detector: no coordinate input channels"
    )
    p.add_argument(
        "--threshold", type=float, default=0.3, help="detector: heat threshold of a detection"
    )
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
    p.add_argument("--loss", default="ohem1", choices=("mse", "ohem1", "ohem2", "focal"))
    p.add_argument(
        "--heat-sigma", type=float, default=1.0, help="focal loss: Gaussian of the target [voxels]"
    )
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
    p.add_argument("--weight-decay", type=float, default=1e-8)
    p.add_argument("--optimizer", default="rmsprop", choices=("rmsprop", "adamw"))
    p.add_argument(
        "--schedule",
        default="plateau",
        choices=("plateau", "cosine", "onecycle"),
        help="lr schedule: ReduceLROnPlateau (the authors'), per-step cosine decay, or "
        "one-cycle (warm-up, then cosine)",
    )
    p.add_argument(
        "--augment",
        action="store_true",
        help="detector: random symmetries of the square layout (flips, x-y transpose)",
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

    import numpy as np

    from skysense.imaging import Scenario
    from skysense.learn import (
        DatasetReader,
        DetectorConfig,
        DetectorNet,
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

        if len(args.targets) not in (1, 2):
            parser.error(f"--targets takes M or LO,HI, got {args.targets}")
        if args.power_range is not None and len(args.power_range) != 2:
            parser.error(f"--power-range takes LO,HI, got {args.power_range}")
        scenario = (
            Scenario.paper_3d() if args.scenario == "3d" else Scenario(n_antennas_side=args.n0)
        )
        try:
            generate_dataset(
                args.data,
                args.generate,
                scenario=scenario,
                n_targets=args.targets[0] if len(args.targets) == 1 else args.targets,
                power_range_dbm=args.power_range,
                kind=args.kind,
                shard_size=args.shard_size,
                rng=args.data_seed,
                client=client,
                progress=progress,
            )
        except (TypeError, ValueError) as exc:
            parser.error(str(exc))
        bar.close()
    reader = DatasetReader(args.data)
    try:
        if args.validation_data is None:
            train_idx, val_idx = split_frames(reader.n_frames, args.validation_fraction)
            val_reader = reader
        else:
            val_reader = DatasetReader(args.validation_data)
            if (
                val_reader.scenario != reader.scenario
                or val_reader.meta["kind"] != reader.meta["kind"]
            ):
                parser.error("--validation-data has another scenario or input kind than --data")
            train_idx, val_idx = np.arange(reader.n_frames), np.arange(val_reader.n_frames)
        net_config: ImagerConfig | DetectorConfig
        if args.arch == "detector":
            net_config = DetectorConfig(
                grid_shape=reader.grid_shape,
                n_pairs=reader.input_shape[0] // 2,
                channels=args.channels or (16, 32, 64),
                features=args.features,
                coordinates=not args.no_coordinates,
                threshold=args.threshold,
            )
        else:
            net_config = ImagerConfig(
                arch=args.arch,
                grid_shape=reader.grid_shape,
                in_channels=reader.input_shape[0],
                input_shape=reader.input_shape[1:],
                channels=args.channels or (64, 128, 128, 128, 64, 32),
                kernel_size=args.kernel,
                voxel_gain=args.voxel_gain,
                magnitude=args.magnitude,
            )
        config = ImagerTrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            weight_decay=args.weight_decay,
            momentum=args.momentum,
            optimizer=args.optimizer,
            schedule=args.schedule,
            augment=args.augment,
            validations_per_epoch=args.validations_per_epoch,
            early_stop_patience=args.patience,
            loss=ImagingLoss(
                args.loss, args.eta, args.min_hard, args.alpha, args.mse_weight, args.heat_sigma
            ),
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
        if not isinstance(loaded, ImagerNet | DetectorNet) or loaded.config != net_config:
            parser.error(f"--init {args.init} is not an imager of the same architecture")
        init = loaded
    every_s = None if args.checkpoint_minutes is None else 60.0 * args.checkpoint_minutes
    result = train_imager(
        OffGridDataset(reader, train_idx),
        OffGridDataset(val_reader, val_idx),
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
        assert isinstance(result.model, ImagerNet | DetectorNet)
        if isinstance(result.model, DetectorNet) or (
            result.model.config.in_channels == 2 and reader.meta["kind"] == "backprojection"
        ):
            OffGridImager(result.model, reader.scenario).save(args.save_model)
        else:
            save_checkpoint(
                args.save_model, result.model, metadata={"scenario": asdict(reader.scenario)}
            )
        print(f"wrote {args.save_model}")
    return best
