"""Environments beyond free space: ray-traced background multipath for the imaging scenarios.

===================  =============================================================
``PairPaths``        rays between the BSs of each pair: ``gain``, ``delay_s``,
                     ``departure_direction``, ``arrival_direction`` (a Result)
``background_csi``   their CSI in the row order and units of the sensing matrix A
``sionna``           Sionna RT adapters (optional extra): ``UrbanCanyon``,
                     ``trace_pairs(..., rng=)``, ``trace_mapping``; imported on use,
                     never by ``import skysense``
===================  =============================================================
"""

from skysense.scenes.paths import PairPaths, background_csi

__all__ = ["PairPaths", "background_csi"]
