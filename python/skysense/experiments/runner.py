"""Seeded, chunked Monte-Carlo trials, run in process or on a Dask cluster.

An :class:`Experiment` is a grid of *cells* (e.g. ``(mode, d0)``). For each cell the
``n_trials`` trials are cut into chunks of the experiment's fixed ``chunk_size``; chunk ``j``
draws from ``np.random.SeedSequence(seed).spawn(n_chunks)[j]``, extended by a stable key of
the cell. A task is one (cell, chunk); its outputs are per-trial arrays, concatenated in chunk
order. So the result depends on ``(experiment, n_trials, seed)`` only: not on the executor,
the number of workers, nor the order in which tasks finish.

Within a task every thread pool (BLAS, numba, the C++ kernels) runs single-threaded; the
parallelism is over tasks. The expensive per-cell state (sensing operator, Gram matrix) is
built by ``Experiment.setup`` once per worker process and cached (see :class:`SetupCache`).
"""

from __future__ import annotations

import abc
import contextlib
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from skysense._validation import check_count

__all__ = [
    "Experiment",
    "ExperimentResult",
    "SetupCache",
    "chunk_bounds",
    "run_trials",
    "task_seed",
]

#: Default byte budget of the per-process setup cache (two d0 = 1 m Grams would not fit).
DEFAULT_CACHE_BYTES = 6 << 30


class Experiment(abc.ABC):
    """A Monte-Carlo experiment: cells, per-cell setup, one chunk of trials, and a report.

    Subclasses are frozen dataclasses (hashable, picklable) defined at module level, with
    ``name``, ``default_trials`` and a ``chunk_size`` field. Trials of one chunk must depend
    on the chunk's ``rng`` and the cell only.
    """

    name: ClassVar[str]
    default_trials: ClassVar[int]
    chunk_size: int

    @abc.abstractmethod
    def cells(self) -> tuple[Hashable, ...]:
        """The cells to run, in priority order (the most expensive first is best)."""

    def setup_key(self, cell) -> Hashable:
        """Cells with equal keys share one :meth:`setup` (default: the cell itself)."""
        return cell

    @abc.abstractmethod
    def setup(self, cell) -> Any:
        """Per-cell state reused by every chunk (built once per worker process)."""

    @abc.abstractmethod
    def run_chunk(self, cell, state, n_trials: int, rng: np.random.Generator) -> dict:
        """Run ``n_trials`` trials; returns arrays whose first axis has length ``n_trials``."""

    @abc.abstractmethod
    def summarize(self, cell, trials: dict) -> dict:
        """JSON-ready statistics of one cell from its concatenated per-trial arrays."""

    @abc.abstractmethod
    def report(self, summaries: dict) -> dict:
        """The experiment's ``results`` (JSON-ready) from ``{cell: summary}``."""

    def config(self) -> dict:
        """JSON-ready description of the experiment's parameters."""
        from dataclasses import asdict

        return asdict(self)

    def table(self, results: dict) -> str:
        """Plain-text rendering of ``results`` (the CLI prints it)."""
        import json

        return json.dumps(results, indent=1)

    @abc.abstractmethod
    def plot(self, results: dict, path):
        """Save a figure comparing ``results`` with the paper; returns the path."""

    def paper(self) -> dict:
        """The paper's reference values (or statements) for this experiment, with a source."""
        return {}


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """Output of :func:`run_trials`.

    Attributes
    ----------
    experiment : Experiment
    n_trials, seed : int
    trials : dict
        ``{cell: {name: ndarray, shape (n_trials, ...)}}``.
    summaries : dict
        ``{cell: summary}`` from ``Experiment.summarize``.
    results : dict
        ``Experiment.report(summaries)``.
    wall_time_s : float
        Wall time of the run [s] (the only field that depends on the executor).
    n_workers : int
        Workers that ran the tasks (1 in process).
    """

    experiment: Experiment
    n_trials: int
    seed: int
    trials: dict
    summaries: dict
    results: dict
    wall_time_s: float
    n_workers: int

    def to_json(self) -> dict:
        """JSON-ready document: experiment, seed, trial counts, config and results."""
        exp = self.experiment
        return {
            "experiment": exp.name,
            "seed": self.seed,
            "n_trials": self.n_trials,
            "chunk_size": exp.chunk_size,
            "config": exp.config(),
            "results": self.results,
            "paper": exp.paper(),
            "wall_time_s": self.wall_time_s,
            "n_workers": self.n_workers,
        }


