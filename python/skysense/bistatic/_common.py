"""Argument handling shared by the baseline estimators."""

from __future__ import annotations

from skysense.bistatic.estimate import as_csi
from skysense.bistatic.grid import Grid
from skysense.bistatic.scenario import Scenario


def prepare(csi, scenario, grid, *, check_finite=True):
    """(flattened CSIs, leading shape, scenario, grid); complex64 CSI stays complex64 (the
    float32 path), anything else is complex128."""
    scenario = Scenario() if scenario is None else scenario
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic Scenario, got {type(scenario).__name__}")
    arr = as_csi(csi, scenario, check_finite=check_finite)
    lead = arr.shape[:-3]
    flat = arr.reshape((-1, *scenario.csi_shape))
    if grid is None:
        grid = Grid.uniform(scenario)
    elif not isinstance(grid, Grid):
        raise TypeError(f"grid must be a Grid, got {type(grid).__name__}")
    return flat, lead, scenario, grid
