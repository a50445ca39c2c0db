"""A weak target under a strong LoS path: detection by PARAMING's model-order criteria
(MDL, AIC and the successive GLRT of ``n_paths="glrt"``) against what the CRB allows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import paraming_quiet
from skysense.experiments.runner import Experiment
from skysense.plotting import plot_lines

__all__ = ["BistaticWeakPath", "detectable_deflection"]

#: Detection probability the CRB-based rule asks of the GLRT.
DETECTION_PROBABILITY = 0.9


def detectable_deflection(scenario: bs.Scenario, false_alarm_probability: float) -> float:
    """Smallest deflection ``|gamma|^2 / var(gamma | geometry)`` at which the GLRT of
    ``paraming(n_paths="glrt")`` (threshold ``L + 2 log L``, ``L = log(Nt Nr N / p)``)
    detects a path with probability 0.9: ``(sqrt(threshold) + z_0.9 / sqrt 2)^2``.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> from skysense.experiments.bistatic.weak_path import detectable_deflection
    >>> round(10 * math.log10(detectable_deflection(bs.Scenario(), 1e-3)), 1)  # dB
    14.8
    """
    big = math.log(scenario.n_tx * scenario.n_rx * scenario.n_subcarriers / false_alarm_probability)
    threshold = big + 2.0 * math.log(big)
    return (math.sqrt(threshold) + 1.2815515655446004 / math.sqrt(2.0)) ** 2


def deflection(scenario: bs.Scenario, paths: bs.Paths, meas: bs.Measurement) -> np.ndarray:
    """Per path ``|gamma_i|^2 / var(gamma_i)`` with the geometry known: the gain block of the
    Fisher information (eq. 52) with the trial's pilots, the SNR of the path's GLRT statistic."""
    q = paths.n_paths
    f = bs.fisher_information(scenario, paths, meas.noise_var, pilots=meas.pilots[0])
    cov = np.linalg.inv(f[3 * q :, 3 * q :])
    out: np.ndarray = np.abs(paths.gain) ** 2 / (np.diag(cov)[:q] + np.diag(cov)[q:])
    return out


@dataclass(frozen=True)
class BistaticWeakPath(Experiment):
    """A target ``weak_db`` below the LoS path: is it found, and is the order right?

    Parameters
    ----------
    snrs_db : tuple of float
        Per-receive-antenna SNRs [dB] of the whole CSI (the LoS dominates it).
    weak_db : float
        Power of the target path below the LoS path [dB].
    criteria : tuple of str
        ``"true"`` (the true order, 2), ``"mdl"``, ``"aic"``, ``"glrt"``.
    false_alarm_probability : float
        Of ``n_paths="glrt"`` (and of the CRB-based detectability rule).
    pilots : {"orthogonal", "qam"}
        Pilots of ``simulate`` (orthogonal: white CSI noise, the GLRT's model).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Per trial: ``random_paths`` with one target (LoS first), gains 1 and ``10^(-weak_db/20)``
    with a random phase, one sub-frame, LS CSI. The target counts as found when an estimated
    path lies within one resolution cell 1/(N df) in ToA and one beamwidth 2/N in both
    ``sin`` angles. The CRB decides detectability: the trial counts as detectable when the
    target's deflection (:func:`deflection`) reaches :func:`detectable_deflection`, where the
    GLRT at the false-alarm probability detects with probability 0.9.

    Examples
    --------
    >>> from skysense.experiments.bistatic.weak_path import BistaticWeakPath
    >>> BistaticWeakPath().name  # skysense reproduce <name>
    'bistatic-weak-path'
    """

    name: ClassVar[str] = "bistatic-weak-path"
    default_trials: ClassVar[int] = 100

    snrs_db: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)
    weak_db: float = 30.0
    criteria: tuple[str, ...] = ("true", "mdl", "glrt")
    false_alarm_probability: float = 1e-3
    pilots: Literal["orthogonal", "qam"] = "orthogonal"
    chunk_size: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "snrs_db", tuple(float(s) for s in self.snrs_db))
        object.__setattr__(self, "criteria", tuple(self.criteria))
        if not self.snrs_db:
            raise ValueError("snrs_db must be non-empty")
        for c in self.criteria:
            if c not in ("true", "mdl", "aic", "glrt"):
                raise ValueError(
                    f"criteria must be drawn from ('true', 'mdl', 'aic', 'glrt'), got {c!r}"
                )
        if not 0.0 < self.false_alarm_probability < 1.0:
            raise ValueError(
                f"false_alarm_probability must be in (0, 1), got {self.false_alarm_probability}"
            )

    def cells(self) -> tuple[float, ...]:
        return self.snrs_db

    def setup_key(self, cell: Any) -> Any:
        return "scenario"

    def setup(self, cell: Any) -> bs.Scenario:
        return bs.Scenario()

    def run_chunk(
        self, cell: Any, state: bs.Scenario, n_trials: int, rng: np.random.Generator
    ) -> dict[str, Any]:
        sc = state
        out: dict[str, Any] = {"deflection_db": np.empty(n_trials)}
        for c in self.criteria:
            out[f"{c}_found"] = np.empty(n_trials)
            out[f"{c}_order"] = np.empty(n_trials)
        amp = 10.0 ** (-self.weak_db / 20.0)
        for t in range(n_trials):
            p0 = bs.random_paths(sc, rng=rng, n_targets=1)
            gain = np.array([1.0, amp * np.exp(2j * np.pi * rng.uniform())])
            paths = bs.Paths(p0.aoa_rad, p0.aod_rad, p0.toa_s, gain)
            meas = bs.simulate(sc, paths, cell, rng=rng, pilots=self.pilots)
            out["deflection_db"][t] = 10.0 * np.log10(deflection(sc, paths, meas)[1])
            for c in self.criteria:
                est = paraming_quiet(
                    meas.csi[0],
                    2 if c == "true" else c,
                    sc,
                    false_alarm_probability=self.false_alarm_probability,
                )
                out[f"{c}_found"][t] = float(_found(est, paths, sc))
                out[f"{c}_order"][t] = float(est.n_paths)
        return out

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
        sc = bs.Scenario()
        need_db = 10.0 * math.log10(detectable_deflection(sc, self.false_alarm_probability))
        detectable = trials["deflection_db"] >= need_db
        summary: dict[str, Any] = {
            "n_trials": int(detectable.size),
            "detectable": int(detectable.sum()),
            "needed_deflection_db": need_db,
            "median_deflection_db": float(np.median(trials["deflection_db"])),
        }
        for c in self.criteria:
            found = trials[f"{c}_found"] > 0
            order = trials[f"{c}_order"].astype(int)
            summary[c] = {
                "found": int(found.sum()),
                "found_when_detectable": int(found[detectable].sum()),
                "order_histogram": {str(k): int(np.sum(order == k)) for k in np.unique(order)},
            }
        return summary

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        return {f"{snr:g}": summaries[snr] for snr in self.snrs_db}

    def table(self, results: dict[str, Any]) -> str:
        lines = [
            f"{'SNR':>5} {'detectable':>10} | "
            + " | ".join(f"{c:>5} found (det.) orders" for c in self.criteria)
        ]
        for snr, r in results.items():
            cols = []
            for c in self.criteria:
                orders = " ".join(f"{k}:{v}" for k, v in r[c]["order_histogram"].items())
                cols.append(f"{r[c]['found']:>5} ({r[c]['found_when_detectable']:>3}) {orders}")
            lines.append(f"{snr:>5} {r['detectable']:>4}/{r['n_trials']:<5} | " + " | ".join(cols))
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Share of trials with the weak target found vs SNR, per criterion."""
        snrs = [float(s) for s in results]
        lines = {
            c: (snrs, [100.0 * results[s][c]["found"] / results[s]["n_trials"] for s in results])
            for c in self.criteria
        }
        lines["CRB-detectable"] = (
            snrs,
            [100.0 * results[s]["detectable"] / results[s]["n_trials"] for s in results],
        )
        return plot_lines([("SNR [dB]", "found [%]", False, lines)], path, self.name)


def _found(est: bs.Estimate, paths: bs.Paths, sc: bs.Scenario) -> bool:
    assert est.toa_s is not None
    ok = (
        (np.abs(est.toa_s - paths.toa_s[1]) < sc.toa_resolution_s)
        & (np.abs(np.sin(est.aoa_rad) - np.sin(paths.aoa_rad[1])) < 2.0 / sc.n_rx)
        & (np.abs(np.sin(est.aod_rad) - np.sin(paths.aod_rad[1])) < 2.0 / sc.n_tx)
    )
    return bool(ok.any())