def chunk_bounds(n_trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the chunks covering ``n_trials`` trials."""
    n_trials = check_count(n_trials, "n_trials")
    chunk_size = check_count(chunk_size, "chunk_size")
    return [(lo, min(lo + chunk_size, n_trials)) for lo in range(0, n_trials, chunk_size)]


def cell_key(cell) -> int:
    """Stable non-negative integer of a cell (CRC-32 of its ``repr``), for seeding."""
    return zlib.crc32(repr(cell).encode())


def task_seed(seed: int, n_chunks: int, chunk: int, cell) -> np.random.SeedSequence:
    """Seed of one (cell, chunk) task.

    ``SeedSequence(seed).spawn(n_chunks)[chunk]``, extended by the cell's stable key, so that
    a subset of cells reproduces the numbers of the full grid.
    """
    parent = np.random.SeedSequence(seed).spawn(n_chunks)[chunk]
    return np.random.SeedSequence(
        parent.entropy, spawn_key=parent.spawn_key + (cell_key(cell),), pool_size=parent.pool_size
    )


def _nbytes(obj) -> int:
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

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict = OrderedDict()
        self.n_builds = 0

    def get(self, experiment: Experiment, cell):
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
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(previous)


def _run_task(experiment, cell, seed_seq, n_trials, cache=None):
    """One (cell, chunk): single-threaded, with the setup from ``cache`` (or the worker's)."""
    if cache is None:
        cache = _worker_cache()
    with single_threaded():
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
    from distributed import get_worker

    worker = get_worker()
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


def _tasks(experiment, n_trials, seed):
    bounds = chunk_bounds(n_trials, experiment.chunk_size)
    cells = experiment.cells()
    if not cells:
        raise ValueError(f"{type(experiment).__name__} has no cells to run")
    return [
        _Task(cell, j, hi - lo, task_seed(seed, len(bounds), j, cell))
        for cell in cells
        for j, (lo, hi) in enumerate(bounds)
    ]


def run_trials(
    experiment: Experiment,
    n_trials: int,
    seed: int = 0,
    *,
    client=None,
    progress: Callable[[int, int], None] | None = None,
    cache: SetupCache | None = None,
) -> ExperimentResult:
    """Run ``n_trials`` trials of every cell of ``experiment``.

    Parameters
    ----------
    experiment : Experiment
    n_trials : int
        Trials per cell.
    seed : int
        Root seed (non-negative).
    client : distributed.Client, optional
        Run the tasks on this Dask cluster; ``None`` runs them here, one after the other.
        The results are identical either way.
    progress : callable, optional
        Called as ``progress(n_done, n_total)`` after each task (the CLI's progress bar);
        the library itself prints nothing.
    cache : SetupCache, optional
        Setup cache of the in-process path (a fresh one per call by default, freed after it).

    Returns
    -------
    ExperimentResult
    """
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be an Experiment, got {type(experiment).__name__}")
    n_trials = check_count(n_trials, "n_trials")
    seed = check_count(seed, "seed", minimum=0)
    tasks = _tasks(experiment, n_trials, seed)
    t0 = time.perf_counter()
    if client is None:
        cache = SetupCache() if cache is None else cache
        outputs = []
        for i, task in enumerate(tasks):
            outputs.append(_run_task(experiment, task.cell, task.seed_seq, task.n_trials, cache))
            if progress is not None:
                progress(i + 1, len(tasks))
        n_workers = 1
    else:
        outputs = _run_dask(client, experiment, tasks, progress)
        n_workers = len(client.scheduler_info().get("workers", {})) or 1
    wall = time.perf_counter() - t0

    trials = {}
    for cell in experiment.cells():
        parts = [out for task, out in zip(tasks, outputs, strict=True) if task.cell == cell]
        trials[cell] = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    summaries = {cell: experiment.summarize(cell, trials[cell]) for cell in trials}
    return ExperimentResult(
        experiment=experiment,
        n_trials=n_trials,
        seed=seed,
        trials=trials,
        summaries=summaries,
        results=experiment.report(summaries),
        wall_time_s=wall,
        n_workers=n_workers,
    )


def _run_dask(client, experiment, tasks, progress):
    from distributed import as_completed

    n_cells = len(experiment.cells())
    run_id = uuid.uuid4().hex[:8]
    order = {cell: i for i, cell in enumerate(experiment.cells())}
    futures = [
        client.submit(
            _run_task,
            experiment,
            task.cell,
            task.seed_seq,
            task.n_trials,
            key=f"{experiment.name}-{run_id}-{i}",
            priority=n_cells - order[task.cell],  # earlier cells first: one setup at a time
            pure=False,
        )
        for i, task in enumerate(tasks)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    outputs = [None] * len(futures)
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            outputs[index[future.key]] = future.result()
            if progress is not None:
                progress(done, len(futures))
    finally:
        for future in futures:
            future.release()
    return outputs
