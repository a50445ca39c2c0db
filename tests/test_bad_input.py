"""What every public entry point does with bad input: one row per case, each row run here.

``CASES`` is also the source of ``docs/bad_input.md`` (``python tools/bad_input_table.py``
writes it; ``test_docs_table_is_current`` keeps the two in step).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from skysense import MemoryLimitError, bistatic, comms, cordic, mapping, metrics
from skysense.edge import BackProjector, StreamProcessor
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


@dataclass(frozen=True)
class Case:
    entry: str
    bad_input: str
    call: Callable
    error: type
    match: str

    @property
    def outcome(self):
        return f"`{self.error.__name__}`: {self.match}"


CASES = [
    # -- imaging: scenario geometry ------------------------------------------------------
    Case("Scenario", "voxel larger than the ROI", lambda: Scenario(voxel_size_m=500.0), ValueError, "voxel_size_m"),
    Case("Scenario", "negative ROI size", lambda: Scenario(roi_size_m=(-1.0, 9.0, 0.0)), ValueError, "roi_size_m"),
    Case("Scenario", "NaN parameter", lambda: Scenario(carrier_frequency_hz=np.nan), ValueError, "carrier_frequency_hz"),
    Case("Scenario", "unknown mode", lambda: Scenario(mode="D"), ValueError, "mode"),
    Case("Scenario", "BS inside the ROI", lambda: Scenario(bs_positions_m=((0.0, 0.0, 40.0),) * 4), ValueError, "inside the ROI"),
    Case("Scenario", "voxels too small (grid overflow)", lambda: Scenario(voxel_size_m=1e-300), ValueError, "more than"),
    Case("Scenario", "zero antennas", lambda: Scenario(n_antennas_side=0), ValueError, "n_antennas_side"),
    # -- imaging: matrices and operators ---------------------------------------------------
    Case("sensing_matrix", "dense A above max_bytes", lambda: sensing_matrix(S, max_bytes=1000), MemoryLimitError, "SensingOperator"),
    Case("sensing_matrix", "real dtype", lambda: sensing_matrix(S, np.float64), TypeError, "complex"),
    Case("steering_matrix", "antenna at a scatterer (zero distance)", lambda: steering_matrix(S, S.antenna_positions_m()[0, :1]), ValueError, "impossible geometry"),
    Case("steering_matrix", "points of shape (n, 2)", lambda: steering_matrix(S, np.zeros((3, 2))), ValueError, "points_m must have shape"),
    Case("SensingOperator.matvec", "wrong length", lambda: SensingOperator(S).matvec(np.ones(5)), ValueError, "Dimension mismatch"),
    Case("SensingOperator.rmatvec", "NaN in y", lambda: SensingOperator(S).rmatvec(NAN_Y), ValueError, "NaN or Inf"),
    Case("SensingOperator.rmatvec", "empty batch", lambda: SensingOperator(S).rmatvec(Y[:0]), ValueError, "empty batch"),
    Case("SensingOperator.gram", "column out of range", lambda: SensingOperator(S).gram([0, 99]), ValueError, "column_index must lie in"),
    Case("SensingOperator @", "matrix of the wrong height", lambda: SensingOperator(S) @ np.ones((5, 2)), ValueError, "dimension mismatch"),
    Case("simulate", "more UAVs than voxels", lambda: simulate(S, 1, 10), ValueError, "exceeds the number of voxels"),
    Case("simulate", "spacing that cannot be packed", lambda: simulate(S, 1, 9, min_separation_voxels=3.0), ValueError, "separation"),
    Case("simulate", "zero frames", lambda: simulate(S, 0, 1), ValueError, "n_frames"),
    Case("simulate", "a float rng", lambda: simulate(S, 1, 1, rng=1.5), TypeError, "rng must be None, an int seed"),
    Case("simulate", "zero workers", lambda: simulate(S, 1, 1, workers=0), ValueError, "workers must be >= 1"),
    Case("psf", "column out of range", lambda: psf(A, [100]), ValueError, "column_index"),
    Case("max_sidelobe", "NaN in A", lambda: max_sidelobe(np.full((4, 3), np.nan, complex)), ValueError, "NaN or Inf"),
    Case("offgrid_error", "points outside the ROI", lambda: offgrid_error(S, np.array([[500.0, 0.0, 40.0]])), ValueError, "outside the ROI"),
    # -- imaging: solvers ---------------------------------------------------------------------
    Case("subspace_pursuit", "sparsity 0", lambda: subspace_pursuit(A, Y, 0), ValueError, "sparsity must be >= 1"),
    Case("subspace_pursuit", "sparsity > n_voxels", lambda: subspace_pursuit(A, Y, 10), ValueError, "sparsity must be <= n_voxels"),
    Case("subspace_pursuit", "y length != rows of A", lambda: subspace_pursuit(A, Y[:, :-1], 2), ValueError, "Dimension mismatch"),
    Case("subspace_pursuit", "NaN in y", lambda: subspace_pursuit(A, NAN_Y, 2), ValueError, "y contains NaN"),
    Case("subspace_pursuit", "Inf in A", lambda: subspace_pursuit(np.where(A[0, 0] == A, np.inf, A), Y, 2), ValueError, "a contains NaN or Inf"),
    Case("subspace_pursuit", "empty batch", lambda: subspace_pursuit(A, Y[:0], 2), ValueError, "empty batch"),
    Case("backproject", "NaN in A", lambda: backproject(np.where(A[0, 0] == A, np.nan, A), Y), ValueError, "a contains NaN or Inf"),
    Case("backproject", "3-D y", lambda: backproject(A, Y[None]), ValueError, "ndim"),
    # -- metrics ------------------------------------------------------------------------------
    Case("mse", "shape mismatch", lambda: metrics.mse(IMG, IMG[:, :2]), ValueError, "shape"),
    Case("ssim", "window larger than a valid-padded image", lambda: metrics.ssim(IMG, IMG), ValueError, "window_size"),
    Case("ssim", "NaN image", lambda: metrics.ssim(IMG * np.nan, IMG, padding="replicate"), ValueError, "NaN"),
    Case("ospa", "points of shape (n, 2) vs (m, 3)", lambda: metrics.ospa(np.zeros((2, 2)), np.zeros((2, 3)), cutoff_m=50.0), ValueError, "dimension"),
    Case("ospa", "order < 1", lambda: metrics.ospa(np.zeros((1, 3)), np.zeros((1, 3)), cutoff_m=50.0, order=0.5), ValueError, "order must be"),
    Case("ospa", "no cut-off", lambda: metrics.ospa(np.zeros((1, 3)), np.zeros((1, 3)), cutoff_m=0.0), ValueError, "cutoff_m must be > 0"),
    Case("detection_rates", "flat frames without grid_shape", lambda: metrics.detection_rates(IMG.reshape(2, -1), IMG.reshape(2, -1)), ValueError, "grid_shape"),
    Case("detection_rates", "unknown rule", lambda: metrics.detection_rates(IMG, IMG, rule="any"), ValueError, "rule"),
    # -- comms ----------------------------------------------------------------------------------
    Case("sinr", "negative noise variance", lambda: comms.sinr(np.ones((1, 1, 4), complex), np.ones((1, 4, 1), complex), comm_power_w=1.0, noise_var=-1.0), ValueError, "noise_var must be"),
    Case("spectral_efficiency", "SINR in dB (negative)", lambda: comms.spectral_efficiency(np.array([[-1.0]])), ValueError, "not dB"),
    Case("spectral_efficiency", "1-D SINR", lambda: comms.spectral_efficiency(np.array([1.0])), ValueError, "n_users, n_subcarriers"),
    # -- bistatic and CORDIC ----------------------------------------------------------------
    Case("bistatic.Scenario", "zero antennas", lambda: bistatic.Scenario(n_tx=0), ValueError, "n_tx must be >= 1"),
    Case("bistatic.simulate", "infinite SNR", lambda: bistatic.simulate(BS, PATHS, np.inf, rng=_GEN), ValueError, "snr_db must be finite"),
    Case("bistatic.paraming", "NaN CSI", lambda: bistatic.paraming(CSI * np.nan, 4), ValueError, "NaN or Inf"),
    Case("bistatic.paraming", "all-zero CSI", lambda: bistatic.paraming(np.zeros_like(CSI), 4), ValueError, "all zero"),
    Case("bistatic.paraming", "more paths than the Hankel rank", lambda: bistatic.paraming(CSI, 500), ValueError, "larger than the Hankel rank"),
    Case("bistatic.paraming", "energy only where X1 does not look (last subcarrier)", lambda: bistatic.paraming(_LAST_SUBCARRIER, 1), ValueError, "Hankel matrix is zero"),
    Case("bistatic.paraming", "unknown SVD method", lambda: bistatic.paraming(CSI, 4, method="lanczos"), ValueError, "method"),
    Case("bistatic.paraming", "sub-arrays that do not fit", lambda: bistatic.paraming(CSI, 4, subarrays=(9, 1, 1)), ValueError, "do not fit"),
    Case("bistatic.paraming", "CSI of another layout", lambda: bistatic.paraming(CSI[0], 4), ValueError, "csi must have shape"),
    Case("bistatic.music", "NaN CSI", lambda: bistatic.music(CSI * np.nan, 4, scenario=BS), ValueError, "NaN or Inf"),
    Case("bistatic.crb", "NaN SNR", lambda: bistatic.crb(BS, PATHS, np.nan), ValueError, "snr_db must be finite"),
    Case("bistatic.simulate", "rng passed by position", lambda: bistatic.simulate(BS, PATHS, 20.0, 0), TypeError, "positional"),
    Case("bistatic.random_paths", "legacy RandomState as rng", lambda: bistatic.random_paths(BS, rng=np.random.RandomState(0)), TypeError, "rng must be None, an int seed"),
    Case("bistatic.paraming", "workers = 0", lambda: bistatic.paraming(CSI, 4, workers=0), ValueError, "workers must be >= 1"),
    Case("bistatic.Paths", "negative ToA", lambda: bistatic.Paths([0.0], [0.0], [-1e-9], [1.0]), ValueError, "toa_s must be >= 0"),
    Case("cordic.phase", "zero iterations", lambda: cordic.phase(np.ones(3), iterations=0), ValueError, "iterations must be >= 1"),
    Case("cordic.phase", "fixed point without integer bits", lambda: cordic.phase(np.ones(3), fixed_point=(8, 9)), ValueError, "integer bits"),
    Case("cordic.phase", "NaN input", lambda: cordic.phase(np.array([np.nan + 0j])), ValueError, "NaN or Inf"),
    # -- mapping ------------------------------------------------------------------------------
    Case("mapping.Scene", "UAV inside a building", lambda: mapping.Scene(SCENE.buildings_m, SCENE.base_stations_m, np.array([[-40.0, 30.0, 10.0]])), ValueError, "inside a building"),
    Case("mapping.Scene", "BS inside a building", lambda: mapping.Scene(SCENE.buildings_m, np.array([[-40.0, 30.0, 10.0]]), SCENE.trajectory_m), ValueError, "inside a building"),
    Case("mapping.Scene", "no buildings", lambda: mapping.Scene(SCENE.buildings_m[:0], SCENE.base_stations_m, SCENE.trajectory_m), ValueError, "non-empty"),
    Case("mapping.MappingParams", "zero particles", lambda: mapping.MappingParams(n_particles=0), ValueError, "n_particles must be >= 1"),
    Case("mapping.MappingParams", "survival probability above 1", lambda: mapping.MappingParams(survival_probability=1.5), ValueError, r"survival_probability must lie in \(0, 1\], got 1.5"),
    Case("mapping.Mapper", "unknown scheme", lambda: mapping.Mapper("fusion9"), ValueError, "scheme must be one of"),
    Case("mapping.Mapper", "zero workers", lambda: mapping.Mapper("fusion1", workers=0), ValueError, "workers must be >= 1"),
    Case("mapping.reconstruct_facade", "VA at the BS", lambda: mapping.reconstruct_facade([0, 0, 0], [0, 0, 0]), ValueError, "facade is undefined"),
    Case("mapping.simulate", "a float as rng", lambda: mapping.simulate(SCENE, rng=0.5), TypeError, "rng must be None, an int seed"),
    Case("mapping.Link", "negative pseudo-range", lambda: mapping.Link("bistatic", [-1.0], [0.0, 0.0, 30.0]), ValueError, "must be >= 0, got min -1.0"),
    Case("mapping.spa_update", "range beyond range_max_m", lambda: mapping.spa_update(mapping.PmfState.empty(3), [mapping.Link("bistatic", [1e4], [0.0, 0.0, 30.0])], mapping.MappingParams()), ValueError, "range_max_m=400.0, got max 10000.0"),
    # -- edge -----------------------------------------------------------------------------------
    Case("edge.StreamProcessor", "NaN frame", lambda: list(StreamProcessor(BackProjector(S), S.n_measurements).process([NAN_Y[0]])), ValueError, "frame 0 contains NaN"),
    # -- scenes ---------------------------------------------------------------------------------
    Case("PairPaths", "non-unit directions", lambda: PairPaths(S.pairs(), np.ones((S.n_pairs, 1)), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1, 3)), np.zeros((S.n_pairs, 1, 3))), ValueError, "unit vectors"),
    Case("background_csi", "paths of another mode", lambda: background_csi(S.replace(mode="B"), PairPaths(S.pairs(), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1)), np.zeros((S.n_pairs, 1, 3)), np.zeros((S.n_pairs, 1, 3)))), ValueError, "same mode"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.entry}: {c.bad_input}")
def test_bad_input_raises_a_clear_error(case):
    with pytest.raises(case.error, match=case.match):
        case.call()


WELL_DEFINED = [
    ("subspace_pursuit", "all-zero y", "zeros, residual 0, no division by zero"),
    ("ospa", "both sets empty", "0"),
    ("ospa", "one set empty", "the cut-off c (cutoff_m)"),
    ("detection_rates", "frame without targets", "DR counts 0 of 0; FAR from the false alarms"),
    ("spectral_efficiency", "SINR 0", "0 bit/s/Hz"),
]


def test_well_defined_results():
    zero = subspace_pursuit(A, np.zeros(A.shape[0]), 2)
    assert not zero.image.any() and zero.relative_residual == 0.0
    assert metrics.ospa(np.zeros((0, 3)), np.zeros((0, 3)), cutoff_m=50.0) == 0.0
    assert metrics.ospa(np.zeros((0, 3)), np.ones((2, 3)), cutoff_m=50.0) == pytest.approx(50.0)
    empty = metrics.detection_rates(IMG, np.zeros_like(IMG))
    assert empty.n_true.sum() == 0 and empty.n_false_alarms.sum() == 2
    assert comms.spectral_efficiency(np.array([[0.0]])) == 0.0


def render_table() -> str:
    """Markdown table of ``CASES`` and ``WELL_DEFINED``."""
    lines = [
        "# What each public entry point does with bad input",
        "",
        "Generated from `tests/test_bad_input.py` (`python tools/bad_input_table.py`); every row",
        "is run by that test module; the outcome names the exception and a phrase of its message.",
        "The compiled kernels also take non-contiguous, Fortran-ordered and read-only arrays",
        "(`tests/test_properties.py`).",
        "",
        "| entry point | input | outcome |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.entry}` | {c.bad_input} | {c.outcome} |" for c in CASES]
    lines += [f"| `{e}` | {b} | defined: {o} |" for e, b, o in WELL_DEFINED]
    return "\n".join(lines) + "\n"


DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"


def test_docs_table_is_current():
    if not DOC.exists():
        pytest.skip("docs/ not in this checkout")
    assert DOC.read_text() == render_table(), "run: python tools/bad_input_table.py"
