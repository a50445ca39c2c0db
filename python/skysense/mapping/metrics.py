"""MOSPA over epochs and Monte-Carlo runs, and map completeness (mapping paper Sec. V-C)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from skysense._validation import check_positive
from skysense.metrics import ospa

__all__ = ["completeness", "ospa_per_epoch", "seen_truth"]


def seen_truth(data) -> np.ndarray:
    """Mask (n_epochs, n_vas): VA visible to either link at some epoch up to n (MOSPA truth)."""
    bi, mono = data.visibility.va_timelines()
    return np.logical_or.accumulate(bi | mono, axis=0)


def ospa_per_epoch(estimates, data, *, cutoff_m=10.0, order=2.0) -> np.ndarray:
    """OSPA (cut-off c, order p) of each epoch's map against the VAs seen so far.

    Parameters
    ----------
    estimates : sequence of ndarray, each shape (n_est, 3), [m]
    data : BsData
    cutoff_m : float
        c [m] (also the cardinality penalty).
    order : float
        p.

    Returns
    -------
    ndarray, shape (n_epochs,), [m]
        Average over Monte-Carlo runs gives the MOSPA.
    """
    truth = seen_truth(data)
    vas = data.visibility.va_positions_m
    return np.array(
        [
            ospa(est, vas[truth[n]], card_penalty=cutoff_m, p=order, cutoff=cutoff_m)
            for n, est in enumerate(estimates)
        ]
    )


def completeness(estimate, data, *, radius_m=2.0) -> float:
    """Fraction of observable VAs (seen by either link over the run) recovered within
    ``radius_m`` [m] by a one-to-one matched estimate (``estimate``: (n_est, 3) final map)."""
    radius_m = check_positive(radius_m, "radius_m")
    truth = data.visibility.va_positions_m[seen_truth(data)[-1]]
    if truth.shape[0] == 0:
        return 1.0
    est = np.asarray(estimate, float).reshape(-1, 3)
    if est.shape[0] == 0:
        return 0.0
    d = np.linalg.norm(truth[:, None] - est[None], axis=-1)
    rows, cols = linear_sum_assignment(np.minimum(d, 10 * radius_m))
    return float(np.count_nonzero(d[rows, cols] <= radius_m) / truth.shape[0])
