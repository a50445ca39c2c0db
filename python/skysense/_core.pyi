# Type stub of the compiled extension skysense._core (pybind11, cpp/bindings/).  Every argument
# is passed by keyword: the names are the py::arg names of the bindings, and kernels taking several
# arguments of one type are keyword-only (py::kw_only), so mypy checks every call by name.
# Kernels not listed yet are typed as Any (module __getattr__ below).
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

_F64: TypeAlias = npt.NDArray[np.float64]
_I64: TypeAlias = npt.NDArray[np.int64]
_Complex: TypeAlias = npt.NDArray[np.complexfloating[Any, Any]]

# -- imaging forward model (sensing.cpp) ---------------------------------------------------------
def link_matrix(
    *,
    antenna_positions_m: _F64,
    points_m: _F64,
    frequencies_hz: _F64,
    speed_of_light_mps: float,
    out: _Complex,
    n_threads: int = 1,
) -> None: ...
def sensing_matrix(
    *,
    antenna_positions_m: _F64,
    n_antennas_per_bs: int,
    points_m: _F64,
    frequencies_hz: _F64,
    speed_of_light_mps: float,
    pairs: _I64,
    amplitude: float,
    out: _Complex,
    n_threads: int = 1,
) -> None: ...
def link_gram(
    *,
    links: _Complex,
    alpha: float,
    beta: float,
    scale: float,
    columns: _I64 | None,
    out: _Complex,
    n_threads: int = 1,
) -> None: ...
def point_target_csi(
    *,
    antenna_positions_m: _F64,
    n_antennas_per_bs: int,
    frequencies_hz: _F64,
    speed_of_light_mps: float,
    pairs: _I64,
    amplitude: float,
    positions_m: _F64,
    coefficients: npt.NDArray[np.complex128],
    out: _Complex,
    n_threads: int = 1,
) -> None: ...

# -- subspace pursuit (pursuit.cpp) ----------------------------------------------------------------
def subspace_pursuit_gram(
    *,
    gram: _Complex,
    backprojection: _Complex,
    measurements: _Complex,
    sparsity: int,
    rtol: float,
    max_iter: int,
    keep_last: bool,
    threshold: float,
    image: _Complex,
    support: _I64,
    n_iter: _I64,
    relative_residual: _F64,
    status: _I64,
    n_threads: int = 1,
) -> None: ...
def subspace_pursuit_matrix(
    *,
    matrix: _Complex,
    measurements: _Complex,
    sparsity: int,
    rtol: float,
    max_iter: int,
    keep_last: bool,
    threshold: float,
    image: _Complex,
    support: _I64,
    n_iter: _I64,
    relative_residual: _F64,
    status: _I64,
    n_threads: int = 1,
    half_copy: bool = False,
) -> int: ...
def subspace_pursuit_links(
    *,
    links: _Complex,
    pairs: _I64,
    amplitude: float,
    measurements: _Complex,
    sparsity: int,
    rtol: float,
    max_iter: int,
    keep_last: bool,
    threshold: float,
    image: _Complex,
    support: _I64,
    n_iter: _I64,
    relative_residual: _F64,
    status: _I64,
    n_threads: int = 1,
) -> None: ...

