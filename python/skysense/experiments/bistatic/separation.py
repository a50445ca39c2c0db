"""Bistatic resolution: two targets at fractions of the Rx beamwidth (Fig. 8 of the bistatic
paper)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import (
    METHODS,
    GridSetup,
    check_methods,
    matched_errors,
    nanmean,
)
from skysense.experiments.runner import Experiment
from skysense.plotting import plot_lines

__all__ = ["BistaticSeparation"]


@dataclass(frozen=True)
class BistaticSeparation(GridSetup, Experiment):
    """Resolution of two targets whose AoAs differ by a fraction of the Rx HPBW (Fig. 8).

    Parameters
    ----------
    separations_beamwidths : tuple of float
        AoA separations in units of the Rx half-power beamwidth (0.886 / (Nr d_r) rad,
        10.2 deg).
    snr_db : float
        Per-antenna SNR [dB].
    toa_separation_cells : float
        ToA difference of the two targets in resolution cells 1/(N df) (below 1: not
        resolvable in ToA alone).
    methods : tuple of str
        Estimators (see ``bistatic-accuracy``).
    pilots, angle_step_deg, toa_step_cells, chunk_size
        As for ``bistatic-accuracy``.

    Notes
    -----
    Per trial: AoAs ``+-Delta/2`` around a uniform centre in [-30, 30] deg, one common AoD
    uniform in [-60, 60] deg, the first ToA uniform in [0.2, 0.6] T_cp, unit gains with random
    phases; no LoS path (q = 2). A trial resolves the pair when both matched AoA errors are below
    ``Delta / 2``.

    Examples
    --------
    >>> from skysense.experiments import BistaticSeparation
    >>> exp = BistaticSeparation(separations_beamwidths=(0.25, 1.0))
    >>> exp.name  # skysense reproduce <name>
    'bistatic-separation'
    """

    name: ClassVar[str] = "bistatic-separation"
    default_trials: ClassVar[int] = 20

    separations_beamwidths: tuple[float, ...] = (0.125, 0.25, 0.5, 0.75, 1.0)
    snr_db: float = 10.0
    toa_separation_cells: float = 0.25
    methods: tuple[str, ...] = ("paraming", "root_music_2d", "music")
    pilots: Literal["orthogonal", "qam"] = "orthogonal"
    angle_step_deg: float = 1.0
    toa_step_cells: float = 0.25
    chunk_size: int = 5

    def __post_init__(self) -> None:
        seps = tuple(float(f) for f in self.separations_beamwidths)
        object.__setattr__(self, "separations_beamwidths", seps)
        object.__setattr__(self, "methods", check_methods(self.methods))
        if not seps or min(seps) <= 0:
            raise ValueError(f"separations_beamwidths must be non-empty and > 0, got {seps}")

    def cells(self) -> tuple[float, ...]:
        return self.separations_beamwidths

    def run_chunk(
        self,
        cell: Any,
        state: tuple[bs.Scenario, bs.Grid],
        n_trials: int,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        sc, grid = state
        delta = cell * sc.half_power_beamwidth_rx_rad
        out = {
            f"{m}_{k}": np.empty(n_trials) for m in self.methods for k in ("resolved", "mse_aoa")
        }
        for t in range(n_trials):
            centre = math.radians(rng.uniform(-30, 30))
            tau0 = rng.uniform(0.2, 0.6) * sc.cyclic_prefix_s
            paths = bs.Paths(
                aoa_rad=np.array([centre - delta / 2, centre + delta / 2]),
                aod_rad=np.full(2, math.radians(rng.uniform(-60, 60))),
                toa_s=np.array([tau0, tau0 + self.toa_separation_cells * sc.toa_resolution_s]),
                gain=np.exp(2j * np.pi * rng.uniform(size=2)),
            )
            meas = bs.simulate(sc, paths, self.snr_db, rng=rng, pilots=self.pilots)
            for m in self.methods:
                err = matched_errors(METHODS[m](meas.csi[0], 2, sc, grid), paths, sc)["aoa"]
                out[f"{m}_resolved"][t] = float(np.all(np.abs(err) < delta / 2))
                out[f"{m}_mse_aoa"][t] = np.mean(err**2)
        return out

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
        return {
            m: {
                "resolved_pct": float(100.0 * trials[f"{m}_resolved"].mean()),
                "mse_aoa": nanmean(trials[f"{m}_mse_aoa"]),
            }
            for m in self.methods
        } | {"n_trials": int(trials[f"{self.methods[0]}_resolved"].shape[0])}

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        return {f"{f:g}": summaries[f] for f in self.separations_beamwidths}

    def table(self, results: dict[str, Any]) -> str:
        lines = [
            f"{'HPBW frac':>9} " + " ".join(f"{m:>14}" for m in self.methods) + "  (% resolved)"
        ]
        for frac, per in results.items():
            lines.append(
                f"{frac:>9} " + " ".join(f"{per[m]['resolved_pct']:14.1f}" for m in self.methods)
            )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Resolution rate and AoA MSE vs separation."""
        x = [float(f) for f in results]
        rate = {m: (x, [results[f][m]["resolved_pct"] for f in results]) for m in self.methods}
        mse = {m: (x, [results[f][m]["mse_aoa"] for f in results]) for m in self.methods}
        return plot_lines(
            [
                ("separation [HPBW]", "resolved [%]", False, rate),
                ("separation [HPBW]", "MSE AoA [rad^2]", True, mse),
            ],
            path,
            "bistatic-separation",
        )
