"""Environments beyond free space: ray-traced background multipath for the imaging scenarios.

===================  =============================================================
``PairPaths``        rays between the BSs of each pair (gain, delay, directions)
``background_csi``   their CSI in the row order and units of the sensing matrix A
``sionna``           Sionna RT adapters (optional extra): ``UrbanCanyon``,
                     ``trace_pairs``; imported on use, never by ``import skysense``
===================  =============================================================
"""

from skysense.scenes.paths import PairPaths, background_csi

__all__ = ["PairPaths", "background_csi"]
