"""Command-line entry point: ``skysense demo``, ``skysense reproduce NAME``, ``skysense bench``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

__all__ = ["main"]


def _finite(obj):
    """Non-finite floats -> None, tuple keys -> strings: strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _csv(kind):
    def parse(text):
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {exc}") from exc

    return parse


def reproduce(args, parser) -> dict:
    """Run one experiment as the ``reproduce`` arguments say; print its table; write files."""
    from skysense.experiments import EXPERIMENTS, dask_client, run_trials

    classes = {cls.name: cls for cls in EXPERIMENTS}
    cls = classes[args.name]
    options = {}
    if args.modes is not None or args.d0 is not None:
        if args.name != "imaging-table2":
            parser.error("--modes and --d0 apply to imaging-table2 only")
        if args.modes is not None:
            options["modes"] = tuple(m.upper() for m in args.modes)
        if args.d0 is not None:
            options["voxel_sizes_m"] = args.d0
    if args.methods is not None:
        if "methods" not in {f.name for f in dataclasses.fields(cls)}:
            parser.error(f"--methods does not apply to {args.name}")
        options["methods"] = tuple(args.methods)
    if args.threads is not None:
        # the threads of one kernel call (an experiment field), not the Dask worker processes
        if "workers" not in {f.name for f in dataclasses.fields(cls)}:
            parser.error(f"--threads does not apply to {args.name}")
        options["workers"] = args.threads
    if args.pretrained is not None:
        if args.name != "imaging-offgrid":
            parser.error("--pretrained applies to imaging-offgrid only")
        options["pretrained"] = args.pretrained
    if args.targets is not None:
        if args.name not in ("imaging-offgrid", "imaging-offgrid-3d"):
            parser.error("--targets applies to imaging-offgrid and imaging-offgrid-3d only")
        options["n_targets"] = args.targets
    if args.detector is not None:
        if "detector" not in {f.name for f in dataclasses.fields(cls)}:
            parser.error(f"--detector does not apply to {args.name}")
        options["detector"] = args.detector
    try:
        experiment = cls(**options)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    n_trials = cls.default_trials if args.trials is None else args.trials

    from tqdm import tqdm

    n_tasks = len(experiment.cells()) * math.ceil(n_trials / experiment.chunk_size)
    bar = tqdm(total=n_tasks, desc=args.name, unit="chunk", file=sys.stderr, disable=args.quiet)

    def progress(done, total):
        bar.update(done - bar.n)

    if args.workers == 0:
        result = run_trials(experiment, n_trials, args.seed, progress=progress)
    else:
        with dask_client(args.scheduler, args.workers) as client:
            result = run_trials(experiment, n_trials, args.seed, client=client, progress=progress)
    bar.close()
    print(experiment.table(result.results))
    print(
        f"{args.name}: {n_trials} trials per cell, seed {args.seed}, "
        f"{result.n_workers} worker(s), {result.wall_time_s:.1f} s"
    )
    document = _finite(result.to_json())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.json}")
    if args.plot is not None:
        print(f"wrote {experiment.plot(result.results, args.plot)}")
    return document


def bench(args, parser) -> int:
    """Run the ``bench/`` suite of a source checkout; pytest prints the ratio table."""
    import subprocess

    suite = args.path if args.path is not None else Path.cwd() / "bench"
    if not (suite / "conftest.py").is_file():
        parser.error(
            f"no bench suite at {suite}: run from a skysense source checkout or pass --path "
            "(the suite is not installed with the package)"
        )
    command = [sys.executable, "-m", "pytest", str(suite), "--benchmark-only", "-q"]
    command += ["-p", "no:cacheprovider", "--rootdir", str(suite)]
    if args.json is not None:
        command.append(f"--save-ratios={args.json.resolve()}")
    if args.keyword:
        command += ["-k", args.keyword]
    return subprocess.call(command)


