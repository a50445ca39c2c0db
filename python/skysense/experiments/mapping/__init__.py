"""Reproductions of the environment mapping paper: MOSPA and completeness, runtime."""

from skysense.experiments.mapping.csi import MappingCsi
from skysense.experiments.mapping.mospa import PAPER_MAPPING, MappingMospa
from skysense.experiments.mapping.runtime import PAPER_MAPPING_RUNTIME, MappingRuntime

__all__ = [
    "PAPER_MAPPING",
    "PAPER_MAPPING_RUNTIME",
    "MappingCsi",
    "MappingMospa",
    "MappingRuntime",
]
