"""The skysense command line: demo, reproduce NAME, bench, train-imager.

skysense demo writes a self-contained report of the three systems; skysense reproduce NAME
runs a seeded Monte-Carlo reproduction of a table or figure of the papers; skysense bench
times every kernel against its NumPy reference. skysense COMMAND --help says more.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import functools
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from skysense import __version__
from skysense._workers import resolve_workers

__all__ = ["main"]

#: Seconds between two progress lines when stderr is not a terminal.
_LOG_INTERVAL_S = 10.0


def _finite(obj: Any) -> Any:
    """Non-finite floats -> None, tuple keys -> strings: strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {exc}") from exc

    return parse


def _duration(seconds: float) -> str:
    """``"74 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Progress of ``run_trials`` on stderr, with an ETA from completed chunks only.

    The first chunk to finish carries the start-up (the Dask cluster, the per-cell setup such
    as a Gram matrix), so it says little about the rest: the ETA is the mean time between
    completions after the first one, times the chunks left, and is shown from the second
    completion on. On a terminal the line is rewritten in place; otherwise a line is written
    at most every 10 s, and at the end.
    """

    def __init__(
        self,
        name: str,
        *,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        enabled: bool = True,
    ) -> None:
        self.name = name
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.enabled = enabled
        self.start = clock()
        self._first_done: float | None = None
        self._first_count = 1  # chunks done at the first report (more after --resume)
        self._last_log = -math.inf
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def eta_s(self, done: int, total: int, now: float) -> float | None:
        """Seconds left after ``done`` of ``total`` chunks at time ``now``; None if unknown."""
        if done >= total:
            return 0.0
        if self._first_done is None or done <= self._first_count:
            return None
        rate = (now - self._first_done) / (done - self._first_count)
        return rate * (total - done)

    def line(self, done: int, total: int, now: float) -> str:
        """The progress text after ``done`` of ``total`` chunks."""
        elapsed = now - self.start
        text = f"{self.name}: {done}/{total} chunks, {_duration(elapsed)}"
        if done >= total:
            return text + ", done"
        eta = self.eta_s(done, total, now)
        return text + (", ETA after the second chunk" if eta is None else f", ETA {_duration(eta)}")

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done >= 1 and self._first_done is None:
            self._first_done, self._first_count = now, done
        if not self.enabled:
            return
        finished = done >= total
        if self._tty:
            end = "\n" if finished else ""
            self.stream.write("\r" + self.line(done, total, now).ljust(60) + end)
        elif finished or now - self._last_log >= _LOG_INTERVAL_S:
            self.stream.write(self.line(done, total, now) + "\n")
            self._last_log = now
        self.stream.flush()


def _check_writable(path: Path, flag: str, parser: argparse.ArgumentParser) -> None:
    """Fail before any trial runs if ``path`` cannot be written (folders are created)."""
    existed = path.exists()
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as exc:
        parser.error(f"{flag}: cannot write {path}: {exc.strerror or exc}")
    if not existed:
        path.unlink()


