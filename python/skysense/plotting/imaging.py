"""Imaging figures: PSF (Fig. 3), Table II, PSF panels (Figs. 4-5), Fig. 10, Table VI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skysense.plotting._common import _pyplot, _save

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.imaging import Scenario

__all__ = [
    "plot_canyon",
    "plot_psf",
    "plot_psf_panels",
    "plot_table2",
    "plot_tradeoff",
]

_COLORS = {"A": "C0", "B": "C1", "C": "C2"}


def plot_table2(results: dict[str, Any], paper: dict[str, Any], path: str | Path) -> Path:
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


def plot_psf_panels(results: dict[str, Any], path: str | Path) -> Path:
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


def plot_tradeoff(results: dict[str, Any], paper: dict[str, Any], path: str | Path) -> Path:
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


def plot_canyon(results: dict[str, Any], paper: dict[str, Any], path: str | Path) -> Path:
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


def plot_psf(psf_row: np.ndarray, scenario: Scenario, n1: int, path: str | Path) -> Path:
    """Save the PSF of voxel ``n1`` as an x-y image plus its 1-D slice along y (Fig. 3).

    Parameters
    ----------
    psf_row : ndarray, shape (n_voxels,)
        ``PSF(n1, :)`` from :func:`skysense.imaging.psf`.
    scenario : Scenario
        Gives the grid and axes (a 3-D grid is shown in the layer of ``n1``).
    n1 : int
        Voxel index of the row.
    path : str or Path
        Output PNG.
    """
    plt = _pyplot()
    nx, ny, nz = scenario.grid_shape
    ix, _, iz = np.unravel_index(n1, (nx, ny, nz))
    image = np.asarray(psf_row).reshape(nx, ny, nz)[:, :, iz]
    xs, ys, _ = scenario.axis_centers_m()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
    d0 = scenario.voxel_size_m
    extent = (ys[0] - d0 / 2, ys[-1] + d0 / 2, xs[-1] + d0 / 2, xs[0] - d0 / 2)
    im = ax0.imshow(image, extent=extent, cmap="viridis", vmin=0, vmax=1)
    ax0.set(xlabel="y [m]", ylabel="x [m]", title=f"PSF of voxel n1 = {n1} (a)")
    fig.colorbar(im, ax=ax0, label="PSF")
    ax1.plot(ys, image[ix], marker=".")
    ax1.set(xlabel="y [m]", ylabel="PSF", ylim=(0, 1.05), title=f"slice x = {xs[ix]:.1f} m (b)")
    ax1.grid(alpha=0.3)
    fig.suptitle(
        f"N0 = {scenario.n_antennas_side}, d0 = {d0} m, mode {scenario.mode}, "
        f"N_f = {scenario.n_subcarriers}"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
