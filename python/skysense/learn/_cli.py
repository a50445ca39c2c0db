"""``skysense train-imager``: generate (optionally) a dataset and train a refiner (private)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

__all__ = ["add_arguments", "run"]


def _ints(text):
    return tuple(int(v) for v in text.split(",") if v.strip())


def add_arguments(p) -> None:
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
    p.add_argument("--workers", type=int, default=0, help="Dask workers for generation (0: here)")
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
    p.add_argument("--eta", type=float, default=10.0, help="OHEM hard negatives per positive")
    p.add_argument("--min-hard", type=int, default=1, help="OHEM least hard negatives per image")
    p.add_argument("--alpha", type=float, default=1.0, help="sparsity weight")
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
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=None, help="early stop after N validations")
    p.add_argument("--seed", type=int, default=2, help="weights and shuffling seed")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args, parser) -> dict:
    """Execute ``train-imager``; returns the final validation entry."""
    import torch

    from skysense.imaging import Scenario
    from skysense.learn import (
        DatasetReader,
        ImagingLoss,
        ModelConfig,
        OffGridDataset,
        OffGridImager,
        TrainConfig,
        generate_dataset,
        split_frames,
        train_imager,
    )

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.generate is not None:
        from tqdm import tqdm

        bar = tqdm(desc="dataset", unit="shard", file=sys.stderr, disable=args.quiet)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        kwargs = {
            "scenario": Scenario(n_antennas_side=args.n0),
            "n_targets": args.targets,
            "kind": args.kind,
            "shard_size": args.shard_size,
            "seed": args.data_seed,
            "progress": progress,
        }
        if args.workers > 0:
            from skysense.experiments import dask_client

            with dask_client(None, args.workers) as client:
                generate_dataset(args.data, args.generate, client=client, **kwargs)
        else:
            generate_dataset(args.data, args.generate, **kwargs)
        bar.close()
    reader = DatasetReader(args.data)
    try:
        train_idx, val_idx = split_frames(reader.n_frames, args.val_fraction)
        model_config = ModelConfig(
            arch=args.arch,
            grid_shape=reader.grid_shape,
            in_channels=reader.input_shape[0],
            input_shape=reader.input_shape[1:],
            channels=args.channels,
            kernel_size=args.kernel,
            voxel_gain=args.voxel_gain,
            magnitude=args.magnitude,
        )
        config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            schedule=args.schedule,
            validations_per_epoch=args.validations_per_epoch,
            early_stop_patience=args.patience,
            loss=ImagingLoss(args.loss, args.eta, args.min_hard, args.alpha, args.mse_weight),
            seed=args.seed,
        )
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))

    def show(entry):
        if not args.quiet:
            print(
                f"epoch {entry['epoch']:3d} step {entry['step']:5d} lr {entry['lr']:.2e} "
                f"train {entry['train_loss']:.4f} val {entry['val_loss']:.4f} "
                f"mse {entry['val_mse']:.4f} ssim {entry['val_ssim']:.3f} "
                f"ospa {entry['val_ospa']:.2f} dr {entry['val_dr']:.1f}% far {entry['val_far']:.1f}%",
                flush=True,
            )

    init = None
    if args.init is not None:
        from skysense.learn import load_checkpoint

        init = load_checkpoint(args.init, grid_shape=model_config.grid_shape)[0]
        if init.config != model_config:
            parser.error(f"--init {args.init} has another architecture: {init.config}")
    result = train_imager(
        OffGridDataset(reader, train_idx),
        OffGridDataset(reader, val_idx),
        model_config=model_config,
        config=config,
        checkpoint=args.out,
        resume=args.resume,
        init=init,
        device=args.device,
        progress=show,
    )
    best = min(result.history, key=lambda e: e["val_loss"]) if result.history else {}
    print(
        f"trained {result.epochs_run} epochs in {result.wall_time_s:.1f} s "
        f"({len(train_idx)} train / {len(val_idx)} validation frames); best validation: "
        + json.dumps({k: round(v, 4) for k, v in best.items() if isinstance(v, float)})
    )
    if args.save_model is not None:
        if model_config.in_channels == 2 and reader.meta["kind"] == "backprojection":
            OffGridImager(result.model, reader.scenario).save(args.save_model)
        else:
            from skysense.learn import save_checkpoint

            save_checkpoint(args.save_model, result.model, scenario=asdict(reader.scenario))
        print(f"wrote {args.save_model}")
    return best


def demo_learned(n_frames: int, seed: int) -> dict:
    """``skysense demo``'s learned part: the shipped model on fresh off-grid frames."""
    import importlib.util
    import time

    if importlib.util.find_spec("torch") is None:
        print("learned off-grid imager: skipped (torch missing; pip install 'skysense[learned]')")
        return {}
    from skysense.imaging import simulate
    from skysense.learn import OffGridImager, image_metrics, normalize_images

    imager = OffGridImager.load_default()
    s = imager.scenario
    batch = simulate(s, n_frames, 6, off_grid=True, rng=seed)
    labels = batch.labels.reshape(n_frames, *imager.model.config.grid_shape)
    imager.image(batch.measurements[:1])  # warm-up (operator build)
    t0 = time.perf_counter()
    out = imager.image(batch.measurements)
    t_img = time.perf_counter() - t0
    learned = image_metrics(out, labels, batch.positions_m, s)
    grid = imager.model.config.grid_shape
    ahy = normalize_images(
        imager.operator.rmatvec(batch.measurements).reshape(n_frames, *grid), 1 / 3
    )
    baseline = image_metrics(ahy, labels, batch.positions_m, s)
    n_params = sum(p.numel() for p in imager.model.parameters())
    print(
        f"learned off-grid imager (shipped model, {n_params} parameters, N0 = "
        f"{s.n_antennas_side}): {1e3 * t_img / n_frames:.2f} ms/frame"
    )
    for name, m in (("A^H y, max/3", baseline), ("Model+DNN<A^H y>", learned)):
        print(
            f"{name:>18}: DR {m['dr']:5.1f}%  FAR {m['far']:5.1f}%  OSPA {m['ospa']:5.2f} m  "
            f"SSIM {m['ssim']:.3f}  MSE {m['mse']:.4f}"
        )
    return {"learned": learned, "ahy": baseline}
