"""Imaging figures: PSF (Fig. 3), Table II, PSF panels (Figs. 4-5), Fig. 10, Table VI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skysense.plotting._common import _pyplot, _save

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.imaging import Scenario

__all__ = [
    "plot_canyon",
    "plot_images",
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
    """Mean P(n1) for Fig. 4(a)-(c) and the off-grid error of Fig. 5.

    Parameters
    ----------
    results : dict
        The ``results`` of an :class:`~skysense.experiments.ImagingPsf` run (panels
        ``"fig4a"``, ``"fig4b"``, ``"fig4c"``, ``"fig5"``; a missing panel stays empty).
    path : str or Path
        Image file to write.

    Returns
    -------
    Path
        ``path``, written.
    """
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
    """Fig. 10: DR and frame SE vs P_s at fixed P_t.

    Parameters
    ----------
    results : dict
        The ``results`` of an :class:`~skysense.experiments.ImagingTradeoff` run, keyed by
        P_s [dBm].
    paper : dict
        The paper's reference points (``PAPER_FIG10`` of the experiment's module).
    path : str or Path
        Image file to write.

    Returns
    -------
    Path
        ``path``, written.
    """
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


def _xy_extent(scenario: Scenario) -> tuple[float, float, float, float]:
    # imshow extent of an (n_x, n_y) image drawn transposed: x to the right, y up [m].
    xs, ys, _ = scenario.axis_centers_m()
    h = scenario.voxel_size_m / 2
    return (xs[0] - h, xs[-1] + h, ys[0] - h, ys[-1] + h)


def plot_psf(psf_row: np.ndarray, scenario: Scenario, n1: int, path: str | Path) -> Path:
    """Save the PSF of voxel ``n1`` as an x-y image plus its 1-D slice along x (Fig. 3).

    The image has x to the right and y up, like every image of the package's figures.

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
    _, iy, iz = np.unravel_index(n1, (nx, ny, nz))
    image = np.asarray(psf_row).reshape(nx, ny, nz)[:, :, iz]
    xs, ys, _ = scenario.axis_centers_m()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
    d0 = scenario.voxel_size_m
    im = ax0.imshow(
        image.T, origin="lower", extent=_xy_extent(scenario), cmap="viridis", vmin=0, vmax=1
    )
    ax0.axhline(ys[iy], color="w", lw=0.6, ls=":")
    ax0.set(xlabel="x [m]", ylabel="y [m]", title=f"PSF of voxel n1 = {n1} (a)")
    fig.colorbar(im, ax=ax0, label="PSF (normalised correlation)")
    ax1.plot(xs, image[:, iy], marker=".")
    ax1.set(xlabel="x [m]", ylabel="PSF", ylim=(0, 1.05), title=f"slice y = {ys[iy]:.1f} m (b)")
    ax1.grid(alpha=0.3)
    fig.suptitle(
        f"N0 = {scenario.n_antennas_side}, d0 = {d0} m, mode {scenario.mode}, "
        f"N_f = {scenario.n_subcarriers}"
    )
    return _save(fig, path)


def plot_images(
    panels: Sequence[tuple[str, np.ndarray, Scenario, np.ndarray | None]],
    path: str | Path,
    *,
    floor_db: float = -30.0,
    title: str = "",
) -> Path:
    """Images on one colour scale: power in dB relative to each panel's peak, targets marked.

    Parameters
    ----------
    panels : sequence of (title, image, scenario, targets_m)
        ``image`` of shape (n_voxels,) on ``scenario``'s grid (complex or real amplitudes;
        shown as ``10 log10(|v|^2 / max |v|^2)``, a 3-D grid as its maximum over z);
        ``targets_m`` of shape (n, 2 or 3) are the true positions [m], drawn as red circles
        (``None``: none; say so in ``title``).
    path : str or Path
        Output PNG.
    floor_db : float
        Bottom of the shared colour scale [dB] (< 0).
    title : str
        Figure title.
    """
    if not floor_db < 0:
        raise ValueError(f"floor_db must be < 0, got {floor_db}")
    plt = _pyplot()
    n = len(panels)
    fig, axes = plt.subplots(
        1, n, figsize=(3.1 * n + 1.2, 3.6), squeeze=False, sharey=True, layout="constrained"
    )
    im = None
    for ax, (name, image, scenario, targets) in zip(axes[0], panels, strict=True):
        nx, ny, nz = scenario.grid_shape
        power = np.abs(np.asarray(image).reshape(nx, ny, nz)) ** 2
        power = power.max(axis=2)
        peak = power.max()
        with np.errstate(divide="ignore"):
            db = 10.0 * np.log10(power / peak) if peak > 0 else np.full_like(power, floor_db)
        im = ax.imshow(
            np.maximum(db, floor_db).T,
            origin="lower",
            extent=_xy_extent(scenario),
            cmap="viridis",
            vmin=floor_db,
            vmax=0.0,
        )
        if targets is not None and len(targets):
            t = np.asarray(targets, float).reshape(len(targets), -1)
            ax.plot(t[:, 0], t[:, 1], "o", mfc="none", mec="r", ms=9, mew=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x [m]")
    axes[0][0].set_ylabel("y [m]")
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), label="power relative to the peak [dB]")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
