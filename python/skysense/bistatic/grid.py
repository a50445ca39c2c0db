"""The (AoA, AoD, ToA) search grid of the grid baselines and its separable correlations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array, check_count, check_positive
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.scenario import Scenario

__all__ = ["Grid", "correlate", "hankel_matrix", "pick_peaks"]


@dataclass(frozen=True)
class Grid:
    """Search grid of the Bartlett, MUSIC and DML baselines.

    Parameters
    ----------
    aoa_rad : array_like, shape (n_aoa,)
        AoA grid [rad].
    aod_rad : array_like, shape (n_aod,)
        AoD grid [rad].
    delay_s : array_like, shape (n_delay,)
        ToA grid [s].
    """

    aoa_rad: np.ndarray
    aod_rad: np.ndarray
    delay_s: np.ndarray

    def __post_init__(self):
        for name in ("aoa_rad", "aod_rad", "delay_s"):
            arr = as_array(getattr(self, name), name, ndim=1, kind="fiu", dtype=np.float64)
            if arr.size < 1:
                raise ValueError(f"{name} must be non-empty")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def uniform(
        cls,
        scenario: Scenario,
        *,
        angle_step_rad=math.pi / 180,
        delay_step_s=None,
        max_delay_s=None,
    ) -> Grid:
        """Angles over [-pi/2, pi/2] in ``angle_step_rad`` (181 points at 1 degree); delays over
        [0, max_delay_s] (default T_cp) in ``delay_step_s`` (default 1/(4 N df))."""
        step = check_positive(angle_step_rad, "angle_step_rad")
        n_ang = math.floor(math.pi / step + 1e-9) + 1
        ang = -math.pi / 2 + step * np.arange(n_ang)
        dstep = scenario.delay_resolution_s / 4 if delay_step_s is None else delay_step_s
        dstep = check_positive(dstep, "delay_step_s")
        dmax = scenario.cp_s if max_delay_s is None else check_positive(max_delay_s, "max_delay_s")
        delays = dstep * np.arange(math.floor(dmax / dstep + 1e-9) + 1)
        return cls(ang, ang, delays)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_aoa, n_aod, n_delay)."""
        return (self.aoa_rad.size, self.aod_rad.size, self.delay_s.size)


def _steering(scenario: Scenario, grid: Grid, n_tx, n_rx, n_sub):
    k = np.arange
    at = np.exp(-2j * np.pi * scenario.spacing_tx * k(n_tx)[:, None] * np.sin(grid.aod_rad))
    ar = np.exp(-2j * np.pi * scenario.spacing_rx * k(n_rx)[:, None] * np.sin(grid.aoa_rad))
    turns = np.mod(np.outer(k(n_sub), scenario.subcarrier_spacing_hz * grid.delay_s), 1.0)
    c = np.exp(-2j * np.pi * turns)
    return at, ar, c


def correlate(x, scenario: Scenario, grid: Grid) -> np.ndarray:
    """``b(v)^H x`` for every voxel v, ``b = a_t(phi) (x) a_r(theta) (x) c(tau)``.

    Parameters
    ----------
    x : ndarray, shape (..., n_tx', n_rx', n_sub')
        Arrays of any (sub-)array sizes; the steering vectors are cut to them.

    Returns
    -------
    ndarray, shape (..., n_aoa, n_aod, n_delay), complex64 for complex64 ``x``, else complex128
    """
    x = np.asarray(x)
    dtype = np.complex64 if x.dtype == np.complex64 else np.complex128
    n_tx, n_rx, n_sub = x.shape[-3:]
    # phases in float64, then rounded to the working precision
    at, ar, c = (s.astype(dtype) for s in _steering(scenario, grid, n_tx, n_rx, n_sub))
    y = x.astype(dtype, copy=False) @ c.conj()  # (..., t, r, d)
    y = np.einsum("ra,...trd->...tad", ar.conj(), y, optimize=True)
    return np.einsum("tp,...tad->...apd", at.conj(), y, optimize=True)


