"""What every public entry point does with bad input: one row per case, each row run here.

``CASES`` (an exception is raised) and ``DEFINED`` (a defined result, checked by a function)
are the source of ``docs/bad_input.md`` (``python tools/bad_input_table.py`` writes it;
``test_docs_table_is_current`` keeps the two in step). A row belongs to one of the classes
of ``PROBLEMS``; to add one, append a ``Case`` or a ``Defined`` with its class.
"""

import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from skysense import MemoryLimitError, bistatic, comms, cordic, mapping, metrics, pipeline, tracking
from skysense.edge import BackProjector, StreamProcessor
from skysense.experiments import ImagingTable2, dask_client, run_trials
from skysense.imaging import (
    Scenario,
    SensingOperator,
    backproject,
    max_sidelobe,
    offgrid_error,
    psf,
    sensing_matrix,
    simulate,
    steering_matrix,
    subspace_pursuit,
)
from skysense.scenes import PairPaths, background_csi

S = Scenario(roi_size_m=(9.0, 9.0, 0.0), n_antennas_side=2)
A = sensing_matrix(S)
Y = simulate(S, 2, 2, min_separation_voxels=1.0, rng=0).measurements
NAN_Y = np.where(np.arange(Y.shape[1]) == 3, np.nan, Y)
BS = bistatic.Scenario()
_GEN = np.random.default_rng(0)
PATHS = bistatic.random_paths(BS, rng=_GEN)
CSI = bistatic.simulate(BS, PATHS, 20.0, rng=_GEN).csi[0]
_LAST_SUBCARRIER = np.zeros_like(CSI)
_LAST_SUBCARRIER[..., -1] = 1.0
SCENE = mapping.default_scene(20)
IMG = np.zeros((2, 3, 3))
IMG[:, 1, 1] = 1.0
GRAM = A.conj().T @ A
TINY_TABLE2 = ImagingTable2(modes=("A",), voxel_sizes_m=(5.0,), chunk_size=1)
REGION = tracking.SurveillanceRegion.from_scenario(S)  # 9 x 9 m plane at 40 m
COV = np.diag([1.0, 1.0, 0.0])[None]


def _tracker():
    return tracking.BPTracker.from_config(tracking.TrackerConfig(REGION))


#: Classes of bad input, in the order of the table: ``key: (heading, what a row shows)``.
PROBLEMS = {
    "shape": ("Shapes, dtypes and types", "the wrong ndim, shape, dtype or argument type"),
    "value": ("Values out of range", "a count, index, option or quantity outside its range"),
    "nan": ("NaN and Inf", "non-finite input (unless the function documents check_finite)"),
    "empty": ("Empty sets", "no frames, no points, no buildings"),
    "geometry": ("Impossible geometry", "positions the model cannot hold"),
    "memory": ("Arrays that would not fit", "a dense result above max_bytes"),
    "scale": ("Extreme scale", "inputs scaled by 1e-300 to 1e300: the same answer, finite"),
    "nan-success": ("A NaN that would read as success", "NaN inside must not give residual 0"),
    "aliasing": ("Results that share memory", "a result never aliases an input or a buffer"),
    "parameter": ("Errors name the parameter", "the parameter, its range and what was received"),
    "ctrl-c": ("Ctrl-C", "SIGINT during a long compiled call stops it promptly"),
    "lost-runs": ("Lost runs", "a reproduction never loses finished trials to a late error"),
    "checkpoints": ("Checkpoints and data files", "damaged or foreign files are never used"),
    "defined": ("Edge cases with a defined result", "not an error: the documented value"),
}


@dataclass(frozen=True)
class Case:
    """A bad input that raises ``error`` with ``match`` in its message."""

    problem: str
    entry: str
    bad_input: str
    call: Callable
    error: type
    match: str  # a regular expression searched in the message
    shown: str = ""  # the phrase the table shows, where ``match`` is not plain text

    @property
    def outcome(self):
        return f"`{self.error.__name__}`: {self.shown or self.match}"


@dataclass(frozen=True)
class Defined:
    """An input with a defined outcome; ``check()`` asserts it."""

    problem: str
    entry: str
    bad_input: str
    outcome: str
    check: Callable[[], None]


