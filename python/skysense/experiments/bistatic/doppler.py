"""Bistatic Doppler MAE vs SNR (Fig. 9 of the bistatic paper)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from skysense import bistatic as bs
from skysense.experiments.bistatic._common import c2vnn_for, paraming_quiet
from skysense.experiments.runner import Experiment
from skysense.plotting import plot_lines

__all__ = ["BistaticDoppler"]


#: Doppler estimators from sub-frame CSI ``(S, n_tx, n_rx, N)``: ``fn(csi, q, scenario)``.
_DOPPLER: dict[str, Callable[[NDArray[Any], int, bs.Scenario], bs.Estimate]] = {
    "paraming": lambda csi, q, sc: paraming_quiet(csi, q, sc, subframes=True),
    "ifft_c2vnn": lambda csi, q, sc: c2vnn_for(sc).estimate(csi, q, subframes=True),
}


@dataclass(frozen=True)
class BistaticDoppler(Experiment):
    """Mean absolute error of the Doppler estimates vs SNR (Fig. 9).

    Parameters
    ----------
    snrs_db : tuple of float
        Per-antenna SNRs [dB].
    n_subframes : int
        Sub-frames S of K symbols (Doppler sampling period K T_s).
    max_speed_mps : float
        Target speeds uniform in [0, max_speed_mps] [m/s] (f_D up to 2 v / lambda).
    n_targets, pilots
        As for ``bistatic-accuracy``.
    methods : tuple of str
        ``"paraming"`` (eq. 43: PARAMING per sub-frame, phase slope of its gains),
        ``"ifft_c2vnn"`` (the shipped 2-D model's lightweight Doppler variant, with its
        path-count classifier; needs torch).
    chunk_size : int
        Trials per task.

    Notes
    -----
    Gains rotate per OFDM symbol inside each sub-frame (the LS estimate averages that); each
    method estimates per sub-frame and fits the unwrapped per-path phases by a line in time.
    MAE over all paths (the LoS path has f_D = 0) [Hz], paths matched by ToA order. A draw
    where IFFT-C2VNN finds too few delay peaks for the paths counts in ``n_failed``
    and is left out of that method's ``mae_hz``; ``mae_hz_common`` averages over the draws
    that every method estimated.

    Examples
    --------
    >>> from skysense.experiments import BistaticDoppler
    >>> exp = BistaticDoppler(snrs_db=(20.0,), n_subframes=4)
    >>> exp.name  # skysense reproduce <name>
    'bistatic-doppler'
    """

    name: ClassVar[str] = "bistatic-doppler"
    default_trials: ClassVar[int] = 20

    snrs_db: tuple[float, ...] = (0.0, 10.0, 20.0, 30.0)
    n_subframes: int = 10
    max_speed_mps: float = 30.0
    n_targets: int = 3
    pilots: Literal["orthogonal", "qam"] = "orthogonal"
    methods: tuple[str, ...] = ("paraming",)
    chunk_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "snrs_db", tuple(float(s) for s in self.snrs_db))
        object.__setattr__(self, "methods", tuple(self.methods))
        if not self.methods or not set(self.methods) <= set(_DOPPLER):
            raise ValueError(f"Doppler methods must be drawn from {tuple(_DOPPLER)}")
        if not self.snrs_db or self.n_subframes < 2:
            raise ValueError("snrs_db must be non-empty and n_subframes >= 2")

    def cells(self) -> tuple[float, ...]:
        return self.snrs_db

    def setup(self, cell: Any) -> bs.Scenario:
        return bs.Scenario()

    def run_chunk(
        self, cell: Any, state: bs.Scenario, n_trials: int, rng: np.random.Generator
    ) -> dict[str, Any]:
        sc = state
        q = self.n_targets + 1
        abs_err = {m: np.empty((n_trials, q)) for m in self.methods}
        for t in range(n_trials):
            paths = bs.random_paths(
                sc, rng=rng, n_targets=self.n_targets, max_speed_mps=self.max_speed_mps
            )
            meas = bs.simulate(
                sc, paths, cell, rng=rng, n_subframes=self.n_subframes, pilots=self.pilots
            )
            for m in self.methods:
                try:
                    est = _DOPPLER[m](meas.csi, q, sc)
                except ValueError as exc:  # IFFT-C2VNN: fewer delay peaks than paths
                    if "delay peaks" not in str(exc):
                        raise
                    abs_err[m][t] = np.nan
                    continue
                if est.doppler_hz is None:
                    raise RuntimeError(f"{m} returned no Doppler from sub-frame CSI")
                abs_err[m][t] = np.abs(est.doppler_hz - paths.doppler_hz)  # both sorted by ToA
        return {f"{m}_abs_err_hz": e for m, e in abs_err.items()}

    def summarize(self, cell: Any, trials: dict[str, Any]) -> dict[str, Any]:
        out = {}
        errs = {m: trials[f"{m}_abs_err_hz"] for m in self.methods}
        common = np.all([np.isfinite(e).all(axis=1) for e in errs.values()], axis=0)
        for m, err in errs.items():
            done = np.isfinite(err).all(axis=1)
            out[m] = {
                "mae_hz": _stat(np.mean, err[done]),
                "median_abs_err_hz": _stat(np.median, err[done]),
                "mae_hz_common": _stat(np.mean, err[common]),
                "n_trials": int(err.shape[0]),
                "n_failed": int(np.sum(~done)),
            }
        return out

    def report(self, summaries: dict[Any, Any]) -> dict[str, Any]:
        return {f"{s:g}": summaries[s] for s in self.snrs_db}

    def table(self, results: dict[str, Any]) -> str:
        lines = [f"{'SNR':>5} | {'method':<14} {'MAE [Hz]':>10} {'median':>10} {'failed':>6}"]
        for snr, per_method in results.items():
            for m, r in per_method.items():
                mae, med = (
                    np.nan if v is None else v for v in (r["mae_hz"], r["median_abs_err_hz"])
                )
                lines.append(f"{snr:>5} | {m:<14} {mae:10.2f} {med:10.2f} {r['n_failed']:>6}")
        return "\n".join(lines)

    def plot(self, results: dict[str, Any], path: str | Path) -> Path:
        """Doppler MAE vs SNR."""
        x = [float(s) for s in results]
        lines = {
            m: (x, [np.nan if (v := results[s][m]["mae_hz"]) is None else v for s in results])
            for m in self.methods
        }
        return plot_lines([("SNR [dB]", "Doppler MAE [Hz]", True, lines)], path, "bistatic-doppler")


def _stat(fn: Callable[[NDArray[Any]], Any], err: NDArray[Any]) -> float | None:
    # fn over the entries of err (None when there are none, for JSON).
    return float(fn(err)) if err.size else None
