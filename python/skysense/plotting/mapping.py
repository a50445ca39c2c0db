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
    """Per BS: VA visibility timelines and MOSPA vs epoch; last column: BS1 map (trial 0)."""
    from skysense.plotting._common import _pyplot

    plt = _pyplot()

    bs_names = list(results["visibility"])
    fig, axes = plt.subplots(
        2, len(bs_names) + 1, figsize=(4.2 * (len(bs_names) + 1), 7), squeeze=False
    )
    for c, b in enumerate(bs_names):
        vis = results["visibility"][b]
        ax = axes[0, c]
        for j, (cls, vb, vm) in enumerate(
            zip(vis["classes"], vis["visible_bistatic"], vis["visible_monostatic"], strict=True)
        ):
            vb, vm = np.asarray(vb, bool), np.asarray(vm, bool)
            ax.fill_between(np.arange(vb.size), j - 0.4, j, where=vb, color="tab:purple", lw=0)
            ax.fill_between(np.arange(vm.size), j, j + 0.4, where=vm, color="tab:green", lw=0)
            ax.text(0, j, f"VA{j + 1} ({cls})", fontsize=7, va="center")
        ax.set_ylim(-0.6, len(vis["classes"]))
        ax.set_title(f"{b}: visibility (purple bistatic, green mono)", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_yticks([])
        ax = axes[1, c]
        for m in methods:
            color, ls = _STYLE.get(m, ("gray", "-"))
            ax.plot(results[m]["per_bs"][b]["mospa"], color=color, ls=ls, label=m, lw=1.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel("MOSPA [m]")
        ax.set_title(f"{b}: MOSPA", fontsize=9)
    axes[1, 0].legend(fontsize=7)
    ax = axes[0, -1]
    for lo, hi in zip(scene.box_lo_m, scene.box_hi_m, strict=True):
        ax.add_patch(plt.Rectangle(lo[:2], *(hi - lo)[:2], color="0.8"))
    ax.plot(scene.trajectory_m[:, 0], scene.trajectory_m[:, 1], color="0.5", lw=0.8)
    b0 = bs_names[0]
    bs = scene.base_stations_m[int(b0[2:]) - 1]
    ax.plot(*bs[:2], "k^")
    vas = np.asarray(results["visibility"][b0]["vas"])
    ax.plot(vas[:, 0], vas[:, 1], "kx", ms=9, label="true VA")
    for m in methods:
        est = np.asarray(results[m]["per_bs"][b0]["final_map_trial0"]).reshape(-1, 3)
        color, _ = _STYLE.get(m, ("gray", "-"))
        ax.plot(est[:, 0], est[:, 1], "o", mfc="none", color=color, label=m, ms=5)
    ax.set_aspect("equal")
    ax.set_title(f"{b0}: final VA estimates (trial 0)", fontsize=9)
    ax.legend(fontsize=6)
    axes[1, -1].axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
