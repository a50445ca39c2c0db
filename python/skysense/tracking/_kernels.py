"""The engine of the BP stages: the C++ kernels or their NumPy twin (same names and keywords)."""

from __future__ import annotations

from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["ENGINES", "Kernels", "check_engine", "kernels"]

#: ``"cpp"``: ``skysense._core`` (``tracking_bp.hpp``); ``"numpy"``: the reference twin.
ENGINES = ("cpp", "numpy")

_F64: TypeAlias = npt.NDArray[np.float64]
_U8: TypeAlias = npt.NDArray[np.uint8]


class Kernels(Protocol):
    """The BP stages both engines provide (``_core.pyi`` types the C++ ones; mypy checks that
    ``skysense._core`` and ``skysense.tracking._bp_numpy`` both satisfy this protocol)."""

    def tracking_predict_gaussian(
        self,
        *,
        mean: _F64,
        cov: _F64,
        existence: _F64,
        transition: _F64,
        noise_cov: _F64,
        survival: float,
    ) -> tuple[_F64, _F64, _F64]: ...

    def tracking_predict_particles(
        self,
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
        self,
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
        self,
        *,
        particles: _F64,
        existence: _F64,
        z: _F64,
        zcov: _F64,
        clutter: _F64,
        detection_probability: float,
        gate: float,
        n_threads: int,
    ) -> tuple[_F64, _F64, _F64, _U8]: ...

    def tracking_associate(
        self, *, beta: _F64, xi: _F64, max_iter: int, tol: float
    ) -> tuple[_F64, _F64, int]: ...

    def tracking_update_gaussian(
        self,
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
        self,
        *,
        particles: _F64,
        existence: _F64,
        lik: _F64,
        connected: _U8,
        kappa: _F64,
        detection_probability: float,
        seed: int,
        n_threads: int,
    ) -> tuple[_F64, _F64]: ...

    def tracking_birth_particles(
        self,
        *,
        z: _F64,
        zcov: _F64,
        n_particles: int,
        velocity_std: float,
        seed: int,
        n_threads: int,
    ) -> _F64: ...


def check_engine(engine: object) -> str:
    """Validate an ``engine`` argument."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return str(engine)


def kernels(engine: str) -> Kernels:
    """The module holding ``tracking_predict_gaussian`` etc. for ``engine``."""
    if check_engine(engine) == "cpp":
        from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

        return _core
    from skysense.tracking import _bp_numpy

    return _bp_numpy
