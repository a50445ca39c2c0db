"""Bistatic accuracy vs SNR (Bazzi et al., JSAC 2025, Figs. 4-6): PARAMING with and without its
ML refinement, the baselines, the CRB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import (
    METHODS,
    GridSetup,
    check_methods,
    make_grid,
    matched_errors,
    nanmean,
    paraming_quiet,
)
from skysense.experiments.runner import Experiment
from skysense.plotting import plot_lines

__all__ = ["PAPER_ACCURACY", "BistaticAccuracy"]

#: A path whose |ToA error| exceeds this [1/(N df)] counts as an outlier (a missed peak).
OUTLIER_TOA = 1.0

#: What the paper states (its figures' numbers did not survive in our copy of the text).
PAPER_ACCURACY: dict[str, Any] = {
    "source": "Bazzi et al., IEEE JSAC 2025, Sec. V (prose only; values lost)",
    "statements": [
        "grid methods (Bartlett, MUSIC, DML) give identical curves that saturate at their grid",
        "Root-MUSIC-2D has an earlier waterfall but does not beat PARAMING",
        "PARAMING approaches the CRB at high SNR",
    ],
}


@dataclass(frozen=True)
class BistaticAccuracy(GridSetup, Experiment):
    """RMSE of ToA (in 1/(N df)) and MSE of AoA/AoD [rad^2] vs SNR, with the CRB.

    Parameters
    ----------
    snrs_db : tuple of float
        Per-receive-antenna SNRs [dB].
    methods : tuple of str
        Estimators among "paraming" (with the ML refinement, the default of
        :func:`~skysense.bistatic.paraming`), "paraming_pencil" (``refine=False``: PARAMING
        as published), "root_music_2d", "bartlett", "music", "dml".
    n_targets : int
        Targets per trial (plus the LoS path), drawn by ``random_paths``.
    pilots : {"orthogonal", "qam"}
        Pilots of ``simulate``. With "qam" (the JSTSP code) the LS CSI noise is coloured and
        every CSI-based method loses about 10 log10(K / (K - Nt)) = 7 dB against the CRB.
    angle_step_deg, toa_step_cells : float
        Grid of the grid methods: angle step [deg] and ToA step in resolution cells 1/(N df).
    paraming_subarrays : tuple of int (Mt, Mr, M), optional
        PARAMING's sub-arrays (default: half of each dimension, the JSTSP code). A pencil of
        about N/3 or 2N/3 subcarriers (M = 22 or 43) brings the unrefined ToA about 1.5 dB
        closer to the CRB than M = N/2 (25 draws at 20 dB); the refinement closes the gap.
    array_sizes : tuple of int (n_tx, n_rx, n_subcarriers)
        Sizes of the link (the other numerology as in ``Scenario()``).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Per trial: a random geometry (LoS + ``n_targets``, unit gains, ToAs in the CP window,
    at least one resolution cell apart), one sub-frame of pilots, LS CSI, every estimator
    with the true model order, errors after an optimal path assignment, and the CRB with the
    trial's pilots. Summaries average over trials and paths; the JSON adds, per method, the
    median |error| of each quantity and the fraction of paths with |ToA error| > 1/(N df),
    and for PARAMING the fraction of CSIs the refinement gave and of paths flagged unreliable.

    Examples
    --------
    >>> from skysense.experiments import BistaticAccuracy
    >>> exp = BistaticAccuracy(snrs_db=(10.0, 20.0), methods=("paraming", "dml"))
    >>> exp.name  # skysense reproduce <name>
    'bistatic-accuracy'
    """

    name: ClassVar[str] = "bistatic-accuracy"
    default_trials: ClassVar[int] = 20

    snrs_db: tuple[float, ...] = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
    methods: tuple[str, ...] = (
        "paraming",
        "paraming_pencil",
        "root_music_2d",
        "bartlett",
        "music",
        "dml",
    )
    n_targets: int = 3
    pilots: Literal["orthogonal", "qam"] = "orthogonal"
    angle_step_deg: float = 1.0
    toa_step_cells: float = 0.25
    paraming_subarrays: tuple[int, int, int] | None = None
    array_sizes: tuple[int, int, int] = (8, 10, 64)
    chunk_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "snrs_db", tuple(float(s) for s in self.snrs_db))
        sizes = tuple(int(v) for v in self.array_sizes)
        if len(sizes) != 3:
            raise ValueError(f"array_sizes must be (n_tx, n_rx, n_subcarriers), got {sizes}")
        object.__setattr__(self, "array_sizes", sizes)
        self.scenario()  # validates the sizes
        if self.paraming_subarrays is not None:
            sub = tuple(int(v) for v in self.paraming_subarrays)
            object.__setattr__(self, "paraming_subarrays", sub)
            bs.hankel_shape(self.scenario(), sub)  # validates the sizes
        object.__setattr__(self, "methods", check_methods(self.methods))
        if not self.snrs_db:
            raise ValueError("snrs_db must be non-empty")
        if self.pilots not in ("orthogonal", "qam"):
            raise ValueError(f"pilots must be 'orthogonal' or 'qam', got {self.pilots!r}")
        make_grid(self.scenario(), self.angle_step_deg, self.toa_step_cells)

    def scenario(self) -> bs.Scenario:
        """The link of the experiment (``array_sizes``, default numerology)."""
        nt, nr, n = self.array_sizes
        return bs.Scenario(n_tx=nt, n_rx=nr, n_subcarriers=n)

    def cells(self) -> tuple[float, ...]:
        return self.snrs_db

    def run_chunk(
        self,
        cell: Any,
        state: tuple[bs.Scenario, bs.Grid],
        n_trials: int,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        sc, grid = state
        q = self.n_targets + 1
        out: dict[str, NDArray[np.float64]] = {
            f"{m}_{k}": np.empty((n_trials, q)) for m in self.methods for k in ("aoa", "aod", "toa")
        }
        out.update({f"crb_{k}": np.empty((n_trials, q)) for k in ("aoa", "aod", "toa")})
        for m in self.methods:
            if m.startswith("paraming"):
                out[f"{m}_refined"] = np.zeros(n_trials)
                out[f"{m}_unreliable"] = np.zeros(n_trials)
        for t in range(n_trials):
            paths = bs.random_paths(sc, rng=rng, n_targets=self.n_targets)
            meas = bs.simulate(sc, paths, cell, rng=rng, pilots=self.pilots)
            for m in self.methods:
                if m.startswith("paraming"):
                    est = paraming_quiet(
                        meas.csi[0],
                        q,
                        sc,
                        subarrays=self.paraming_subarrays,
                        refine=m == "paraming",
                    )
                    out[f"{m}_refined"][t] = float(bool(est.refined))
                    assert est.reliable is not None
                    out[f"{m}_unreliable"][t] = float(np.sum(~est.reliable))
                else:
                    est = METHODS[m](meas.csi[0], q, sc, grid)
                err = matched_errors(est, paths, sc)
                for k, v in err.items():
                    out[f"{m}_{k}"][t] = v**2
            bound = bs.crb(sc, paths, cell, pilots=meas.pilots[0])
            out["crb_aoa"][t], out["crb_aod"][t] = bound.aoa_var_rad2, bound.aod_var_rad2
            out["crb_toa"][t] = bound.toa_var_s2 / sc.toa_resolution_s**2
        return out

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
        summary: dict[str, Any] = {"n_trials": int(trials["crb_aoa"].shape[0])}
        for m in (*self.methods, "crb"):
            toa = nanmean(trials[f"{m}_toa"])
            summary[m] = {
                "rmse_toa": None if toa is None else float(np.sqrt(toa)),
                "mse_aoa": nanmean(trials[f"{m}_aoa"]),
                "mse_aod": nanmean(trials[f"{m}_aod"]),
            }
            if m != "crb":  # 95 % confidence intervals of the means over trials
                ci = _ci95(trials[f"{m}_toa"])
                summary[m]["ci95_rmse_toa"] = None if ci is None else [ci[0] ** 0.5, ci[1] ** 0.5]
                for k in ("aoa", "aod"):
                    ci = _ci95(trials[f"{m}_{k}"])
                    summary[m][f"ci95_mse_{k}"] = None if ci is None else list(ci)
            if m != "crb":  # robust statistics of the per-path errors (JSON only)
                for k in ("aoa", "aod", "toa"):
                    summary[m][f"median_abs_{k}"] = _nanmedian_abs(trials[f"{m}_{k}"])
                sq_toa = np.asarray(trials[f"{m}_toa"], float)
                summary[m]["outlier_fraction"] = (
                    float(np.mean(sq_toa > OUTLIER_TOA**2)) if np.isfinite(sq_toa).any() else None
                )
                if m.startswith("paraming"):
                    summary[m]["refined_fraction"] = float(np.mean(trials[f"{m}_refined"]))
                    summary[m]["unreliable_paths"] = int(np.sum(trials[f"{m}_unreliable"]))
        for m in self.methods:
            gap: dict[str, float] = {}
            for key in ("rmse_toa", "mse_aoa", "mse_aod"):
                ours, bound = summary[m][key], summary["crb"][key]
                if ours is not None and bound:
                    power = 20.0 if key == "rmse_toa" else 10.0
                    gap[key] = float(power * np.log10(ours / bound))
            summary[m]["gap_db"] = gap
        return summary

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        return {f"{snr:g}": summaries[snr] for snr in self.snrs_db}

    def paper(self) -> dict[str, Any]:
        return PAPER_ACCURACY

    def table(self, results: dict[str, Any]) -> str:
        lines = [
            f"{'SNR':>5} {'method':>14} | {'RMSE ToA':>9} {'MSE AoA':>9} {'MSE AoD':>9} | gap dB"
        ]
        for snr, per in results.items():
            for m in (*self.methods, "crb"):
                r = per[m]

                def f(v: float | None) -> str:
                    return "        -" if v is None else f"{v:9.2e}"

                gap = " ".join(f"{v:+5.1f}" for v in r.get("gap_db", {}).values())
                lines.append(
                    f"{snr:>5} {m:>14} | {f(r['rmse_toa'])} {f(r['mse_aoa'])} {f(r['mse_aod'])} | {gap}"
                )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """RMSE ToA and MSE AoA/AoD vs SNR per method, 95 % confidence bands, CRB dashed."""
        snrs = [float(s) for s in results]
        panels = []
        for key, label in (
            ("rmse_toa", "RMSE ToA [1/(N df)]"),
            ("mse_aoa", "MSE AoA [rad^2]"),
            ("mse_aod", "MSE AoD [rad^2]"),
        ):
            lines: dict[str, tuple[Any, ...]] = {}
            for m in self.methods:
                per = [results[s][m] for s in results]
                ci = [r.get(f"ci95_{key}") or (None, None) for r in per]
                lines[m] = (
                    snrs,
                    [r[key] for r in per],
                    [c[0] for c in ci],
                    [c[1] for c in ci],
                )
            lines["CRB"] = (snrs, [results[s]["crb"][key] for s in results])
            panels.append(("SNR [dB]", label, True, lines))
        counts = sorted({int(results[s]["n_trials"]) for s in results})
        n = "/".join(str(c) for c in counts)
        title = (
            f"Bistatic accuracy vs SNR: {n} draws per SNR, LoS + {self.n_targets} targets each; "
            "shaded: 95 % bootstrap confidence interval of the mean"
        )
        return plot_lines(panels, path, title)


def _ci95(squared: ArrayLike) -> tuple[float, float] | None:
    # 95 % percentile-bootstrap interval of the mean over trials of the per-trial mean squared
    # error (trials are independent, paths within a trial are not); a fixed resampling seed
    # keeps summaries reproducible. None with fewer than 2 finite trials.
    x = np.asarray(squared, float)
    with np.errstate(invalid="ignore"):
        per_trial = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in x])
    per_trial = per_trial[np.isfinite(per_trial)]
    if per_trial.size < 2:
        return None
    idx = np.random.default_rng(0).integers(0, per_trial.size, size=(2000, per_trial.size))
    lo, hi = np.percentile(per_trial[idx].mean(axis=1), [2.5, 97.5])
    return float(lo), float(hi)


def _nanmedian_abs(squared: ArrayLike) -> float | None:
    # Median |error| over finite entries of squared errors (None when there are none).
    x = np.asarray(squared, float)
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.median(x))) if x.size else None
