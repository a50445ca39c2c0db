"""The ``workers`` convention: threads per kernel call, SciPy's meaning (``scipy.fft``).

``workers=None`` means the current default: 1, or what an enclosing :func:`set_workers`
block set.  ``-1`` means every CPU available to this process, ``-k`` all but ``k - 1`` of them.
Results never depend on ``workers``.  This module imports nothing heavy (no NumPy), so the
top-level ``import skysense`` stays light.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
import os
from collections.abc import Iterator

__all__ = ["get_workers", "resolve_workers", "set_workers"]

_DEFAULT_WORKERS: contextvars.ContextVar[int] = contextvars.ContextVar(
    "skysense_default_workers", default=1
)


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """Number of threads for one call: ``None`` -> the default, ``-k`` -> all CPUs + 1 - k.

    Raises
    ------
    TypeError
        If ``workers`` is not an integer or None.
    ValueError
        If ``workers`` is 0, or negative beyond the number of CPUs.
    """
    if workers is None:
        return _DEFAULT_WORKERS.get()
    if isinstance(workers, bool):
        raise TypeError(f"workers must be an integer or None, got {type(workers).__name__}")
    try:
        n = operator.index(workers)
    except TypeError:
        raise TypeError(
            f"workers must be an integer or None, got {type(workers).__name__}"
        ) from None
    if n > 0:
        return n
    cpus = _available_cpus()
    if n == 0 or n < -cpus:
        raise ValueError(
            f"workers must be >= 1, or in [-{cpus}, -1] to count back from the {cpus} "
            f"available CPUs, got {n}"
        )
    return cpus + 1 + n


def get_workers() -> int:
    """The number of threads a call with ``workers=None`` uses here (default 1).

    Examples
    --------
    >>> import skysense
    >>> skysense.get_workers()
    1
    """
    return _DEFAULT_WORKERS.get()


@contextlib.contextmanager
def set_workers(workers: int) -> Iterator[None]:
    """Context manager for the default ``workers`` of every skysense call in this context.

    The setting is local to the thread (and asyncio task) that enters the block, as in
    :func:`scipy.fft.set_workers`.

    Parameters
    ----------
    workers : int
        Threads per call; ``-1`` for every available CPU.

    Yields
    ------
    None
        The block runs with ``workers`` as the default; the previous default returns after it.

    Examples
    --------
    >>> import skysense
    >>> with skysense.set_workers(2):
    ...     skysense.get_workers()
    2
    >>> skysense.get_workers()
    1
    """
    if workers is None:
        raise TypeError("set_workers needs an integer (-1 for every CPU), got None")
    token = _DEFAULT_WORKERS.set(resolve_workers(workers))
    try:
        yield
    finally:
        _DEFAULT_WORKERS.reset(token)
