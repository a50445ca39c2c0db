"""Bistatic ISAC parameter estimation (Bazzi et al., IEEE JSAC 2025): PARAMING, baselines, CRB.

==========================  ==========================================================
``Scenario``                OFDM numerology and ULAs (defaults: Nt 8, Nr 10, N 64, 960 kHz)
``Paths``                   AoA, AoD, ToA, gain and Doppler of q paths
``random_paths``            random geometry inside the CP-limited bistatic window (eq. 7)
``simulate``                pilots + LS CSI per sub-frame -> ``Measurement``
``paraming``                PARAMING (C++ kernel, batched), Doppler from sub-frames
``Estimate``                output of every estimator: ``toa``, ``aoa``, ``aod``, ``gain``
==========================  ==========================================================
"""

from skysense.bistatic.estimate import Estimate
from skysense.bistatic.geometry import random_paths
from skysense.bistatic.paraming import default_subarrays, hankel_shape, paraming
from skysense.bistatic.scenario import Paths, Scenario
from skysense.bistatic.simulate import Measurement, noise_variance, simulate

__all__ = [
    "Estimate",
    "Measurement",
    "Paths",
    "Scenario",
    "default_subarrays",
    "hankel_shape",
    "noise_variance",
    "paraming",
    "random_paths",
    "simulate",
]
