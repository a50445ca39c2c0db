"""Shared steps of the grid baselines: arguments, peak picking, LS gains, batch assembly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._validation import check_count
from skysense.bistatic._common import as_csi, as_scenario, scale_csi, unscale_gain
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.grid import Grid, atoms
from skysense.bistatic.scenario import Scenario

CsiArray = NDArray[np.complexfloating[Any, Any]]


def prepare(
    csi: ArrayLike,
    scenario: Scenario | None,
    grid: Grid | None,
    *,
    check_finite: bool = True,
) -> tuple[CsiArray, tuple[int, ...], Scenario, Grid, NDArray[np.int64]]:
    """(flattened CSIs, leading shape, scenario, grid, exponents); complex64 CSI stays
    complex64 (the float32 path), anything else is complex128.  Each CSI comes scaled by
    ``2^-exponent`` to unit size (:func:`~skysense.bistatic._common.scale_csi`): the grid
    methods are scale-invariant, and their gains are scaled back in :func:`stack_estimates`."""
    scenario = as_scenario(scenario)
    arr = as_csi(csi, scenario, check_finite=check_finite)
    lead = arr.shape[:-3]
    flat, exponent = scale_csi(arr.reshape((-1, *scenario.csi_shape)))
    if grid is None:
        grid = Grid.uniform(scenario)
    elif not isinstance(grid, Grid):
        raise TypeError(f"grid must be a bistatic Grid, got {type(grid).__name__}")
    return flat, lead, scenario, grid, exponent


def check_order(n_paths: int, limit: int, what: str) -> int:
    """Validate an integer model order against an upper bound."""
    q = check_count(n_paths, "n_paths")
    if q > limit:
        raise ValueError(f"n_paths must be <= {what} = {limit}, got {q}")
    return q


def pick_peaks(spectrum: NDArray[np.floating[Any]], n_peaks: int) -> NDArray[np.intp]:
    """Flat indices of the ``n_peaks`` largest local maxima (3x3x3 neighbourhood, edges
    replicated), largest first; fewer if fewer maxima exist."""
    from scipy.ndimage import maximum_filter

    local = spectrum == maximum_filter(spectrum, size=3, mode="nearest")
    idx = np.flatnonzero(local)
    order = np.argsort(-spectrum.ravel()[idx], kind="stable")
    return idx[order[:n_peaks]]


def grid_estimate(
    csi: CsiArray, scenario: Scenario, grid: Grid, flat_idx: Sequence[int] | NDArray[Any], q: int
) -> Estimate:
    """Estimate from picked voxels: LS gains on their atoms, sorted by ToA, NaN-padded to
    ``q``; in the precision of ``csi`` (float32/complex64 for complex64 CSI)."""
    ia, ip, idl = np.unravel_index(np.asarray(flat_idx, np.intp), grid.shape)
    aoa, aod, toa = grid.aoa_rad[ia], grid.aod_rad[ip], grid.toa_s[idl]
    order = np.argsort(toa, kind="stable")
    aoa, aod, toa = aoa[order], aod[order], toa[order]
    b = atoms(scenario, aoa, aod, toa).astype(csi.dtype)
    gain = np.linalg.lstsq(b, csi.ravel(), rcond=None)[0]
    real = np.finfo(csi.dtype).dtype
    out = [np.full(q, np.nan, real) for _ in range(3)]
    g = np.full(q, np.nan + 0j, csi.dtype)
    k = len(order)
    out[0][:k], out[1][:k], out[2][:k], g[:k] = toa, aoa, aod, gain
    return Estimate(
        toa_s=out[0], aoa_rad=out[1], aod_rad=out[2], gain=g, n_paths=np.asarray(k, np.int64)
    )


def stack_estimates(
    estimates: Sequence[Estimate], lead: tuple[int, ...], exponent: NDArray[np.int64]
) -> Estimate:
    """Stack per-CSI estimates (each with every field) into one with leading axes ``lead``,
    the gains scaled back by ``2^exponent`` (the scale :func:`prepare` took off)."""
    q = estimates[0].aoa_rad.shape[-1]

    def stack(name: str) -> Any:
        return np.stack([getattr(e, name) for e in estimates]).reshape((*lead, q))

    return Estimate(
        toa_s=stack("toa_s"),
        aoa_rad=stack("aoa_rad"),
        aod_rad=stack("aod_rad"),
        gain=unscale_gain(stack("gain"), exponent.reshape(lead)),
        n_paths=np.array([e.n_paths for e in estimates], np.int64).reshape(lead),
    )
