"""Reproductions of the bistatic estimation paper (Bazzi et al., IEEE JSAC 2025).

==========================  ==========================================================
``BistaticAccuracy``        ``bistatic-accuracy``: ToA/AoA/AoD error vs SNR, baselines, CRB
``BistaticSeparation``      ``bistatic-separation``: Fig. 8, two targets within the beamwidth
``BistaticTimingOffset``    ``bistatic-timing-offset``: Fig. 7, ToA bias, angles unaffected
``BistaticDoppler``         ``bistatic-doppler``: Fig. 9, Doppler MAE vs SNR
``BistaticLatency``         ``bistatic-latency``: Table II, median latency per method
``BistaticWeakPath``        ``bistatic-weak-path``: a target 30 dB below the LoS, order criteria
==========================  ==========================================================
"""

from skysense.experiments.bistatic.accuracy import BistaticAccuracy
from skysense.experiments.bistatic.doppler import BistaticDoppler
from skysense.experiments.bistatic.latency import BistaticLatency
from skysense.experiments.bistatic.separation import BistaticSeparation
from skysense.experiments.bistatic.timing_offset import BistaticTimingOffset
from skysense.experiments.bistatic.weak_path import BistaticWeakPath

__all__ = [
    "BistaticAccuracy",
    "BistaticDoppler",
    "BistaticLatency",
    "BistaticSeparation",
    "BistaticTimingOffset",
    "BistaticWeakPath",
]
