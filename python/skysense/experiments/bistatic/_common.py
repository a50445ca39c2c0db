"""Shared pieces of the bistatic experiments: estimator table, grid set-up, path matching."""

from __future__ import annotations

import functools
import math

import numpy as np

from skysense import bistatic as bs

#: Estimators by name: ``fn(csi, n_paths, scenario, grid) -> Estimate``.
METHODS = {
    "paraming": lambda csi, q, sc, grid: bs.paraming(csi, q, scenario=sc, workers=1),
    "root_music_2d": lambda csi, q, sc, grid: bs.root_music_2d(csi, q, scenario=sc),
    "bartlett": lambda csi, q, sc, grid: bs.bartlett(csi, q, scenario=sc, grid=grid),
    "music": lambda csi, q, sc, grid: bs.music(csi, q, scenario=sc, grid=grid),
    "dml": lambda csi, q, sc, grid: bs.dml(csi, q, scenario=sc, grid=grid),
    "ifft_c2vnn": lambda csi, q, sc, grid: c2vnn_for(sc).estimate(csi, q),
}


@functools.lru_cache(maxsize=2)
def c2vnn_for(scenario, variant="2d"):
    """The shipped IFFT-C2VNN (needs torch); only valid for the scenario it was trained for.

    ``variant`` is ``"2d"`` (the default model) or ``"3d"`` (the Conv3d Doppler model, S = 10).
    """
    from skysense.learn import IfftC2vnn

    loaders = {"2d": IfftC2vnn.load_default, "3d": IfftC2vnn.load_default_3d}
    if variant not in loaders:
        raise ValueError(f"variant must be '2d' or '3d', got {variant!r}")
    est = loaders[variant]()
    if est.config.scenario != scenario:
        raise ValueError(
            "the shipped IFFT-C2VNN was trained for the default Scenario(); train one for "
            f"{scenario} with python -m skysense.learn.c2vnn.train"
        )
    return est


def check_methods(methods) -> tuple[str, ...]:
    """Validate a tuple of estimator names."""
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must be non-empty")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods must be drawn from {tuple(METHODS)}, got {m!r}")
    return methods


class GridSetup:
    """Mixin for experiments whose cells share the default ``Scenario()`` and one estimator
    grid, built from the experiment's ``angle_step_deg`` and ``delay_step_fraction`` fields."""

    def setup_key(self, cell):
        return "grid"

    def setup(self, cell):
        sc = bs.Scenario()
        return sc, make_grid(sc, self.angle_step_deg, self.delay_step_fraction)


def make_grid(scenario, angle_step_deg, delay_step_fraction):
    """``Grid.uniform`` with steps in degrees and in fractions of 1/(N df)."""
    return bs.Grid.uniform(
        scenario,
        angle_step_rad=math.radians(angle_step_deg),
        delay_step_s=delay_step_fraction * scenario.delay_resolution_s,
    )


def matched_errors(est: bs.Estimate, paths: bs.Paths, scenario) -> dict:
    """Per true path: signed errors of AoA, AoD [rad] and ToA [1/(N df)] after an
    optimal assignment (Hungarian, on normalised angle and delay differences); NaN where the
    method does not estimate the quantity or returned fewer paths."""
    from scipy.optimize import linear_sum_assignment

    q = paths.n_paths
    res = scenario.delay_resolution_s
    d_aoa = est.aoa[None, :] - paths.aoa_rad[:, None]
    d_aod = est.aod[None, :] - paths.aod_rad[:, None]
    d_toa = (est.toa[None, :] - paths.delay_s[:, None]) / res
    cost = d_aoa**2 + d_aod**2
    if np.any(np.isfinite(est.toa)):
        cost = cost + (d_toa / scenario.n_subcarriers) ** 2
    cost = np.where(np.isfinite(cost), cost, 1e6)
    rows, cols = linear_sum_assignment(cost)
    out = {k: np.full(q, np.nan) for k in ("aoa", "aod", "toa")}
    out["aoa"][rows] = d_aoa[rows, cols]
    out["aod"][rows] = d_aod[rows, cols]
    out["toa"][rows] = d_toa[rows, cols]
    return out


def nanmean(x) -> float | None:
    """Mean over finite entries (None when there are none, for JSON)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None