def _experiment_name(name: str, names: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """``name`` if it is an experiment; otherwise a usage error with the closest names."""
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    parser.error(f"unknown experiment {name!r}{hint} (choose from {', '.join(names)})")


def reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Run one experiment as the ``reproduce`` arguments say; print its table; write files."""
    from skysense.experiments import EXPERIMENTS, dask_client, run_trials

    classes = {cls.name: cls for cls in EXPERIMENTS}
    cls = classes[_experiment_name(args.name, list(classes), parser)]
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    options: dict[str, Any] = {}
    if args.modes is not None or args.d0 is not None:
        if args.name != "imaging-table2":
            parser.error("--modes and --d0 apply to imaging-table2 only")
        if args.modes is not None:
            options["modes"] = tuple(m.upper() for m in args.modes)
        if args.d0 is not None:
            options["voxel_sizes_m"] = args.d0
    if args.methods is not None:
        if "methods" not in fields:
            parser.error(f"--methods does not apply to {args.name}")
        options["methods"] = tuple(args.methods)
    threads = None
    if args.threads is not None:
        try:
            resolve_workers(args.threads)
        except ValueError as exc:
            parser.error(f"--threads: {exc}")
        if "workers" in fields:  # the experiment times its kernel calls with this many threads
            options["workers"] = args.threads
        else:
            threads = args.threads
    if args.pretrained is not None:
        if args.name != "imaging-offgrid":
            parser.error("--pretrained applies to imaging-offgrid only")
        options["pretrained"] = args.pretrained
    try:
        experiment = cls(**options)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    n_trials = cls.default_trials if args.trials is None else args.trials
    for path, flag in ((args.json, "--json"), (args.plot, "--plot")):
        if path is not None:
            _check_writable(path, flag, parser)
    if args.plot is not None:
        from skysense._optional import require

        require("matplotlib", "--plot")

    partial = _partial_folder(args, parser)
    if partial is not None and args.resume:
        from skysense.experiments.runner import ChunkStore, root_seed

        store = ChunkStore(partial, experiment, root_seed(args.seed))
        if store.n_stored() == 0 and store.other_runs():
            print(
                f"note: {partial} holds chunks of another configuration or seed only; "
                "they are not used (the options and --seed must match the interrupted run)",
                file=sys.stderr,
            )

    progress = Progress(args.name, enabled=not args.quiet)
    run = functools.partial(
        run_trials,
        experiment,
        n_trials,
        rng=args.seed,
        workers=threads,
        progress=progress,
        checkpoint=partial,
    )
    try:
        if args.processes == 0:
            result = run()
        else:
            with dask_client(args.scheduler, args.processes) as client:
                result = run(client=client)
    except KeyboardInterrupt:
        _interrupted(args, partial, experiment, n_trials)
        raise
    if result.n_resumed_chunks:
        print(f"resumed: {result.n_resumed_chunks} finished chunk(s) loaded from {partial}")
    console = experiment.console_table(result.results)
    print(console.render() if console is not None else experiment.table(result.results))
    per_call = options.get("workers", result.workers)
    print(
        f"{args.name}: {n_trials} trials per cell, seed {args.seed}, "
        f"{result.n_processes} process(es) x {per_call} thread(s) per call, "
        f"{result.wall_time_s:.1f} s"
    )
    document: dict[str, Any] = _finite(result.to_json())
    if args.json is not None:
        _write_atomic(args.json, json.dumps(document, indent=1, allow_nan=False) + "\n")
        print(f"wrote {args.json}")
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)  # the results are safe: drop the chunks
    if args.plot is not None:
        print(f"wrote {experiment.plot(result.results, args.plot)}")
    return document


def _partial_folder(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path | None:
    """``FILE.partial`` next to ``--json FILE``: the finished chunks of this run.

    An existing folder is an interrupted run: it is continued with ``--resume`` and never
    silently replaced without it.
    """
    if args.json is None:
        if args.resume:
            parser.error("--resume needs --json FILE (finished chunks are kept in FILE.partial)")
        return None
    partial = args.json.with_name(args.json.name + ".partial")
    if partial.exists() and not args.resume:
        parser.error(
            f"{partial} holds the finished chunks of an interrupted run: add --resume to "
            "continue it (same experiment, options and --seed), or delete the folder"
        )
    return partial


def _interrupted(
    args: argparse.Namespace, partial: Path | None, experiment: Any, n_trials: int
) -> None:
    """Say what Ctrl-C kept and the exact command that resumes the run."""
    from skysense.experiments.runner import ChunkStore, chunk_bounds, root_seed

    n_chunks = len(chunk_bounds(n_trials, experiment.chunk_size)) * len(experiment.cells())
    if partial is None:
        print(
            f"\n{args.name}: interrupted; nothing kept (with --json FILE, finished chunks are "
            "kept in FILE.partial and --resume continues the run)",
            file=sys.stderr,
        )
        return
    kept = ChunkStore(partial, experiment, root_seed(args.seed)).n_stored()
    argv = [a for a in args.argv if a != "--resume"]
    command = shlex.join(["skysense", *argv, "--resume"])
    print(
        f"\n{args.name}: interrupted; {kept} of {n_chunks} chunks kept in {partial}\n"
        f"resume with: {command}",
        file=sys.stderr,
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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


def _build_parser(
    experiment_names: Sequence[str],
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and the parser of each subcommand."""
    parser = argparse.ArgumentParser(prog="skysense", description=__doc__)
    parser.add_argument("--version", action="version", version=f"skysense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_demo = sub.add_parser(
        "demo",
        help="imaging, bistatic estimation, mapping and tracking on small defaults -> report.html",
        description="Run the three systems and the tracker end to end on built-in defaults and "
        "write a self-contained, offline report.html with figures and a latency table (about "
        "25 s of CPU time).",
    )
    p_demo.add_argument("--out", type=Path, default=Path("skysense-out"), help="output folder")
    p_demo.add_argument("--frames", type=int, default=8, help="frames to simulate")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed")
    p_demo.add_argument("--n0", type=int, default=4, help="UPA side N0")

    p_rep = sub.add_parser(
        "reproduce",
        help="Monte-Carlo reproduction of a table or figure of the papers",
        description="Run seeded Monte-Carlo trials (identical for a seed whatever the "
        "number of processes and threads), print ours against the paper, optionally write "
        "JSON and a figure. Experiments: " + ", ".join(experiment_names) + ".",
    )
    p_rep.add_argument("name", metavar="NAME", help="experiment, e.g. imaging-table2")
    p_rep.add_argument(
        "--trials", type=int, default=None, help="trials per cell (default: the experiment's)"
    )
    p_rep.add_argument("--seed", type=int, default=0, help="root seed (>= 0)")
    p_rep.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the results as JSON; until then every finished chunk is kept in "
        "FILE.partial (see --resume)",
    )
    p_rep.add_argument("--plot", type=Path, default=None, help="write a PNG against the paper")
    p_rep.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="Dask worker processes of a local cluster (default: one per CPU; 0: run in "
        "this process, without Dask)",
    )
    p_rep.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads of each kernel call (the API's workers; default 1, -1: every CPU); "
        "results do not depend on it",
    )
    p_rep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://host:8786 (instead of a local "
        "cluster)",
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
        "--resume",
        action="store_true",
        help="continue an interrupted run: load the finished chunks kept in FILE.partial next "
        "to --json FILE (same experiment, options and seed; the results are identical to an "
        "uninterrupted run)",
    )
    p_rep.add_argument("--quiet", action="store_true", help="no progress line")

    p_bench = sub.add_parser(
        "bench",
        help="time every kernel against its NumPy reference and peers (pytest-benchmark)",
        description="Run the bench/ suite of a source checkout (needs the bench extra) and "
        "print one table: the median and min of each kernel over at least 5 rounds and its "
        "ratio to its reference, timed in interleaved rounds of the same run (flagged where "
        "the two ran under different load), with the CPU, the BLAS and its threads and the "
        "load average before and after.",
    )
    p_bench.add_argument("--path", type=Path, default=None, help="bench folder (default ./bench)")
    p_bench.add_argument(
        "--json", type=Path, default=None, help="write the table and the machine as JSON"
    )
    p_bench.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")

    p_train = sub.add_parser(
        "train-imager",
        help="train the learned off-grid imager (needs torch)",
        description="Optionally simulate an off-grid dataset, then train a refiner with "
        "RMSprop, ReduceLROnPlateau and gradient clipping; checkpoints every epoch.",
    )
    from skysense.learn._cli import add_arguments as _train_arguments

    _train_arguments(p_train)
    return parser, {
        "demo": p_demo,
        "reproduce": p_rep,
        "bench": p_bench,
        "train-imager": p_train,
    }


