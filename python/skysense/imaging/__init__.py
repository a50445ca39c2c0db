"""Cooperative-ISAC imaging of UAVs on a voxel grid (Huang et al., IEEE TWC 2026).

==========================  ==========================================================
``Scenario``                geometry and radio parameters (paper defaults, ``paper_3d``)
``sensing_matrix``          dense A (C++ kernel), rows (subcarrier, pair, rx, tx), eq. (14)
``steering_matrix``         columns of A at arbitrary positions ``points_m``
``SensingOperator``         matrix-free A, a SciPy ``LinearOperator`` (``@``, ``.H``,
                            ``matmat``; ``lsqr``/``lsmr``/``cg`` take it); batched
                            ``matvec``/``rmatvec`` over frames as rows; ``gram``
``simulate``                on-/off-grid CSI frames (``rng=``) -> ``ImagingBatch``
``ImagingBatch``            ``measurements``, ``image`` (coefficients per voxel),
                            ``labels``, ``positions_m``, ``voxel_index``, ``coefficients``
``psf``, ``max_sidelobe``   point-spread function (eq. 16) and P(n1)
``offgrid_error``           steering mismatch Delta b vs Delta p (eq. 17) -> ``OffgridError``
``backproject``             A^H y (eq. 20), dense or through the operator, batched
``subspace_pursuit``        SP (Algorithm 1, C++ kernel on the Gram form), batched
``PursuitResult``           its output: ``image``, ``support``, ``n_iter``,
                            ``relative_residual``
==========================  ==========================================================

Frames are rows: one frame is ``(n_measurements,)``, a batch ``(n_frames, n_measurements)``;
images are ``(n_frames, n_voxels)``, C-ordered over the grid axes ``(x, y, z)``.
``workers=None`` means :func:`skysense.get_workers` (1 unless :func:`skysense.set_workers`
says otherwise) and never changes a result. See ``docs/conventions.md``.
"""

from skysense.imaging.backprojection import backproject
from skysense.imaging.psf import OffgridError, max_sidelobe, offgrid_error, psf
from skysense.imaging.pursuit import PursuitResult, subspace_pursuit
from skysense.imaging.scenario import Scenario
from skysense.imaging.sensing import SensingOperator, sensing_matrix, steering_matrix
from skysense.imaging.simulate import ImagingBatch, simulate

__all__ = [
    "ImagingBatch",
    "OffgridError",
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