def main(argv=None) -> int:
    from skysense.experiments import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="skysense", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser(
        "demo",
        help="imaging, bistatic estimation and mapping on small defaults -> report.html",
    )
    p_demo.add_argument("--out", type=Path, default=Path("skysense-out"), help="output folder")
    p_demo.add_argument("--frames", type=int, default=8, help="frames to simulate")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed")
    p_demo.add_argument("--n0", type=int, default=4, help="UPA side N0")

    p_rep = sub.add_parser(
        "reproduce",
        help="Monte-Carlo reproduction of a table or figure of the paper (Dask)",
        description="Run seeded Monte-Carlo trials (identical for a seed whatever the "
        "number of workers), print ours against the paper, optionally write JSON and a figure.",
    )
    p_rep.add_argument("name", choices=[cls.name for cls in EXPERIMENTS], help="experiment")
    p_rep.add_argument(
        "--trials", type=int, default=None, help="trials per cell (default: the experiment's)"
    )
    p_rep.add_argument("--seed", type=int, default=0, help="root seed (>= 0)")
    p_rep.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    p_rep.add_argument("--plot", type=Path, default=None, help="write a PNG against the paper")
    p_rep.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler (default: a local cluster)",
    )
    p_rep.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes (default: every CPU; 0: run in this process)",
    )
    p_rep.add_argument(
        "--threads",
        type=int,
        default=None,
        help="mapping-runtime: threads of each C++ module call (default 1: CPU time per epoch; "
        "more: wall time)",
    )
    p_rep.add_argument(
        "--modes",
        type=_csv(str),
        default=None,
        help="imaging-table2: comma-separated subset of A,B,C",
    )
    p_rep.add_argument(
        "--d0",
        type=_csv(float),
        default=None,
        help="imaging-table2: comma-separated voxel sizes [m]",
    )
    p_rep.add_argument(
        "--methods",
        type=_csv(str),
        default=None,
        help="experiments with a method list: comma-separated estimators or rows, e.g. "
        "paraming,music,ifft_c2vnn (bistatic-*; ifft_c2vnn needs torch) or "
        "sp,ahy,dnn_ahy (imaging-offgrid)",
    )
    p_rep.add_argument(
        "--pretrained",
        default=None,
        metavar="MODEL",
        help="imaging-offgrid: score this model in the dnn_ahy row instead of training one "
        "('default': the shipped model, or a checkpoint path)",
    )
    p_rep.add_argument(
        "--targets",
        type=int,
        default=None,
        help="imaging-offgrid(-3d): UAVs per test frame (default 6, 3-D: 12)",
    )
    p_rep.add_argument(
        "--detector",
        default=None,
        metavar="MODEL",
        help="imaging-offgrid*: the detector row's model ('default': the shipped one, or a "
        "checkpoint path)",
    )
    p_rep.add_argument("--quiet", action="store_true", help="no progress bar")

    p_bench = sub.add_parser(
        "bench",
        help="time every kernel against its NumPy reference and peers (pytest-benchmark)",
        description="Run the bench/ suite of a source checkout (needs the [bench] extra) and "
        "print one table of kernel/reference ratios measured in the same run.",
    )
    p_bench.add_argument("--path", type=Path, default=None, help="bench folder (default ./bench)")
    p_bench.add_argument("--json", type=Path, default=None, help="write the ratio table as JSON")
    p_bench.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")

    p_train = sub.add_parser(
        "train-imager",
        help="train the learned off-grid imager (needs torch: skysense[learned])",
        description="Optionally simulate an off-grid dataset, then train a refiner with "
        "RMSprop, ReduceLROnPlateau and gradient clipping; checkpoints every epoch.",
    )
    from skysense.learn._cli import add_arguments as _train_arguments

    _train_arguments(p_train)

    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.frames < 1:
            parser.error("--frames must be >= 1")
        from skysense.demo import run_demo

        run_demo(args.out, n_frames=args.frames, seed=args.seed, n_antennas_side=args.n0)
    elif args.command == "reproduce":
        if args.trials is not None and args.trials < 1:
            parser.error("--trials must be >= 1")
        if args.seed < 0:
            parser.error("--seed must be >= 0")
        if args.workers is not None and args.workers < 0:
            parser.error("--workers must be >= 0")
        if args.scheduler is not None and args.workers is not None:
            parser.error("--workers applies to a local cluster; omit it with --scheduler")
        reproduce(args, parser)
    elif args.command == "bench":
        return bench(args, parser)
    elif args.command == "train-imager":
        from skysense.learn._cli import run as train_imager

        if args.processes > 0 and args.generate is not None:
            # the CLI owns the cluster, so skysense.learn never imports skysense.experiments
            from skysense.experiments import dask_client

            with dask_client(None, args.processes) as client:
                train_imager(args, parser, client=client)
        else:
            train_imager(args, parser)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
