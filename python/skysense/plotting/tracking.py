"""Figures of the tracking experiment: tracks over the ROI against the true paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from skysense.plotting._common import _pyplot, _save

if TYPE_CHECKING:
    from skysense.tracking import SurveillanceRegion

__all__ = ["plot_tracking"]


def _segments(
    positions: Sequence[npt.ArrayLike], ids: Sequence[npt.ArrayLike]
) -> dict[int, list[tuple[int, float, float]]]:
    """Per identity: its (frame, x, y) points in frame order."""
    out: dict[int, list[tuple[int, float, float]]] = {}
    for f, (p, i) in enumerate(zip(positions, ids, strict=True)):
        for row, k in zip(np.asarray(p), np.asarray(i), strict=True):
            out.setdefault(int(k), []).append((f, row[0], row[1]))
    return out


def plot_tracking(
    truth_positions_m: npt.ArrayLike,
    estimates: dict[str, tuple[Sequence[npt.ArrayLike], Sequence[npt.ArrayLike]]],
    region: SurveillanceRegion,
    path: str | Path,
    *,
    detections: Sequence[npt.ArrayLike] | None = None,
    scores: dict[str, Any] | None = None,
    title: str = "",
) -> Path:
    """Tracks of several methods over the ROI (x right, y up), each against the true paths.

    Parameters
    ----------
    truth_positions_m : ndarray, shape (n_frames, n_uavs, 3), [m]
        True positions, NaN where a UAV is absent.
    estimates : dict
        ``{label: (positions, ids)}``: per-frame track positions ``(n_f, 3)`` and ids.
    region : SurveillanceRegion
        Axis limits.
    path : str or Path
        PNG to write.
    detections : list of ndarray, each shape (n_f, 3), optional
        Drawn as grey dots in every panel.
    scores : dict, optional
        The experiment's results (``{dims: {method: {"gospa_m": ...}}}``): adds a panel of
        the mean GOSPA per method.
    title : str
        Figure title (none if empty).

    Returns
    -------
    Path
        ``path``, written.
    """
    plt = _pyplot()
    n_panels = len(estimates) + (scores is not None)
    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.3 * rows), squeeze=False)
    flat = axes.ravel()
    truth = np.asarray(truth_positions_m, dtype=float)
    colors = plt.get_cmap("tab10").colors
    for ax, (label, (positions, ids)) in zip(flat, estimates.items(), strict=False):
        if detections is not None:
            det = np.concatenate([np.asarray(d).reshape(-1, 3) for d in detections])
            ax.plot(det[:, 0], det[:, 1], ".", color="0.8", ms=2, label="detections")
        for u in range(truth.shape[1]):
            ax.plot(truth[:, u, 0], truth[:, u, 1], "k-", lw=1.2, label="truth" if u == 0 else None)
        for n, (_, pts) in enumerate(sorted(_segments(positions, ids).items())):
            arr = np.asarray(pts)
            style = "-" if arr.shape[0] > 1 else "."
            ax.plot(arr[:, 1], arr[:, 2], style, color=colors[n % len(colors)], lw=1.0, ms=3)
        ax.set_xlim(region.lower_m[0], region.upper_m[0])
        ax.set_ylim(region.lower_m[1], region.upper_m[1])
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.legend(  # below the map, off the data
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False
        )
    if scores is not None:
        ax = flat[len(estimates)]
        labels, values, errors = [], [], []
        for dims, methods in scores.items():
            for method, row in methods.items():
                if isinstance(row, dict) and row.get("gospa_m") is not None:
                    labels.append(f"{dims} {method}")
                    values.append(row["gospa_m"])
                    errors.append(row.get("gospa_ci95_m") or 0.0)
        x = np.arange(len(labels))
        ax.bar(x, values, yerr=errors, color="tab:blue", alpha=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("mean GOSPA [m]")
        ax.grid(True, axis="y", alpha=0.3)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
