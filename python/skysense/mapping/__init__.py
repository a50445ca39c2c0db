"""Environment mapping: monostatic + bistatic multipath fusion with the particle SPA.

``Scene``               box buildings (facades), BSs, UAV trajectory; VAs per BS
``default_scene``       five buildings, four BSs (docs/mapping_model.md, section 1.1)
``reconstruct_facade``  facade plane from a VA (perpendicular bisector of BS and VA)
``trace``               first-order image-method tracer (numba) -> ``Visibility``
``simulate``            per-epoch bistatic/monostatic measurement sets -> ``BsData``
``MappingParams``       model, birth and SPA constants (docs/mapping_model.md, section 9)
``PmfState``            PMF particles (K, P, 3), log weights, existence log-odds
``Link``                one link's measurement set for one module call
``spa_update``          the per-epoch module (C++ kernel or NumPy reference)
``Mapper``              Scheme I/II and baselines over epochs (``SCHEMES``)
======================  ==============================================================

Map metrics (``ospa_per_epoch``, ``completeness``, ``seen_truth``) live in
:mod:`skysense.metrics`.
=======
The mapping paper (Secs. II-V) and docs/mapping_model.md (the model pieces the paper leaves
open) describe the model; ``docs/conventions.md`` the API vocabulary.

========================  ===========================================================
**Scene and data**
``Scene``                 box buildings (vertical facades), BSs, UAV trajectory; VAs per BS
``default_scene``         the default five-building, four-BS scene (classes A, B, C occur)
``default_trajectory``    its UAV path (n_epochs, 3) [m]
``virtual_anchor``        mirror image of a BS over a facade plane
``reconstruct_facade``    facade plane from a VA (perpendicular bisector of BS and VA)
``trace``                 first-order image-method tracer (numba) -> ``Visibility``
``Visibility``            noise-free visibility of each facade per epoch and link
``simulate``              per-epoch bistatic/monostatic measurement sets -> ``BsData``
``BsData``                measurements and ground truth of one BS
**Filter**
``MappingParams``         model, birth and sum-product constants (validated)
``PmfState``              PMF particles (K, P, 3), log weights, existence log-odds
``Link``                  one link's measurement set for one module call (``LINK_KINDS``)
``spa_update``            the per-epoch module (C++ kernel or NumPy twin, ``ENGINES``)
``SpaResult``             its output: PMFs and MMSE estimates
``Mapper``                Scheme I/II and the baselines over epochs (``SCHEMES``)
``MapResult``             estimates per epoch and the final PMFs of one BS
``union_map``             union of the final per-BS maps
**Metrics**
``ospa_per_epoch``        OSPA per epoch against the VAs seen so far (MOSPA over runs)
``seen_truth``            which VAs have been seen by an epoch
``completeness``          fraction of observable VAs recovered
========================  ===========================================================

Examples
--------
>>> from skysense.mapping import Mapper, MappingParams, default_scene, simulate
>>> (data,) = simulate(default_scene(30), rng=1, bs_indices=[0])
>>> res = Mapper("fusion3", MappingParams(n_particles=300)).run(data, rng=0)
>>> len(res.estimates_m)
30
"""

from skysense.mapping.link import LINK_KINDS, BistaticAngles, Link
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
    "BistaticAngles",
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
