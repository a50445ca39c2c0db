"""Table III/IV metrics of images against labels (NumPy only): MSE, SSIM, OSPA, DR, FAR."""

from __future__ import annotations

import numpy as np

from skysense.metrics import detection_rates, ospa_batch, positions_from_image, ssim

__all__ = ["image_metrics", "normalize_images"]

#: Gaussian SSIM window length (pytorch-msssim and MATLAB default).
SSIM_WINDOW = 11


def normalize_images(images, threshold_fraction):
    """``|x| / max|x|`` per frame, zeroed below ``threshold_fraction`` (SP: 1/5, A^H y: 1/3).

    Parameters
    ----------
    images : ndarray, shape (n_frames, *grid), real or complex
    threshold_fraction : float
        Relative threshold in [0, 1).

    Returns
    -------
    ndarray, same shape, float64, in [0, 1]

    Notes
    -----
    How the authors put the SP and A^H y outputs on the label scale for Table III is not
    published (imaging spec, open question 2); this is the spec's suggested convention.
    """
    mag = np.abs(np.asarray(images)).astype(np.float64)
    axes = tuple(range(1, mag.ndim))
    peak = mag.max(axis=axes, keepdims=True)
    out = np.divide(mag, peak, out=np.zeros_like(mag), where=peak > 0)
    out[out < threshold_fraction] = 0.0
    return out


def image_metrics(pred, labels, positions, grid, *, threshold=0.1):
    """Metrics of Tables III/IV over a set of frames.

    Parameters
    ----------
    pred : ndarray, shape (n_frames, *grid_shape), float
        Estimated occupancy images on the label scale [0, 1].
    labels : ndarray, shape (n_frames, *grid_shape)
        Binary occupancy maps.
    positions : ndarray, shape (n_frames, n_targets, 3), [m]
        True UAV positions.
    grid : Scenario
        Gives the voxel-centre coordinates for OSPA.
    threshold : float
        Detection threshold on ``pred`` (0.1, the authors').

    Returns
    -------
    dict
        ``mse``, ``ssim`` (valid 11-windows as the authors' pytorch-msssim; replicate
        padding on grids with an axis shorter than 11), ``ospa`` [m]
        (unbounded, cardinality penalty 50 m, blob centroids above ``threshold``), ``dr``
        and ``far`` [%] (authors' blob rule, pooled over frames).
    """
    pred = np.asarray(pred, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    det = detection_rates(pred, labels, rule="blob", threshold=threshold)
    est = positions_from_image(pred, grid, threshold=threshold)
    short = any(1 < n < SSIM_WINDOW for n in pred.shape[1:])
    return {
        "mse": float(np.mean((pred - labels) ** 2)),
        "ssim": float(
            ssim(pred, labels, padding="replicate" if short else "valid", reduction="mean")
        ),
        "ospa": float(
            ospa_batch(est, list(positions), cutoff_m=50.0, truncate=False, reduction="mean")
        ),
        "dr": 100.0 * det.detection_rate,
        "far": 100.0 * det.false_alarm_rate,
    }
