"""Table II of the mapping paper: per-epoch time of Scheme I and II vs P and measurement load."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from skysense._workers import resolve_workers
from skysense.experiments.runner import Experiment
from skysense.mapping import Mapper, MappingParams, PmfState, Scene, default_scene, simulate

__all__ = ["PAPER_MAPPING_RUNTIME", "MappingRuntime", "pkm_fit"]

#: Table II (MATLAB R2023b, i9-14900HX): "Scheme I / Scheme II" [s] per epoch; rows = load
#: (M doubling), columns = P = 5k / 10k / 20k (inferred: docs/mapping_model.md, section 9).
PAPER_MAPPING_RUNTIME: dict[str, Any] = {
    "source": "mapping paper Table II; row/column values inferred (docs/mapping_model.md)",
    "particles": [5000, 10000, 20000],
    "scheme1_s": [[0.057, 0.111, 0.222], [0.103, 0.207, 0.408], [0.201, 0.401, 0.781]],
    "scheme2_s": [[0.107, 0.206, 0.417], [0.191, 0.373, 0.762], [0.368, 0.756, 1.481]],
    "speedup": [1.881, 1.867, 1.897],
}


def pkm_fit(pkm: npt.ArrayLike, seconds: npt.ArrayLike) -> dict[str, float]:
    """Least-squares line ``seconds = intercept + slope * pkm`` over epochs.

    Parameters
    ----------
    pkm, seconds : array_like, shape (n,)
        P K M of each epoch (particles x PMFs x measurements, see :class:`MappingRuntime`)
        and its time [s].

    Returns
    -------
    dict
        ``slope_ns`` (time per unit of P K M [ns]), ``intercept_s`` [s], ``r2`` and ``n``.
    """
    x = np.asarray(pkm, float).reshape(-1)
    y = np.asarray(seconds, float).reshape(-1)
    if x.shape != y.shape or x.size < 2 or np.ptp(x) == 0:
        raise ValueError("pkm_fit needs >= 2 epochs of equal length with distinct P K M")
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    r2 = 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
    return {"slope_ns": float(slope) * 1e9, "intercept_s": float(intercept), "r2": r2, "n": x.size}


@dataclass(frozen=True)
class MappingRuntime(Experiment):
    """Per-epoch CPU time of Fusion 1 (Scheme I) and Fusion 3 (Scheme II), one thread.

    Parameters
    ----------
    particles : tuple of int
        P values.
    loads : tuple of float
        Measurement-load factors: the mean diffuse (bistatic) and monostatic MPCs per facade
        are multiplied by the factor (1: the defaults 3 and 4).
    n_warmup, n_timed : int
        Epochs run before timing (PMFs appear) and epochs timed, from epoch 60 of BS1.
    n_birth_particles : int or None
        :class:`~skysense.mapping.MappingParams` ``n_birth_particles``: particles of a new PMF
        until it is confirmed (default 2,000, the library's; ``None``: P, the paper's model);
        other parameters are the defaults (censoring and confirmation of new PMFs included).
    workers : int or None
        Threads of the C++ module (:class:`~skysense.mapping.Mapper` ``workers``; ``None``:
        :func:`skysense.get_workers` in the process that runs the trials; results do not
        depend on it).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Time is ``time.process_time`` per epoch with one thread (on a shared machine CPU time
    is steadier than wall time) and wall time (``time.perf_counter``) with more threads,
    where CPU time would add the threads up. One trial = one simulated data set; the reported
    value is the median over the timed epochs, averaged over trials. Each timed epoch also
    records ``P K M``: P times the PMFs it handles (legacy PMFs at its start plus one new PMF
    per measurement) times its measurements M (bistatic + monostatic); :meth:`table` fits
    time against it over all cells (:func:`pkm_fit`).
    """

    name: ClassVar[str] = "mapping-runtime"
    default_trials: ClassVar[int] = 1

    particles: tuple[int, ...] = (5000, 10000, 20000)
    loads: tuple[float, ...] = (1.0, 2.0, 4.0)
    n_warmup: int = 10
    n_timed: int = 10
    n_birth_particles: int | None = 2000
    workers: int | None = None
    chunk_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "particles", tuple(int(p) for p in self.particles))
        object.__setattr__(self, "loads", tuple(float(x) for x in self.loads))
        if not self.particles or not self.loads:
            raise ValueError("particles and loads must be non-empty")
        for load in self.loads:
            self.params(1, load)  # validates loads and n_birth_particles
        resolve_workers(self.workers)  # validates

    def params(self, n_particles: int, load: float) -> MappingParams:
        return MappingParams(
            n_particles=n_particles,
            diffuse_mpc_mean=3.0 * load,
            monostatic_mpc_mean=4.0 * load,
            n_birth_particles=self.n_birth_particles,
        )

    def cells(self) -> tuple[tuple[int, float], ...]:
        return tuple((p, x) for x in self.loads for p in self.particles)

    def setup(self, cell: tuple[int, float]) -> Scene:
        return default_scene()

    def run_chunk(
        self, cell: tuple[int, float], state: Scene, n_trials: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        n_p, load = cell
        params = self.params(n_p, load)
        start = 60
        out: dict[str, list[Any]] = {
            "scheme1_s": [],
            "scheme2_s": [],
            "n_meas": [],
            "pkm1": [],
            "pkm2": [],
        }
        out.update({"epochs1_s": [], "epochs2_s": []})
        n_threads = resolve_workers(self.workers)
        clock = time.process_time if n_threads == 1 else time.perf_counter
        for _ in range(n_trials):
            (data,) = simulate(state, params, rng=int(rng.integers(2**31)), bs_indices=[0])
            epochs = range(start, start + self.n_warmup + self.n_timed)
            out["n_meas"].append(
                np.mean(
                    [
                        data.bistatic_ranges_m[e].size + data.monostatic_positions_m[e].shape[0]
                        for e in epochs
                    ]
                )
            )
            for scheme, key, pkey, ekey in (
                ("fusion1", "scheme1_s", "pkm1", "epochs1_s"),
                ("fusion3", "scheme2_s", "pkm2", "epochs2_s"),
            ):
                mapper = Mapper(scheme, params, workers=n_threads)
                st = PmfState.empty(n_p)
                times, pkm = [], []
                for i, e in enumerate(epochs):
                    n_meas = (
                        data.bistatic_ranges_m[e].size + data.monostatic_positions_m[e].shape[0]
                    )
                    k = st.n_pmfs + n_meas
                    t0 = clock()
                    st, _ = mapper.step(
                        st,
                        data.bistatic_ranges_m[e],
                        data.monostatic_positions_m[e],
                        data.uav_positions_m[e],
                        data.bs_position_m,
                        rng=rng,
                        first_epoch=i == 0,
                    )
                    if i >= self.n_warmup:
                        times.append(clock() - t0)
                        pkm.append(float(n_p) * k * n_meas)
                out[key].append(np.median(times))
                out[ekey].append(times)
                out[pkey].append(pkm)
        return {k: np.asarray(v, float) for k, v in out.items()}

    def summarize(self, cell: tuple[int, float], trials: dict[str, np.ndarray]) -> dict[str, Any]:
        t1, t2 = float(trials["scheme1_s"].mean()), float(trials["scheme2_s"].mean())
        return {
            "scheme1_s": t1,
            "scheme2_s": t2,
            "speedup": t2 / t1 if t1 > 0 else float("nan"),
            "measurements_per_epoch": float(trials["n_meas"].mean()),
            "pkm_scheme1": trials["pkm1"].reshape(-1).tolist(),
            "pkm_scheme2": trials["pkm2"].reshape(-1).tolist(),
            "epochs_scheme1_s": trials["epochs1_s"].reshape(-1).tolist(),
            "epochs_scheme2_s": trials["epochs2_s"].reshape(-1).tolist(),
        }

    def report(self, summaries: dict[tuple[int, float], dict[str, Any]]) -> dict[str, Any]:
        return {f"P={p} load={x:g}": s for (p, x), s in summaries.items()}

    def paper(self) -> dict[str, Any]:
        return PAPER_MAPPING_RUNTIME

    def table(self, results: dict[str, Any]) -> str:
        lines = [
            f"{'cell':<22} {'M/epoch':>8} {'Scheme I [s]':>13} {'Scheme II [s]':>14} {'T_II/T_I':>9}"
        ]
        for k, r in results.items():
            lines.append(
                f"{k:<22} {r['measurements_per_epoch']:8.1f} {r['scheme1_s']:13.4f}"
                f" {r['scheme2_s']:14.4f} {r['speedup']:9.2f}"
            )
        lines.append("paper (P = 20k): Scheme I 0.222-0.781 s, Scheme II 0.417-1.481 s, 1.87-1.90")
        for n, name in ((1, "Scheme I"), (2, "Scheme II")):
            pkm = np.concatenate([r[f"pkm_scheme{n}"] for r in results.values()])
            sec = np.concatenate([r[f"epochs_scheme{n}_s"] for r in results.values()])
            if pkm.size >= 2 and np.ptp(pkm) > 0:
                fit = pkm_fit(pkm, sec)
                lines.append(
                    f"{name}: time = {fit['intercept_s']:.4f} s + {fit['slope_ns']:.3f} ns x P K M"
                    f" (R^2 {fit['r2']:.2f}, {fit['n']} epochs)"
                )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Per-epoch time vs P, one panel per scheme: ours per load, the paper's rows dashed."""
        from skysense.plotting import plot_lines

        paper: dict[str, Any] = PAPER_MAPPING_RUNTIME
        panels = []
        for key, name in (("scheme1_s", "Scheme I"), ("scheme2_s", "Scheme II")):
            lines: dict[str, tuple[list[Any], list[Any]]] = {
                f"ours, load {x:g}": (
                    list(self.particles),
                    [results[f"P={p} load={x:g}"][key] for p in self.particles],
                )
                for x in self.loads
            }
            for row, values in enumerate(paper[key]):
                lines[f"paper (MATLAB), row {row + 1}"] = (paper["particles"], values)
            panels.append(("particles P", f"{name}: time per epoch [s]", True, lines))
        return plot_lines(panels, path, "mapping-runtime (Table II)")
