"""One sensing pipeline from CSI to map: channel front ends that feed the VA mapper.

The bistatic paper's estimator (PARAMING) is the channel estimator the mapping paper assumes:
here it turns the BS -> UAV OFDM CSI of a :class:`skysense.mapping.Scene` into the bistatic
measurements :class:`skysense.mapping.Mapper` consumes (docs/pipeline.md).

==============================  ===========================================================
``BistaticChannel``             numerology, ULA axes and link budget of the BS -> UAV link
``bistatic_paths``              LoS + specular facade paths per epoch (``bistatic.Paths``)
``simulate_bistatic_csi``       their OFDM CSI per epoch and BS -> ``BistaticCsi``
``estimate_bistatic``           PARAMING per epoch -> ``BistaticMeasurements`` (range, AoA,
                                AoD, CRB covariance at the estimates)
``mdl_order``                   cheap MDL model order of one CSI (delay-smoothed covariance)
``with_bistatic_measurements``  a ``mapping.BsData`` whose bistatic ranges come from CSI
``measured_angles``             the estimated AoA/AoD per epoch for the angle-aided mapper
``CsiMapper``                   streaming per BS: an epoch's CSI in, the updated map out
``MapUpdate``                   its result: VA estimates, existence, covariances, latency
``va_angles``, ``los_angles``   AoA at the UAV, AoD at the BS of a VA's path / the LoS
``MonostaticChannel``           UPA panels, numerology and link budget of the BS's echoes
``simulate_monostatic_csi``     the echo CSI of the facade returns per epoch and BS
``estimate_monostatic``         3-D matrix pencil per epoch -> ``MonostaticMeasurements``
                                (pseudo-positions, delay, azimuth, elevation, CRB)
``monostatic_crb``              CRB of (delay, azimuth, elevation) of one panel's echoes
                                (``with_monostatic_measurements``: into a ``mapping.BsData``)
==============================  ===========================================================

Examples
--------
>>> from skysense.mapping import Mapper, MappingParams, default_scene, simulate
>>> from skysense.pipeline import (estimate_bistatic, simulate_bistatic_csi,
...                                with_bistatic_measurements)
>>> scene = default_scene(20)
>>> (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
>>> (data,) = simulate(scene, rng=0, bs_indices=[0])
>>> data = with_bistatic_measurements(data, estimate_bistatic(link.csi, n_paths=link.n_paths))
>>> res = Mapper("fusion3", MappingParams(n_particles=300)).run(data, rng=0)
>>> len(res.estimates_m)
20
"""

from skysense.pipeline.bistatic_front_end import (
    BistaticChannel,
    BistaticCsi,
    BistaticMeasurements,
    bistatic_paths,
    estimate_bistatic,
    mdl_order,
    measured_angles,
    simulate_bistatic_csi,
    with_bistatic_measurements,
)
from skysense.pipeline.geometry import los_angles, va_angles
from skysense.pipeline.monostatic_front_end import (
    MonostaticChannel,
    MonostaticCsi,
    MonostaticMeasurements,
    estimate_monostatic,
    monostatic_crb,
    monostatic_fisher_information,
    simulate_monostatic_csi,
    with_monostatic_measurements,
)
from skysense.pipeline.streaming import CsiMapper, MapUpdate

__all__ = [
    "BistaticChannel",
    "BistaticCsi",
    "BistaticMeasurements",
    "CsiMapper",
    "MapUpdate",
    "MonostaticChannel",
    "MonostaticCsi",
    "MonostaticMeasurements",
    "bistatic_paths",
    "estimate_bistatic",
    "estimate_monostatic",
    "los_angles",
    "mdl_order",
    "measured_angles",
    "monostatic_crb",
    "monostatic_fisher_information",
    "simulate_bistatic_csi",
    "simulate_monostatic_csi",
    "va_angles",
    "with_bistatic_measurements",
    "with_monostatic_measurements",
]
