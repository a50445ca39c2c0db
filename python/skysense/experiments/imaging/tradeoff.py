"""Fig. 10 of Huang et al. (TWC 2026): detection rate and spectral efficiency vs sensing power."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skysense.comms import (
    frame_spectral_efficiency,
    link_powers,
    los_user_channels,
    mrt_beams,
    sensing_beams,
    spectral_efficiency,
)
from skysense.experiments.imaging._setup import imaging_state, sp_scores
from skysense.experiments.runner import Experiment, Trials
from skysense.imaging import Scenario, simulate

__all__ = ["PAPER_FIG10", "ImagingTradeoff"]

#: What Sec. V-B4 states about Fig. 10 (the plotted curves are not tabulated).
PAPER_FIG10 = {
    "source": "Huang et al., IEEE TWC 25 (2026), Sec. V-B4 and Fig. 10",
    "total_power_dbm": 60.0,
    "dr_full_at_ps_dbm": 40.0,  # "DR ... reaches 100% when P_s = 40 dBm" (h_roi = 80 m)
    "sir_ps_dbm": 40.0,
    "sir_db": 24.0,  # desired signal ~24 dB above the sensing interference at P_s = 40 dBm
    "n_symbols": 140,
    "n_sensing_symbols": 4,
}

#: P_s [dBm] at which the shared operator and Gram are built; other powers rescale y.
_REFERENCE_POWER_DBM = 40.0


def _dbm_to_w(p_dbm: float) -> float:
    return 10.0 ** ((p_dbm - 30.0) / 10.0)


@dataclass(frozen=True)
class ImagingTradeoff(Experiment):
    """DR of SP and the user's frame SE as P_s takes power from P_c at fixed P_t (Fig. 10).

    Parameters
    ----------
    sensing_powers_dbm : tuple of float
        P_s values [dBm], each < ``total_power_dbm``.
    total_power_dbm : float
        P_t per BS [dBm] (60).
    n_targets : int
        On-grid UAVs per frame, M (24 in the 3D ROI).
    sparsity : int
        SP's M° (around M).
    threshold : None, float in [0, 1] or "max/5"
        SP's post-threshold (as in :func:`~skysense.imaging.subspace_pursuit`).
    final : {"best", "last"}
        SP's choice when an iteration does not lower the residual (as in
        :func:`~skysense.imaging.subspace_pursuit`).
    max_iter : int
        Cap on SP's iterations.
    user_position_m : tuple of 3 float
        The single user (the origin in the paper).
    n_symbols : int
        Symbols per frame (140); ``N_s = N0^2`` of them carry sensing.
    voxel_size_m : float
        d0 of the 3D ROI [m] (5 in the paper; larger values make small test problems).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Scenario: ``Scenario.paper_3d()`` (20 x 20 x 16 voxels of 5 m centred at 80 m, 2 x 2 UPAs
    at lambda/2, N_f = 6 over 40 MHz) with ``P_s / N_f`` per subcarrier. Per trial: SP on the
    simulated CSI (exact and blob DR); the user's channel is the LoS path plus the paths
    scattered by that trial's UAVs (:func:`los_user_channels`); MRT for the user, designed on
    the LoS part, and both sensing-beam designs (:func:`sensing_beams`). During the ``N_s``
    ISAC symbols ``P_c = P_t - P_s``; otherwise ``P_c = P_t``, ``P_s = 0``; powers are split
    evenly over the subcarriers and the user's noise is ``P_n`` per subcarrier.
    """

    name: ClassVar[str] = "imaging-tradeoff"
    default_trials: ClassVar[int] = 20

    sensing_powers_dbm: tuple[float, ...] = (10.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
    total_power_dbm: float = 60.0
    n_targets: int = 24
    sparsity: int = 30
    threshold: str | float = "max/5"
    final: str = "last"
    max_iter: int = 100
    user_position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    n_symbols: int = 140
    voxel_size_m: float = 5.0
    chunk_size: int = 5

    def __post_init__(self) -> None:
        powers = tuple(float(p) for p in self.sensing_powers_dbm)
        object.__setattr__(self, "sensing_powers_dbm", powers)
        object.__setattr__(self, "user_position_m", tuple(float(v) for v in self.user_position_m))
        if not powers:
            raise ValueError("sensing_powers_dbm must be non-empty")
        if max(powers) >= self.total_power_dbm:
            raise ValueError(
                f"every sensing power must be below total_power_dbm = {self.total_power_dbm}, "
                f"got {max(powers)}"
            )
        if self.final not in ("last", "best"):
            raise ValueError(f"final must be 'last' or 'best', got {self.final!r}")
        self.scenario()  # validates voxel_size_m

    def scenario(self, sensing_power_dbm: float = _REFERENCE_POWER_DBM) -> Scenario:
        return Scenario.paper_3d(
            sensing_power_dbm=sensing_power_dbm, voxel_size_m=self.voxel_size_m
        )

    def cells(self) -> tuple[float, ...]:
        return self.sensing_powers_dbm

    def setup_key(self, cell: float) -> Hashable:
        return "paper_3d"  # one operator and Gram for every P_s

    def setup(self, cell: float) -> Any:
        s = self.scenario()
        user = np.asarray([self.user_position_m])
        h_los = los_user_channels(s, user)
        return {
            "imaging": imaging_state(s),
            "user": user,
            "comm_beams": mrt_beams(h_los, s.n_bs),
            "sensing_beams": {m: sensing_beams(s, h_los, method=m) for m in ("nullspace", "roi")},
        }

    def run_chunk(self, cell: float, state: Any, n_trials: int, rng: np.random.Generator) -> Trials:
        p_s_dbm = float(cell)
        base = state["imaging"]
        s = self.scenario(p_s_dbm)
        batch = simulate(s, n_trials, self.n_targets, rng=rng)
        # y = sqrt(P_s / P_ref) A_ref sigma + z: rescale to the reference operator.
        y = batch.measurements * 10.0 ** ((_REFERENCE_POWER_DBM - p_s_dbm) / 20.0)
        _, scores = sp_scores(self, base, y, batch)
        out: dict[str, Any] = dict(scores)

        h = los_user_channels(
            s,
            state["user"],
            scatterer_positions_m=batch.positions_m,
            scattering_coefficients=batch.coefficients,
        )
        n_f = s.n_subcarriers
        p_t, p_s = _dbm_to_w(self.total_power_dbm), _dbm_to_w(p_s_dbm)
        w = state["comm_beams"]
        comm_only = link_powers(h, w, comm_power_w=p_t / n_f, noise_var=s.noise_power_w)
        se_comm = spectral_efficiency(comm_only.sinr)
        out["se_comm_only"] = se_comm
        for method, ws in state["sensing_beams"].items():
            isac = link_powers(
                h,
                w,
                ws,
                comm_power_w=(p_t - p_s) / n_f,
                sensing_power_w=p_s / n_f,
                noise_var=s.noise_power_w,
            )
            out[f"se_{method}"] = frame_spectral_efficiency(
                spectral_efficiency(isac.sinr), se_comm, s.n_antennas, self.n_symbols
            )
            out[f"se_isac_{method}"] = spectral_efficiency(isac.sinr)
            out[f"desired_{method}"] = isac.desired_w.sum(axis=(-2, -1))
            out[f"sensing_{method}"] = isac.sensing_w.sum(axis=(-2, -1))
        return out

    def summarize(self, cell: float, trials: Trials) -> dict[str, Any]:
        n_true = trials["n_true"].sum()
        out = {}
        for rule, suffix in (("exact", ""), ("blob", "_blob")):
            det, false = trials[f"detected_{rule}"].sum(), trials[f"false_{rule}"].sum()
            out["dr" + suffix] = float(100.0 * det / n_true) if n_true else 0.0
            out["far" + suffix] = float(100.0 * false / (false + det)) if false + det else 0.0
        out["mse"] = float(trials["mse"].mean())
        out["se_comm_only"] = float(trials["se_comm_only"].mean())
        for method in ("nullspace", "roi"):
            out[f"se_{method}"] = float(trials[f"se_{method}"].mean())
            out[f"se_isac_{method}"] = float(trials[f"se_isac_{method}"].mean())
            sensing = trials[f"sensing_{method}"].mean()
            desired = trials[f"desired_{method}"].mean()
            out[f"sir_{method}_db"] = (
                float(10.0 * math.log10(desired / sensing)) if sensing > 0 else math.inf
            )
        out["n_trials"] = int(trials["mse"].shape[0])
        return out

    def report(self, summaries: dict[float, dict[str, Any]]) -> dict[str, Any]:
        return {f"{p:g}": summaries[p] for p in self.cells()}

    def paper(self) -> dict[str, Any]:
        return PAPER_FIG10

    def table(self, results: dict[str, Any]) -> str:
        lines = [
            f"P_t = {self.total_power_dbm:g} dBm, M = {self.n_targets}, M° = {self.sparsity}",
            (
                f"{'P_s dBm':>7} | {'DR %':>6} {'FAR %':>6} | {'SE null':>8} {'SE roi':>8} "
                f"{'SE comm':>8} | {'SIR null dB':>11} {'SIR roi dB':>10}"
            ),
        ]
        for p, r in results.items():
            lines.append(
                f"{p:>7} | {r['dr']:6.2f} {r['far']:6.2f} | {r['se_nullspace']:8.3f} "
                f"{r['se_roi']:8.3f} {r['se_comm_only']:8.3f} | {r['sir_nullspace_db']:11.1f} "
                f"{r['sir_roi_db']:10.1f}"
            )
        lines.append("paper: DR = 100% at P_s = 40 dBm; desired/sensing interference ~24 dB there")
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path | None:
        from skysense.plotting import plot_tradeoff

        return plot_tradeoff(results, PAPER_FIG10, path)
