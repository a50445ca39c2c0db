"""The engine of the BP stages: the C++ kernels or their NumPy twin (same names and keywords)."""

from __future__ import annotations

from types import ModuleType

__all__ = ["ENGINES", "check_engine", "kernels"]

#: ``"cpp"``: ``skysense._core`` (``tracking_bp.hpp``); ``"numpy"``: the reference twin.
ENGINES = ("cpp", "numpy")


def check_engine(engine) -> str:
    """Validate an ``engine`` argument."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine


def kernels(engine: str) -> ModuleType:
    """Module holding ``tracking_predict_gaussian`` etc. for ``engine``."""
    if check_engine(engine) == "cpp":
        from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

        return _core
    from skysense.tracking import _bp_numpy

    return _bp_numpy
