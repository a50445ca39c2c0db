"""Dask clients for :func:`skysense.experiments.run_trials`: a local cluster or a scheduler."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from skysense._validation import check_count, resolve_workers

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
def dask_client(scheduler: str | None = None, n_workers: int | None = None) -> Iterator:
    """A ``distributed.Client``, closed (with its local cluster) on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); its workers are used as they
        are (start them with ``--nthreads 1`` and the variables of :data:`PINNED_THREAD_ENV`;
        each task also limits its thread pools itself).
    n_workers : int, optional
        Without ``scheduler``: worker processes of a new ``LocalCluster``, one thread each;
        ``None`` uses every available CPU. Not allowed with ``scheduler``.

    Yields
    ------
    distributed.Client
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if n_workers is not None:
            raise ValueError("n_workers applies to a local cluster, not to a scheduler address")
        with Client(scheduler) as client:
            yield client
        return
    n = resolve_workers(n_workers) if n_workers is None else check_count(n_workers, "n_workers")
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.update(PINNED_THREAD_ENV)
    with (
        _parent_environ_kept(PINNED_THREAD_ENV),
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def _parent_environ_kept(names) -> Iterator[None]:
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
