"""skysense: cellular ISAC sensing of the low-altitude airspace.

``import skysense`` is light: it loads no NumPy, numba, Dask, matplotlib or torch.  Each
subpackage is imported on first attribute access (``skysense.mapping``), or directly
(``from skysense.imaging import Scenario``).

Subpackages
-----------
imaging
    Cooperative multi-BS imaging: scenario, sensing matrix (dense and matrix-free),
    CSI simulation, PSF, subspace pursuit, back-projection.
bistatic
    Bistatic parameter estimation: PARAMING (C++), grid baselines, Root-MUSIC-2D, CRB.
mapping
    Environment mapping: VA scene and tracer, particle sum-product fusion of monostatic and
    bistatic multipath (Schemes I/II), baselines.
pipeline
    CSI to map: the bistatic front end (scene -> OFDM CSI -> PARAMING) feeding the mapper.
metrics
    MSE, SSIM, OSPA, detection rates: one place for every metric.
cordic
    CORDIC phase (vectoring mode), floating and bit-true fixed point (C++).
comms
    User channels, beamformers, SINR and spectral efficiency.
scenes
    Ray-traced scenes (Sionna RT, optional) and their CSI.
learn
    Learned stages (torch, optional): off-grid imager, IFFT-C2VNN.
tracking
    Tracking the imaged UAVs across frames: BP multitarget tracker (C++), detections.
edge
    Stream processing with latency statistics.
plotting
    Figures (matplotlib, optional).
experiments
    Seeded Monte-Carlo reproductions of the papers (Dask, optional).

Conventions (units, axes, ``rng``, ``workers``, results) are in ``docs/conventions.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skysense._workers import get_workers, set_workers

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense import (
        bistatic,
        comms,
        cordic,
        edge,
        experiments,
        imaging,
        learn,
        mapping,
        metrics,
        pipeline,
        plotting,
        scenes,
        tracking,
    )
    from skysense._validation import MemoryLimitError

__version__ = "0.1.0"

_SUBPACKAGES = frozenset(
    {
        "bistatic",
        "comms",
        "cordic",
        "edge",
        "experiments",
        "imaging",
        "learn",
        "mapping",
        "metrics",
        "pipeline",
        "plotting",
        "scenes",
        "tracking",
    }
)
_LAZY_NAMES = {"MemoryLimitError": "skysense._validation"}

__all__ = [
    "MemoryLimitError",
    "__version__",
    "bistatic",
    "comms",
    "cordic",
    "edge",
    "experiments",
    "get_workers",
    "imaging",
    "learn",
    "mapping",
    "metrics",
    "pipeline",
    "plotting",
    "scenes",
    "set_workers",
    "tracking",
]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"skysense.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'skysense' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
