"""Every metric of skysense: imaging (MSE, SSIM, OSPA, DR, FAR), mapping (MOSPA, completeness)
and multitarget tracking (GOSPA, OSPA^(2), identity switches, track RMSE).

Imaging metrics follow Huang et al. (IEEE TWC 2026), Sec. V-A. Every image metric takes
batched arrays whose **first axis indexes frames**: ``(n_frames, n_x, n_y)`` (2-D),
``(n_frames, n_x, n_y, n_z)`` (3-D), or flat ``(n_frames, n_voxels)`` rows (C-order over the
grid, as ``ImagingBatch.image``) with ``grid_shape``. Pass ``image[None]`` for a single image.
Results are per frame, float64 (int64 counts), with ``reduction="mean"`` or pooled
properties for tables.

==========================  ==========================================================
``mse``                     mean squared error per frame (eq. 23)
``ssim``                    SSIM per frame, ``padding="valid"`` (authors' Python) or
                            ``"replicate"`` (MATLAB), 2-D or 3-D (eq. 24)
``gaussian_window``         the normalised 1-D Gaussian SSIM window
``ospa``                    OSPA of two point sets: ``ospa(estimated, truth, *, cutoff_m,
                            order=1, truncate=True)``; ``truncate=False`` is eq. (25)
``ospa_batch``              OSPA per frame for ragged point sets (same options)
``positions_from_image``    blob positions [m] above a threshold, per frame
``detection_rates``         detections / targets / false alarms per frame
``DetectionResult``         its counts, with pooled ``detection_rate`` (DR) and
                            ``false_alarm_rate`` (FAR)
``ospa_per_epoch``          mapping: OSPA of each epoch's map against the VAs seen so far
                            (MOSPA over Monte-Carlo runs)
``completeness``            mapping: fraction of observable VAs recovered
``seen_truth``              mapping: the VAs that count as truth at each epoch
``gospa``                   GOSPA (alpha = 2) of two point sets, with its decomposition
``gospa_per_frame``         GOSPA of each frame of a run -> ``GospaResult``
``ospa2``                   OSPA on tracks (OSPA^(2)) over a sliding window, per frame
``identity_switches``       identity switches of tracks against true targets
``track_rmse``              track position RMSE after convergence
``tracking_scores``         all four for one run -> ``TrackingScores``
==========================  ==========================================================
"""

from skysense.metrics.detection import DETECTION_RULES, DetectionResult, detection_rates
from skysense.metrics.mapping import completeness, ospa_per_epoch, seen_truth
from skysense.metrics.mse import mse
from skysense.metrics.ospa import ospa, ospa_batch
from skysense.metrics.positions import POSITION_METHODS, positions_from_image
from skysense.metrics.ssim import PADDINGS, gaussian_window, ssim
from skysense.metrics.tracking import (
    GospaResult,
    IdentitySwitches,
    TrackingScores,
    gospa,
    gospa_per_frame,
    identity_switches,
    ospa2,
    track_rmse,
    tracking_scores,
)

__all__ = [
    "DETECTION_RULES",
    "PADDINGS",
    "POSITION_METHODS",
    "DetectionResult",
    "GospaResult",
    "IdentitySwitches",
    "TrackingScores",
    "completeness",
    "detection_rates",
    "gaussian_window",
    "gospa",
    "gospa_per_frame",
    "identity_switches",
    "mse",
    "ospa",
    "ospa2",
    "ospa_batch",
    "ospa_per_epoch",
    "positions_from_image",
    "seen_truth",
    "ssim",
    "track_rmse",
    "tracking_scores",
]
