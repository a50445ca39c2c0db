"""Environment mapping: monostatic + bistatic multipath fusion with particle SPA.

======================  ==============================================================
``Scene``               box buildings (facades), BSs, UAV trajectory; VAs per BS
``default_scene``       the spec's five-building, four-BS scene (classes A/B/C occur)
``reconstruct_facade``  facade plane from a VA (perpendicular bisector of BS and VA)
``trace``               first-order image-method tracer (numba) -> ``Visibility``
``simulate``            per-epoch bistatic/monostatic measurement sets -> ``BsData``
``MappingParams``       model, birth and SPA constants (spec table 1.5)
``PmfState``            PMF particles (K, P, 3), log weights, existence log-odds
``Link``                one link's measurement set for one module call
``spa_update``          the per-epoch module (C++ kernel or NumPy reference)
``Mapper``              Scheme I/II and baselines over epochs (``SCHEMES``)
======================  ==============================================================

Map metrics (``ospa_per_epoch``, ``completeness``, ``seen_truth``) live in
:mod:`skysense.metrics`.
"""

from skysense.mapping.link import LINK_KINDS, Link
from skysense.mapping.mapper import SCHEMES, Mapper, MapResult, union_map
from skysense.mapping.params import MappingParams
from skysense.mapping.scene import (
    Scene,
    default_scene,
    default_trajectory,
    reconstruct_facade,
    virtual_anchor,
)
from skysense.mapping.simulate import BsData, Visibility, simulate, trace
from skysense.mapping.spa import ENGINES, SpaResult, spa_update
from skysense.mapping.state import PmfState

__all__ = [
    "ENGINES",
    "LINK_KINDS",
    "SCHEMES",
    "BsData",
    "Link",
    "MapResult",
    "Mapper",
    "MappingParams",
    "PmfState",
    "Scene",
    "SpaResult",
    "Visibility",
    "default_scene",
    "default_trajectory",
    "reconstruct_facade",
    "simulate",
    "spa_update",
    "trace",
    "union_map",
    "virtual_anchor",
]
