"""Seeded, chunked Monte-Carlo trials, run in process or on a Dask cluster.

An :class:`Experiment` is a grid of *cells* (e.g. ``(mode, d0)``). For each cell the
``n_trials`` trials are cut into chunks of the experiment's fixed ``chunk_size``; chunk ``j``
draws from ``root.spawn(n_chunks)[j]`` of the root ``SeedSequence`` of ``rng``, extended by a
stable key of the cell. A task is one (cell, chunk); its outputs are per-trial arrays,
concatenated in chunk order. So the result depends on ``(experiment, n_trials, rng)`` only:
not on the executor, the number of processes or threads, nor the order in which tasks finish.

Within a task BLAS and numba run single-threaded and each kernel call uses ``workers`` threads
(:func:`skysense.set_workers` around the task; 1 by default): the parallelism is over tasks.
The expensive per-cell state (sensing operator, Gram matrix) is built by ``Experiment.setup``
once per worker process and cached (see :class:`SetupCache`).

With ``checkpoint=FOLDER`` every finished chunk is also written there (one file per chunk,
atomically), keyed by the experiment's configuration, the root seed and the chunk; a rerun
with the same folder loads those chunks instead of running them again, so an interrupted run
resumes with identical final results (see :class:`ChunkStore`).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar

import numpy as np

from skysense._optional import require
from skysense._validation import check_count
from skysense._workers import resolve_workers, set_workers
from skysense.experiments.table import ConsoleTable

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from distributed import Client

#: What ``run_trials`` accepts as ``rng``: the root of every chunk's seed.
TrialsRng: TypeAlias = int | np.integer | np.random.SeedSequence | np.random.Generator | None
#: Per-trial outputs of one chunk or one cell: ``{name: ndarray, shape (n_trials, ...)}``.
Trials: TypeAlias = dict[str, np.ndarray]

__all__ = [
    "ChunkStore",
    "Experiment",
    "ExperimentResult",
    "SetupCache",
    "chunk_bounds",
    "root_seed",
    "run_trials",
    "task_seed",
]

#: Default byte budget of the per-process setup cache (two d0 = 1 m Grams would not fit).
DEFAULT_CACHE_BYTES = 6 << 30

#: The type of an experiment's cells (an SNR, a ``(method, snr)`` tuple, ...): generic so
#: that a subclass's methods take its own cell type without breaking the override rules.
CellT = TypeVar("CellT", bound=Hashable)


class Experiment(abc.ABC, Generic[CellT]):
    """A Monte-Carlo experiment: cells, per-cell setup, one chunk of trials, and a report.

    Subclasses are frozen dataclasses (hashable, picklable) defined at module level, with
    ``name``, ``default_trials`` and a ``chunk_size`` field. Trials of one chunk must depend
    on the chunk's ``rng`` and the cell only.
    """

    name: ClassVar[str]
    default_trials: ClassVar[int]
    chunk_size: int

    @abc.abstractmethod
    def cells(self) -> tuple[CellT, ...]:
        """The cells to run, in priority order (the most expensive first is best)."""

    def setup_key(self, cell: CellT) -> Hashable:
        """Cells with equal keys share one :meth:`setup` (default: the cell itself)."""
        return cell

    @abc.abstractmethod
    def setup(self, cell: CellT) -> Any:
        """Per-cell state reused by every chunk (built once per worker process)."""

    @abc.abstractmethod
    def run_chunk(self, cell: CellT, state: Any, n_trials: int, rng: np.random.Generator) -> Trials:
        """Run ``n_trials`` trials; returns arrays whose first axis has length ``n_trials``."""

    @abc.abstractmethod
    def summarize(self, cell: CellT, trials: Trials) -> dict[str, Any]:
        """JSON-ready statistics of one cell from its concatenated per-trial arrays."""

    @abc.abstractmethod
    def report(self, summaries: dict[CellT, dict[str, Any]]) -> dict[str, Any]:
        """The experiment's ``results`` (JSON-ready) from ``{cell: summary}``."""

    def config(self) -> dict[str, Any]:
        """JSON-ready description of the experiment's parameters."""
        return asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses

    def console_table(self, results: dict[str, Any]) -> ConsoleTable | None:
        """The console table of ``results``: labelled columns, ours against the paper.

        The hook ``skysense reproduce`` prints (:class:`~skysense.experiments.ConsoleTable`
        says what each column is and heads the paper's values ``paper``). The default,
        ``None``, falls back to :meth:`table`.
        """
        return None

    def table(self, results: dict[str, Any]) -> str:
        """Plain-text rendering of ``results``: :meth:`console_table` if given, else JSON."""
        console = self.console_table(results)
        if console is not None:
            return console.render()
        return json.dumps(results, indent=1)

    @abc.abstractmethod
    def plot(self, results: dict[str, Any], path: str | Path) -> Path | None:
        """Save a figure comparing ``results`` with the paper; returns the path."""

    def paper(self) -> dict[str, Any]:
        """The paper's reference values (or statements) for this experiment, with a source."""
        return {}


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """Output of :func:`run_trials`.

    Attributes
    ----------
    experiment : Experiment
    n_trials : int
        Trials per cell.
    seed_sequence : numpy.random.SeedSequence
        Root of every chunk's seed (from ``rng``); its entropy reruns the experiment.
    trials : dict
        ``{cell: {name: ndarray, shape (n_trials, ...)}}``.
    summaries : dict
        ``{cell: summary}`` from ``Experiment.summarize``.
    results : dict
        ``Experiment.report(summaries)``.
    wall_time_s : float
        Wall time of the run [s] (with ``n_processes``, the only fields that depend on the
        executor).
    n_processes : int
        Processes that ran the tasks (1 in process).
    workers : int
        Threads of each kernel call inside a task.
    n_resumed_chunks : int
        Chunks loaded from ``checkpoint`` instead of run (0 for a fresh run); not part of
        :meth:`to_json`, which is identical for a resumed and an uninterrupted run.
    """

    experiment: Experiment
    n_trials: int
    seed_sequence: np.random.SeedSequence
    trials: dict[Hashable, Trials]
    summaries: dict[Hashable, dict[str, Any]]
    results: dict[str, Any]
    wall_time_s: float
    n_processes: int
    workers: int = 1
    n_resumed_chunks: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready document: experiment, seed, trial counts, config and results."""
        exp = self.experiment
        root = self.seed_sequence
        document: dict[str, Any] = {
            "experiment": exp.name,
            "seed": root.entropy,
            "n_trials": self.n_trials,
            "chunk_size": exp.chunk_size,
            "config": exp.config(),
            "results": self.results,
            "paper": exp.paper(),
            "wall_time_s": self.wall_time_s,
            "n_processes": self.n_processes,
            "workers": self.workers,
        }
        if root.spawn_key:
            document["spawn_key"] = list(root.spawn_key)
        return document


def root_seed(rng: TrialsRng) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a run from its ``rng`` argument.

    An int seed ``s`` gives ``SeedSequence(s)``; a ``SeedSequence`` is used as it is; a
    ``Generator`` gives a ``SeedSequence`` of 4 words drawn from it (its stream advances);
    ``None`` fresh OS entropy (recorded in the result, so the run can be repeated).

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
        The run's ``rng`` argument.

    Returns
    -------
    SeedSequence
        Root of the seeds of every task of the run.

    Raises
    ------
    TypeError
        For anything else.
    ValueError
        For a negative int seed.
    """
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        words = rng.integers(0, 1 << 32, size=4, dtype=np.uint64)
        return np.random.SeedSequence([int(w) for w in words])
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        raise TypeError(
            "rng must be None, an int seed, a numpy.random.SeedSequence or a "
            f"numpy.random.Generator, got {type(rng).__name__}"
        )
    if rng < 0:
        raise ValueError(f"rng must be a non-negative int seed, got {rng}")
    return np.random.SeedSequence(int(rng))


