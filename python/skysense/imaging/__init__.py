"""Cooperative-ISAC imaging of UAVs on a voxel grid (Huang et al., IEEE TWC 2026).

==========================  ==========================================================
``Scenario``                geometry and radio parameters (paper defaults, ``paper_3d``)
``sensing_matrix``          dense A (C++ kernel), rows (subcarrier, pair, rx, tx)
``steering_matrix``         columns of A at arbitrary positions
``SensingOperator``         matrix-free A: ``matvec``, ``rmatvec`` (A^H), ``gram``
``simulate``                on-/off-grid CSI frames -> ``ImagingBatch``
``psf``, ``max_sidelobe``   point-spread function (eq. 16) and P(n1)
``offgrid_error``           steering mismatch Delta b vs Delta p (eq. 17)
``backproject``             A^H y (eq. 20), dense or through ``rmatvec``, batched
``subspace_pursuit``        SP (Algorithm 1, C++ kernel on the Gram form), batched
``PursuitResult``           its output: ``x``, ``support``, ``n_iter``, ``residual_norm``
==========================  ==========================================================
"""

from skysense.imaging.backprojection import backproject
from skysense.imaging.psf import max_sidelobe, offgrid_error, psf
from skysense.imaging.pursuit import PursuitResult, subspace_pursuit
from skysense.imaging.scenario import Scenario
from skysense.imaging.sensing import SensingOperator, sensing_matrix, steering_matrix
from skysense.imaging.simulate import ImagingBatch, simulate

__all__ = [
    "ImagingBatch",
    "PursuitResult",
    "Scenario",
    "SensingOperator",
    "backproject",
    "max_sidelobe",
    "offgrid_error",
    "psf",
    "sensing_matrix",
    "simulate",
    "steering_matrix",
    "subspace_pursuit",
]
