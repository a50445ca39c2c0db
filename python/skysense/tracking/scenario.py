"""Dynamic imaging scenario: UAVs that appear, fly smooth random paths through the ROI and
leave, imaged frame by frame with off-grid CSI from the imaging forward model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import (
    as_array,
    check_count,
    check_finite_scalar,
    check_memory,
    check_positive,
    complex_dtype,
)
from skysense._workers import resolve_workers
from skysense.tracking import _imaging_adapter as adapter

if TYPE_CHECKING:
    from skysense.imaging import Scenario

__all__ = ["TrackingScenario", "Trajectories", "simulate_csi", "simulate_trajectories"]

#: Frames whose CSI is formed in one block (bounds the steering columns held at once).
_FRAMES_PER_BLOCK = 16


def _default_imaging() -> Scenario:
    from skysense.imaging import Scenario

    return Scenario(n_antennas_side=5)


@dataclass(frozen=True)
class TrackingScenario:
    """UAVs flying through the imaging ROI over ``n_frames`` frames.

    Parameters
    ----------
    imaging : skysense.imaging.Scenario
        Geometry and radio of the imaging system (default: the 2-D off-grid setting of the
        shipped learned imager, N0 = 5).
    n_frames : int
        Frames of the run.
    frame_rate_hz : float
        Frames per second (> 0).
    n_uavs : int
        UAVs that fly during the run (>= 1), each with one contiguous lifetime.
    n_initial : int, optional
        UAVs present at frame 0 (default: 60 % of ``n_uavs``, at least one); the others
        appear at uniform random frames.
    speed_mps : float
        Mean speed of a UAV [m/s] (each flies at a constant speed within +-25 % of it).
    min_lifetime_s : float
        Shortest time a UAV stays [s]; lifetimes are uniform in
        ``[min_lifetime_s, 1.5 * run length]`` (a UAV still present at the end never departs).
    margin_m : float
        Trajectories keep this far from the ROI boundary [m].
    coefficient_mean, coefficient_std : float
        Scattering coefficient of each UAV, drawn once per UAV (the imaging code's
        N(0.1, 0.001^2)).

    Examples
    --------
    >>> from skysense.tracking import TrackingScenario, simulate_trajectories
    >>> truth = simulate_trajectories(TrackingScenario(n_frames=20, n_uavs=3), rng=0)
    >>> truth.positions_m.shape, int(truth.present.sum(axis=1).max()) <= 3
    ((20, 3, 3), True)
    """

    imaging: Scenario = field(default_factory=_default_imaging)
    n_frames: int = 100
    frame_rate_hz: float = 10.0
    n_uavs: int = 8
    n_initial: int | None = None
    speed_mps: float = 8.0
    min_lifetime_s: float = 3.0
    margin_m: float = 4.0
    coefficient_mean: float = 0.1
    coefficient_std: float = 1e-3

    def __post_init__(self) -> None:
        adapter.check_scenario(self.imaging, "imaging")
        check_count(self.n_frames, "n_frames")
        check_positive(self.frame_rate_hz, "frame_rate_hz")
        check_count(self.n_uavs, "n_uavs")
        n_initial = (
            max(1, round(0.6 * self.n_uavs))
            if self.n_initial is None
            else check_count(self.n_initial, "n_initial", minimum=0)
        )
        if n_initial > self.n_uavs:
            raise ValueError(f"n_initial must lie in [0, n_uavs={self.n_uavs}], got {n_initial}")
        object.__setattr__(self, "n_initial", n_initial)
        check_positive(self.speed_mps, "speed_mps")
        check_positive(self.min_lifetime_s, "min_lifetime_s")
        check_positive(self.margin_m, "margin_m", strict=False)
        check_finite_scalar(self.coefficient_mean, "coefficient_mean")
        check_positive(self.coefficient_std, "coefficient_std", strict=False)
        lo, hi = adapter.roi_bounds(self.imaging)
        room = (hi - lo)[: self.n_dims] - 2 * self.margin_m
        if np.any(room <= 0):
            raise ValueError(
                f"margin_m={self.margin_m} leaves no room in the ROI {tuple(lo)}..{tuple(hi)} m"
            )

    @classmethod
    def paper_3d(cls, **overrides: Any) -> TrackingScenario:
        """The imaging paper's 3-D ROI (``Scenario.paper_3d()``: 100 x 100 x 80 m, d0 = 5 m)."""
        from skysense.imaging import Scenario

        return cls(**{"imaging": Scenario.paper_3d(), **overrides})

    def replace(self, **changes: Any) -> TrackingScenario:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def n_dims(self) -> int:
        """2 for a planar ROI (zero z extent), else 3."""
        lo, hi = adapter.roi_bounds(self.imaging)
        return 2 if hi[2] == lo[2] else 3

    @property
    def interval_s(self) -> float:
        return 1.0 / self.frame_rate_hz


