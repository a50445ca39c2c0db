"""Bistatic ISAC parameter estimation (Bazzi et al., IEEE JSAC 2025): PARAMING, baselines, CRB.

==========================  ==========================================================
``Scenario``                OFDM numerology and ULAs (defaults: Nt 8, Nr 10, N 64, 960 kHz)
``Paths``                   AoA, AoD, ToA, gain and Doppler of q paths
``random_paths``            random geometry inside the CP-limited bistatic window (eq. 7)
``simulate``                pilots + LS CSI per sub-frame -> ``Measurement``
``paraming``                PARAMING (C++ kernel, batched), Doppler from sub-frames
``Estimate``                output of every estimator: ``toa``, ``aoa``, ``aod``, ``gain``
``bartlett``                Bartlett on a joint (AoA, AoD, ToA) ``Grid``
``music``                   MUSIC on the grid, Hankel-smoothed signal subspace
``dml``                     grid DML by alternating projections
``root_music_2d``           Root-MUSIC-2D (AoA, AoD by rooting)
``Grid``                    search grid of the grid methods (``Grid.uniform``: 1 degree)
``crb``, ``Crb``            Cramer-Rao bound (FIM of Appendix A), ``fisher_information``
``operation_counts``        real flops per CSI of PARAMING and the grid methods (eqs. 44-51)
==========================  ==========================================================
"""

from skysense.bistatic.bartlett import bartlett, bartlett_spectrum
from skysense.bistatic.complexity import operation_counts
from skysense.bistatic.crb import Crb, crb, fisher_information
from skysense.bistatic.dml import dml
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.geometry import random_paths
from skysense.bistatic.grid import Grid
from skysense.bistatic.music import music, music_spectrum
from skysense.bistatic.paraming import default_subarrays, hankel_shape, paraming
from skysense.bistatic.root_music import root_music_2d
from skysense.bistatic.scenario import Paths, Scenario
from skysense.bistatic.simulate import Measurement, noise_variance, simulate

__all__ = [
    "Crb",
    "Estimate",
    "Grid",
    "Measurement",
    "Paths",
    "Scenario",
    "bartlett",
    "bartlett_spectrum",
    "crb",
    "default_subarrays",
    "dml",
    "fisher_information",
    "hankel_shape",
    "music",
    "music_spectrum",
    "noise_variance",
    "operation_counts",
    "paraming",
    "random_paths",
    "root_music_2d",
    "simulate",
]