def _run(args: argparse.Namespace, parsers: dict[str, argparse.ArgumentParser]) -> int:
    """Execute the parsed command; returns the exit status."""
    command = parsers[args.command]
    if args.command == "demo":
        if args.frames < 1:
            command.error(f"--frames must be >= 1, got {args.frames}")
        if args.seed < 0:
            command.error(f"--seed must be >= 0, got {args.seed}")
        from skysense.demo import run_demo

        run_demo(args.out, n_frames=args.frames, rng=args.seed, n_antennas_side=args.n0)
    elif args.command == "reproduce":
        if args.trials is not None and args.trials < 1:
            command.error(f"--trials must be >= 1, got {args.trials}")
        if args.seed < 0:
            command.error(f"--seed must be >= 0, got {args.seed}")
        if args.processes is not None and args.processes < 0:
            command.error(f"--processes must be >= 0, got {args.processes}")
        if args.scheduler is not None and args.processes is not None:
            command.error("--processes applies to a local cluster; omit it with --scheduler")
        reproduce(args, command)
    elif args.command == "bench":
        return bench(args, command)
    elif args.command == "train-imager":
        from skysense.learn._cli import run as train_imager

        if args.processes > 0 and args.generate is not None:
            # the CLI owns the cluster, so skysense.learn never imports skysense.experiments
            from skysense.experiments import dask_client

            with dask_client(None, args.processes) as client:
                train_imager(args, command, client=client)
        else:
            train_imager(args, command)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skysense`` command; returns the exit status.

    A missing optional dependency is reported with its install command (exit status 1), a
    usage error with the usage of the subcommand at fault (exit status 2).
    """
    from skysense.experiments import EXPERIMENTS

    parser, parsers = _build_parser([cls.name for cls in EXPERIMENTS])
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    args.argv = argv
    try:
        return _run(args, parsers)
    except KeyboardInterrupt:
        if args.command != "reproduce":  # reproduce says what it kept and how to resume
            print(f"skysense {args.command}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        if "pip install" not in str(exc):
            raise
        print(f"skysense {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
