"""Bistatic resolution (Fig. 8: two targets at fractions of the Rx HPBW) and timing offset
(Fig. 7: ToA bias, angles unaffected)."""

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

__all__ = ["BistaticSeparation", "BistaticTimingOffset"]


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
        cell: float,
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

    def summarize(self, cell: float, trials: dict[str, Any]) -> dict[str, Any]:
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


@dataclass(frozen=True)
class BistaticTimingOffset(GridSetup, Experiment):
    """ToA bias and angle errors under a receiver timing offset (Fig. 7).

    Parameters
    ----------
    offsets_cells : tuple of float
        Timing offsets epsilon in ToA resolution cells 1/(N df).
    snr_db : float
        Per-antenna SNR [dB].
    methods : tuple of str
        Estimators that report ToA (see ``bistatic-accuracy``).
    n_targets, pilots, angle_step_deg, toa_step_cells, chunk_size
        As for ``bistatic-accuracy``.

    Notes
    -----
    The offset multiplies every eigenvalue by ``exp(-j 2 pi df epsilon)``: ToAs shift by
    epsilon, angles do not change. Reported: the mean ToA error against the true ToAs (the
    bias, expected = epsilon), the RMSE against ``tau + epsilon``, and the angle MSEs.
    """

    name: ClassVar[str] = "bistatic-timing-offset"
    default_trials: ClassVar[int] = 20

    offsets_cells: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    snr_db: float = 20.0
    methods: tuple[str, ...] = ("paraming",)
    n_targets: int = 3
    pilots: Literal["orthogonal", "qam"] = "orthogonal"
    angle_step_deg: float = 1.0
    toa_step_cells: float = 0.25
    chunk_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets_cells", tuple(float(f) for f in self.offsets_cells))
        object.__setattr__(self, "methods", check_methods(self.methods))
        if "root_music_2d" in self.methods:
            raise ValueError("methods: root_music_2d estimates no ToA")
        if not self.offsets_cells:
            raise ValueError("offsets_cells must be non-empty")

    def cells(self) -> tuple[float, ...]:
        return self.offsets_cells

    def run_chunk(
        self,
        cell: float,
        state: tuple[bs.Scenario, bs.Grid],
        n_trials: int,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        sc, grid = state
        q = self.n_targets + 1
        eps = cell * sc.toa_resolution_s
        keys = ("bias", "se_toa", "se_aoa", "se_aod")
        out = {f"{m}_{k}": np.empty((n_trials, q)) for m in self.methods for k in keys}
        for t in range(n_trials):
            paths = bs.random_paths(sc, rng=rng, n_targets=self.n_targets)
            meas = bs.simulate(
                sc, paths, self.snr_db, rng=rng, timing_offset_s=eps, pilots=self.pilots
            )
            shifted = bs.Paths(paths.aoa_rad, paths.aod_rad, paths.toa_s + eps, paths.gain)
            for m in self.methods:
                est = METHODS[m](meas.csi[0], q, sc, grid)
                err = matched_errors(est, shifted, sc)
                out[f"{m}_se_toa"][t], out[f"{m}_se_aoa"][t] = err["toa"] ** 2, err["aoa"] ** 2
                out[f"{m}_se_aod"][t] = err["aod"] ** 2
                out[f"{m}_bias"][t] = cell + err["toa"]  # error against the true ToAs
        return out

    def summarize(self, cell: float, trials: dict[str, Any]) -> dict[str, Any]:
        first = trials[f"{self.methods[0]}_bias"]
        return {
            m: {
                "toa_bias": nanmean(trials[f"{m}_bias"]),
                "rmse_toa_shifted": _sqrt(nanmean(trials[f"{m}_se_toa"])),
                "mse_aoa": nanmean(trials[f"{m}_se_aoa"]),
                "mse_aod": nanmean(trials[f"{m}_se_aod"]),
            }
            for m in self.methods
        } | {"n_trials": int(first.shape[0])}

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        return {f"{e:g}": summaries[e] for e in self.offsets_cells}

    def table(self, results: dict[str, Any]) -> str:
        lines = [f"{'eps':>5} {'method':>10} | {'ToA bias':>9} {'MSE AoA':>9} {'MSE AoD':>9}"]
        for eps, per in results.items():
            for m in self.methods:
                r = per[m]
                lines.append(
                    f"{eps:>5} {m:>10} | {r['toa_bias']:9.3f} {r['mse_aoa']:9.2e} {r['mse_aod']:9.2e}"
                )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """ToA bias and angle MSE vs the timing offset."""
        x = [float(e) for e in results]
        bias = {m: (x, [results[e][m]["toa_bias"] for e in results]) for m in self.methods}
        bias["expected (= eps)"] = (x, x)
        mse = {
            f"{m} {k}": (x, [results[e][m][f"mse_{k}"] for e in results])
            for m in self.methods
            for k in ("aoa", "aod")
        }
        return plot_lines(
            [
                ("offset [1/(N df)]", "ToA bias [1/(N df)]", False, bias),
                ("offset [1/(N df)]", "MSE [rad^2]", True, mse),
            ],
            path,
            "bistatic-timing-offset",
        )


def _sqrt(x: float | None) -> float | None:
    # sqrt of a mean square (None when there was nothing to average, for JSON).
    return None if x is None else float(np.sqrt(x))