CASES = [
    # -- imaging: scenario geometry ------------------------------------------------------
    Case("geometry", "Scenario", "voxel larger than the ROI", lambda: Scenario(voxel_size_m=500.0), ValueError, "voxel_size_m"),
    Case("value", "Scenario", "negative ROI size", lambda: Scenario(roi_size_m=(-1.0, 9.0, 0.0)), ValueError, "roi_size_m"),
    Case("nan", "Scenario", "NaN parameter", lambda: Scenario(carrier_frequency_hz=np.nan), ValueError, "carrier_frequency_hz"),
    Case("value", "Scenario", "unknown mode", lambda: Scenario(mode="D"), ValueError, "mode"),
    Case("geometry", "Scenario", "BS inside the ROI", lambda: Scenario(bs_positions_m=((0.0, 0.0, 40.0),) * 4), ValueError, "inside the ROI"),
    Case("geometry", "Scenario", "voxels too small (grid overflow)", lambda: Scenario(voxel_size_m=1e-300), ValueError, "more than"),
    Case("value", "Scenario", "zero antennas", lambda: Scenario(n_antennas_side=0), ValueError, "n_antennas_side"),
    # -- imaging: matrices and operators ---------------------------------------------------
    Case("memory", "sensing_matrix", "dense A above max_bytes", lambda: sensing_matrix(S, max_bytes=1000), MemoryLimitError, "SensingOperator"),
    Case("shape", "sensing_matrix", "real dtype", lambda: sensing_matrix(S, np.float64), TypeError, "complex"),
    Case("geometry", "steering_matrix", "antenna at a scatterer (zero distance)", lambda: steering_matrix(S, S.antenna_positions_m()[0, :1]), ValueError, "impossible geometry"),
    Case("shape", "steering_matrix", "points of shape (n, 2)", lambda: steering_matrix(S, np.zeros((3, 2))), ValueError, "points_m must have shape"),
    Case("shape", "SensingOperator.matvec", "wrong length", lambda: SensingOperator(S).matvec(np.ones(5)), ValueError, "Dimension mismatch"),
    Case("nan", "SensingOperator.rmatvec", "NaN in y", lambda: SensingOperator(S).rmatvec(NAN_Y), ValueError, "NaN or Inf"),
    Case("empty", "SensingOperator.rmatvec", "empty batch", lambda: SensingOperator(S).rmatvec(Y[:0]), ValueError, "empty batch"),
    Case("value", "SensingOperator.gram", "column out of range", lambda: SensingOperator(S).gram([0, 99]), ValueError, "column_index must lie in"),
    Case("shape", "SensingOperator @", "matrix of the wrong height", lambda: SensingOperator(S) @ np.ones((5, 2)), ValueError, "dimension mismatch"),
    Case("geometry", "simulate", "more UAVs than voxels", lambda: simulate(S, 1, 10), ValueError, "exceeds the number of voxels"),
    Case("geometry", "simulate", "spacing that cannot be packed", lambda: simulate(S, 1, 9, min_separation_voxels=3.0), ValueError, "separation"),
    Case("empty", "simulate", "zero frames", lambda: simulate(S, 0, 1), ValueError, "n_frames"),
    Case("shape", "simulate", "a float rng", lambda: simulate(S, 1, 1, rng=1.5), TypeError, "rng must be None, an int seed"),
    Case("value", "simulate", "zero workers", lambda: simulate(S, 1, 1, workers=0), ValueError, "workers must be >= 1"),
    Case("value", "psf", "column out of range", lambda: psf(A, [100]), ValueError, "column_index"),
    Case("nan", "max_sidelobe", "NaN in A", lambda: max_sidelobe(np.full((4, 3), np.nan, complex)), ValueError, "NaN or Inf"),
    Case("geometry", "offgrid_error", "points outside the ROI", lambda: offgrid_error(S, np.array([[500.0, 0.0, 40.0]])), ValueError, "outside the ROI"),
    # -- imaging: solvers ---------------------------------------------------------------------
    Case("value", "subspace_pursuit", "sparsity 0", lambda: subspace_pursuit(A, Y, 0), ValueError, "sparsity must be >= 1"),
    Case("value", "subspace_pursuit", "sparsity > n_voxels", lambda: subspace_pursuit(A, Y, 10), ValueError, "sparsity must be <= n_voxels"),
    Case("shape", "subspace_pursuit", "y length != rows of A", lambda: subspace_pursuit(A, Y[:, :-1], 2), ValueError, "Dimension mismatch"),
    Case("nan", "subspace_pursuit", "NaN in y", lambda: subspace_pursuit(A, NAN_Y, 2), ValueError, "y contains NaN"),
    Case("nan", "subspace_pursuit", "Inf in A", lambda: subspace_pursuit(np.where(A[0, 0] == A, np.inf, A), Y, 2), ValueError, "a contains NaN or Inf"),
    Case("empty", "subspace_pursuit", "empty batch", lambda: subspace_pursuit(A, Y[:0], 2), ValueError, "empty batch"),
    Case("nan", "backproject", "NaN in A", lambda: backproject(np.where(A[0, 0] == A, np.nan, A), Y), ValueError, "a contains NaN or Inf"),
    Case("shape", "backproject", "3-D y", lambda: backproject(A, Y[None]), ValueError, "ndim"),
    # -- metrics ------------------------------------------------------------------------------
    Case("shape", "mse", "shape mismatch", lambda: metrics.mse(IMG, IMG[:, :2]), ValueError, "shape"),
    Case("value", "ssim", "window larger than a valid-padded image", lambda: metrics.ssim(IMG, IMG), ValueError, "window_size"),
    Case("nan", "ssim", "NaN image", lambda: metrics.ssim(IMG * np.nan, IMG, padding="replicate"), ValueError, "NaN"),
    Case("shape", "ospa", "points of shape (n, 2) vs (m, 3)", lambda: metrics.ospa(np.zeros((2, 2)), np.zeros((2, 3)), cutoff_m=50.0), ValueError, "dimension"),
    Case("value", "ospa", "order < 1", lambda: metrics.ospa(np.zeros((1, 3)), np.zeros((1, 3)), cutoff_m=50.0, order=0.5), ValueError, "order must be"),
    Case("value", "ospa", "no cut-off", lambda: metrics.ospa(np.zeros((1, 3)), np.zeros((1, 3)), cutoff_m=0.0), ValueError, "cutoff_m must be > 0"),
    Case("shape", "detection_rates", "flat frames without grid_shape", lambda: metrics.detection_rates(IMG.reshape(2, -1), IMG.reshape(2, -1)), ValueError, "grid_shape"),
    Case("value", "detection_rates", "unknown rule", lambda: metrics.detection_rates(IMG, IMG, rule="any"), ValueError, "rule"),
    # -- comms ----------------------------------------------------------------------------------
    Case("value", "sinr", "negative noise variance", lambda: comms.sinr(np.ones((1, 1, 4), complex), np.ones((1, 4, 1), complex), comm_power_w=1.0, noise_var=-1.0), ValueError, "noise_var must be"),
    Case("value", "spectral_efficiency", "SINR in dB (negative)", lambda: comms.spectral_efficiency(np.array([[-1.0]])), ValueError, "not dB"),
    Case("shape", "spectral_efficiency", "1-D SINR", lambda: comms.spectral_efficiency(np.array([1.0])), ValueError, "n_users, n_subcarriers"),
    # -- bistatic and CORDIC ----------------------------------------------------------------
    Case("value", "bistatic.Scenario", "zero antennas", lambda: bistatic.Scenario(n_tx=0), ValueError, "n_tx must be >= 1"),
    Case("nan", "bistatic.simulate", "infinite SNR", lambda: bistatic.simulate(BS, PATHS, np.inf, rng=_GEN), ValueError, "snr_db must be finite"),
    Case("nan", "bistatic.paraming", "NaN CSI", lambda: bistatic.paraming(CSI * np.nan, 4), ValueError, "NaN or Inf"),
    Case("value", "bistatic.paraming", "all-zero CSI", lambda: bistatic.paraming(np.zeros_like(CSI), 4), ValueError, "all zero"),
    Case("geometry", "bistatic.paraming", "more paths than the Hankel rank", lambda: bistatic.paraming(CSI, 500), ValueError, "larger than the Hankel rank"),
    Case("geometry", "bistatic.paraming", "energy only where X1 does not look (last subcarrier)", lambda: bistatic.paraming(_LAST_SUBCARRIER, 1), ValueError, "Hankel matrix is zero"),
    Case("value", "bistatic.paraming", "unknown SVD method", lambda: bistatic.paraming(CSI, 4, method="lanczos"), ValueError, "method"),
    Case("geometry", "bistatic.paraming", "sub-arrays that do not fit", lambda: bistatic.paraming(CSI, 4, subarrays=(9, 1, 1)), ValueError, "do not fit"),
    Case("shape", "bistatic.paraming", "CSI of another layout", lambda: bistatic.paraming(CSI[0], 4), ValueError, "csi must have shape"),
    Case("nan", "bistatic.music", "NaN CSI", lambda: bistatic.music(CSI * np.nan, 4, scenario=BS), ValueError, "NaN or Inf"),
    Case("nan", "bistatic.crb", "NaN SNR", lambda: bistatic.crb(BS, PATHS, np.nan), ValueError, "snr_db must be finite"),
    Case("value", "bistatic.simulate", "rng passed by position", lambda: bistatic.simulate(BS, PATHS, 20.0, 0), TypeError, "positional"),
    Case("shape", "bistatic.random_paths", "legacy RandomState as rng", lambda: bistatic.random_paths(BS, rng=np.random.RandomState(0)), TypeError, "rng must be None, an int seed"),
    Case("value", "bistatic.paraming", "workers = 0", lambda: bistatic.paraming(CSI, 4, workers=0), ValueError, "workers must be >= 1"),
    Case("value", "bistatic.Paths", "negative ToA", lambda: bistatic.Paths([0.0], [0.0], [-1e-9], [1.0]), ValueError, "toa_s must be >= 0"),
    Case("value", "cordic.phase", "zero iterations", lambda: cordic.phase(np.ones(3), iterations=0), ValueError, "iterations must be >= 1"),
    Case("value", "cordic.phase", "fixed point without integer bits", lambda: cordic.phase(np.ones(3), fixed_point=(8, 9)), ValueError, "integer bits"),
    Case("nan", "cordic.phase", "NaN input", lambda: cordic.phase(np.array([np.nan + 0j])), ValueError, "NaN or Inf"),
    # -- mapping ------------------------------------------------------------------------------
    Case("geometry", "mapping.Scene", "UAV inside a building", lambda: mapping.Scene(SCENE.buildings_m, SCENE.base_stations_m, np.array([[-40.0, 30.0, 10.0]])), ValueError, "inside a building"),
    Case("geometry", "mapping.Scene", "BS inside a building", lambda: mapping.Scene(SCENE.buildings_m, np.array([[-40.0, 30.0, 10.0]]), SCENE.trajectory_m), ValueError, "inside a building"),
    Case("empty", "mapping.Scene", "no buildings", lambda: mapping.Scene(SCENE.buildings_m[:0], SCENE.base_stations_m, SCENE.trajectory_m), ValueError, "non-empty"),
    Case("value", "mapping.MappingParams", "zero particles", lambda: mapping.MappingParams(n_particles=0), ValueError, "n_particles must be >= 1"),
    Case("value", "mapping.MappingParams", "survival probability above 1", lambda: mapping.MappingParams(survival_probability=1.5), ValueError, r"survival_probability must lie in \(0, 1\], got 1.5"),
    Case("value", "mapping.MappingParams", "negative confirmation margin", lambda: mapping.MappingParams(birth_confirm_margin=-1.0), ValueError, "birth_confirm_margin must be >= 0, got -1.0"),
    Case("value", "mapping.Mapper", "unknown scheme", lambda: mapping.Mapper("fusion9"), ValueError, "scheme must be one of"),
    Case("value", "mapping.Mapper", "zero workers", lambda: mapping.Mapper("fusion1", workers=0), ValueError, "workers must be >= 1"),
    Case("geometry", "mapping.reconstruct_facade", "VA at the BS", lambda: mapping.reconstruct_facade([0, 0, 0], [0, 0, 0]), ValueError, "facade is undefined"),
    Case("shape", "mapping.simulate", "a float as rng", lambda: mapping.simulate(SCENE, rng=0.5), TypeError, "rng must be None, an int seed"),
    Case("value", "mapping.Link", "negative pseudo-range", lambda: mapping.Link("bistatic", [-1.0], [0.0, 0.0, 30.0]), ValueError, "must be >= 0, got min -1.0"),
    Case("value", "mapping.BistaticAngles", "AoA beyond pi/2", lambda: mapping.BistaticAngles([2.0], [0.0], [0.01], [0.01], [1, 0, 0], [1, 0, 0], [0, 0, 15]), ValueError, r"aoa_rad must lie in \[-pi/2, pi/2\]"),
    Case("value", "mapping.BistaticAngles", "zero angle std", lambda: mapping.BistaticAngles([0.1], [0.0], [0.0], [0.01], [1, 0, 0], [1, 0, 0], [0, 0, 15]), ValueError, "aoa_std_rad must be > 0"),
    Case("geometry", "mapping.BistaticAngles", "zero ULA axis", lambda: mapping.BistaticAngles([0.1], [0.0], [0.01], [0.01], [0, 0, 0], [1, 0, 0], [0, 0, 15]), ValueError, "uav_axis must be a nonzero vector"),
    Case("shape", "mapping.Link", "angles of another length", lambda: mapping.Link("bistatic", [10.0, 20.0], [0.0, 0.0, 30.0], angles=mapping.BistaticAngles([0.1], [0.0], [0.01], [0.01], [1, 0, 0], [1, 0, 0], [0, 0, 15])), ValueError, "one entry per measurement"),
    Case("value", "mapping.Mapper", "angle-aided without angles", lambda: mapping.Mapper("bistatic", mapping.MappingParams(n_particles=10, bistatic_angles=True)).run(mapping.simulate(SCENE, rng=0, bs_indices=[0])[0], n_epochs=1), ValueError, "needs the bistatic angles"),
    Case("value", "mapping.spa_update", "range beyond range_max_m", lambda: mapping.spa_update(mapping.PmfState.empty(3), [mapping.Link("bistatic", [1e4], [0.0, 0.0, 30.0])], mapping.MappingParams()), ValueError, "range_max_m=400.0, got max 10000.0"),
    # -- pipeline -------------------------------------------------------------------------------
    Case("shape", "pipeline.estimate_bistatic", "CSI of another numerology (63 subcarriers)", lambda: pipeline.estimate_bistatic(np.ones((8, 10, 63), complex)), ValueError, "csi must have shape"),
    Case("nan", "pipeline.estimate_bistatic", "NaN in the CSI", lambda: pipeline.estimate_bistatic(np.where(np.arange(64) == 5, np.nan, np.ones((8, 10, 64))).astype(complex)), ValueError, "csi contains NaN or Inf"),
    Case("value", "pipeline.estimate_bistatic", "one order per epoch, wrong count", lambda: pipeline.estimate_bistatic(np.ones((2, 8, 10, 64), complex), n_paths=[1, 1, 1]), ValueError, r"n_paths must have shape \(2\)", "n_paths must have shape (2)"),
    Case("geometry", "pipeline.bistatic_paths", "BS on a facade", lambda: pipeline.bistatic_paths(mapping.Scene([(0.0, 0.0, 20.0, 20.0, 40.0)], [(10.0, 0.0, 15.0)], [(30.0, 0.0, 20.0)]), 0, pipeline.BistaticChannel()), ValueError, "lies on a facade"),
    Case("geometry", "pipeline.bistatic_paths", "path longer than the ToA window", lambda: pipeline.bistatic_paths(mapping.Scene([(0.0, 0.0, 10.0, 10.0, 10.0)], [(-200.0, 0.0, 15.0)], [(200.0, 30.0, 20.0)]), 0, pipeline.BistaticChannel()), ValueError, "exceeds channel.max_range_m"),
    Case("value", "pipeline.BistaticChannel", "zero ULA axis", lambda: pipeline.BistaticChannel(uav_axis=(0.0, 0.0, 0.0)), ValueError, "uav_axis must be a nonzero vector"),
    Case("shape", "pipeline.CsiMapper.update", "a batch of CSIs", lambda: pipeline.CsiMapper([0.0, 0.0, 15.0], rng=0).update(np.ones((2, 8, 10, 64), complex), [0.0, 10.0, 30.0]), ValueError, "csi must be one epoch"),
    Case("shape", "pipeline.estimate_monostatic", "echo CSI of another numerology (63 subcarriers)", lambda: pipeline.estimate_monostatic(np.ones((4, 8, 8, 63), complex), [0.0, 0.0, 15.0]), ValueError, "csi must have shape"),
    Case("nan", "pipeline.estimate_monostatic", "NaN in the echo CSI", lambda: pipeline.estimate_monostatic(np.where(np.arange(64) == 5, np.nan, np.ones((4, 8, 8, 64))).astype(complex), [0.0, 0.0, 15.0]), ValueError, "csi contains NaN or Inf"),
    Case("value", "pipeline.estimate_monostatic", "orders of the wrong shape (one per panel needed)", lambda: pipeline.estimate_monostatic(np.ones((2, 4, 8, 8, 64), complex), [0.0, 0.0, 15.0], n_paths=[1, 1]), ValueError, r"n_paths must have shape \(2, 4\)", "n_paths must have shape (2, 4)"),
    Case("geometry", "pipeline.simulate_monostatic_csi", "BS on a facade", lambda: pipeline.simulate_monostatic_csi(mapping.Scene([(0.0, 0.0, 20.0, 20.0, 40.0)], [(10.0, 0.0, 15.0)], [(30.0, 0.0, 20.0)])), ValueError, "lies on a facade"),
    Case("geometry", "pipeline.simulate_monostatic_csi", "echo beyond the delay window", lambda: pipeline.simulate_monostatic_csi(mapping.Scene([(0.0, 0.0, 10.0, 10.0, 10.0)], [(-200.0, 0.0, 5.0)], [(200.0, 30.0, 20.0)])), ValueError, "exceeds channel.max_range_m"),
    Case("value", "pipeline.MonostaticChannel", "element spacing above half a wavelength", lambda: pipeline.MonostaticChannel(spacing_wavelengths=0.75), ValueError, "spacing_wavelengths must lie in"),
    Case("shape", "pipeline.CsiMapper.update", "echo CSI of a batch of epochs", lambda: pipeline.CsiMapper([0.0, 0.0, 15.0], rng=0).update(np.zeros((8, 10, 64), complex), [0.0, 10.0, 30.0], monostatic_csi=np.zeros((2, 4, 8, 8, 64), complex)), ValueError, "monostatic_csi must be one epoch"),
    # -- tracking -------------------------------------------------------------------------------
    Case("value", "tracking.TrackingScenario", "zero UAVs", lambda: tracking.TrackingScenario(imaging=S, n_uavs=0), ValueError, "n_uavs must be >= 1, got 0"),
    Case("value", "tracking.TrackingScenario", "frame rate 0", lambda: tracking.TrackingScenario(imaging=S, frame_rate_hz=0.0), ValueError, "frame_rate_hz must be > 0, got 0.0"),
    Case("value", "tracking.TrackerConfig", "frame rate 0", lambda: tracking.TrackerConfig(REGION, frame_rate_hz=0.0), ValueError, "frame_rate_hz must be > 0, got 0.0"),
    Case("value", "tracking.TrackerConfig", "detection probability 1", lambda: tracking.TrackerConfig(REGION, detection_probability=1.0), ValueError, r"detection_probability must lie in \(0, 1\), got 1.0", "detection_probability must lie in (0, 1), got 1.0"),
    Case("geometry", "tracking.simulate_csi", "a UAV outside the ROI", lambda: tracking.simulate_csi(S, [[[50.0, 0.0, 40.0]]], [0.1], rng=0), ValueError, "lies outside the ROI"),
    Case("nan", "tracking.simulate_csi", "Inf position", lambda: tracking.simulate_csi(S, [[[np.inf, 0.0, 40.0]]], [0.1], rng=0), ValueError, "Inf or partly-NaN"),
    Case("empty", "tracking.simulate_csi", "zero frames", lambda: tracking.simulate_csi(S, np.zeros((0, 1, 3)), [0.1], rng=0), ValueError, "n_frames = 0"),
    Case("shape", "tracking.Detections", "positions of shape (n, 2)", lambda: tracking.Detections([[0.0, 0.0]], COV, [1.0]), ValueError, "positions_m must have shape"),
    Case("nan", "tracking.Detections", "NaN position", lambda: tracking.Detections([[np.nan, 0.0, 40.0]], COV, [1.0]), ValueError, "positions_m contains NaN"),
    Case("geometry", "tracking.BPTracker.update", "a detection outside the region", lambda: _tracker().update(tracking.Detections([[50.0, 0.0, 40.0]], COV, [1.0])), ValueError, "lies outside the region"),
    Case("shape", "tracking.BPTracker.update", "an array instead of Detections", lambda: _tracker().update(np.zeros((1, 3))), TypeError, "detections must be Detections"),
    Case("shape", "tracking.BlobDetector.detect", "images of another grid", lambda: tracking.BlobDetector(S).detect(np.zeros((2, 4, 4))), ValueError, "images must have shape"),
    Case("nan", "tracking.BlobDetector.detect", "NaN image", lambda: tracking.BlobDetector(S).detect(np.full((1, 3, 3), np.nan)), ValueError, "images contains NaN"),
    Case("value", "tracking.PositionErrorModel", "decreasing edges", lambda: tracking.PositionErrorModel((1.0, 0.0), ((1.0, 1.0, 0.0),)), ValueError, "edges must hold >= 2 increasing values"),
    Case("value", "tracking.PositionErrorModel", "negative std", lambda: tracking.PositionErrorModel((0.0, 1.0), ((-1.0, 1.0, 0.0),)), ValueError, "std_m must be >= 0"),
    Case("shape", "tracking.Tracks", "state covariance of the wrong shape", lambda: tracking.Tracks(np.zeros(1, np.int64), np.zeros((1, 3)), np.zeros((1, 3)), np.ones(1), state_covariance=np.zeros((1, 3, 3))), ValueError, "state_covariance must have shape"),
    Case("value", "tracking.smooth_history", "negative lag", lambda: tracking.smooth_history(tracking.track_frames(_tracker(), [None]), tracking.ConstantVelocity(), 0.1, lag_frames=-1), ValueError, "lag_frames must be >= 0"),
    Case("value", "tracking.ModeSwitching", "switching matrix not stochastic", lambda: tracking.ModeSwitching((tracking.ConstantVelocity(), tracking.ConstantVelocity()), ((0.9, 0.2), (0.1, 0.9))), ValueError, "switching must be a stochastic matrix"),
    Case("value", "tracking.ModeSwitching", "negative switching probability", lambda: tracking.ModeSwitching((tracking.ConstantVelocity(), tracking.ConstantVelocity()), ((1.1, -0.1), (0.1, 0.9))), ValueError, "switching must be a stochastic matrix"),
    Case("shape", "tracking.ModeSwitching", "switching matrix of the wrong shape", lambda: tracking.ModeSwitching((tracking.ConstantVelocity(),), ((0.5, 0.5),)), ValueError, "switching must have shape"),
    Case("value", "tracking.ModeSwitching", "initial mode probabilities not summing to 1", lambda: tracking.ModeSwitching((tracking.ConstantVelocity(),), ((1.0,),), (0.5,)), ValueError, "initial must hold probabilities summing to 1"),
    Case("empty", "tracking.ModeSwitching", "no motion modes", lambda: tracking.ModeSwitching((), ()), ValueError, "modes must hold at least one motion mode"),
    Case("value", "tracking.ConstantVelocity", "negative process noise", lambda: tracking.ConstantVelocity(-1.0), ValueError, "acceleration_std_mps2 must be >= 0, got -1.0"),
    Case("value", "tracking.BPTracker.from_config", "IMM modes with particle beliefs", lambda: tracking.BPTracker.from_config(tracking.TrackerConfig(REGION, modes=tracking.ModeSwitching((tracking.ConstantVelocity(),), ((1.0,),))), belief="particles"), ValueError, "config.modes \\(IMM\\) needs belief='gaussian'", "config.modes (IMM) needs belief='gaussian'"),
    Case("value", "tracking.smooth_history", "IMM smoothing of a single-model run", lambda: tracking.smooth_history(tracking.track_frames(_tracker(), [tracking.Detections([[1.0, 1.0, 40.0]], COV, [1.0])]), tracking.ModeSwitching((tracking.ConstantVelocity(),), ((1.0,),)), 0.1), ValueError, "history carries no mode probabilities"),
    Case("value", "tracking.smooth_history", "confirmation threshold 1.5", lambda: tracking.smooth_history(tracking.track_frames(_tracker(), [None]), tracking.ConstantVelocity(), 0.1, confirm_threshold=1.5), ValueError, r"confirm_threshold must lie in \(0, 1\), got 1.5", "confirm_threshold must lie in (0, 1), got 1.5"),
    Case("empty", "tracking.detection_nees", "no errors", lambda: tracking.detection_nees(np.empty((0, 3)), [1.0, 1.0, 0.0]), ValueError, "errors_m must hold at least one error"),
    Case("shape", "tracking.StreamingTracker.update", "a CSI frame of the wrong length", lambda: tracking.StreamingTracker(tracking.PursuitImager(S), tracking.BlobDetector(S), _tracker()).update(Y[0, :-1]), ValueError, "csi has shape"),
    Case("empty", "gospa_per_frame", "a run without frames", lambda: metrics.gospa_per_frame([], [], cutoff_m=10.0), ValueError, r"estimated is empty \(n_frames = 0\)", "estimated is empty (n_frames = 0)"),
    Case("value", "ospa2", "window 0", lambda: metrics.ospa2([np.zeros((1, 3))], [[0]], [np.zeros((1, 3))], [[0]], cutoff_m=10.0, window=0), ValueError, "window must be >= 1, got 0"),
    # -- edge -----------------------------------------------------------------------------------
    Case("nan", "edge.StreamProcessor", "NaN frame", lambda: list(StreamProcessor(BackProjector(S), S.n_measurements).process([NAN_Y[0]])), ValueError, "frame 0 contains NaN"),
    # -- scenes ---------------------------------------------------------------------------------
    Case("geometry", "PairPaths", "non-unit directions", lambda: PairPaths(S.pairs(), np.ones((S.n_pairs, 1)), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1, 3)), np.zeros((S.n_pairs, 1, 3))), ValueError, "unit vectors"),
    Case("geometry", "background_csi", "paths of another mode", lambda: background_csi(S.replace(mode="B"), PairPaths(S.pairs(), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1, 3)), np.zeros((S.n_pairs, 1, 3)))), ValueError, "same mode"),    # -- issue 18 classes -----------------------------------------------------------------------
    Case("nan-success", "subspace_pursuit", "a Gram matrix with NaN", lambda: subspace_pursuit(A, Y, 2, gram=GRAM * np.nan), ValueError, "gram contains NaN or Inf"),
    Case("parameter", "Scenario", "sensing_power_dbm = 1e300", lambda: Scenario(sensing_power_dbm=1e300), ValueError, r"sensing_power_dbm must lie in \[-300, 300\] dBm", "sensing_power_dbm must lie in [-300, 300] dBm"),
    Case("parameter", "subspace_pursuit", "max_iter = 2**70", lambda: subspace_pursuit(A, Y, 2, max_iter=2**70), ValueError, "max_iter must be <= 2147483647"),
    Case("parameter", "run_trials", "zero trials", lambda: run_trials(TINY_TABLE2, 0), ValueError, "n_trials must be >= 1, got 0"),
    Case("parameter", "run_trials", "a negative seed", lambda: run_trials(TINY_TABLE2, 1, rng=-1), ValueError, "rng must be a non-negative int seed, got -1"),
    Case("parameter", "run_trials", "workers = 0", lambda: run_trials(TINY_TABLE2, 1, workers=0), ValueError, r"workers must be >= 1, or in \[-\d+, -1\] .*, got 0", "workers must be >= 1, or in [-n_cpus, -1] ..., got 0"),
    Case("parameter", "dask_client", "zero processes", lambda: _enter(dask_client(n_processes=0)), ValueError, "n_processes must be >= 1, got 0"),
    Case("parameter", "bistatic.paraming", "max_iter = 2**70", lambda: bistatic.paraming(CSI, 4, max_iter=2**70), ValueError, "max_iter must be <= 10000, got 1180591620717411303424"),
    Case("parameter", "bistatic.paraming", "false_alarm_probability = 1", lambda: bistatic.paraming(CSI, "glrt", false_alarm_probability=1.0), ValueError, r"false_alarm_probability must be in \(0, 1\), got 1.0", "false_alarm_probability must be in (0, 1), got 1.0"),
    Case("value", "bistatic.paraming", "successive detection without the ML stage", lambda: bistatic.paraming(CSI, "glrt", refine=False), ValueError, "needs refine=True"),
    Case("parameter", "bistatic.crb", "a path of zero gain", lambda: bistatic.crb(BS, bistatic.Paths(PATHS.aoa_rad, PATHS.aod_rad, PATHS.toa_s, np.r_[0.0, PATHS.gain[1:]]), 20.0), ValueError, "gain: path 0 has zero gain"),
    Case("parameter", "bistatic.simulate", "snr_db = 1e300", lambda: bistatic.simulate(BS, PATHS, 1e300, rng=_GEN), ValueError, r"snr_db must be in \[-3000, 3000\] dB", "snr_db must be in [-3000, 3000] dB"),
    Case("parameter", "bistatic.simulate", "gains of 1e300 (noise variance overflows)", lambda: bistatic.simulate(BS, bistatic.Paths(PATHS.aoa_rad, PATHS.aod_rad, PATHS.toa_s, PATHS.gain * 1e300), 20.0, rng=_GEN), ValueError, "gain, snr_db: the noise variance"),
    Case("lost-runs", "skysense reproduce", "--resume without --json", lambda: _cli("reproduce", "imaging-table2", "--resume"), SystemExit, "2"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.entry}: {c.bad_input}")
