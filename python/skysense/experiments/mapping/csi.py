"""``mapping-csi``: the mapper fed from CSI (PARAMING front end) against ideal measurements."""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skysense.experiments.runner import Experiment
from skysense.mapping import SCHEMES, Mapper, MappingParams, Scene, default_scene, simulate
from skysense.metrics import completeness, ospa_per_epoch

__all__ = ["MappingCsi"]

#: Methods whose bistatic link the front end feeds (the monostatic sets are the simulator's).
CSI_METHODS = ("fusion1", "fusion2", "fusion3", "fusion4", "monostatic", "bistatic")


@dataclass(frozen=True)
class MappingCsi(Experiment):
    """MOSPA, completeness and time per epoch of the mapper from CSI and from ideal data.

    Per trial and BS: the measurement sets of :func:`skysense.mapping.simulate` (the
    ``_ideal`` rows), and the same sets with the bistatic pseudo-ranges replaced by
    PARAMING's estimates from the BS -> UAV CSI (:mod:`skysense.pipeline`; MDL order per
    epoch); each method runs on both.

    Parameters
    ----------
    methods : tuple of str
        Keys of :data:`skysense.mapping.SCHEMES` except ``"specular"``.
    bs_indices : tuple of int
        BSs of the default scene (0..3: BS1-BS4).
    n_epochs, n_particles : int
        Epochs of the default trajectory and particles per PMF.
    snr_db : float
        :class:`~skysense.pipeline.BistaticChannel` SNR of a unit-gain path [dB].
    cutoff_m, order : float
        OSPA cut-off [m] and order.
    visibility_monostatic, birth_height_std_m, radius_m :
        As in :class:`~skysense.experiments.MappingMospa` (the fusion schemes' monostatic
        visibility 0.2, vertical-facade births, completeness radius [m]).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Results: ``results[method][bs]`` and ``results[method + "_ideal"][bs]`` hold
    ``mospa_all_m`` (MOSPA over every epoch), ``mospa_last_m`` (over the last quarter),
    ``completeness`` and ``ms_per_epoch`` (filter, plus the front end for the CSI rows);
    ``results["front_end"][bs]`` the front end's and PARAMING's own ms per epoch (same run).
    The CSI carries LoS and specular paths only (no diffuse clusters, no clutter), so it is
    not the same measurement model as the ideal sets.
    """

    name: ClassVar[str] = "mapping-csi"
    default_trials: ClassVar[int] = 1

    methods: tuple[str, ...] = ("fusion3", "fusion4", "monostatic", "bistatic")
    bs_indices: tuple[int, ...] = (0, 1, 2, 3)
    n_epochs: int = 300
    n_particles: int = 2000
    snr_db: float = 20.0
    cutoff_m: float = 10.0
    order: float = 2.0
    visibility_monostatic: float = 0.2
    birth_height_std_m: float | None = 1.0
    radius_m: float = 2.0
    chunk_size: int = 1

    def __post_init__(self) -> None:
        from skysense.pipeline import BistaticChannel

        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "bs_indices", tuple(int(i) for i in self.bs_indices))
        for m in self.methods:
            if m not in CSI_METHODS:
                raise ValueError(f"methods must be drawn from {CSI_METHODS}, got {m!r}")
        if not self.methods or not self.bs_indices:
            raise ValueError("methods and bs_indices must be non-empty")
        scene = default_scene(self.n_epochs)
        for i in self.bs_indices:
            scene.virtual_anchors(i)  # validates the index
        self.params()
        BistaticChannel(snr_db=self.snr_db)  # validates snr_db

    def params(self, method: str = "fusion3") -> MappingParams:
        return MappingParams(
            n_particles=self.n_particles,
            visibility_monostatic=self.visibility_monostatic
            if method.startswith("fusion")
            else 1.0,
            birth_height_std_m=self.birth_height_std_m,
        )

    def cells(self) -> tuple[int, ...]:
        return self.bs_indices

    def setup(self, cell: Hashable) -> Scene:
        return default_scene(self.n_epochs)

    def run_chunk(
        self, cell: Hashable, state: Scene, n_trials: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        from skysense.bistatic import paraming
        from skysense.pipeline import (
            BistaticChannel,
            estimate_bistatic,
            simulate_bistatic_csi,
            with_bistatic_measurements,
        )

        assert isinstance(cell, int)
        bs = cell
        channel = BistaticChannel(snr_db=self.snr_db)
        keys = [m + s for m in self.methods for s in ("", "_ideal")]
        out: dict[str, list[Any]] = {}
        for _ in range(n_trials):
            seeds = rng.spawn(2 + 2 * len(self.methods))
            (ideal,) = simulate(state, self.params(), rng=seeds[0], bs_indices=[bs])
            (link,) = simulate_bistatic_csi(state, channel, rng=seeds[1], bs_indices=[bs])
            t0 = time.perf_counter()
            meas = estimate_bistatic(link.csi, channel)
            front_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for e, q in enumerate(meas.n_measurements):
                if q:
                    paraming(link.csi[e], int(q), scenario=channel.scenario, workers=1)
            paraming_s = time.perf_counter() - t0
            from_csi = with_bistatic_measurements(ideal, meas)
            out.setdefault("front_end_ms", []).append(1e3 * front_s / self.n_epochs)
            out.setdefault("paraming_ms", []).append(1e3 * paraming_s / self.n_epochs)
            for key, mrng in zip(keys, seeds[2:], strict=True):
                method = key.removesuffix("_ideal")
                data = ideal if key.endswith("_ideal") else from_csi
                t0 = time.perf_counter()
                res = Mapper(method, self.params(method)).run(data, rng=mrng)
                ms = 1e3 * (time.perf_counter() - t0) / self.n_epochs
                if not key.endswith("_ideal"):
                    ms += 1e3 * front_s / self.n_epochs
                out.setdefault(f"ospa_{key}", []).append(
                    ospa_per_epoch(res.estimates_m, ideal, cutoff_m=self.cutoff_m, order=self.order)
                )
                out.setdefault(f"completeness_{key}", []).append(
                    completeness(res.estimates_m[-1], ideal, radius_m=self.radius_m)
                )
                out.setdefault(f"ms_{key}", []).append(ms)
        return {k: np.asarray(v) for k, v in out.items()}

    def summarize(self, cell: Hashable, trials: dict[str, np.ndarray]) -> dict[str, Any]:
        last = max(1, self.n_epochs // 4)
        summary: dict[str, Any] = {
            "front_end": {
                "ms_per_epoch": float(trials["front_end_ms"].mean()),
                "paraming_ms_per_epoch": float(trials["paraming_ms"].mean()),
            }
        }
        for m in self.methods:
            for key in (m, m + "_ideal"):
                ospa = trials[f"ospa_{key}"]
                summary[key] = {
                    "mospa_all_m": float(ospa.mean()),
                    "mospa_last_m": float(ospa[:, -last:].mean()),
                    "completeness": float(trials[f"completeness_{key}"].mean()),
                    "ms_per_epoch": float(trials[f"ms_{key}"].mean()),
                }
        return summary

    def report(self, summaries: dict[Hashable, dict[str, Any]]) -> dict[str, Any]:
        keys = ["front_end"] + [m + s for m in self.methods for s in ("", "_ideal")]
        return {k: {f"BS{i + 1}": summaries[i][k] for i in self.bs_indices} for k in keys}

    def table(self, results: dict[str, Any]) -> str:
        """MOSPA (all / last quarter), completeness and ms per epoch per method and BS."""
        bs_names = list(results["front_end"])
        head = f"{'method':<18}" + "".join(
            f" | {b + ' MOSPA all/last  compl  ms':>30}" for b in bs_names
        )
        lines = [head, "-" * len(head)]
        for key in results:
            if key == "front_end":
                continue
            row = f"{key:<18}"
            for b in bs_names:
                s = results[key][b]
                row += (
                    f" | {s['mospa_all_m']:6.2f} /{s['mospa_last_m']:6.2f} m"
                    f"  {s['completeness']:4.2f} {s['ms_per_epoch']:5.1f}"
                )
            lines.append(row)
        for b in bs_names:
            f = results["front_end"][b]
            lines.append(
                f"{b}: front end {f['ms_per_epoch']:.2f} ms/epoch, PARAMING alone "
                f"{f['paraming_ms_per_epoch']:.2f} ms/epoch (same run)"
            )
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Grouped bars per BS: MOSPA over all epochs, completeness, ms per epoch."""
        from skysense.plotting import plot_bars

        bs_names = list(results["front_end"])
        rows = [k for k in results if k != "front_end"]
        panels = [
            (label, {k: [results[k][b][field] for b in bs_names] for k in rows})
            for label, field in (
                ("MOSPA, all epochs [m]", "mospa_all_m"),
                ("completeness", "completeness"),
                ("time per epoch [ms]", "ms_per_epoch"),
            )
        ]
        out: Path = plot_bars(panels, bs_names, path, title="mapping from CSI vs ideal")
        return out

    def paper(self) -> dict[str, Any]:
        return {
            "source": "not in either paper: the mapping paper assumes a channel estimator, "
            "the bistatic paper provides PARAMING",
            "schemes": {m: SCHEMES[m] for m in self.methods},
        }
