"""Shared figure helpers: the Agg backend, saving, line and bar panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_bars", "plot_lines"]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (ImportError naming the extra without it)."""
    from skysense._optional import require

    matplotlib = require("matplotlib", "skysense.plotting")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # keeps legends placed outside the axes
    _pyplot().close(fig)
    return path


def plot_lines(
    panels: list[tuple[str, str, bool, dict[str, tuple[Any, ...]]]],
    path: str | Path,
    title: str = "",
) -> Path:
    """Figure with one axis per panel; ``panels = [(xlabel, ylabel, log, {label: line})]``.

    A line is ``(x, y)`` or ``(x, y, lower, upper)``, the last two a confidence band drawn
    shaded; ``None`` values are gaps and a line without any value is left out. Labels starting
    with "CRB" or "paper" are drawn dashed (references). One legend, right of the panels.

    Parameters
    ----------
    panels : list of (str, str, bool, dict)
        ``(xlabel, ylabel, log, lines)`` per panel: axis labels, a log y axis if true, and
        ``{label: line}``.
    path : str or Path
        Image file to write (the format follows the suffix; folders are created).
    title : str
        Figure title (none if empty).

    Returns
    -------
    Path
        ``path``, written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skysense.plotting import plot_lines
    >>> lines = {"ours": ([0, 10, 20], [1.0, 0.3, None]), "CRB": ([0, 10, 20], [0.5, 0.2, 0.1])}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_lines([("SNR [dB]", "RMSE [m]", True, lines)], Path(folder) / "a.png")
    ...     out.stat().st_size > 0
    True
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, (xlabel, ylabel, log, lines) in zip(axes[0], panels, strict=True):
        for j, (label, line) in enumerate(lines.items()):
            x, y = line[0], _floats(line[1])
            if not np.isfinite(y).any():
                continue
            ref = label.lower().startswith(("crb", "paper"))
            color = "k" if label.lower().startswith("crb") else f"C{j}"
            (h,) = ax.plot(x, y, "--" if ref else "o-", label=label, color=color, ms=4)
            if len(line) == 4:
                ax.fill_between(x, _floats(line[2]), _floats(line[3]), color=color, alpha=0.2, lw=0)
            handles.setdefault(label, h)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=8,
            frameon=False,
        )
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _floats(values: Any) -> np.ndarray:
    # None -> NaN, as a float array.
    return np.array([np.nan if v is None else v for v in values], float)


def plot_bars(
    panels: list[tuple[str, dict[str, list[Any]]]],
    groups: list[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """Grouped bars, one axis per panel; ``panels = [(ylabel, {series: [value per group]})]``.

    Parameters
    ----------
    panels : list of (str, dict)
        ``(ylabel, {series: [value per group]})`` per panel; ``None`` values are left out.
    groups : list of str
        The x tick labels, one per group.
    path : str or Path
        Image file to write (the format follows the suffix; folders are created).
    title : str
        Figure title (none if empty).

    Returns
    -------
    Path
        ``path``, written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skysense.plotting import plot_bars
    >>> panels = [("DR [%]", {"SP": [90.0, 80.0], "detector": [95.0, None]})]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_bars(panels, ["M = 3", "M = 6"], Path(folder) / "b.png")
    ...     out.stat().st_size > 0
    True
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    x = np.arange(len(groups))
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        width = 0.8 / max(len(series), 1)
        for i, (label, values) in enumerate(series.items()):
            y = [np.nan if v is None else v for v in values]
            ax.bar(x + (i - (len(series) - 1) / 2) * width, y, width, label=label)
        ax.set_xticks(x, groups, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