def test_bad_input_raises_a_clear_error(case):
    with pytest.raises(case.error, match=case.match):
        case.call()


def _enter(context):
    with context:
        pass


def _cli(*argv):
    """``skysense ARGV``; a usage error raises SystemExit whose code is 2."""
    from skysense.cli import main

    code = main(list(argv))
    raise SystemExit(code)


def _defined_sp_zero():
    zero = subspace_pursuit(A, np.zeros(A.shape[0]), 2)
    assert not zero.image.any() and zero.relative_residual == 0.0


def _defined_detection_without_targets():
    empty = metrics.detection_rates(IMG, np.zeros_like(IMG))
    assert empty.n_true.sum() == 0 and empty.n_false_alarms.sum() == 2


def _scale_sp_support():
    ref = subspace_pursuit(A, Y, 2)
    for c in (1e-300, 1e-150, 1e150, 1e300):
        out = subspace_pursuit(A, Y * c, 2)
        np.testing.assert_array_equal(out.support, ref.support)
        assert np.all(np.isfinite(out.image))


def _scale_paraming():
    ref = bistatic.paraming(CSI, 4, method="svd")
    for c in (1e-300, 1e300 / np.abs(CSI).max()):
        out = bistatic.paraming(CSI * c, 4, method="svd")
        np.testing.assert_allclose(out.aoa_rad, ref.aoa_rad, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            out.toa_s * BS.subcarrier_spacing_hz,
            ref.toa_s * BS.subcarrier_spacing_hz,
            rtol=0,
            atol=1e-12,
        )


