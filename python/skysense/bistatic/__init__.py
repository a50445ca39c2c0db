"""Bistatic ISAC parameter estimation (Bazzi et al., IEEE JSAC 2025): PARAMING, baselines, CRB.

Model and data

==========================  ==========================================================
``Scenario``                OFDM numerology and ULAs (defaults: Nt 8, Nr 10, N 64, 960 kHz)
``Paths``                   ``aoa_rad``, ``aod_rad``, ``toa_s``, ``gain``, ``doppler_hz`` of q paths
``random_paths``            random geometry inside the CP-limited bistatic window (eq. 7)
``simulate``                pilots + LS CSI per sub-frame (eqs. 4-11) -> ``Measurement``
``Measurement``             ``csi``, realised ``gain``, ``noise_var``, ``pilots``
``noise_variance``          sigma^2 of a per-receive-antenna SNR
``qam_symbols``             unit-power square-QAM pilots
==========================  ==========================================================

Estimators (each returns an ``Estimate``: ``toa_s``, ``aoa_rad``, ``aod_rad``, ``gain``, ...)

==========================  ==========================================================
``paraming``                PARAMING (C++ kernel, batched), Doppler from sub-frames (eq. 43)
``root_music_2d``           Root-MUSIC-2D (AoA, AoD by rooting; no ToA, no gain)
``bartlett``                Bartlett on a joint (AoA, AoD, ToA) ``Grid``
``music``                   MUSIC on the grid, Hankel-smoothed signal subspace
``dml``                     grid DML by alternating projections
``bartlett_spectrum``       the Bartlett spectrum of one CSI on the grid
``music_spectrum``          the MUSIC pseudo-spectrum of one CSI on the grid
``Estimate``                the result type of every estimator
``Grid``                    search grid of the grid methods (``Grid.uniform``: 1 degree)
==========================  ==========================================================

Building blocks

==========================  ==========================================================
``default_subarrays``       PARAMING's sub-array sizes (Mt, Mr, M): half of each dimension
``hankel_shape``            shape (L, P) of the Hankel matrix X1 (eqs. 26-32)
``hankel_matrix``           the three-level Hankel matrix X of one CSI (eqs. 26-28)
``delay_taps``              IFFT-C2VNN input: unitary IDFT over subcarriers (eq. 17)
``find_peak_rows``          the q strongest delay-profile peaks (eqs. 18-19)
``peak_windows``            W delay rows around each peak (eq. 20)
``normalize_windows``       windows without their scale and common phase
``ls_gains``                gains by LS on estimated parameters (eq. 21)
==========================  ==========================================================

Bounds and costs

==========================  ==========================================================
``crb``, ``Crb``            Cramer-Rao bound (Appendix A): ``aoa_var_rad2``, ``toa_var_s2``, ...
``fisher_information``      the Fisher information matrix (eq. 52)
``operation_counts``        real flops per CSI of PARAMING and the grid methods (eqs. 44-46)
``OperationCounts``         its result
==========================  ==========================================================

Units are SI with the unit in the name (``docs/conventions.md``); the CSI of one sub-frame is
``(n_tx, n_rx, n_subcarriers)`` and leading axes are a batch.

Examples
--------
>>> from skysense import bistatic as bs
>>> sc = bs.Scenario()
>>> paths = bs.random_paths(sc, rng=0)
>>> m = bs.simulate(sc, paths, 20.0, rng=1)
>>> est = bs.paraming(m.csi[0], paths.n_paths, scenario=sc)
>>> est.toa_s.shape
(4,)
"""

from skysense.bistatic.bartlett import bartlett, bartlett_spectrum
from skysense.bistatic.complexity import OperationCounts, operation_counts
from skysense.bistatic.crb import Crb, crb, fisher_information
from skysense.bistatic.dml import dml
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.geometry import random_paths
from skysense.bistatic.grid import Grid
from skysense.bistatic.hankel import default_subarrays, hankel_matrix, hankel_shape
from skysense.bistatic.ifft_windows import (
    delay_taps,
    find_peak_rows,
    ls_gains,
    normalize_windows,
    peak_windows,
)
from skysense.bistatic.music import music, music_spectrum
from skysense.bistatic.paraming import paraming
from skysense.bistatic.paths import Paths
from skysense.bistatic.root_music import root_music_2d
from skysense.bistatic.scenario import Scenario
from skysense.bistatic.simulate import Measurement, noise_variance, qam_symbols, simulate

__all__ = [
    "Crb",
    "Estimate",
    "Grid",
    "Measurement",
    "OperationCounts",
    "Paths",
    "Scenario",
    "bartlett",
    "bartlett_spectrum",
    "crb",
    "default_subarrays",
    "delay_taps",
    "dml",
    "find_peak_rows",
    "fisher_information",
    "hankel_matrix",
    "hankel_shape",
    "ls_gains",
    "music",
    "music_spectrum",
    "noise_variance",
    "normalize_windows",
    "operation_counts",
    "paraming",
    "peak_windows",
    "qam_symbols",
    "random_paths",
    "root_music_2d",
    "simulate",
]
