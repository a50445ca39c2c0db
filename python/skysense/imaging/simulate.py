"""CSI simulation of point-like UAVs, on the voxel grid or off it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import (
    check_count,
    check_memory,
    check_positive,
    complex_dtype,
    resolve_workers,
)
from skysense.imaging.scenario import SPEED_OF_LIGHT, Scenario

__all__ = ["ImagingBatch", "simulate"]

#: Scattering-coefficient models: the authors' code draws sigma ~ N(0.1, 0.001^2) directly;
#: the paper's text draws RCS ~ N(0.01 m^2, var 0.001) and takes sigma = sqrt(RCS).
COEFFICIENT_MODELS = ("code", "rcs")
#: Noise models: "exact_norm" rescales each frame's complex Gaussian noise to the exact
#: norm sqrt(P_n * n_measurements) (the authors' code); "gaussian" is i.i.d. CN(0, P_n).
NOISE_MODELS = ("exact_norm", "gaussian", "none")
_MAX_FRAME_RESTARTS = 20


@dataclass(frozen=True)
class ImagingBatch:
    """Simulated frames.

    Attributes
    ----------
    y : ndarray, shape (n_frames, n_measurements), complex
        Noisy CSI measurements [sqrt(W)], rows ordered as A.
    sigma : ndarray, shape (n_frames, n_voxels), float64
        Scattering coefficient of each occupied voxel, 0 elsewhere.
    labels : ndarray, shape (n_frames, n_voxels), bool
        Binary occupancy maps.
    positions : ndarray, shape (n_frames, n_targets, 3), float64, [m]
        True UAV positions.
    voxel_indices : ndarray, shape (n_frames, n_targets), int64
        Voxel containing each UAV.
    coefficients : ndarray, shape (n_frames, n_targets), float64
        Scattering coefficient of each UAV.
    """

    y: np.ndarray
    sigma: np.ndarray
    labels: np.ndarray
    positions: np.ndarray
    voxel_indices: np.ndarray
    coefficients: np.ndarray


def simulate(
    scenario,
    n_frames,
    n_targets,
    *,
    off_grid=False,
    min_separation_voxels=3.0,
    coefficient_model="code",
    noise="exact_norm",
    dtype=np.complex128,
    rng=None,
    seed=None,
    max_bytes=None,
    workers=None,
):
    """Simulate CSI frames of ``n_targets`` UAVs each.

    Parameters
    ----------
    scenario : Scenario
    n_frames, n_targets : int
        Frames and UAVs per frame (M).
    off_grid : bool
        False: UAVs at voxel centres. True: uniform continuous positions in the ROI
        (at the layer height for a 2D ROI); y uses steering vectors at the true positions.
    min_separation_voxels : float
        Minimum UAV spacing in voxel units (Euclidean; in metres ``* voxel_size_m`` off-grid).
    coefficient_model : {"code", "rcs"}
        See :data:`COEFFICIENT_MODELS`.
    noise : {"exact_norm", "gaussian", "none"}
        See :data:`NOISE_MODELS`; the power per entry is ``scenario.noise_power_w``.
    dtype : {complex64, complex128}
        dtype of ``y``.
    rng : int or numpy.random.Generator, optional
        Source of randomness (``seed`` is a shorthand for an int ``rng``).
    max_bytes : float, optional
        Largest allowed ``y`` [bytes]; default 1 GiB.
    workers : int, optional
        Threads of the CSI kernel; results do not depend on it.

    Returns
    -------
    ImagingBatch
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
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    if n_targets > scenario.n_voxels:
        raise ValueError(f"n_targets={n_targets} exceeds the number of voxels {scenario.n_voxels}")
    dt = complex_dtype(dtype)
    if rng is not None and seed is not None:
        raise TypeError("pass either rng or seed, not both")
    gen = np.random.default_rng(seed if rng is None else rng)
    m = scenario.n_measurements
    check_memory(n_frames * m * dt.itemsize, f"measurements ({n_frames}, {m}) {dt}", max_bytes)

    if off_grid:
        positions = _sample_off_grid(scenario, n_frames, n_targets, min_sep, gen)
        voxels = scenario.voxel_index(positions)
    else:
        voxels = _sample_on_grid(scenario, n_frames, n_targets, min_sep, gen)
        positions = scenario.voxel_centers()[voxels]
    coeffs = _draw_coefficients(coefficient_model, (n_frames, n_targets), gen)

    y = np.empty((n_frames, m), dt)
    ant = scenario.antenna_positions().reshape(-1, 3)
    try:
        _core.point_target_csi(
            ant,
            scenario.n_antennas,
            scenario.subcarrier_frequencies_hz(),
            SPEED_OF_LIGHT,
            scenario.pairs(),
            scenario.amplitude,
            np.ascontiguousarray(positions),
            coeffs.astype(np.complex128),
            y,
            resolve_workers(workers),
        )
    except ValueError as exc:
        raise ValueError(f"impossible geometry: {exc}") from exc
    if noise != "none":
        y += _draw_noise(noise, (n_frames, m), scenario.noise_power_w, gen).astype(dt, copy=False)

    frames = np.arange(n_frames)[:, None]
    sigma = np.zeros((n_frames, scenario.n_voxels))
    sigma[frames, voxels] = coeffs
    labels = np.zeros((n_frames, scenario.n_voxels), dtype=bool)
    labels[frames, voxels] = True
    return ImagingBatch(
        y=y,
        sigma=sigma,
        labels=labels,
        positions=positions,
        voxel_indices=voxels.astype(np.int64),
        coefficients=coeffs,
    )


def _sample_on_grid(scenario, n_frames, n_targets, min_sep, gen):
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


def _sample_off_grid(scenario, n_frames, n_targets, min_sep, gen, block=128, blocks_per_target=16):
    """Continuous positions, shape (n_frames, n_targets, 3) [m], uniform in the ROI with a
    minimum spacing of ``min_sep * voxel_size_m`` (sequential rejection sampling)."""
    lo, hi = scenario.roi_bounds()
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


def _check_packing(n_targets, min_dist, extent):
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


def _draw_coefficients(model, shape, gen):
    if model == "code":
        return gen.normal(0.1, 1e-3, size=shape)
    # RCS ~ N(0.01, var 0.001) [m^2] truncated to positive values, sigma = sqrt(RCS).
    rcs = gen.normal(0.01, np.sqrt(1e-3), size=shape)
    bad = rcs <= 0
    while bad.any():
        rcs[bad] = gen.normal(0.01, np.sqrt(1e-3), size=int(bad.sum()))
        bad = rcs <= 0
    return np.sqrt(rcs)


def _draw_noise(model, shape, power_w, gen):
    z = gen.standard_normal(shape + (2,)).view(np.complex128)[..., 0]
    z *= np.sqrt(power_w / 2.0)
    if model == "exact_norm":
        z *= np.sqrt(power_w * shape[1]) / np.linalg.norm(z, axis=1, keepdims=True)
    return z
