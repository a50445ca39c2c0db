"""skysense: cellular ISAC sensing of the low-altitude airspace.

Subpackages
-----------
imaging
    Cooperative multi-BS imaging: scenario geometry, sensing matrix (dense and
    matrix-free), CSI simulation, PSF and off-grid analysis.
"""

from skysense import _blas  # noqa: F401  (before any import of skysense._core)
from skysense import imaging
from skysense._validation import MemoryLimitError

__all__ = ["MemoryLimitError", "__version__", "imaging", "metrics"]
__version__ = "0.1.0"
