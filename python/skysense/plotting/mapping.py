"""Figures of the mapping experiments (matplotlib, imported on demand)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.mapping import Scene

__all__ = ["plot_mapping"]

_STYLE = {
    "fusion1": ("tab:blue", "-"),
    "fusion2": ("tab:cyan", "-"),
    "fusion3": ("tab:red", "-"),
    "fusion4": ("tab:orange", "--"),
    "monostatic": ("tab:green", ":"),
    "bistatic": ("tab:purple", ":"),
    "specular": ("black", "-."),
}


def plot_mapping(
    results: dict[str, Any], methods: Sequence[str], scene: Scene, path: str | Path
) -> Path:
    """Per BS: VA visibility timelines and MOSPA vs epoch; last column: BS1 map (trial 0).

    Maps have x to the right and y up, like every image of the package's figures; one legend
    below the panels.

    Parameters
    ----------
    results : dict
        The ``results`` of a :class:`~skysense.experiments.MappingMospa` run: per-BS
        visibility timelines, MOSPA per method and epoch, and the maps of trial 0.
    methods : sequence of str
        Fusion methods to draw (keys of the MOSPA results).
    scene : skysense.mapping.Scene
        The scene the maps are drawn on (buildings and BSs).
    path : str or Path
        Image file to write.

    Returns
    -------
    Path
        ``path``, written.
    """
    from skysense.plotting._common import _pyplot

    plt = _pyplot()

    bs_names = list(results["visibility"])
    nb = len(bs_names)
    fig = plt.figure(figsize=(4.2 * nb + 5.0, 7.4))
    grid = fig.add_gridspec(2, nb + 1, width_ratios=[1.0] * nb + [1.3])
    handles: dict[str, Any] = {}
    for c, b in enumerate(bs_names):
        vis = results["visibility"][b]
        ax = fig.add_subplot(grid[0, c])
        for j, (vb, vm) in enumerate(
            zip(vis["visible_bistatic"], vis["visible_monostatic"], strict=True)
        ):
            vb, vm = np.asarray(vb, bool), np.asarray(vm, bool)
            ax.fill_between(np.arange(vb.size), j - 0.4, j, where=vb, color="tab:purple", lw=0)
            ax.fill_between(np.arange(vm.size), j, j + 0.4, where=vm, color="tab:green", lw=0)
        classes = vis["classes"]
        ax.set_yticks(range(len(classes)), [f"VA{j + 1} ({k})" for j, k in enumerate(classes)])
        ax.set_ylim(-0.6, len(classes) - 0.4)
        ax.set_title(f"{b}: VA visible on the link", fontsize=9)
        ax.set_xlabel("epoch")
        handles["bistatic link visible"] = plt.Rectangle((0, 0), 1, 1, color="tab:purple")
        handles["monostatic link visible"] = plt.Rectangle((0, 0), 1, 1, color="tab:green")
        ax = fig.add_subplot(grid[1, c])
        n_trials = 0
        for m in methods:
            color, ls = _STYLE.get(m, ("gray", "-"))
            per = results[m]["per_bs"][b]
            n_trials = max(n_trials, int(per.get("n_trials", 1)))
            (h,) = ax.plot(per["mospa"], color=color, ls=ls, lw=1.2)
            handles.setdefault(m, h)
        ax.set_xlabel("epoch")
        ax.set_ylabel("MOSPA [m]")
        ax.set_title(f"{b}: MOSPA, mean of {n_trials} trial(s)", fontsize=9)
        ax.grid(alpha=0.3)
    ax = fig.add_subplot(grid[:, -1])
    for lo, hi in zip(scene.box_lo_m, scene.box_hi_m, strict=True):
        ax.add_patch(plt.Rectangle(lo[:2], *(hi - lo)[:2], color="0.8"))
    handles["building"] = plt.Rectangle((0, 0), 1, 1, color="0.8")
    (h,) = ax.plot(scene.trajectory_m[:, 0], scene.trajectory_m[:, 1], color="0.5", lw=0.8)
    handles["UE trajectory"] = h
    b0 = bs_names[0]
    bs = scene.base_stations_m[int(b0[2:]) - 1]
    (h,) = ax.plot(*bs[:2], "k^", ms=8)
    handles[f"{b0} position"] = h
    vas = np.asarray(results["visibility"][b0]["vas"])
    (h,) = ax.plot(vas[:, 0], vas[:, 1], "kx", ms=10, mew=1.5)
    handles["true VA"] = h
    for m in methods:
        est = np.asarray(results[m]["per_bs"][b0]["final_map_trial0"]).reshape(-1, 3)
        color, _ = _STYLE.get(m, ("gray", "-"))
        ax.plot(est[:, 0], est[:, 1], "o", mfc="none", color=color, ms=6)
    ax.set_aspect("equal")
    ax.set(xlabel="x [m]", ylabel="y [m]")
    ax.set_title(f"{b0}: final VA estimates (circles, trial 0)", fontsize=9)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(handles), 6),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
