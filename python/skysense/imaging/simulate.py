"""CSI simulation of point-like UAVs, on the voxel grid or off it (imaging paper, eq. (14))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import (
    check_count,
    check_memory,
    check_positive,
    complex_dtype,
    resolve_workers,
)
from skysense.imaging.scenario import SPEED_OF_LIGHT, Scenario

__all__ = ["COEFFICIENT_MODELS", "NOISE_MODELS", "ImagingBatch", "simulate"]

#: Scattering-coefficient models: the authors' code draws sigma ~ N(0.1, 0.001^2) directly;
#: the paper's text draws RCS ~ N(0.01 m^2, var 0.001) and takes sigma = sqrt(RCS).
COEFFICIENT_MODELS = ("code", "rcs")
#: Noise models: "exact_norm" rescales each frame's complex Gaussian noise to the exact
#: norm sqrt(P_n * n_measurements) (the authors' code); "gaussian" is i.i.d. CN(0, P_n).
NOISE_MODELS = ("exact_norm", "gaussian", "none")
_MAX_FRAME_RESTARTS = 20

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False, eq=False)
class ImagingBatch(Result):
    """Simulated frames: measurements and their ground truth.

    The paper's image sigma (eq. (14)) is ``image``, one scattering coefficient per voxel;
    ``coefficients`` holds the same values per UAV.

    Attributes
    ----------
    measurements : ndarray, shape (n_frames, n_measurements), complex64 or complex128
        Noisy CSI y [sqrt(W)], rows ordered as A.
    image : ndarray, shape (n_frames, n_voxels), float64
        Scattering coefficient of each voxel (the UAV's in an occupied voxel, 0 elsewhere);
        C-order over the grid axes (x, y, z).
    labels : ndarray, shape (n_frames, n_voxels), bool
        Binary occupancy maps.
    positions_m : ndarray, shape (n_frames, n_targets, 3), float64, [m]
        True UAV positions.
    voxel_index : ndarray, shape (n_frames, n_targets), int64
        Voxel containing each UAV.
    coefficients : ndarray, shape (n_frames, n_targets), float64
        Scattering coefficient of each UAV (``sqrt(RCS)`` [m] in the ``"rcs"`` model).

    Examples
    --------
    >>> from skysense.imaging import Scenario, simulate
    >>> batch = simulate(Scenario(n_antennas_side=2), 100, 6, rng=0)
    >>> batch  # doctest: +ELLIPSIS
    ImagingBatch(
      measurements=complex128[100, 160] [...],
      image=float64[100, 1600] [...],
      labels=bool[100, 1600] [...],
      positions_m=float64[100, 6, 3] [...],
      voxel_index=int64[100, 6] [...],
      coefficients=float64[100, 6] [...],
    )
    """

    measurements: npt.NDArray[np.complexfloating[Any, Any]]
    image: FloatArray
    labels: npt.NDArray[np.bool_]
    positions_m: FloatArray
    voxel_index: npt.NDArray[np.int64]
    coefficients: FloatArray


def simulate(
    scenario: Scenario,
    n_frames: int,
    n_targets: int,
    *,
    off_grid: bool = False,
    min_separation_voxels: float = 3.0,
    coefficient_model: str = "code",
    noise_model: str = "exact_norm",
    dtype: npt.DTypeLike = np.complex128,
    rng: RngLike = None,
    max_bytes: float | None = None,
    workers: int | None = None,
) -> ImagingBatch:
    """Simulate CSI frames of ``n_targets`` UAVs each (``y = A sigma + z``, eq. (14)).

    Parameters
    ----------
    scenario : Scenario
        Base stations, arrays, subcarriers, voxel grid and noise power.
    n_frames, n_targets : int
        Frames and UAVs per frame (M).
    off_grid : bool
        False: UAVs at voxel centres. True: uniform continuous positions in the ROI
        (at the layer height for a 2D ROI); y uses steering vectors at the true positions.
    min_separation_voxels : float
        Minimum UAV spacing in voxel units (Euclidean; in metres ``* voxel_size_m`` off-grid).
    coefficient_model : {"code", "rcs"}
        See :data:`COEFFICIENT_MODELS`.
    noise_model : {"exact_norm", "gaussian", "none"}
        See :data:`NOISE_MODELS`; the power per entry is ``scenario.noise_power_w``.
    dtype : {complex64, complex128}
        dtype of ``measurements``.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Source of randomness, resolved by :func:`skysense._rng.as_generator` (a Generator is
        used as is and advances). The frames are drawn in order from this one stream:
        positions of every frame, then coefficients, then noise; to split a Monte-Carlo run
        into chunks independently of their number, give each chunk a child of
        ``numpy.random.Generator.spawn``.
    max_bytes : float, optional
        Largest allowed ``measurements`` [bytes]; default 1 GiB.
    workers : int, optional
        Threads of the CSI kernel; ``None`` means the current default
        (:func:`skysense.get_workers`, 1 unless :func:`skysense.set_workers` says otherwise),
        ``-1`` every CPU. Results do not depend on it.

    Returns
    -------
    ImagingBatch
        The CSI ``measurements`` (n_frames, n_measurements) with the ground truth: on-grid
        ``image`` and ``labels``, continuous ``positions_m`` [m], ``voxel_index`` and
        ``coefficients`` of every UAV.

    Examples
    --------
    >>> from skysense.imaging import Scenario, simulate
    >>> s = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=2)
    >>> batch = simulate(s, 4, 2, rng=0)
    >>> batch.measurements.shape, batch.image.shape, batch.positions_m.shape
    ((4, 160), (4, 100), (4, 2, 3))
    >>> int(batch.labels.sum())
    8
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    n_frames = check_count(n_frames, "n_frames")
    n_targets = check_count(n_targets, "n_targets")
    min_sep = check_positive(min_separation_voxels, "min_separation_voxels", strict=False)
    if coefficient_model not in COEFFICIENT_MODELS:
        raise ValueError(
            f"coefficient_model must be one of {COEFFICIENT_MODELS}, got {coefficient_model!r}"
        )
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"noise_model must be one of {NOISE_MODELS}, got {noise_model!r}")
    if n_targets > scenario.n_voxels:
        raise ValueError(f"n_targets={n_targets} exceeds the number of voxels {scenario.n_voxels}")
    dt = complex_dtype(dtype)
    gen = as_generator(rng)
    n_threads = resolve_workers(workers)
    m = scenario.n_measurements
    check_memory(n_frames * m * dt.itemsize, f"measurements ({n_frames}, {m}) {dt}", max_bytes)

    if off_grid:
        positions = _sample_off_grid(scenario, n_frames, n_targets, min_sep, gen)
        voxels = scenario.voxel_index(positions)
    else:
        voxels = _sample_on_grid(scenario, n_frames, n_targets, min_sep, gen)
        positions = scenario.voxel_centers_m()[voxels]
    coeffs = _draw_coefficients(coefficient_model, (n_frames, n_targets), gen)

    y = np.empty((n_frames, m), dt)
    try:
        _core.point_target_csi(
            antenna_positions_m=scenario.antenna_positions_m().reshape(-1, 3),
            n_antennas_per_bs=scenario.n_antennas,
            frequencies_hz=scenario.subcarrier_frequencies_hz(),
            speed_of_light_mps=SPEED_OF_LIGHT,
            pairs=scenario.pairs(),
            amplitude=scenario.amplitude,
            positions_m=np.ascontiguousarray(positions),
            coefficients=coeffs.astype(np.complex128),
            out=y,
            n_threads=n_threads,
        )
    except ValueError as exc:
        raise ValueError(f"impossible geometry: {exc}") from exc
    if noise_model != "none":
        noise = _draw_noise(noise_model, (n_frames, m), scenario.noise_power_w, gen)
        y += noise.astype(dt, copy=False)

    frames = np.arange(n_frames)[:, None]
    image = np.zeros((n_frames, scenario.n_voxels))
    image[frames, voxels] = coeffs
    labels = np.zeros((n_frames, scenario.n_voxels), dtype=bool)
    labels[frames, voxels] = True
    return ImagingBatch(
        measurements=y,
        image=image,
        labels=labels,
        positions_m=positions,
        voxel_index=voxels.astype(np.int64),
        coefficients=coeffs,
    )


