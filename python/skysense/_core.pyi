# Type stub of the compiled kernels (cpp/bindings/*.cpp). Every argument is passed by keyword;
# the names here are the py::arg names of the bindings. Kernels without an entry yet are Any.
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

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
) -> None: ...
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

# The other kernel families (bistatic, mapping, CORDIC) until their entries are written.
def __getattr__(name: str) -> Any: ...
