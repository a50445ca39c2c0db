"""Load the LAPACK/BLAS of the C++ kernels before ``skysense._core``.

``_core`` links ``libscipy_openblas.so`` from the PyPI wheel ``scipy-openblas32`` (the
OpenBLAS build NumPy and SciPy ship, every symbol prefixed ``scipy_``).  Its RPATH points at
``site-packages/scipy_openblas32/lib``; importing ``scipy_openblas32`` also dlopens the library
(``RTLD_GLOBAL``), so ``_core`` resolves it by SONAME wherever the two packages are installed.
"""

from __future__ import annotations

try:
    import scipy_openblas32  # noqa: F401  (loads libscipy_openblas.so)
except ImportError as exc:  # pragma: no cover - a broken install
    raise ImportError(
        "skysense needs the LAPACK of the PyPI package scipy-openblas32: "
        "pip install scipy-openblas32"
    ) from exc