def _sample_on_grid(
    scenario: Scenario, n_frames: int, n_targets: int, min_sep: float, gen: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Voxel indices, shape (n_frames, n_targets): each UAV uniform over the voxels at
    least ``min_sep`` voxel units from the earlier ones."""
    grid = (
        np.stack(np.meshgrid(*(np.arange(n) for n in scenario.grid_shape), indexing="ij"), axis=-1)
        .reshape(-1, 3)
        .astype(float)
    )
    out = np.empty((n_frames, n_targets), dtype=np.int64)
    for n in range(n_frames):
        for _ in range(_MAX_FRAME_RESTARTS):
            free = np.ones(grid.shape[0], dtype=bool)
            for k in range(n_targets):
                candidates = np.flatnonzero(free)
                if candidates.size == 0:
                    break
                v = candidates[gen.integers(candidates.size)]
                out[n, k] = v
                free &= np.sum((grid - grid[v]) ** 2, axis=1) >= min_sep**2
                free[v] = False
            else:
                break
        else:
            raise ValueError(
                f"cannot place n_targets={n_targets} UAVs {min_sep} voxels apart in the "
                f"{scenario.grid_shape} grid; lower n_targets or min_separation_voxels"
            )
    return out


def _sample_off_grid(
    scenario: Scenario,
    n_frames: int,
    n_targets: int,
    min_sep: float,
    gen: np.random.Generator,
    block: int = 128,
    blocks_per_target: int = 16,
) -> FloatArray:
    """Continuous positions, shape (n_frames, n_targets, 3) [m], uniform in the ROI with a
    minimum spacing of ``min_sep * voxel_size_m`` (sequential rejection sampling)."""
    lo, hi = scenario.roi_bounds_m()
    min_dist = min_sep * scenario.voxel_size_m
    _check_packing(n_targets, min_dist, hi - lo)
    out = np.empty((n_frames, n_targets, 3))
    for n in range(n_frames):
        for _ in range(_MAX_FRAME_RESTARTS):
            placed = 0
            for _attempt in range(n_targets * blocks_per_target):
                cand = gen.uniform(lo, hi, size=(block, 3))
                d2 = np.sum((cand[:, None, :] - out[n, None, :placed]) ** 2, axis=-1)
                ok = np.flatnonzero(np.all(d2 >= min_dist**2, axis=1))
                if ok.size:
                    out[n, placed] = cand[ok[0]]
                    placed += 1
                    if placed == n_targets:
                        break
            if placed == n_targets:
                break
        else:
            raise ValueError(
                f"cannot place n_targets={n_targets} UAVs {min_sep} voxels apart in the ROI; "
                "lower n_targets or min_separation_voxels"
            )
    return out


def _check_packing(n_targets: int, min_dist: float, extent: FloatArray) -> None:
    """Reject counts that no placement can reach: balls of radius min_dist / 2 around the
    UAVs are disjoint and lie in the ROI grown by that radius (densest-packing bound)."""
    r = min_dist / 2.0
    dims = extent > 0
    if r == 0 or n_targets == 1:
        return
    if dims.sum() == 2:
        capacity = 0.9069 * np.prod(extent[dims] + 2 * r) / (np.pi * r**2)
    else:
        capacity = 0.7405 * np.prod(extent + 2 * r) / (4.0 / 3.0 * np.pi * r**3)
    if n_targets > capacity:
        raise ValueError(
            f"cannot place n_targets={n_targets} UAVs {min_dist} m apart in the ROI "
            f"(at most {int(capacity)} fit); lower n_targets or min_separation_voxels"
        )


def _draw_coefficients(model: str, shape: tuple[int, int], gen: np.random.Generator) -> FloatArray:
    if model == "code":
        return gen.normal(0.1, 1e-3, size=shape)
    # RCS ~ N(0.01, var 0.001) [m^2] truncated to positive values, sigma = sqrt(RCS).
    rcs = gen.normal(0.01, np.sqrt(1e-3), size=shape)
    bad = rcs <= 0
    while bad.any():
        rcs[bad] = gen.normal(0.01, np.sqrt(1e-3), size=int(bad.sum()))
        bad = rcs <= 0
    return np.sqrt(rcs)


def _draw_noise(
    model: str, shape: tuple[int, int], power_w: float, gen: np.random.Generator
) -> npt.NDArray[np.complex128]:
    z = gen.standard_normal(shape + (2,)).view(np.complex128)[..., 0]
    z *= np.sqrt(power_w / 2.0)
    if model == "exact_norm":
        z *= np.sqrt(power_w * shape[1]) / np.linalg.norm(z, axis=1, keepdims=True)
    return z
