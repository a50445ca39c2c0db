"""The (AoA, AoD, ToA) search grid of the grid baselines and its separable correlations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense._results import Result
from skysense._validation import as_array, check_positive
from skysense.bistatic.scenario import Scenario

__all__ = ["Grid", "atoms", "correlate"]


@dataclass(frozen=True, repr=False)
class Grid(Result):
    """Search grid of the Bartlett, MUSIC and DML baselines (a short ``repr``, like a result).

    Attributes are read-only float64 arrays.

    Parameters
    ----------
    aoa_rad : array_like, shape (n_aoa,)
        AoA grid [rad].
    aod_rad : array_like, shape (n_aod,)
        AoD grid [rad].
    toa_s : array_like, shape (n_toa,)
        ToA grid [s].

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> bs.Grid.uniform(bs.Scenario()).shape  # 1 degree, 1/(4 N df) up to T_cp
    (181, 181, 65)
    """

    aoa_rad: NDArray[np.float64]
    aod_rad: NDArray[np.float64]
    toa_s: NDArray[np.float64]

    def __post_init__(self) -> None:
        for name in ("aoa_rad", "aod_rad", "toa_s"):
            arr = as_array(getattr(self, name), name, ndim=1, kind="fiu", dtype=np.float64)
            if arr.size < 1:
                raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def uniform(
        cls,
        scenario: Scenario,
        *,
        angle_step_rad: float = math.pi / 180,
        toa_step_s: float | None = None,
        max_toa_s: float | None = None,
    ) -> Grid:
        """Uniform grid: angles over [-pi/2, pi/2], ToAs over [0, max_toa_s].

        Parameters
        ----------
        scenario : Scenario
            Numerology (the default ToA step and range).
        angle_step_rad : float
            Step of both angle axes [rad] (1 degree: 181 points).
        toa_step_s : float, optional
            ToA step [s]; default 1/(4 N df).
        max_toa_s : float, optional
            Last ToA [s]; default T_cp.
        """
        step = check_positive(angle_step_rad, "angle_step_rad")
        n_ang = math.floor(math.pi / step + 1e-9) + 1
        ang = (-math.pi / 2 + step * np.arange(n_ang)).astype(np.float64)
        dstep = scenario.toa_resolution_s / 4 if toa_step_s is None else toa_step_s
        dstep = check_positive(dstep, "toa_step_s")
        if max_toa_s is None:
            dmax = scenario.cyclic_prefix_s
        else:
            dmax = check_positive(max_toa_s, "max_toa_s")
        toas = (dstep * np.arange(math.floor(dmax / dstep + 1e-9) + 1)).astype(np.float64)
        return cls(ang, ang, toas)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_aoa, n_aod, n_toa)."""
        return (self.aoa_rad.size, self.aod_rad.size, self.toa_s.size)


def _steering(
    scenario: Scenario, grid: Grid, n_tx: int, n_rx: int, n_sub: int
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], NDArray[np.complex128]]:
    k = np.arange
    at = np.exp(
        -2j * np.pi * scenario.spacing_tx_wavelengths * k(n_tx)[:, None] * np.sin(grid.aod_rad)
    )
    ar = np.exp(
        -2j * np.pi * scenario.spacing_rx_wavelengths * k(n_rx)[:, None] * np.sin(grid.aoa_rad)
    )
    turns = np.mod(np.outer(k(n_sub), scenario.subcarrier_spacing_hz * grid.toa_s), 1.0)
    c = np.exp(-2j * np.pi * turns)
    return at, ar, c


def correlate(
    x: ArrayLike, scenario: Scenario, grid: Grid
) -> NDArray[np.complexfloating[Any, Any]]:
    """``b(v)^H x`` for every voxel v, ``b = a_t(phi) (x) a_r(theta) (x) c(tau)``.

    Parameters
    ----------
    x : array_like, shape (..., n_tx', n_rx', n_sub'), complex
        Arrays of any (sub-)array sizes; the steering vectors are cut to them.
    scenario : Scenario
        Spacings and subcarrier spacing.
    grid : Grid
        The voxels.

    Returns
    -------
    ndarray, shape (..., n_aoa, n_aod, n_toa), complex64 for complex64 ``x``, else complex128
    """
    arr: NDArray[Any] = np.asarray(x)
    dtype: np.dtype[np.complexfloating[Any, Any]] = np.dtype(
        np.complex64 if arr.dtype == np.complex64 else np.complex128
    )
    n_tx, n_rx, n_sub = arr.shape[-3:]
    # phases in float64, then rounded to the working precision
    at, ar, c = (s.astype(dtype) for s in _steering(scenario, grid, n_tx, n_rx, n_sub))
    y: NDArray[Any] = arr.astype(dtype, copy=False) @ c.conj()  # (..., t, r, d)
    y = np.einsum("ra,...trd->...tad", ar.conj(), y, optimize=True)
    out: NDArray[np.complexfloating[Any, Any]] = np.einsum(
        "tp,...tad->...apd", at.conj(), y, optimize=True
    )
    return out


def atoms(
    scenario: Scenario, aoa_rad: ArrayLike, aod_rad: ArrayLike, toa_s: ArrayLike
) -> NDArray[np.complex128]:
    """Steering vectors of given paths, shape (n_tx n_rx n_subcarriers, n_paths), complex128,
    in the row order of ``csi.ravel()``."""
    at = scenario.steering_tx(aod_rad)
    ar = scenario.steering_rx(aoa_rad)
    c = scenario.delay_response(toa_s)
    return np.einsum("ti,ri,ni->trni", at, ar, c).reshape(-1, at.shape[1])