def atoms(scenario: Scenario, aoa, aod, delay) -> np.ndarray:
    """Steering vectors of given paths, shape (n_tx n_rx n_subcarriers, n_paths), row order of
    ``csi.ravel()``."""
    at = scenario.steering_tx(aod)
    ar = scenario.steering_rx(aoa)
    c = scenario.delay_response(delay)
    return np.einsum("ti,ri,ni->trni", at, ar, c).reshape(-1, len(np.atleast_1d(aoa)))


def pick_peaks(spectrum, n_peaks: int) -> np.ndarray:
    """Flat indices of the ``n_peaks`` largest local maxima (3x3x3 neighbourhood, edges
    replicated), largest first; fewer if fewer maxima exist."""
    from scipy.ndimage import maximum_filter

    local = spectrum == maximum_filter(spectrum, size=3, mode="nearest")
    idx = np.flatnonzero(local)
    order = np.argsort(-spectrum.ravel()[idx], kind="stable")
    return idx[order[:n_peaks]]


def grid_estimate(csi, scenario: Scenario, grid: Grid, flat_idx, n_paths: int) -> Estimate:
    """Estimate from picked voxels: LS gains on their atoms, sorted by ToA, NaN-padded; in the
    precision of ``csi`` (float32/complex64 for complex64 CSI)."""
    ia, ip, idl = np.unravel_index(flat_idx, grid.shape)
    aoa, aod, delay = grid.aoa_rad[ia], grid.aod_rad[ip], grid.delay_s[idl]
    order = np.argsort(delay, kind="stable")
    aoa, aod, delay = aoa[order], aod[order], delay[order]
    b = atoms(scenario, aoa, aod, delay).astype(csi.dtype)
    gain = np.linalg.lstsq(b, csi.ravel(), rcond=None)[0]
    real = np.finfo(csi.dtype).dtype
    out = [np.full(n_paths, np.nan, real) for _ in range(3)]
    g = np.full(n_paths, np.nan + 0j, csi.dtype)
    k = len(order)
    out[0][:k], out[1][:k], out[2][:k], g[:k] = delay, aoa, aod, gain
    return Estimate(toa=out[0], aoa=out[1], aod=out[2], gain=g, n_paths=np.int64(k))


def stack_estimates(estimates, lead) -> Estimate:
    """Stack per-CSI estimates into an Estimate with leading axes ``lead``."""
    q = estimates[0].toa.shape[-1]

    def stack(name):
        return np.stack([getattr(e, name) for e in estimates]).reshape((*lead, q))

    return Estimate(
        toa=stack("toa"),
        aoa=stack("aoa"),
        aod=stack("aod"),
        gain=stack("gain"),
        n_paths=np.array([e.n_paths for e in estimates], np.int64).reshape(lead),
    )


def hankel_matrix(csi, subarrays) -> np.ndarray:
    """The three-level Hankel matrix X of eqs. (26)-(28), shape (Mt M Mr, Kt K_N Kr)."""
    mt, mr, m = subarrays
    n_tx, n_rx, n_sub = csi.shape
    kt, kr, kn = n_tx - mt + 1, n_rx - mr + 1, n_sub - m + 1
    a_t, a_m, a_r = np.meshgrid(np.arange(mt), np.arange(m), np.arange(mr), indexing="ij")
    c_t, c_n, c_r = np.meshgrid(np.arange(kt), np.arange(kn), np.arange(kr), indexing="ij")
    rows = [v.ravel()[:, None] for v in (a_t, a_m, a_r)]
    cols = [v.ravel()[None, :] for v in (c_t, c_n, c_r)]
    return csi[rows[0] + cols[0], rows[2] + cols[2], rows[1] + cols[1]]


def check_order(n_paths, limit: int, what: str) -> int:
    """Validate an integer model order against an upper bound."""
    q = check_count(n_paths, "n_paths")
    if q > limit:
        raise ValueError(f"n_paths = {q} exceeds {what} = {limit}")
    return q
