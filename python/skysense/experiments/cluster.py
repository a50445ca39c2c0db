"""Dask clients for :func:`skysense.experiments.run_trials`: a local cluster or a scheduler."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from skysense._optional import require
from skysense._validation import check_count, resolve_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from distributed import Client

__all__ = ["PINNED_THREAD_ENV", "dask_client"]

#: Environment of the local worker processes: every thread pool single-threaded (the
#: parallelism is one task per worker process).
PINNED_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_processes: int | None = None) -> Iterator[Client]:
    """A ``distributed.Client``, closed (with its local cluster) on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); its workers are used as they
        are (start them with ``--nthreads 1`` and the variables of :data:`PINNED_THREAD_ENV`;
        each task also limits its thread pools itself).
    n_processes : int, optional
        Without ``scheduler``: worker processes of a new ``LocalCluster``, one thread each;
        ``None`` uses every available CPU. Not allowed with ``scheduler``.

    Yields
    ------
    distributed.Client

    Raises
    ------
    MissingDependencyError
        Without Dask: ``pip install 'skysense[experiments]'``.
    """
    dask = require("dask", "skysense.experiments.dask_client")
    distributed = require("distributed", "skysense.experiments.dask_client")

    if scheduler is not None:
        if n_processes is not None:
            raise ValueError(
                f"n_processes applies to a local cluster, not to the scheduler {scheduler!r}; "
                f"got n_processes={n_processes}"
            )
        with distributed.Client(scheduler) as client:
            yield client
        return
    n = resolve_workers(-1) if n_processes is None else check_count(n_processes, "n_processes")
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.update(PINNED_THREAD_ENV)
    with (
        _parent_environ_kept(PINNED_THREAD_ENV),
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            # The scheduler always serves HTTP (health, metrics; the dashboard with bokeh);
            # a free loopback port instead of 8787, which another cluster may hold.
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def _parent_environ_kept(names: Iterable[str]) -> Iterator[None]:
    """Undo the nanny's writes of ``names`` into this process's ``os.environ`` on exit.

    ``distributed`` sets the pre-spawn environment in the parent before it spawns a worker;
    left there, it would pin this process's own pools (and numba refuses a changed
    ``NUMBA_NUM_THREADS`` once its threads run).
    """
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
