"""Bistatic latency per CSI of each estimator (Table II of the bistatic paper)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import METHODS, GridSetup, check_methods
from skysense.experiments.runner import Experiment

__all__ = ["BistaticLatency"]


@dataclass(frozen=True)
class BistaticLatency(GridSetup, Experiment):
    """Median wall time per CSI of each estimator (Table II), single-threaded.

    Parameters
    ----------
    methods : tuple of str
        Estimators (see ``bistatic-accuracy``).
    snr_db : float
        SNR of the timed CSIs [dB].
    angle_step_deg, toa_step_cells : float
        Grid of the grid methods.
    chunk_size : int
        Trials per task.

    Notes
    -----
    Each trial times one call on a fresh CSI (LoS + 3 targets, q = 4) with
    ``time.perf_counter``; the runner pins every thread pool to one thread.

    Examples
    --------
    >>> from skysense.experiments import BistaticLatency
    >>> exp = BistaticLatency(methods=("paraming", "root_music_2d"))
    >>> exp.name  # skysense reproduce <name>
    'bistatic-latency'
    """

    name: ClassVar[str] = "bistatic-latency"
    default_trials: ClassVar[int] = 10

    methods: tuple[str, ...] = ("paraming", "root_music_2d", "bartlett", "music", "dml")
    snr_db: float = 20.0
    angle_step_deg: float = 1.0
    toa_step_cells: float = 0.25
    chunk_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", check_methods(self.methods))

    def cells(self) -> tuple[str, ...]:
        return self.methods

    def run_chunk(
        self,
        cell: Any,
        state: tuple[bs.Scenario, bs.Grid],
        n_trials: int,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        sc, grid = state
        seconds = np.empty(n_trials)
        for t in range(n_trials):
            paths = bs.random_paths(sc, rng=rng)
            csi = bs.simulate(sc, paths, self.snr_db, rng=rng).csi[0]
            start = time.perf_counter()
            METHODS[cell](csi, paths.n_paths, sc, grid)
            seconds[t] = time.perf_counter() - start
        return {"seconds": seconds}

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
        s = trials["seconds"]
        return {"median_ms": float(1e3 * np.median(s)), "n_trials": int(s.size)}

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        results = {m: summaries[m] for m in self.methods}
        base = results.get("paraming", {}).get("median_ms")
        if base:
            for r in results.values():
                r["vs_paraming"] = r["median_ms"] / base
        return results

    def table(self, results: dict[str, Any]) -> str:
        lines = [f"{'method':>14} | {'median ms':>10} {'x PARAMING':>10}"]
        for m, r in results.items():
            lines.append(
                f"{m:>14} | {r['median_ms']:10.1f} {r.get('vs_paraming', float('nan')):10.1f}"
            )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Bar chart of the median latency per method (log scale)."""
        from skysense.plotting._common import _pyplot, _save

        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        names = list(results)
        ax.bar(names, [results[m]["median_ms"] for m in names])
        ax.set_yscale("log")
        ax.set_ylabel("median latency per CSI [ms]")
        ax.set_title("bistatic-latency")
        return _save(fig, path)