@dataclass(frozen=True, repr=False)
class Trajectories(Result):
    """True UAV states of a run.

    Attributes
    ----------
    positions_m : ndarray, shape (n_frames, n_uavs, 3), float64, [m]
        NaN where the UAV is absent (see ``present``).
    velocities_mps : ndarray, shape (n_frames, n_uavs, 3), float64, [m/s]
        NaN where absent.
    present : ndarray, shape (n_frames, n_uavs), bool
    coefficients : ndarray, shape (n_uavs,), float64
        Scattering coefficient of each UAV.
    times_s : ndarray, shape (n_frames,), float64, [s]
    """

    positions_m: np.ndarray
    velocities_mps: np.ndarray
    present: np.ndarray
    coefficients: np.ndarray
    times_s: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.present.shape[0])

    def frames(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per frame: positions ``(n_present, 3)`` and UAV indices ``(n_present,)`` (int64)."""
        ids = [np.flatnonzero(row).astype(np.int64) for row in self.present]
        return [self.positions_m[f, i] for f, i in enumerate(ids)], ids


#: Substeps of the path integration per frame, time constant [s] and std [rad/s] of the
#: turn rate, and the look-ahead [s] of the boundary avoidance.
_SUBSTEPS = 8
_TURN_TIME_S = 2.0
_TURN_STD_RADPS = 0.35
_LOOK_AHEAD_S = 2.5
_CLIMB_TIME_S = 3.0


def _paths(
    scenario: TrackingScenario, times: np.ndarray, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth paths inside the ROI less the margin, shape (n_frames, n_uavs, 3) [m].

    Each UAV flies at a constant speed (``speed_mps`` times U(0.75, 1.25)) with a heading
    driven by an Ornstein-Uhlenbeck turn rate; when the point ``_LOOK_AHEAD_S`` ahead leaves
    the ROI less the margin, it turns towards the ROI centre at its largest rate (speed / 8 m).
    In 3-D the climb rate is an Ornstein-Uhlenbeck process (std speed / 4) reflected at the
    height bounds. The integration is semi-implicit with ``_SUBSTEPS`` steps per frame; the
    paths start uniformly in the ROI less the margin, so their positions spread over it."""
    lo, hi = adapter.roi_bounds(scenario.imaging)
    d, n = scenario.n_dims, scenario.n_uavs
    lo_in, hi_in = lo + scenario.margin_m, hi - scenario.margin_m
    centre = 0.5 * (lo + hi)
    speed = scenario.speed_mps * gen.uniform(0.75, 1.25, n)
    max_rate = speed / 8.0
    p = np.empty((n, 3))
    p[:, :d] = gen.uniform(lo_in[:d], hi_in[:d], size=(n, d))
    if d == 2:
        p[:, 2] = lo[2]
    heading = gen.uniform(0, 2 * np.pi, n)
    rate = np.zeros(n)
    climb = np.zeros(n)
    climb_std = speed / 4.0
    h = scenario.interval_s / _SUBSTEPS
    decay, decay_z = np.exp(-h / _TURN_TIME_S), np.exp(-h / _CLIMB_TIME_S)
    pos = np.empty((times.size, n, 3))
    vel = np.zeros((times.size, n, 3))
    for f in range(times.size):
        pos[f] = p
        vel[f, :, 0] = speed * np.cos(heading)
        vel[f, :, 1] = speed * np.sin(heading)
        vel[f, :, 2] = climb if d == 3 else 0.0
        for _ in range(_SUBSTEPS):
            rate = rate * decay + _TURN_STD_RADPS * np.sqrt(1 - decay**2) * gen.standard_normal(n)
            ahead = p[:, :2] + _LOOK_AHEAD_S * speed[:, None] * np.stack(
                [np.cos(heading), np.sin(heading)], axis=1
            )
            out = np.any((ahead < lo_in[:2]) | (ahead > hi_in[:2]), axis=1)
            to_c = centre[:2] - p[:, :2]
            side = np.sign(np.cos(heading) * to_c[:, 1] - np.sin(heading) * to_c[:, 0])
            turn = np.where(
                out, np.where(side == 0, 1.0, side) * max_rate, np.clip(rate, -max_rate, max_rate)
            )
            heading = heading + turn * h
            p[:, 0] += speed * np.cos(heading) * h
            p[:, 1] += speed * np.sin(heading) * h
            if d == 3:
                climb = climb * decay_z + climb_std * np.sqrt(1 - decay_z**2) * gen.standard_normal(
                    n
                )
                p[:, 2] += climb * h
                low, high = p[:, 2] < lo_in[2], p[:, 2] > hi_in[2]
                climb = np.where(low, np.abs(climb), np.where(high, -np.abs(climb), climb))
            np.clip(p, lo, hi, out=p)  # a safety net: the turns keep the paths well inside
    return pos, vel


def simulate_trajectories(scenario: TrackingScenario, *, rng: RngLike = None) -> Trajectories:
    """Lifetimes and smooth random paths of the scenario's UAVs.

    Parameters
    ----------
    scenario : TrackingScenario
        Number of UAVs and frames, frame rate, lifetimes and scattering coefficients.
    rng : None, int, SeedSequence or Generator, keyword-only
        Random source of the paths, lifetimes and coefficients (``docs/conventions.md``).

    Returns
    -------
    Trajectories
        Positions ``(n_frames, n_uavs, 3)`` [m] (NaN where absent), velocities, presence,
        coefficients and frame times.
    """
    if not isinstance(scenario, TrackingScenario):
        raise TypeError(f"scenario must be a TrackingScenario, got {type(scenario).__name__}")
    gen = as_generator(rng)
    n_f, n = scenario.n_frames, scenario.n_uavs
    times = np.arange(n_f) * scenario.interval_s
    pos, vel = _paths(scenario, times, gen)
    min_life = max(1, math.ceil(scenario.min_lifetime_s * scenario.frame_rate_hz))
    birth = np.zeros(n, dtype=np.int64)
    n_initial = int(scenario.n_initial or 0)
    late = n - n_initial
    if late:
        birth[n_initial:] = gen.integers(1, max(2, n_f - min_life + 1), size=late)
    life = gen.integers(min_life, max(min_life + 1, int(1.5 * n_f) + 1), size=n)
    frames = np.arange(n_f)[:, None]
    present = (frames >= birth[None]) & (frames < (birth + life)[None])
    pos[~present] = np.nan
    vel[~present] = np.nan
    coeffs = gen.normal(scenario.coefficient_mean, scenario.coefficient_std, size=n)
    return Trajectories(pos, vel, present, coeffs, times)


def simulate_csi(
    scenario: Scenario | TrackingScenario,
    positions_m: npt.ArrayLike,
    coefficients: npt.ArrayLike,
    *,
    noise: bool = True,
    dtype: npt.DTypeLike = np.complex128,
    rng: RngLike = None,
    workers: int | None = None,
    max_bytes: float | None = None,
) -> np.ndarray:
    """Off-grid CSI frames of UAVs at given positions (the imaging forward model, eq. (14)
    of the imaging paper, columns evaluated at the true positions).

    Parameters
    ----------
    scenario : skysense.imaging.Scenario or TrackingScenario
        Imaging scenario of the BSs (for a ``TrackingScenario``: its ``imaging``).
    positions_m : array_like, shape (n_frames, n_uavs, 3), [m]
        UAV positions per frame; NaN rows are absent UAVs. Present UAVs must lie in the ROI.
    coefficients : array_like, shape (n_uavs,)
        Scattering coefficient of each UAV.
    noise : bool
        Add i.i.d. CN(0, P_n) noise (``scenario.noise_power_w`` per entry).
    dtype : {complex64, complex128}
        Precision of the output.
    rng : keyword-only
        Noise source.
    workers : int, optional
        Threads of the steering kernel; results do not depend on it.
    max_bytes : float, optional
        Largest allowed result [bytes] (default 1 GiB).

    Returns
    -------
    ndarray, shape (n_frames, n_measurements), ``dtype``
        Rows ordered as the sensing matrix.
    """
    img = adapter.check_scenario(
        scenario.imaging if isinstance(scenario, TrackingScenario) else scenario
    )
    dt = complex_dtype(dtype)
    pos = as_array(
        positions_m, "positions_m", ndim=3, kind="fiu", dtype=np.float64, check_finite=False
    )
    if pos.shape[-1] != 3:
        raise ValueError(f"positions_m must have shape (n_frames, n_uavs, 3), got {pos.shape}")
    n_f, n_u = pos.shape[:2]
    if n_f == 0:
        raise ValueError("positions_m has no frames (n_frames = 0)")
    coeff = as_array(coefficients, "coefficients", shape=(n_u,), kind="fiuc", dtype=np.complex128)
    present = np.isfinite(pos).all(axis=-1)
    if np.isinf(pos).any() or (np.isnan(pos).any(axis=-1) & ~np.isnan(pos).all(axis=-1)).any():
        raise ValueError("positions_m: a present UAV has an Inf or partly-NaN position")
    lo, hi = adapter.roi_bounds(img)
    tol = 1e-9 * max(1.0, float(np.abs(hi).max()))
    outside = present & ~np.all((pos >= lo - tol) & (pos <= hi + tol), axis=-1)
    if outside.any():
        f, u = map(int, np.argwhere(outside)[0])
        raise ValueError(
            f"positions_m[{f}, {u}] = {pos[f, u].tolist()} lies outside the ROI "
            f"{lo.tolist()}..{hi.tolist()} m"
        )
    m = img.n_measurements
    check_memory(n_f * m * dt.itemsize, f"CSI frames ({n_f}, {m}) {dt}", max_bytes)
    gen = as_generator(rng)
    threads = resolve_workers(workers)
    out = np.zeros((n_f, m), dt)
    for lo_f in range(0, n_f, _FRAMES_PER_BLOCK):
        block = slice(lo_f, min(n_f, lo_f + _FRAMES_PER_BLOCK))
        frame_idx, uav_idx = np.nonzero(present[block])
        if frame_idx.size == 0:
            continue
        cols = adapter.steering_columns(
            img, pos[block][frame_idx, uav_idx], dtype=np.complex128, workers=threads
        )
        # y_f = sum over the UAVs present in frame f of coefficient * column
        select = np.zeros((block.stop - block.start, frame_idx.size), np.complex128)
        select[frame_idx, np.arange(frame_idx.size)] = coeff[uav_idx]
        out[block] = select @ cols.T
    if noise:
        z = gen.standard_normal((n_f, m, 2)).view(np.complex128)[..., 0]
        out += (z * np.sqrt(adapter.noise_power_w(img) / 2.0)).astype(dt, copy=False)
    return out