def _scale_cordic():
    for c in (1e-300, 1e300):
        np.testing.assert_allclose(
            cordic.phase(np.array([1 + 1j, -2j]) * c), [np.pi / 4, -np.pi / 2]
        )


def _ctrl_c_kernel():
    """A timer signal whose handler raises KeyboardInterrupt, 0.2 s into a 10-s kernel call."""
    from skysense import _core

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    start = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            _core._spin_interruptible(seconds=10.0, workers=2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - start < 1.5


class _StopAfter:
    def __init__(self, n):
        self.n = n

    def __call__(self, done, total):
        if done >= self.n:
            raise KeyboardInterrupt


def _lost_runs_ctrl_c():
    full = run_trials(TINY_TABLE2, 2, rng=5)
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(KeyboardInterrupt):
            run_trials(TINY_TABLE2, 2, rng=5, checkpoint=tmp, progress=_StopAfter(1))
        resumed = run_trials(TINY_TABLE2, 2, rng=5, checkpoint=tmp)
    assert resumed.n_resumed_chunks == 1 and resumed.results == full.results


def _lost_runs_unwritable_json():
    import skysense.experiments

    def no_trials(*args, **kwargs):
        raise AssertionError("trials ran although --json cannot be written")

    original = skysense.experiments.run_trials
    skysense.experiments.run_trials = no_trials
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "file").write_text("")
            with pytest.raises(SystemExit) as exc:
                _cli("reproduce", "imaging-table2", "--json", str(Path(tmp) / "file" / "t.json"))
    finally:
        skysense.experiments.run_trials = original
    assert exc.value.code == 2


