"""Figs. 4-8 of the mapping paper: MOSPA vs epoch and map completeness of the seven methods."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skysense.experiments.runner import Experiment
from skysense.mapping import (
    SCHEMES,
    Mapper,
    MappingParams,
    Scene,
    default_scene,
    simulate,
    trace,
)
from skysense.metrics import completeness, ospa_per_epoch

__all__ = ["PAPER_MAPPING", "MappingMospa"]

#: What the paper states about Figs. 4-8 (Sec. V-B/C); its curves carry no tabulated values.
PAPER_MAPPING = {
    "source": "mapping paper, Sec. V-B (Fig. 4) and V-C (Figs. 5-8)",
    "fig4": "bistatic-only 6/7 facades, monostatic-only 5/7, Scheme II 7/7; [23] worst",
    "fig5": "Scheme II lowest MOSPA (~90% below bistatic-only); Fusion 1 67% below at step 120",
    "fig6": "Scheme I/II below bistatic-only when some facades are bistatic-only",
    "fig7": "no monostatic backscatter: fusion reduces gracefully to bistatic-only",
    "fig8": "link-exclusive facades: Scheme II sharpest drop (steps 230-250)",
}


@dataclass(frozen=True)
class MappingMospa(Experiment):
    """MOSPA per epoch and completeness of every method on the default scene.

    Parameters
    ----------
    methods : tuple of str
        Keys of :data:`skysense.mapping.SCHEMES`.
    bs_indices : tuple of int
        BS configurations (0..3 are the paper's BS1-BS4 cases).
    n_epochs : int
        Epochs of the default trajectory.
    n_particles : int
        P per PMF (paper: 20,000).
    cutoff_m, order : float
        OSPA cut-off c [m] and order p.
    visibility_bistatic, visibility_monostatic : float
        Visibility probability of the bistatic / monostatic link in the fusion schemes
        (docs/mapping_model.md, section 3.4; 1 is the paper's model). With p_v,m = 1, Scheme II's monostatic stage multiplies a bistatic-only
        (class B) PMF by e^{-mu_m} every epoch and deletes it; p_v,b < 1 in turn slows the
        rise of young bistatic PMFs so much that they are pruned before they converge (a
        monostatic-only facade needs no help: its monostatic evidence outweighs e^{-mu_b}).
        Single-link baselines keep p_v = 1 (a facade their link never sees is not in their map
        anyway).
    birth_height_std_m : float or None
        Vertical-facade birth pdf of bistatic births, std of the VA height around the BS
        height [m] (:class:`~skysense.mapping.MappingParams`; ``None``: the paper's uniform
        ball). At P = 2,000 a birth spread over a whole sphere of radius ~100 m collapses onto
        ~10 particle clumps on the range-ambiguity ring and stalls 7-17 m off; on a circle it
        converges to decimetres (README, Environment mapping).
    n_birth_particles : int or None
        :class:`~skysense.mapping.MappingParams` ``n_birth_particles``, particles of a new PMF
        until it is confirmed (redrawn on P when it may survive its first call, docs/
        mapping_model.md section 4.5; ``None``: P, the paper's model, this experiment's
        default). Used by every method.
    radius_m : float
        Completeness: an estimate within this distance of a VA finds it [m].
    chunk_size : int
        Trials per task.

    Notes
    -----
    A cell is one BS; one trial simulates that BS's measurements once and runs every method
    on the same data (paired comparison). MOSPA truth: VAs seen by either link so far.
    """

    name: ClassVar[str] = "mapping-mospa"
    default_trials: ClassVar[int] = 2

    methods: tuple[str, ...] = tuple(SCHEMES)
    bs_indices: tuple[int, ...] = (0, 1, 2, 3)
    n_epochs: int = 300
    n_particles: int = 2000
    cutoff_m: float = 10.0
    order: float = 2.0
    visibility_bistatic: float = 1.0
    visibility_monostatic: float = 0.2
    birth_height_std_m: float | None = 1.0
    n_birth_particles: int | None = None
    radius_m: float = 2.0
    chunk_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "bs_indices", tuple(int(i) for i in self.bs_indices))
        for m in self.methods:
            if m not in SCHEMES:
                raise ValueError(f"methods must be drawn from {tuple(SCHEMES)}, got {m!r}")
        if not self.methods or not self.bs_indices:
            raise ValueError("methods and bs_indices must be non-empty")
        scene = default_scene(self.n_epochs)
        for i in self.bs_indices:
            scene.virtual_anchors(i)  # validates the index
        self.params()  # validates n_particles, visibilities, n_birth_particles

    def params(self, method: str = "fusion3") -> MappingParams:
        fusion = method.startswith("fusion")
        return MappingParams(
            n_particles=self.n_particles,
            visibility_bistatic=self.visibility_bistatic if fusion else 1.0,
            visibility_monostatic=self.visibility_monostatic if fusion else 1.0,
            birth_height_std_m=self.birth_height_std_m,
            n_birth_particles=self.n_birth_particles,
        )

    def cells(self) -> tuple[int, ...]:
        return self.bs_indices

    def setup(self, cell: int) -> Scene:
        return default_scene(self.n_epochs)

    def run_chunk(
        self, cell: int, state: Scene, n_trials: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        params = self.params()
        out: dict[str, list[Any]] = {f"ospa_{m}": [] for m in self.methods}
        out.update({f"completeness_{m}": [] for m in self.methods})
        out.update({f"final_{m}": [] for m in self.methods})
        n_max = 16
        for _ in range(n_trials):
            seeds = rng.spawn(len(self.methods) + 1)
            (data,) = simulate(state, params, rng=seeds[0], bs_indices=[cell])
            for method, mrng in zip(self.methods, seeds[1:], strict=True):
                res = Mapper(method, self.params(method)).run(data, rng=mrng)
                out[f"ospa_{method}"].append(
                    ospa_per_epoch(res.estimates_m, data, cutoff_m=self.cutoff_m, order=self.order)
                )
                out[f"completeness_{method}"].append(
                    completeness(res.estimates_m[-1], data, radius_m=self.radius_m)
                )
                final = np.full((n_max, 3), np.nan)
                est = res.estimates_m[-1][:n_max]
                final[: est.shape[0]] = est
                out[f"final_{method}"].append(final)
        return {k: np.asarray(v) for k, v in out.items()}

    def summarize(self, cell: int, trials: dict[str, np.ndarray]) -> dict[str, Any]:
        vis = trace(default_scene(self.n_epochs), cell)
        bi, mono = vis.va_timelines()
        summary = {
            "vas": vis.va_positions_m.tolist(),
            "classes": vis.classes().tolist(),
            "visible_bistatic": bi.T.astype(int).tolist(),
            "visible_monostatic": mono.T.astype(int).tolist(),
            "methods": {},
        }
        for m in self.methods:
            ospa = trials[f"ospa_{m}"]
            final = trials[f"final_{m}"][0]
            summary["methods"][m] = {
                "mospa": ospa.mean(axis=0).tolist(),
                "mospa_mean": float(ospa.mean()),
                "mospa_last_quarter": float(ospa[:, -max(1, self.n_epochs // 4) :].mean()),
                "completeness": float(trials[f"completeness_{m}"].mean()),
                "mospa_mean_trials": ospa.mean(axis=1).tolist(),
                "mospa_last_quarter_trials": ospa[:, -max(1, self.n_epochs // 4) :]
                .mean(axis=1)
                .tolist(),
                "completeness_trials": trials[f"completeness_{m}"].tolist(),
                "final_map_trial0": final[np.isfinite(final[:, 0])].tolist(),
                "n_trials": int(ospa.shape[0]),
            }
        return summary

    def report(self, summaries: dict[int, dict[str, Any]]) -> dict[str, Any]:
        results: dict[str, Any] = {"visibility": {}}
        for m in self.methods:
            per_bs = {f"BS{i + 1}": summaries[i]["methods"][m] for i in self.bs_indices}
            curves = np.array([s["mospa"] for s in per_bs.values()])
            results[m] = {
                "description": SCHEMES[m],
                "mospa": curves.mean(axis=0).tolist(),
                "completeness": float(np.mean([s["completeness"] for s in per_bs.values()])),
                "per_bs": per_bs,
            }
        for i in self.bs_indices:
            s = summaries[i]
            results["visibility"][f"BS{i + 1}"] = {
                k: s[k] for k in ("vas", "classes", "visible_bistatic", "visible_monostatic")
            }
        return results

    def paper(self) -> dict[str, str]:
        return PAPER_MAPPING

    def table(self, results: dict[str, Any]) -> str:
        """MOSPA (all epochs / last quarter) and completeness per method and BS."""
        bs_names = list(results["visibility"])
        head = f"{'method':<11}" + "".join(
            f" | {b + ' MOSPA all/last  compl':>28}" for b in bs_names
        )
        lines = [head, "-" * len(head)]
        for m in self.methods:
            row = f"{m:<11}"
            for b in bs_names:
                s = results[m]["per_bs"][b]
                row += (
                    f" | {s['mospa_mean']:8.2f} /{s['mospa_last_quarter']:6.2f} m"
                    f"  {s['completeness']:5.2f}"
                )
            lines.append(row)
        for b in bs_names:
            cls = "".join(results["visibility"][b]["classes"])
            lines.append(f"{b}: VA classes {cls} (A both links, B bistatic, C monostatic)")
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Figs. 5-8 style (visibility timelines + MOSPA per BS) and a Fig. 4 style map."""
        from skysense.plotting.mapping import plot_mapping

        return plot_mapping(results, self.methods, default_scene(self.n_epochs), path)