def chunk_bounds(n_trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the chunks covering ``n_trials`` trials."""
    n_trials = check_count(n_trials, "n_trials")
    chunk_size = check_count(chunk_size, "chunk_size")
    return [(lo, min(lo + chunk_size, n_trials)) for lo in range(0, n_trials, chunk_size)]


def cell_key(cell: Hashable) -> int:
    """Stable non-negative integer of a cell (CRC-32 of its ``repr``), for seeding."""
    return zlib.crc32(repr(cell).encode())


def task_seed(
    root: int | np.random.SeedSequence, n_chunks: int, chunk: int, cell: Hashable
) -> np.random.SeedSequence:
    """Seed of one (cell, chunk) task.

    ``root.spawn(n_chunks)[chunk]`` (``root = SeedSequence(root)`` for an int), extended by
    the cell's stable key, so that a subset of cells reproduces the numbers of the full grid.
    ``root`` itself is not advanced.

    Parameters
    ----------
    root : int or SeedSequence
        Root seed of the run (:func:`root_seed`).
    n_chunks : int
        Number of chunks the cell's trials are split into.
    chunk : int
        Index of the chunk, in ``[0, n_chunks)``.
    cell : hashable
        The cell (one point of the experiment's sweep).

    Returns
    -------
    SeedSequence
        Seed of the task's generator.
    """
    if not isinstance(root, np.random.SeedSequence):
        root = np.random.SeedSequence(root)
    fresh = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key, pool_size=root.pool_size)
    parent = fresh.spawn(n_chunks)[chunk]
    return np.random.SeedSequence(
        parent.entropy, spawn_key=parent.spawn_key + (cell_key(cell),), pool_size=parent.pool_size
    )


def _nbytes(obj: object) -> int:
    """Bytes of the ndarrays reachable through attributes, tuples, lists and dicts."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, tuple | list):
        return sum(_nbytes(v) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_nbytes(v) for v in vars(obj).values())
    return 0


class SetupCache:
    """Least-recently-used cache of ``Experiment.setup`` results, bounded in bytes.

    Parameters
    ----------
    max_bytes : int
        Before a build, the oldest entries are evicted until at most half the budget is
        held; after it, until the new entry fits (the newest entry is always kept).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[tuple[Experiment, Hashable], tuple[Any, int]] = OrderedDict()
        self.n_builds = 0

    def get(self, experiment: Experiment, cell: Hashable) -> Any:
        """The setup of ``cell`` (built and cached on a miss)."""
        key = (experiment, experiment.setup_key(cell))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key][0]
        # Make room first (keep at most half the budget) so that two large states never
        # coexist while the new one is built; then trim to the budget.
        self._evict(self.max_bytes // 2)
        state = experiment.setup(cell)
        self.n_builds += 1
        size = _nbytes(state)
        self._evict(self.max_bytes - size)
        self._entries[key] = (state, size)
        return state

    def _evict(self, keep_bytes: int) -> None:
        while self._entries and sum(s for _, s in self._entries.values()) > keep_bytes:
            self._entries.popitem(last=False)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl) and numba to one thread in this block."""
    import numba

    threadpoolctl = require("threadpoolctl", "skysense.experiments.run_trials")
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(previous)


def _run_task(
    experiment: Experiment,
    cell: Hashable,
    seed_seq: np.random.SeedSequence,
    n_trials: int,
    cache: SetupCache | None = None,
    workers: int = 1,
) -> Trials:
    """One (cell, chunk): BLAS and numba single-threaded, ``workers`` threads per kernel call,
    the setup from ``cache`` (or the Dask worker's)."""
    if cache is None:
        cache = _worker_cache()
    with single_threaded(), set_workers(workers):
        state = cache.get(experiment, cell)
        out = experiment.run_chunk(cell, state, n_trials, np.random.default_rng(seed_seq))
    for name, arr in out.items():
        if np.shape(arr)[:1] != (n_trials,):
            raise ValueError(
                f"{type(experiment).__name__}.run_chunk returned {name!r} with shape "
                f"{np.shape(arr)}; the first axis must have length n_trials = {n_trials}"
            )
    return out


def _worker_cache() -> SetupCache:
    """The setup cache of the current Dask worker (stored on the worker object)."""
    distributed = require("distributed", "skysense.experiments.run_trials on Dask")
    worker = distributed.get_worker()
    cache = getattr(worker, "_skysense_setup_cache", None)
    if cache is None:
        cache = SetupCache()
        worker._skysense_setup_cache = cache
    return cache


@dataclass(frozen=True)
class _Task:
    cell: Hashable
    chunk: int
    n_trials: int
    seed_seq: np.random.SeedSequence = field(compare=False)


def _tasks(experiment: Experiment, n_trials: int, root: np.random.SeedSequence) -> list[_Task]:
    bounds = chunk_bounds(n_trials, experiment.chunk_size)
    cells = experiment.cells()
    if not cells:
        raise ValueError(f"{type(experiment).__name__} has no cells to run")
    return [
        _Task(cell, j, hi - lo, task_seed(root, len(bounds), j, cell))
        for cell in cells
        for j, (lo, hi) in enumerate(bounds)
    ]


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


class ChunkStore:
    """Finished chunks of a run, one ``.npz`` file each, for resuming an interrupted run.

    The chunks live in ``folder / <run key>``, where the run key is a SHA-256 of the
    experiment's name and configuration, the root seed, the chunk size and the skysense
    version: chunks of another configuration or seed are never mixed in. A chunk file is
    named by its cell, chunk index and trial count, written to a temporary file and renamed
    (a reader sees a whole chunk or none), and read back without pickle.

    Parameters
    ----------
    folder : str or Path
        Folder of the store (created on the first write); the CLI uses ``FILE.partial``
        next to the ``--json FILE`` output.
    experiment : Experiment
        The experiment whose chunks are stored; its name and configuration key the store.
    root : numpy.random.SeedSequence
        Root seed of the run (:func:`root_seed`).

    Examples
    --------
    >>> import tempfile
    >>> from skysense.experiments import ImagingTable2, run_trials
    >>> exp = ImagingTable2(modes=("A",), voxel_sizes_m=(5.0,), chunk_size=1)
    >>> folder = tempfile.mkdtemp()
    >>> first = run_trials(exp, 2, rng=0, checkpoint=folder)  # keeps its 2 chunks
    >>> again = run_trials(exp, 2, rng=0, checkpoint=folder)  # loads them
    >>> again.n_resumed_chunks, again.results == first.results
    (2, True)
    """

    def __init__(
        self, folder: str | Path, experiment: Experiment, root: np.random.SeedSequence
    ) -> None:
        from skysense import __version__

        self.folder = Path(folder)
        identity = {
            "experiment": experiment.name,
            "class": f"{type(experiment).__module__}.{type(experiment).__qualname__}",
            "config": experiment.config(),
            "chunk_size": experiment.chunk_size,
            "seed": str(root.entropy),
            "spawn_key": list(root.spawn_key),
            "pool_size": root.pool_size,
            "skysense": __version__,
        }
        self.identity = json.loads(json.dumps(identity, default=_json_default))
        text = json.dumps(self.identity, sort_keys=True)
        self.run_folder = self.folder / hashlib.sha256(text.encode()).hexdigest()[:20]

    def path(self, cell: Hashable, chunk: int, n_trials: int) -> Path:
        """File of one chunk."""
        cell_hash = hashlib.sha256(repr(cell).encode()).hexdigest()[:16]
        return self.run_folder / f"{cell_hash}-{chunk:06d}-{n_trials}.npz"

    def load(self, cell: Hashable, chunk: int, n_trials: int) -> Trials | None:
        """The stored trials of a chunk, or ``None`` if absent or unreadable."""
        path = self.path(cell, chunk, n_trials)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
                trials = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
            return None  # damaged: the chunk runs again
        if not trials or any(np.shape(a)[:1] != (n_trials,) for a in trials.values()):
            return None
        return trials

    def save(self, cell: Hashable, chunk: int, n_trials: int, trials: Trials) -> None:
        """Write a finished chunk atomically (temporary file, then rename)."""
        self.run_folder.mkdir(parents=True, exist_ok=True)
        manifest = self.run_folder / "run.json"
        if not manifest.exists():
            _write_atomic(manifest, (json.dumps(self.identity, indent=1) + "\n").encode())
        path = self.path(cell, chunk, n_trials)
        fd, tmp = tempfile.mkstemp(dir=self.run_folder, prefix=".chunk-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, allow_pickle=False, **{k: np.asarray(v) for k, v in trials.items()})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def n_stored(self) -> int:
        """Chunk files of this run in the store."""
        if not self.run_folder.is_dir():
            return 0
        return sum(1 for _ in self.run_folder.glob("*.npz"))

    def other_runs(self) -> list[Path]:
        """Folders of the store that hold chunks of another configuration or seed."""
        if not self.folder.is_dir():
            return []
        return [p for p in self.folder.iterdir() if p.is_dir() and p != self.run_folder]

    def clear(self) -> None:
        """Delete the whole store folder (after the final results are written)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_trials(
    experiment: Experiment,
    n_trials: int,
    *,
    rng: TrialsRng = None,
    client: Client | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: SetupCache | None = None,
    checkpoint: str | Path | None = None,
) -> ExperimentResult:
    """Run ``n_trials`` trials of every cell of ``experiment``.

    Parameters
    ----------
    experiment : Experiment
        The experiment (its cells, setup, trials and summary).
    n_trials : int
        Trials per cell.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Root of the chunk seeds (see :func:`root_seed`); an int seed reproduces a run.
    client : distributed.Client, optional
        Run the tasks on this Dask cluster; ``None`` runs them here, one after the other.
        The results are identical either way.
    workers : int, optional
        Threads of each kernel call inside a task (:func:`skysense.set_workers` around it);
        ``None`` uses the default of this thread (1 unless set). Results do not depend on it.
    progress : callable, optional
        Called as ``progress(n_done, n_total)`` after each task (the CLI's progress line);
        the library itself prints nothing.
    cache : SetupCache, optional
        Setup cache of the in-process path (a fresh one per call by default, freed after it).
    checkpoint : str or Path, optional
        Folder that keeps every finished chunk (a :class:`ChunkStore`); chunks of this
        experiment, configuration and seed found there are loaded instead of run, so a run
        interrupted (Ctrl-C, a lost node) resumes where it stopped, with results identical
        to an uninterrupted run. The folder is left in place; delete it when done.

    Returns
    -------
    ExperimentResult
        Per-cell summaries, the configuration and the root seed of the run.

    Raises
    ------
    MissingDependencyError
        Without threadpoolctl (or, with ``client``, Dask): ``pip install 'skysense[experiments]'``.

    Examples
    --------
    >>> from skysense.experiments import ImagingTable2, run_trials
    >>> exp = ImagingTable2(modes=("A",), voxel_sizes_m=(5.0,), chunk_size=1)
    >>> res = run_trials(exp, 2, rng=0)
    >>> sorted(res.results["A"]["5"])[:4]
    ['dr', 'dr_blob', 'dr_stderr', 'far']
    >>> res.results["A"]["5"]["n_trials"]
    2
    """
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be an Experiment, got {type(experiment).__name__}")
    n_trials = check_count(n_trials, "n_trials")
    root = root_seed(rng)
    threads = resolve_workers(workers)
    tasks = _tasks(experiment, n_trials, root)
    store = None if checkpoint is None else ChunkStore(checkpoint, experiment, root)
    t0 = time.perf_counter()
    outputs: list[Trials | None] = [
        None if store is None else store.load(t.cell, t.chunk, t.n_trials) for t in tasks
    ]
    todo = [i for i, out in enumerate(outputs) if out is None]
    n_resumed = len(tasks) - len(todo)

    def finished(i: int, out: Trials, n_done: int) -> None:
        outputs[i] = out
        if store is not None:
            task = tasks[i]
            store.save(task.cell, task.chunk, task.n_trials, out)
        if progress is not None:
            progress(n_resumed + n_done, len(tasks))

    if client is None:
        cache = SetupCache() if cache is None else cache
        for n_done, i in enumerate(todo, start=1):
            task = tasks[i]
            out = _run_task(experiment, task.cell, task.seed_seq, task.n_trials, cache, threads)
            finished(i, out, n_done)
        n_processes = 1
    else:
        _run_dask(client, experiment, tasks, todo, threads, finished)
        n_processes = len(client.scheduler_info().get("workers", {})) or 1
    wall = time.perf_counter() - t0

    trials: dict[Hashable, Trials] = {}
    for cell in experiment.cells():
        parts = [out for task, out in zip(tasks, outputs, strict=True) if task.cell == cell]
        done = [p for p in parts if p is not None]
        assert len(done) == len(parts)  # every task ran or was loaded
        trials[cell] = {name: np.concatenate([p[name] for p in done]) for name in done[0]}
    summaries = {cell: experiment.summarize(cell, trials[cell]) for cell in trials}
    return ExperimentResult(
        experiment=experiment,
        n_trials=n_trials,
        seed_sequence=root,
        trials=trials,
        summaries=summaries,
        results=experiment.report(summaries),
        wall_time_s=wall,
        n_processes=n_processes,
        workers=threads,
        n_resumed_chunks=n_resumed,
    )


def _run_dask(
    client: Client,
    experiment: Experiment,
    tasks: Sequence[_Task],
    todo: Sequence[int],
    workers: int,
    finished: Callable[[int, Trials, int], None],
) -> None:
    """Run ``tasks[i]`` for ``i`` in ``todo`` on the cluster; ``finished(i, trials, n_done)``
    as each one completes (in completion order)."""
    distributed = require("distributed", "skysense.experiments.run_trials on Dask")
    n_cells = len(experiment.cells())
    run_id = uuid.uuid4().hex[:8]
    order = {cell: i for i, cell in enumerate(experiment.cells())}
    futures = {
        client.submit(
            _run_task,
            experiment,
            tasks[i].cell,
            tasks[i].seed_seq,
            tasks[i].n_trials,
            None,
            workers,
            key=f"{experiment.name}-{run_id}-{i}",
            priority=n_cells - order[tasks[i].cell],  # earlier cells first: one setup at a time
            pure=False,
        ): i
        for i in todo
    }
    try:
        for n_done, future in enumerate(distributed.as_completed(list(futures)), start=1):
            finished(futures[future], future.result(), n_done)
    finally:
        for future in futures:
            future.release()