def _lost_runs_partial_kept():
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.json"
        (Path(tmp) / "t.json.partial").mkdir()
        with pytest.raises(SystemExit) as exc:
            _cli("reproduce", "imaging-table2", "--json", str(out))
        assert exc.value.code == 2 and (Path(tmp) / "t.json.partial").is_dir()


def _checkpoint_damaged_chunk():
    full = run_trials(TINY_TABLE2, 1, rng=6)
    with tempfile.TemporaryDirectory() as tmp:
        run_trials(TINY_TABLE2, 1, rng=6, checkpoint=tmp)
        for chunk in Path(tmp).glob("*/*.npz"):
            chunk.write_bytes(chunk.read_bytes()[:64])  # truncated
        again = run_trials(TINY_TABLE2, 1, rng=6, checkpoint=tmp)
    assert again.n_resumed_chunks == 0 and again.results == full.results


def _checkpoint_other_seed():
    with tempfile.TemporaryDirectory() as tmp:
        run_trials(TINY_TABLE2, 1, rng=6, checkpoint=tmp)
        other = run_trials(TINY_TABLE2, 1, rng=7, checkpoint=tmp)
    assert other.n_resumed_chunks == 0


def _aliasing_operator():
    op = SensingOperator(S)
    first, second = op.rmatvec(Y), op.rmatvec(Y)
    assert not np.shares_memory(first, second) and not np.shares_memory(first, Y)
    first[...] = 0  # writing to one result leaves the next one alone
    assert op.rmatvec(Y).any()


