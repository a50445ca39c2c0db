"""Environment mapping: monostatic + bistatic multipath fusion with particle SPA.

==================  ==============================================================
``MappingParams``   model, birth and SPA constants (spec table 1.5)
``PmfState``        PMF particles (K, P, 3), log weights, existence log-odds
``Link``            one link's measurement set for one module call
``spa_update``      the per-epoch module (C++ kernel or NumPy reference)
``SpaResult``       its output
==================  ==============================================================
"""

from skysense.mapping.link import LINK_KINDS, Link
from skysense.mapping.params import MappingParams
from skysense.mapping.spa import ENGINES, SpaResult, spa_update
from skysense.mapping.state import PmfState

__all__ = [
    "ENGINES",
    "LINK_KINDS",
    "Link",
    "MappingParams",
    "PmfState",
    "SpaResult",
    "spa_update",
]
