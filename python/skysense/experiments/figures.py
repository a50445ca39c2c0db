"""Figures comparing the reproductions with the paper (matplotlib, Agg, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skysense.plotting import _pyplot

__all__ = [
    "plot_bars",
    "plot_canyon",
    "plot_lines",
    "plot_psf_panels",
    "plot_table2",
    "plot_tradeoff",
]

_COLORS = {"A": "C0", "B": "C1", "C": "C2"}


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_lines(panels, path, title=""):
    """Figure with one axis per panel; ``panels = [(xlabel, ylabel, log, {label: (x, y)})]``.

    Labels starting with "CRB" or "paper" are drawn dashed (references)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (xlabel, ylabel, log, lines) in zip(axes[0], panels, strict=True):
        for label, (x, y) in lines.items():
            y = [np.nan if v is None else v for v in y]
            style = "--" if label.lower().startswith(("crb", "paper")) else "o-"
            ax.plot(
                x, y, style, label=label, color="k" if label.lower().startswith("crb") else None
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_bars(panels, groups, path, title=""):
    """Grouped bars, one axis per panel; ``panels = [(ylabel, {series: [value per group]})]``,
    ``groups`` the x tick labels; ``None`` values are left out."""
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


def plot_table2(results, paper, path):
    """DR, FAR and MSE vs d0 per mode: ours (solid, markers) and Table II (dashed).

    Parameters
    ----------
    results : dict
        ``results[mode][d0] = {"dr", "far", "mse_1e4", ...}`` of ``imaging-table2``.
    paper : dict
        The same layout for the paper (``PAPER_TABLE2``).
    path : str or Path
        Output PNG.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (("dr", "DR [%]", False), ("far", "FAR [%]", False), ("mse_1e4", "MSE [1e-4]", True))
    for ax, (key, label, log) in zip(axes, panels, strict=True):
        for mode, per_d0 in results.items():
            color = _COLORS.get(mode)
            d0s = sorted(per_d0, key=float)
            ax.plot(
                [float(d) for d in d0s],
                [per_d0[d][key] for d in d0s],
                "o-",
                color=color,
                label=f"mode {mode} (ours)",
            )
            ref = paper.get(mode, {})
            pd0 = sorted(ref, key=float)
            ax.plot(
                [float(d) for d in pd0],
                [ref[d][key] for d in pd0],
                "s--",
                color=color,
                alpha=0.6,
                label=f"mode {mode} (paper)",
            )
        ax.set(xlabel="voxel size d0 [m]", ylabel=label)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Table II: on-grid SP, N0 = 4, P_s = 40 dBm, M = 6 (ours: exact voxel rule)")
    return _save(fig, path)


def plot_psf_panels(results, path):
    """Mean P(n1) for Fig. 4(a)-(c) and the off-grid error of Fig. 5."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    panels = (
        ("fig4a", "N0", "xi"),
        ("fig4b", "d0 [m]", "ROI side [m]"),
        ("fig4c", "N_f", "B [MHz]"),
    )
    for ax, (panel, xlabel, series) in zip(axes[:3], panels, strict=True):
        for label, points in results.get(panel, {}).items():
            xs = sorted(points, key=float)
            ax.plot(
                [float(x) for x in xs],
                [points[x]["mean"] for x in xs],
                "o-",
                label=f"{series} = {label}",
            )
        ax.set(xlabel=xlabel, ylabel="mean max sidelobe P(n1)", title=f"Fig. {panel[3:]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig5 = results.get("fig5", {})
    if fig5:
        dps = sorted(fig5, key=float)
        axes[3].semilogx(
            [float(d) for d in dps], [fig5[d]["mean_db"] for d in dps], "o-", label="ours"
        )
        axes[3].axhline(-10.0, color="k", ls="--", lw=0.8, label="paper: -10 dB at ~1 mm")
        axes[3].axvline(1e-3, color="k", ls=":", lw=0.8)
        axes[3].set(xlabel="Delta p [m]", ylabel="Delta b [dB]", title="Fig. 5")
        axes[3].grid(alpha=0.3)
        axes[3].legend(fontsize=8)
    return _save(fig, path)


def plot_tradeoff(results, paper, path):
    """Fig. 10: DR and frame SE vs P_s at fixed P_t."""
    plt = _pyplot()
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(14, 4))
    ps = sorted(results, key=float)
    x = [float(p) for p in ps]
    ax0.plot(x, [results[p]["dr"] for p in ps], "o-", label="DR exact (ours)")
    ax0.plot(x, [results[p]["dr_blob"] for p in ps], "^-", label="DR blob (ours)")
    ax0.plot([paper["dr_full_at_ps_dbm"]], [100.0], "k*", ms=12, label="paper: 100% at 40 dBm")
    ax0.set(xlabel="P_s [dBm]", ylabel="DR [%]")
    for method in ("nullspace", "roi"):
        ax1.plot(
            x, [results[p][f"se_{method}"] for p in ps], "o-", label=f"sensing beams: {method}"
        )
        ax2.plot(x, [results[p][f"sir_{method}_db"] for p in ps], "o-", label=method)
    ax1.plot(x, [results[p]["se_comm_only"] for p in ps], "k--", label="no sensing")
    ax1.set(xlabel="P_s [dBm]", ylabel="frame SE [bit/s/Hz]")
    ax2.plot([paper["sir_ps_dbm"]], [paper["sir_db"]], "k*", ms=12, label="paper: ~24 dB")
    ax2.set(xlabel="P_s [dBm]", ylabel="desired / sensing interference [dB]")
    for ax in (ax0, ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 10 trade-off, P_t = {paper['total_power_dbm']:g} dBm")
    return _save(fig, path)


def plot_canyon(results, paper, path):
    """DR, FAR and SSIM vs the residual background ratio: ours (solid) and Table VI (dashed).

    Parameters
    ----------
    results, paper : dict
        ``{ratio: {"dr", "far", "ssim", ...}}`` with ratios as strings ("0", "0.001", ...).
    path : str or Path
        Output PNG.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    floor = 1e-4  # where rho = 0 is drawn on the log axis
    for ax, (key, label) in zip(
        axes, (("dr", "DR [%]"), ("far", "FAR [%]"), ("ssim", "SSIM")), strict=True
    ):
        for values, style, name in ((results, "o-", "ours (SP)"), (paper, "s--", "paper (DNN)")):
            ratios = sorted(values, key=float)
            ax.plot(
                [max(float(r), floor) for r in ratios],
                [values[r][key] for r in ratios],
                style,
                label=name,
            )
        ax.set_xscale("log")
        ax.set_xlabel("residual interference ratio (0 drawn at 1e-4)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    return _save(fig, path)
