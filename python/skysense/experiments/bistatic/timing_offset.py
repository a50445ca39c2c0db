"""Bistatic timing offset: ToA bias, angles unaffected (Fig. 7 of the bistatic paper)."""

from __future__ import annotations

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

__all__ = ["BistaticTimingOffset"]


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

    Examples
    --------
    >>> from skysense.experiments import BistaticTimingOffset
    >>> exp = BistaticTimingOffset(offsets_cells=(0.0, 2.0))
    >>> exp.name  # skysense reproduce <name>
    'bistatic-timing-offset'
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
        cell: Any,
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

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
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