def _aliasing_pursuit():
    res = subspace_pursuit(A, Y, 2, gram=GRAM)
    for other in (A, Y, GRAM):
        assert not np.shares_memory(res.image, other)
    again = subspace_pursuit(A, Y, 2, gram=GRAM)
    assert not np.shares_memory(res.image, again.image)


def _aliasing_cordic():
    z = np.array([1 + 1j, -1 + 0j])
    out = cordic.phase(z)
    assert not np.shares_memory(out, z)
    z[:] = 1j  # the caller reuses its buffer: the result keeps its values
    np.testing.assert_allclose(out, [np.pi / 4, np.pi], rtol=1e-12)


def _defined_tracker_empty_frame():
    tracker = _tracker()
    for _ in range(4):
        tracker.update(tracking.Detections([[1.0, 1.0, 40.0]], COV, [1.0]))
    before = tracker.targets.existence.copy()
    tracks = tracker.update(tracking.Detections.empty())
    assert tracker.update(None).time_s == 0.5 and tracks.time_s == 0.4
    assert before.size and tracker.targets.existence.max() < before.max()  # missed, not lost


def _defined_csi_without_uavs():
    pos = np.array([[[0.0, 0.0, 40.0]], [[np.nan] * 3]])
    quiet = tracking.simulate_csi(S, pos, [0.1], noise=False)
    assert np.all(quiet[1] == 0) and np.any(quiet[0] != 0)
    assert np.isfinite(tracking.simulate_csi(S, pos, [0.1], rng=0)).all()


