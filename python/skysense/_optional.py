"""Optional dependencies: imported on first use, with the exact install command when missing.

The core install (NumPy, SciPy, scipy-openblas32, numba) runs every kernel. Dask, tqdm and
threadpoolctl come with ``skysense[experiments]``, matplotlib with ``skysense[plot]``;
``skysense[demo]`` has what ``skysense demo`` needs. A missing one raises
:class:`MissingDependencyError` (an :class:`ImportError`) naming the command, which the
command line prints instead of a traceback. There is no silent fallback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependencyError", "install_command", "require"]

#: The extra that provides each optional top-level module.
EXTRAS: dict[str, str] = {
    "dask": "experiments",
    "distributed": "experiments",
    "tqdm": "experiments",
    "threadpoolctl": "experiments",
    "matplotlib": "plot",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the install command."""


def install_command(extra: str) -> str:
    """The command that installs ``skysense[extra]``, e.g. ``pip install 'skysense[plot]'``."""
    return f"pip install 'skysense[{extra}]'"


def require(module: str, purpose: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module`` (one listed in :data:`EXTRAS`) or say how to install it.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"distributed"`` or ``"matplotlib.pyplot"``.
    purpose : str
        What needs it, for the message (``"skysense.plotting"``).
    extra : str, optional
        The extra to name (default: the one of :data:`EXTRAS` that provides ``module``).

    Raises
    ------
    MissingDependencyError
        If the module (or one it needs) is not installed.

    Examples
    --------
    >>> from skysense._optional import install_command
    >>> install_command("experiments")
    "pip install 'skysense[experiments]'"
    """
    top = module.partition(".")[0]
    extra = EXTRAS[top] if extra is None else extra
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # a broken install of something else: keep the original error
        raise MissingDependencyError(
            f"{purpose} needs {top}, which is not installed: {install_command(extra)}"
        ) from exc
