"""skysense: cellular ISAC sensing of the low-altitude airspace.

Subpackages
-----------
bistatic
    Bistatic parameter estimation: PARAMING (C++), grid baselines, CRB.
cordic
    CORDIC phase (vectoring mode), floating and bit-true fixed point (C++).
imaging
    Cooperative multi-BS imaging: scenario geometry, sensing matrix (dense and
    matrix-free), CSI simulation, PSF and off-grid analysis.
mapping
    Environment mapping: VA scene and tracer, particle sum-product fusion of
    monostatic and bistatic multipath (Schemes I/II), MOSPA.
"""

from skysense import (
    _blas,  # noqa: F401  (loads the kernels' LAPACK before any import of skysense._core)
    bistatic,
    cordic,
    imaging,
)
from skysense._validation import MemoryLimitError

__all__ = [
    "MemoryLimitError",
    "__version__",
    "bistatic",
    "cordic",
    "imaging",
    "mapping",
    "metrics",
]
__version__ = "0.1.0"