def _one_frame_shapes():
    assert subspace_pursuit(A, Y[0], 2).image.shape == (A.shape[1],)
    assert subspace_pursuit(A, Y, 2).image.shape == (Y.shape[0], A.shape[1])
    assert SensingOperator(S).rmatvec(Y[0]).shape == (A.shape[1],)


def _aliasing_stream():
    frames = np.arange(5, dtype=np.complex64)[:, None] * np.ones((1, 3), np.complex64)
    out = list(StreamProcessor(lambda x: x, 3, batch_size=2).process(frames))
    np.testing.assert_array_equal(np.array(out), frames)  # not 4, 3, 4, 3, 4


def _zero_d_cordic():
    assert cordic.phase(np.complex128(-1)).shape == ()
    assert cordic.atan2(1.0, 1.0).shape == ()


def _torch_or_skip():
    return pytest.importorskip("torch")


def _checkpoint_flipped_bytes():
    torch = _torch_or_skip()
    from skysense.learn import (
        CheckpointError,
        ImagerConfig,
        build_imager_net,
        load_checkpoint,
        save_checkpoint,
    )

    with tempfile.TemporaryDirectory() as tmp:
        net = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(2,)), rng=0)
        path = save_checkpoint(Path(tmp) / "m.pt", net)
        data = bytearray(path.read_bytes())
        raw = torch.load(path, weights_only=True)["state_dict"]["stem.0.weight"].numpy().tobytes()
        at = bytes(data).find(raw)
        for k in range(0, len(raw), 5):
            data[at + k] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match="SHA-256"):
            load_checkpoint(path)


def _checkpoint_nan_save():
    torch = _torch_or_skip()
    from skysense.learn import ImagerConfig, build_imager_net, save_checkpoint

    net = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(2,)), rng=0)
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[0] = float("nan")
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(ValueError, match="refusing to save"):
        save_checkpoint(Path(tmp) / "m.pt", net)


def _dataset_damaged_shard():
    from skysense.learn import DatasetError, DatasetReader, generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = generate_dataset(Path(tmp) / "d", 2, scenario=S, n_targets=1, rng=0)
        shard = path / "shard-00000.npz"
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
        with pytest.raises(DatasetError, match="SHA-256 differs"):
            DatasetReader(path).read()


def _defined_epoch_without_echoes():
    meas = pipeline.estimate_monostatic(
        np.stack([np.zeros((4, 8, 8, 64), complex), np.ones((4, 8, 8, 64), complex)]),
        [0.0, 0.0, 15.0],
        n_paths=[[1, 1, 1, 1], [0, 0, 0, 0]],
    )
    assert meas.n_measurements.tolist() == [0, 0]
    assert meas.positions_m[0].shape == (0, 3) and meas.covariance[0].shape == (0, 3, 3)


def _defined_epoch_without_paths():
    meas = pipeline.estimate_bistatic(
        np.stack([np.zeros((8, 10, 64), complex), np.ones((8, 10, 64), complex)]), n_paths=[1, 0]
    )
    assert meas.n_measurements.tolist() == [0, 0]
    assert meas.covariance[0].shape == (0, 3, 3)


