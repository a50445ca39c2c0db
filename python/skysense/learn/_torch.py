"""Lazy access to the optional learning dependencies, and the ``rng``/``workers`` bridges to torch.

Nothing here imports torch at module level: :func:`require_torch` does, on first use, and
raises ImportError with the install command when it is missing (``docs/conventions.md``,
"Errors").
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from skysense._rng import RngLike, as_generator
from skysense._workers import resolve_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import torch

__all__ = ["require", "require_torch", "torch_generator", "torch_seed", "torch_threads"]

#: Exact install command of each optional dependency of ``skysense.learn``.
INSTALL_COMMANDS = {
    "torch": "pip install torch==2.13.0",
    "onnx": 'pip install "skysense[onnx]"',
    "onnxruntime": 'pip install "skysense[onnx]"',
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the command that installs it.

    Examples
    --------
    >>> from skysense.learn._torch import require
    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_COMMANDS.get(module, f"pip install {module}")
        if module == "torch":
            hint += ' (the CPU wheel; pip install "skysense[learned]" lets pip pick a build)'
        raise ImportError(
            f"skysense.learn needs the optional dependency {module!r}; install it with: {hint}"
        ) from exc


def require_torch() -> ModuleType:
    """The ``torch`` module (ImportError with the install command if it is missing)."""
    return require("torch")


def torch_seed(rng: RngLike) -> int:
    """One 63-bit seed for torch drawn from ``rng`` (resolved with ``as_generator``).

    Examples
    --------
    >>> from skysense.learn._torch import torch_seed
    >>> torch_seed(0) == torch_seed(0)
    True
    """
    return int(as_generator(rng).integers(2**63, dtype="int64"))


def torch_generator(rng: RngLike) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``rng`` (``docs/conventions.md``, "Randomness")."""
    torch = require_torch()
    return torch.Generator().manual_seed(torch_seed(rng))


@contextlib.contextmanager
def torch_threads(workers: int | None) -> Iterator[int]:
    """Run the block with ``resolve_workers(workers)`` torch CPU threads, then restore them.

    ``torch.set_num_threads`` is process-wide: the previous value is put back on exit (also
    on error), so no call leaves its thread count behind.

    Yields
    ------
    int
        The number of threads in effect inside the block.
    """
    n = resolve_workers(workers)
    torch = require_torch()
    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
