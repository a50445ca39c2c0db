"""Figs. 3-5 of Huang et al. (TWC 2026): PSF sidelobes and off-grid steering error."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skysense.experiments.runner import Experiment, Trials
from skysense.imaging import Scenario, SensingOperator, max_sidelobe, offgrid_error, psf

__all__ = ["PAPER_PSF", "ImagingPsf"]

#: What the paper states about Figs. 3-5 (Sec. III-B/C); the figures carry no tabulated values.
PAPER_PSF = {
    "source": "Huang et al., IEEE TWC 25 (2026), Sec. III-B (Figs. 3, 4) and III-C (Fig. 5)",
    "fig3": "strong correlation between adjacent voxels; PSF slice through n1 = 800",
    "fig4a": "P(n1) falls as N0 grows and as the spacing factor xi grows",
    "fig4b": "P(n1) falls as d0 grows",
    "fig4c": "P(n1) falls with N_f and B, saturating in N_f at fixed B",
    "fig5": "Delta b below -10 dB requires Delta p < 1 mm",
}


def _key(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class ImagingPsf(Experiment):
    """Max PSF sidelobe P(n1) over random voxels n1 (Fig. 4), and Delta b vs Delta p (Fig. 5).

    Cells are ``("fig4a", N0, xi)``, ``("fig4b", d0, roi_side)``, ``("fig4c", N_f, B_MHz)``,
    ``("fig5", delta_p)`` and ``("fig3",)``; one trial is one uniformly drawn voxel n1 (Fig. 4,
    Fig. 3) or one point at distance ``delta_p`` from a random voxel centre in a random
    direction (Fig. 5). Every scenario is the paper's 2D default (``Scenario()``) with the
    swept parameters changed.

    Parameters
    ----------
    n0_values : tuple of int
        Array sides N0 of Fig. 4a.
    xi_values : tuple of float
        Element-spacing factors xi of Fig. 4a (spacing ``xi lambda / 2``).
    voxel_sizes_m : tuple of float
        Voxel sizes d0 of Fig. 4b [m].
    roi_sides_m : tuple of float
        ROI sides of Fig. 4b [m].
    subcarrier_counts : tuple of int
        Subcarrier counts N_f of Fig. 4c.
    bandwidths_mhz : tuple of float
        Bandwidths B of Fig. 4c [MHz].
    offsets_m : tuple of float
        Distances delta_p of the points from their voxel centres of Fig. 5 [m].
    fig3_voxel : int
        Flat index of the voxel n1 whose PSF Fig. 3 shows.
    chunk_size : int
        Trials per task.
    """

    name: ClassVar[str] = "imaging-psf"
    default_trials: ClassVar[int] = 200

    n0_values: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    xi_values: tuple[float, ...] = (1.0, 2.0, 4.0)
    voxel_sizes_m: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    roi_sides_m: tuple[float, ...] = (60.0, 120.0)
    subcarrier_counts: tuple[int, ...] = (1, 2, 4, 8, 16)
    bandwidths_mhz: tuple[float, ...] = (10.0, 40.0, 100.0)
    offsets_m: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    fig3_voxel: int = 800
    chunk_size: int = 25

    def cells(self) -> tuple[tuple[Any, ...], ...]:
        cells: list[tuple[Any, ...]] = [
            ("fig4b", d, r) for d in self.voxel_sizes_m for r in self.roi_sides_m
        ]
        cells += [("fig4a", n, x) for n in self.n0_values for x in self.xi_values]
        cells += [("fig4c", nf, b) for nf in self.subcarrier_counts for b in self.bandwidths_mhz]
        cells += [("fig5", dp) for dp in self.offsets_m]
        cells.append(("fig3",))
        return tuple(cells)

    def scenario(self, cell: tuple[Any, ...]) -> Scenario:
        panel = cell[0]
        if panel == "fig4a":
            return Scenario(n_antennas_side=cell[1], spacing_factor=cell[2])
        if panel == "fig4b":
            return Scenario(voxel_size_m=cell[1], roi_size_m=(cell[2], cell[2], 0.0))
        if panel == "fig4c":
            return Scenario(n_subcarriers=cell[1], bandwidth_hz=cell[2] * 1e6)
        return Scenario()

    def setup_key(self, cell: tuple[Any, ...]) -> Hashable:
        return self.scenario(cell)  # Figs. 3 and 5 share the default scenario

    def setup(self, cell: tuple[Any, ...]) -> Any:
        s = self.scenario(cell)
        return {"scenario": s, "operator": SensingOperator(s)}

    def run_chunk(
        self, cell: tuple[Any, ...], state: Any, n_trials: int, rng: np.random.Generator
    ) -> Trials:
        s, op = state["scenario"], state["operator"]
        voxels = rng.integers(s.n_voxels, size=n_trials)
        if cell[0] != "fig5":
            out = {"sidelobe": max_sidelobe(op, voxels), "voxel": voxels}
            if cell[0] == "fig3":
                row = psf(op, [self.fig3_voxel])[0]
                out["fig3_sidelobe"] = np.full(n_trials, np.max(np.delete(row, self.fig3_voxel)))
            return out
        direction = rng.standard_normal((n_trials, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        points = s.voxel_centers_m()[voxels] + cell[1] * direction
        err = offgrid_error(s, points)
        return {"delta_b": err.steering_error, "delta_p": err.offset_m}

    def summarize(self, cell: tuple[Any, ...], trials: Trials) -> dict[str, Any]:
        if cell[0] == "fig5":
            db = trials["delta_b"]
            return {
                "mean": float(db.mean()),
                "mean_db": float(10.0 * np.log10(db.mean())),
                "median_db": float(10.0 * np.log10(np.median(db))),
                "n_trials": int(db.size),
            }
        p = trials["sidelobe"]
        out = {
            "mean": float(p.mean()),
            "std": float(p.std()),
            "median": float(np.median(p)),
            "max": float(p.max()),
            "n_trials": int(p.size),
        }
        if cell[0] == "fig3":
            out["p_fig3_voxel"] = float(trials["fig3_sidelobe"][0])
            out["fig3_voxel"] = self.fig3_voxel
        return out

    def report(self, summaries: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
        results: dict[str, Any] = {"fig3": {}, "fig4a": {}, "fig4b": {}, "fig4c": {}, "fig5": {}}
        for cell, summary in summaries.items():
            panel = cell[0]
            if panel == "fig3":
                results["fig3"] = summary
            elif panel == "fig5":
                results["fig5"][_key(cell[1])] = summary
            else:  # series (xi, ROI side, B) -> x (N0, d0, N_f)
                results[panel].setdefault(_key(cell[2]), {})[_key(cell[1])] = summary
        return results

    def paper(self) -> dict[str, Any]:
        return PAPER_PSF

    def table(self, results: dict[str, Any]) -> str:
        fig3 = results["fig3"]
        lines = [
            (
                f"Fig. 3: P(n1 = {fig3.get('fig3_voxel')}) = "
                f"{fig3.get('p_fig3_voxel', float('nan')):.3f}; mean over random n1 "
                f"{fig3.get('mean', float('nan')):.3f}"
            )
        ]
        names = {"fig4a": ("xi", "N0"), "fig4b": ("ROI", "d0"), "fig4c": ("B MHz", "N_f")}
        for panel, (series, x) in names.items():
            for label, points in results[panel].items():
                vals = ", ".join(f"{k}: {v['mean']:.3f}" for k, v in points.items())
                lines.append(f"Fig. {panel[3:]} {series} = {label}; mean P(n1) vs {x}: {vals}")
        vals = ", ".join(f"{k} m: {v['mean_db']:.1f} dB" for k, v in results["fig5"].items())
        lines.append(f"Fig. 5 Delta b vs Delta p: {vals}")
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path | None:
        from skysense.plotting import plot_psf_panels

        return plot_psf_panels(results, path)