# -- bistatic (cpp/bindings/bistatic.cpp) ---------------------------------------------------
def cordic_atan2(
    *,
    y: NDArray[np.floating[Any]],
    x: NDArray[np.floating[Any]],
    out: NDArray[np.floating[Any]],
    iterations: int,
    word_bits: int,
    frac_bits: int,
    n_threads: int = 1,
) -> None: ...
def paraming(
    *,
    csi: NDArray[np.complexfloating[Any, Any]],
    subarray_tx: int,
    subarray_rx: int,
    subarray_subcarriers: int,
    n_paths: int,
    max_paths: int,
    criterion: int,
    subcarrier_spacing_hz: float,
    spacing_tx_wavelengths: float,
    spacing_rx_wavelengths: float,
    cordic_iterations: int,
    min_toa_normalized: float,
    phase_fit: int,
    method: int,
    krylov_rtol: float,
    krylov_noise_rtol: float,
    krylov_max_steps: int,
    krylov_oversampling: int,
    refine: bool,
    max_iter: int,
    refine_rtol: float,
    cluster_cells: float,
    resolve_std: float,
    false_alarm: float,
    toa_s: NDArray[np.float64],
    aoa_rad: NDArray[np.float64],
    aod_rad: NDArray[np.float64],
    gain: NDArray[np.complex128],
    reliable: NDArray[np.bool_],
    singular_values: NDArray[np.float64],
    n_paths_estimated: NDArray[np.int64],
    status: NDArray[np.int64],
    refined: NDArray[np.bool_],
    iterations: NDArray[np.int64],
    n_threads: int = 1,
) -> None: ...
def paraming_refine(
    *,
    csi: NDArray[np.complex128],
    eta: NDArray[np.float64],
    gain: NDArray[np.complex128],
    max_iter: int,
    rtol: float,
) -> tuple[int, bool, float, float]: ...
def hankel_svd(
    *,
    csi: NDArray[np.complex128],
    subarray_tx: int,
    subarray_rx: int,
    subarray_subcarriers: int,
    n_paths: int,
    oversampling: int,
    rtol: float,
    noise_rtol: float,
    max_steps: int,
    u: NDArray[np.complex128],
    s: NDArray[np.float64],
    v: NDArray[np.complex128],
) -> tuple[int, int, bool, float]: ...

# -- monostatic echo pencil (cpp/bindings/echo.cpp) ----------------------------------------------
def echo_pencil(
    *,
    csi: NDArray[np.complex64] | NDArray[np.complex128],
    n_paths: NDArray[np.int64],
    subarray_x: int,
    subarray_y: int,
    subarray_subcarriers: int,
    max_paths: int,
    min_delay_normalized: float,
    refine: bool,
    max_iter: int,
    refine_rtol: float,
    krylov_rtol: float,
    krylov_noise_rtol: float,
    krylov_max_steps: int,
    nu: NDArray[np.float64],
    mu_x: NDArray[np.float64],
    mu_y: NDArray[np.float64],
    gain: NDArray[np.complex128],
    n_paths_used: NDArray[np.int64],
    status: NDArray[np.int64],
    iterations: NDArray[np.int64],
    n_threads: int = 1,
) -> None: ...

# -- BP multitarget tracking (cpp/bindings/tracking.cpp) -----------------------------------------
# K potential targets, S = 2 D state components, M measurements, P particles per target.
def tracking_predict_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    transition: _F64,
    noise_cov: _F64,
    survival: float,
) -> tuple[_F64, _F64, _F64]: ...
def tracking_predict_particles(
    *,
    particles: _F64,
    existence: _F64,
    transition: _F64,
    noise_chol: _F64,
    survival: float,
    seed: int,
    n_threads: int,
) -> tuple[_F64, _F64]: ...
def tracking_evaluate_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    clutter: _F64,
    detection_probability: float,
    gate: float,
) -> tuple[_F64, _F64]: ...
def tracking_evaluate_particles(
    *,
    particles: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    clutter: _F64,
    detection_probability: float,
    gate: float,
    n_threads: int,
) -> tuple[_F64, _F64, _F64, npt.NDArray[np.uint8]]: ...
def tracking_associate(
    *, beta: _F64, xi: _F64, max_iter: int, tol: float
) -> tuple[_F64, _F64, int]: ...
def tracking_update_gaussian(
    *,
    mean: _F64,
    cov: _F64,
    existence: _F64,
    z: _F64,
    zcov: _F64,
    ratio: _F64,
    kappa: _F64,
    detection_probability: float,
) -> tuple[_F64, _F64, _F64]: ...
def tracking_update_particles(
    *,
    particles: _F64,
    existence: _F64,
    lik: _F64,
    connected: npt.NDArray[np.uint8],
    kappa: _F64,
    detection_probability: float,
    seed: int,
    n_threads: int,
) -> tuple[_F64, _F64]: ...
def tracking_birth_particles(
    *,
    z: _F64,
    zcov: _F64,
    n_particles: int,
    velocity_std: float,
    seed: int,
    n_threads: int,
) -> _F64: ...

# -- the other kernel families, until typed here
def __getattr__(name: str) -> Any: ...
