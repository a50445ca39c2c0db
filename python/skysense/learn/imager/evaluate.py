"""Table III/IV scores of images against labels (NumPy only): MSE, SSIM, OSPA, DR, FAR.

The metrics themselves live in :mod:`skysense.metrics`; this module applies them the way the
imaging paper's Tables III and IV do, for training-time validation and the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skysense._results import Result
from skysense.imaging import Scenario
from skysense.metrics import detection_rates, ospa_batch, positions_from_image, ssim

__all__ = ["ImageMetrics", "image_metrics", "normalize_images", "true_positions"]

#: Gaussian SSIM window length (pytorch-msssim and MATLAB default).
SSIM_WINDOW = 11


@dataclass(frozen=True, repr=False)
class ImageMetrics(Result):
    """Scores of a set of images (:func:`image_metrics`).

    Attributes
    ----------
    mse : float
        Mean squared error over frames and voxels.
    ssim : float
        Mean SSIM.
    ospa_m : float
        Mean OSPA [m] (order 1, cardinality penalty 50 m, no cut-off).
    detection_rate : float
        Detected UAVs / UAVs, pooled over the frames, in [0, 1].
    false_alarm_rate : float
        False blobs / reported blobs, pooled over the frames, in [0, 1].
    """

    mse: float
    ssim: float
    ospa_m: float
    detection_rate: float
    false_alarm_rate: float


def normalize_images(images: Any, threshold_fraction: float) -> np.ndarray:
    """``|x| / max|x|`` per frame, zeroed below ``threshold_fraction`` (SP: 1/5, A^H y: 1/3).

    Parameters
    ----------
    images : array_like, shape (n_frames, grid...), real or complex
        Images, one frame per row of the first axis.
    threshold_fraction : float
        Relative threshold in [0, 1).

    Returns
    -------
    ndarray, same shape, float64, in [0, 1]
        Magnitudes over each frame's peak, below-threshold entries zero (an all-zero frame
        stays zero).

    Notes
    -----
    How the authors put the SP and A^H y outputs on the label scale for Table III is not
    published; this per-frame peak normalisation with a relative threshold is our choice.

    Examples
    --------
    >>> normalize_images(np.array([[[3 + 4j, 1.0], [0.5, 0.0]]]), 0.15).tolist()
    [[[1.0, 0.2], [0.0, 0.0]]]
    """
    mag = np.abs(np.asarray(images)).astype(np.float64)
    axes = tuple(range(1, mag.ndim))
    peak = mag.max(axis=axes, keepdims=True)
    out = np.divide(mag, peak, out=np.zeros_like(mag), where=peak > 0)
    out[out < threshold_fraction] = 0.0
    return out


def true_positions(positions_m: Any) -> list[np.ndarray]:
    """Per-frame UAV positions without the NaN rows that pad frames with fewer UAVs.

    Parameters
    ----------
    positions_m : array_like, shape (n_frames, n_targets, 3), [m]

    Returns
    -------
    list of ndarray, each shape (n_f, 3), float64

    Examples
    --------
    >>> [p.shape for p in true_positions(np.array([[[0.0, 0, 0], [np.nan] * 3]]))]
    [(1, 3)]
    """
    arr = np.asarray(positions_m, dtype=np.float64)
    return [p[~np.isnan(p).any(axis=-1)] for p in arr]


def image_metrics(
    pred: Any, labels: Any, positions_m: Any, grid: Scenario, *, threshold: float = 0.1
) -> ImageMetrics:
    """Metrics of the imaging paper's Tables III/IV over a set of frames.

    Parameters
    ----------
    pred : array_like, shape (n_frames, grid_shape...), float
        Estimated occupancy images on the label scale [0, 1].
    labels : array_like, shape (n_frames, grid_shape...)
        Binary occupancy maps.
    positions_m : array_like, shape (n_frames, n_targets, 3), [m]
        True UAV positions; NaN rows (frames with fewer UAVs) are skipped.
    grid : Scenario
        Gives the voxel-centre coordinates for OSPA.
    threshold : float
        Detection threshold on ``pred`` (0.1, the authors').

    Returns
    -------
    ImageMetrics
        SSIM over valid 11-windows as the authors' pytorch-msssim (replicate padding on
        grids with an axis shorter than 11); OSPA of the blob centroids above
        ``threshold``; detection and false-alarm rates by the authors' blob rule.

    Examples
    --------
    >>> s = Scenario()
    >>> labels = np.zeros((1, 40, 40))
    >>> labels[0, 5, 5] = 1.0
    >>> truth = s.voxel_centers_m().reshape(40, 40, 3)[5, 5][None, None]
    >>> image_metrics(labels, labels, truth, s).detection_rate
    1.0
    """
    pred = np.asarray(pred, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    det = detection_rates(pred, labels, rule="blob", threshold=threshold)
    est = positions_from_image(pred, grid, threshold=threshold)
    short = any(1 < n < SSIM_WINDOW for n in pred.shape[1:])
    return ImageMetrics(
        mse=float(np.mean((pred - labels) ** 2)),
        ssim=float(ssim(pred, labels, padding="replicate" if short else "valid", reduction="mean")),
        ospa_m=float(
            ospa_batch(
                est, true_positions(positions_m), cutoff_m=50.0, truncate=False, reduction="mean"
            )
        ),
        detection_rate=det.detection_rate,
        false_alarm_rate=det.false_alarm_rate,
    )
