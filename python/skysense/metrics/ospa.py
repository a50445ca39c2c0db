"""Optimal sub-pattern assignment (OSPA) distance: the standard metric and eq. (25).

One signature for every OSPA in skysense: ``ospa(estimated, truth, *, cutoff_m, order=1,
truncate=True)``. With ``truncate=True`` it is the metric of Schuhmacher, Vo and Vo (2008)
with cut-off ``c = cutoff_m``; with ``truncate=False`` it is the imaging paper's eq. (25),
where matched distances are not cut off and ``cutoff_m`` is only the cardinality penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from skysense._validation import check_finite_scalar, check_positive
from skysense.metrics._common import check_reduction, reduce

__all__ = ["ospa", "ospa_batch"]

FloatArray = npt.NDArray[np.float64]


def _points(x: npt.ArrayLike, name: str) -> FloatArray:
    """A point set ``(n_points, dim)`` as float64; ``[]`` and shape (0,) mean empty."""
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(
            f"{name} must be a numeric array of shape (n_points, dim), got dtype object"
        )
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} has dtype {arr.dtype}, expected a real (float or int) array")
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_points, dim), got {arr.shape}")
    if arr.shape[0] > 0 and arr.shape[1] == 0:
        raise ValueError(f"{name} has points with no coordinates, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr.astype(np.float64, copy=False)


def _options(cutoff_m: float, order: float, truncate: bool) -> tuple[float, float, bool]:
    c = check_positive(cutoff_m, "cutoff_m")
    p = check_finite_scalar(order, "order")
    if p < 1:
        raise ValueError(f"order must be >= 1, got {p}")
    if not isinstance(truncate, bool | np.bool_):
        raise TypeError(f"truncate must be a bool, got {type(truncate).__name__}")
    return c, p, bool(truncate)


def _ospa(
    est: FloatArray, truth: FloatArray, c: float, p: float, truncate: bool, where: str = ""
) -> float:
    """OSPA of validated float64 point sets.

    OSPA is homogeneous: scaling the points and ``c`` by ``s`` scales it by ``s``. It is
    evaluated on distances and ``c`` scaled by an exact power of two ``2**-e`` so that every
    cost is at most 1 (``2**e >= c`` with ``truncate``, ``2**e >= max(c, largest distance)``
    without), hence no ``d**p`` overflows and the assignment sees finite costs.
    """
    n_est, n_true = est.shape[0], truth.shape[0]
    n_max, n_min = max(n_est, n_true), min(n_est, n_true)
    if n_max == 0:
        return 0.0
    e = int(np.frexp(c)[1])
    matched = 0.0
    if n_min > 0:
        if est.shape[1] != truth.shape[1]:
            raise ValueError(
                f"estimated{where} and truth{where} must have the same point dimension, got "
                f"{est.shape[1]} and {truth.shape[1]}"
            )
        dist, e_dist = _scaled_distances(est, truth)  # true distances: dist * 2**e_dist
        if not truncate:
            e = max(e, e_dist + int(np.frexp(dist.max())[1]))
        with np.errstate(over="ignore", under="ignore"):
            dist = np.ldexp(dist, e_dist - e)  # d / 2**e (inf beyond: cut off below)
            if truncate:
                dist = np.minimum(dist, np.ldexp(c, -e))
            cost = dist**p
        rows, cols = linear_sum_assignment(cost)
        matched = float(cost[rows, cols].sum())
    with np.errstate(under="ignore"):
        penalty = np.ldexp(c, -e) ** p
        # ((min_rho sum d_c^p + c^p |M - M_hat|) / max(M, M_hat))^(1/p); eq. (25) for p = 1.
        value = ((matched + penalty * (n_max - n_min)) / n_max) ** (1.0 / p)
    with np.errstate(over="ignore"):
        out = float(np.ldexp(value, e))
    if not np.isfinite(out):
        raise OverflowError(
            f"the OSPA of estimated{where} and truth{where} exceeds the float64 range: their "
            "points lie too far apart for truncate=False (scale the coordinates down)"
        )
    return out


def _scaled_distances(a: FloatArray, b: FloatArray) -> tuple[FloatArray, int]:
    """Pairwise distances ``d / 2**e`` (n_a, n_b) and ``e``, from coordinates scaled by
    ``2**-e`` (their largest magnitude), so that no square overflows."""
    peak = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
    e = int(np.frexp(peak)[1])
    a_s, b_s = np.ldexp(a, -e), np.ldexp(b, -e)
    with np.errstate(under="ignore"):
        return np.sqrt(((a_s[:, None, :] - b_s[None, :, :]) ** 2).sum(axis=-1)), e


def ospa(
    estimated: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    cutoff_m: float,
    order: float = 1,
    truncate: bool = True,
) -> float:
    """OSPA distance between an estimated and a true point set.

    Parameters
    ----------
    estimated : array_like, shape (n_est, dim), [m]
        Estimated positions; ``[]`` or shape ``(0, dim)`` for none.
    truth : array_like, shape (n_true, dim), [m]
        True positions.
    cutoff_m : float
        Cut-off c [m], > 0: each missing or extra point costs c, and with ``truncate``
        matched distances are ``min(d, c)``.
    order : float
        Order p >= 1.
    truncate : bool
        True: the standard (Schuhmacher) OSPA, bounded by ``cutoff_m``; Vo's
        ``ospa_dist(X, Y, c, p)``. False: the imaging paper's eq. (25), matched distances
        uncut and ``cutoff_m`` only the cardinality penalty ``c_3``; with ``cutoff_m=50``
        and ``order=1`` it reproduces the paper's tables (an empty estimate scores 50) and
        can exceed ``cutoff_m`` (Table III: A^H y scores 72.6 m).

    Returns
    -------
    float
        [m]; 0 if both sets are empty, ``cutoff_m`` if exactly one is. Homogeneous:
        scaling the points and ``cutoff_m`` by ``s`` scales it by ``s``, for any finite
        values (evaluated on exactly rescaled distances).

    Raises
    ------
    OverflowError
        With ``truncate=False``, if the OSPA itself exceeds the float64 range.

    Notes
    -----
    With :math:`n = \\max(M, \\hat M)`, :math:`m = \\min(M, \\hat M)`, the cut-off
    :math:`c` and :math:`d_c = \\min(d, c)` (or :math:`d` without truncation),

    .. math:: \\mathrm{OSPA} = \\Big(\\frac{1}{n}\\big(\\min_{\\rho}\\sum_{i=1}^{m}
              d_c(\\hat p_i, p_{\\rho(i)})^p + c^p (n - m)\\big)\\Big)^{1/p}

    The optimal assignment uses :func:`scipy.optimize.linear_sum_assignment`.

    References
    ----------
    D. Schuhmacher, B.-T. Vo, B.-N. Vo, "A consistent metric for performance evaluation
    of multi-object filters", IEEE TSP 56 (2008). Huang et al., IEEE TWC 25 (2026), eq. (25).

    Examples
    --------
    >>> from skysense.metrics import ospa
    >>> ospa([[0.0, 0.0], [10.0, 0.0]], [[1.0, 0.0]], cutoff_m=5.0)
    3.0
    >>> ospa([[0.0, 0.0]], [[100.0, 0.0]], cutoff_m=50.0, truncate=False)
    100.0
    """
    c, p, truncate = _options(cutoff_m, order, truncate)
    return _ospa(_points(estimated, "estimated"), _points(truth, "truth"), c, p, truncate)


PointSets = Sequence[npt.ArrayLike] | npt.NDArray[np.floating]


@overload
def ospa_batch(
    estimated: PointSets,
    truth: PointSets,
    *,
    cutoff_m: float,
    order: float = ...,
    truncate: bool = ...,
    reduction: Literal["none"] = ...,
) -> FloatArray: ...
@overload
def ospa_batch(
    estimated: PointSets,
    truth: PointSets,
    *,
    cutoff_m: float,
    order: float = ...,
    truncate: bool = ...,
    reduction: Literal["mean"],
) -> float: ...
def ospa_batch(
    estimated: Sequence[npt.ArrayLike] | npt.NDArray[np.floating],
    truth: Sequence[npt.ArrayLike] | npt.NDArray[np.floating],
    *,
    cutoff_m: float,
    order: float = 1,
    truncate: bool = True,
    reduction: str = "none",
) -> FloatArray | float:
    """OSPA of each frame for ragged point sets (see :func:`ospa`).

    Parameters
    ----------
    estimated : sequence of array_like, each shape (n_est_f, dim), or ndarray, shape (n_frames, n_est, dim)
        Estimated positions per frame [m], e.g. from
        :func:`~skysense.metrics.positions_from_image`.
    truth : sequence of array_like, or ndarray, shape (n_frames, n_true, dim)
        True positions per frame [m], e.g. ``ImagingBatch.positions_m``.
    cutoff_m, order, truncate
        As in :func:`ospa`.
    reduction : {"none", "mean"}
        Per-frame values or their mean (the tables' OSPA is the mean over test frames).

    Returns
    -------
    ndarray, shape (n_frames,), float64, or float
        [m].

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import ospa_batch
    >>> truth = np.zeros((2, 1, 3))
    >>> ospa_batch([np.zeros((0, 3)), np.ones((1, 3))], truth, cutoff_m=50.0).round(3).tolist()
    [50.0, 1.732]
    """
    c, p, truncate = _options(cutoff_m, order, truncate)
    check_reduction(reduction)
    for name, sets in (("estimated", estimated), ("truth", truth)):
        if isinstance(sets, str | bytes) or not isinstance(sets, Sequence | np.ndarray):
            raise TypeError(f"{name} must be a sequence of point arrays, got {type(sets).__name__}")
    if len(estimated) != len(truth):
        raise ValueError(
            f"estimated and truth must have the same number of frames, got {len(estimated)} "
            f"and {len(truth)}"
        )
    if len(truth) == 0:
        raise ValueError("estimated and truth are empty batches (n_frames = 0)")
    values = np.empty(len(truth))
    for f, (e, t) in enumerate(zip(estimated, truth, strict=True)):
        where = f"[{f}]"
        values[f] = _ospa(
            _points(e, "estimated" + where), _points(t, "truth" + where), c, p, truncate, where
        )
    return reduce(values, reduction)
