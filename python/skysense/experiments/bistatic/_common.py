"""Shared pieces of the bistatic experiments: estimator table, grid set-up, path matching."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense import bistatic as bs

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.learn import IfftC2vnn


@functools.lru_cache(maxsize=1)
def c2vnn_for(scenario: bs.Scenario) -> IfftC2vnn:
    """The shipped IFFT-C2VNN with its path-count classifier (needs torch); only valid for the
    scenario it was trained for."""
    from skysense.learn import IfftC2vnn

    est = IfftC2vnn.load_default()
    if est.config.scenario != scenario:
        raise ValueError(
            "the shipped IFFT-C2VNN was trained for the default Scenario(); train one for "
            f"{scenario} with python -m skysense.learn.c2vnn.train"
        )
    return est


#: An estimator of the table: ``fn(csi, n_paths, scenario, grid) -> Estimate``.
Method = Callable[[NDArray[Any], int, bs.Scenario, bs.Grid], bs.Estimate]


def paraming_quiet(
    csi: NDArray[Any], n_paths: int | str, scenario: bs.Scenario, **kwargs: Any
) -> bs.Estimate:
    """:func:`~skysense.bistatic.paraming` (the runner's workers) without its unreliable-path
    warning (the experiments count ``Estimate.reliable`` instead)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unreliable", category=RuntimeWarning)
        return bs.paraming(csi, n_paths, scenario=scenario, **kwargs)  # type: ignore[arg-type]


#: Estimators by name ("paraming": with the ML refinement, its default; "paraming_pencil":
#: PARAMING as published, ``refine=False``).
METHODS: dict[str, Method] = {
    "paraming": lambda csi, q, sc, grid: paraming_quiet(csi, q, sc),
    "paraming_pencil": lambda csi, q, sc, grid: paraming_quiet(csi, q, sc, refine=False),
    "root_music_2d": lambda csi, q, sc, grid: bs.root_music_2d(csi, q, scenario=sc),
    "bartlett": lambda csi, q, sc, grid: bs.bartlett(csi, q, scenario=sc, grid=grid),
    "music": lambda csi, q, sc, grid: bs.music(csi, q, scenario=sc, grid=grid),
    "dml": lambda csi, q, sc, grid: bs.dml(csi, q, scenario=sc, grid=grid),
    "ifft_c2vnn": lambda csi, q, sc, grid: c2vnn_for(sc).estimate(csi, q),
}


def check_methods(methods: Iterable[str]) -> tuple[str, ...]:
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
    grid, built from the experiment's ``angle_step_deg`` and ``toa_step_cells`` fields."""

    angle_step_deg: float
    toa_step_cells: float

    def setup_key(self, cell: Hashable) -> Hashable:
        return "grid"

    def setup(self, cell: Hashable) -> tuple[bs.Scenario, bs.Grid]:
        sc = self.scenario()
        return sc, make_grid(sc, self.angle_step_deg, self.toa_step_cells)

    def scenario(self) -> bs.Scenario:
        """The experiment's link (``Scenario()``; experiments with other sizes override)."""
        return bs.Scenario()


def make_grid(scenario: bs.Scenario, angle_step_deg: float, toa_step_cells: float) -> bs.Grid:
    """``Grid.uniform`` with steps in degrees and in ToA resolution cells 1/(N df)."""
    return bs.Grid.uniform(
        scenario,
        angle_step_rad=math.radians(angle_step_deg),
        toa_step_s=toa_step_cells * scenario.toa_resolution_s,
    )


def matched_errors(
    est: bs.Estimate, paths: bs.Paths, scenario: bs.Scenario
) -> dict[str, NDArray[np.float64]]:
    """Per true path: signed errors of AoA, AoD [rad] and ToA [1/(N df)] after an
    optimal assignment (Hungarian, on normalised angle and ToA differences); NaN where the
    method does not estimate the quantity or returned fewer paths."""
    from scipy.optimize import linear_sum_assignment

    q = paths.n_paths
    res = scenario.toa_resolution_s
    d_aoa = est.aoa_rad[None, :] - paths.aoa_rad[:, None]
    d_aod = est.aod_rad[None, :] - paths.aod_rad[:, None]
    cost = d_aoa**2 + d_aod**2
    if est.toa_s is None:
        d_toa = np.full_like(d_aoa, np.nan)
    else:
        d_toa = (est.toa_s[None, :] - paths.toa_s[:, None]) / res
        cost = cost + (d_toa / scenario.n_subcarriers) ** 2
    cost = np.where(np.isfinite(cost), cost, 1e6)
    rows, cols = linear_sum_assignment(cost)
    out = {k: np.full(q, np.nan) for k in ("aoa", "aod", "toa")}
    out["aoa"][rows] = d_aoa[rows, cols]
    out["aod"][rows] = d_aod[rows, cols]
    out["toa"][rows] = d_toa[rows, cols]
    return out


def nanmean(x: ArrayLike) -> float | None:
    """Mean over finite entries (None when there are none, for JSON)."""
    arr = np.asarray(x, float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None