DEFINED = [
    Defined("defined", "subspace_pursuit", "all-zero y", "zeros, residual 0, no division by zero", _defined_sp_zero),
    Defined("defined", "ospa", "both sets empty", "0", lambda: _equal(metrics.ospa(np.zeros((0, 3)), np.zeros((0, 3)), cutoff_m=50.0), 0.0)),
    Defined("defined", "ospa", "one set empty", "the cut-off c (cutoff_m)", lambda: _equal(metrics.ospa(np.zeros((0, 3)), np.ones((2, 3)), cutoff_m=50.0), 50.0)),
    Defined("defined", "detection_rates", "frame without targets", "DR counts 0 of 0; FAR from the false alarms", _defined_detection_without_targets),
    Defined("defined", "pipeline.estimate_bistatic", "epoch without paths (all-zero CSI, or order 0)", "an epoch without measurements", _defined_epoch_without_paths),
    Defined("defined", "pipeline.estimate_monostatic", "epoch without echoes (all-zero CSI, or order 0)", "an epoch without measurements", _defined_epoch_without_echoes),
    Defined("defined", "tracking.BPTracker.update", "an empty frame (or None)", "a prediction-only step: every target missed, no error", _defined_tracker_empty_frame),
    Defined("defined", "tracking.simulate_csi", "no UAV present in a frame (NaN rows)", "that frame is noise only", _defined_csi_without_uavs),
    Defined("defined", "gospa", "one set empty", "cutoff_m / 2 per missed or false point (order 1)", lambda: _equal(metrics.gospa(np.zeros((0, 3)), np.ones((2, 3)), cutoff_m=10.0).distance_m, 10.0)),
    Defined("defined", "spectral_efficiency", "SINR 0", "0 bit/s/Hz", lambda: _equal(comms.spectral_efficiency(np.array([[0.0]])), 0.0)),
    Defined("scale", "subspace_pursuit", "y scaled by 1e-300 ... 1e300", "the same support, a finite image", _scale_sp_support),
    Defined("scale", "cordic.phase", "input scaled by 1e-300 and 1e300", "the same angles", _scale_cordic),
    Defined("scale", "bistatic.paraming", "CSI scaled by 1e-300 and to a peak of 1e300", "the same ToAs and angles", _scale_paraming),
    Defined("scale", "ospa", "cutoff_m = 1e300", "finite (5e299 for one missed point of two)", lambda: _equal(metrics.ospa(np.zeros((1, 3)), np.ones((2, 3)), cutoff_m=1e300), 5e299)),
    Defined("aliasing", "SensingOperator.rmatvec", "two calls, then a write into the first result", "independent arrays: neither shares memory with y or the other", _aliasing_operator),
    Defined("aliasing", "subspace_pursuit", "a result next to its inputs and the next result", "the image shares memory with none of A, y, the Gram, the next image", _aliasing_pursuit),
    Defined("aliasing", "cordic.phase", "the caller overwrites its input", "the result keeps its values", _aliasing_cordic),
    Defined("shape", "subspace_pursuit, SensingOperator.rmatvec", "one frame (1-D y)", "one image (n_voxels,), not a batch of one", _one_frame_shapes),
    Defined("ctrl-c", "compiled kernels", "Ctrl-C 0.2 s into a 10-s call", "KeyboardInterrupt within 1 s, buffers freed", _ctrl_c_kernel),
    Defined("lost-runs", "skysense reproduce", "--json to an unwritable path", "usage error (exit 2) before any trial runs", _lost_runs_unwritable_json),
    Defined("lost-runs", "run_trials / skysense reproduce", "Ctrl-C after some chunks", "finished chunks kept (FILE.partial); --resume gives the uninterrupted results", _lost_runs_ctrl_c),
    Defined("lost-runs", "skysense reproduce", "FILE.partial of an interrupted run, rerun without --resume", "usage error: add --resume or delete the folder; the chunks stay", _lost_runs_partial_kept),
    Defined("checkpoints", "run_trials(checkpoint=)", "a damaged chunk file", "not loaded: the chunk runs again, same results", _checkpoint_damaged_chunk),
    Defined("checkpoints", "run_trials(checkpoint=)", "chunks of another seed or configuration", "never loaded (keyed by config, seed, chunk)", _checkpoint_other_seed),
    Defined("checkpoints", "learn.load_checkpoint", "bytes flipped inside a tensor", "`CheckpointError`: SHA-256 of the tensors differs", _checkpoint_flipped_bytes),
    Defined("checkpoints", "learn.save_checkpoint", "a NaN weight", "`ValueError`: refusing to save", _checkpoint_nan_save),
    Defined("checkpoints", "learn.DatasetReader", "a byte flipped in a shard", "`DatasetError`: SHA-256 differs from meta.json", _dataset_damaged_shard),
    Defined("aliasing", "edge.StreamProcessor", "an estimator returning views of its input", "each frame's own result (copies)", _aliasing_stream),
    Defined("shape", "cordic.phase, cordic.atan2", "0-d input", "0-d output", _zero_d_cordic),
]  # fmt: skip


def _equal(value, expected):
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("row", DEFINED, ids=lambda r: f"{r.entry}: {r.bad_input}")
def test_defined_outcome(row):
    row.check()


def test_every_row_has_a_known_class():
    for row in (*CASES, *DEFINED):
        assert row.problem in PROBLEMS, row


def render_table() -> str:
    """Markdown table of ``CASES`` and ``DEFINED``, grouped by the classes of ``PROBLEMS``."""
    rows = {key: [r for r in (*CASES, *DEFINED) if r.problem == key] for key in PROBLEMS}
    lines = [
        "# What each public entry point does with bad input",
        "",
        "Generated from `tests/test_bad_input.py` (`python tools/bad_input_table.py`); every row",
        "is run by that test module. An outcome in backquotes is the exception raised, with a",
        "phrase of its message; otherwise it is the defined result the test checks. The compiled",
        "kernels also take non-contiguous, Fortran-ordered and read-only arrays",
        "(`tests/test_properties.py`).",
        "",
        f"{sum(map(len, rows.values()))} rows in {len(PROBLEMS)} classes:",
        "",
    ]
    lines += [f"- **{h}** ({len(rows[k])}): {what}" for k, (h, what) in PROBLEMS.items()]
    lines += ["", "| class | entry point | input | outcome |", "|---|---|---|---|"]
    for key, (heading, _) in PROBLEMS.items():
        lines += [f"| {heading} | `{r.entry}` | {r.bad_input} | {r.outcome} |" for r in rows[key]]
    return "\n".join(lines) + "\n"


DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"


def test_docs_table_is_current():
    if not DOC.exists():
        pytest.skip("docs/ not in this checkout")
    assert DOC.read_text() == render_table(), "run: python tools/bad_input_table.py"
