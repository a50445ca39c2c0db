"""Map metrics of the environment-mapping paper: OSPA per epoch (MOSPA) and completeness.

The truth at epoch n is the set of virtual anchors (VAs) seen by either link at some epoch
up to n (mapping paper, Sec. V-B: MOSPA is the OSPA averaged over Monte-Carlo runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from skysense._validation import as_array, check_positive
from skysense.metrics.ospa import _options, _scaled_distances, ospa

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.mapping import BsData

__all__ = ["completeness", "ospa_per_epoch", "seen_truth"]


def seen_truth(data: BsData) -> npt.NDArray[np.bool_]:
    """Which VAs count as truth at each epoch: seen by either link at some epoch up to n.

    Parameters
    ----------
    data : skysense.mapping.BsData
        One BS's simulated data (only its ``visibility`` is read).

    Returns
    -------
    ndarray, shape (n_epochs, n_vas), bool

    Examples
    --------
    >>> from skysense.mapping import Scene, trace
    >>> from skysense.metrics import seen_truth
    >>> scene = Scene([(0.0, 30.0, 30.0, 10.0, 30.0)], [(0.0, 0.0, 15.0)], [(0.0, 5.0, 30.0)])
    >>> class Data:  # a BsData stand-in: only ``visibility`` is read
    ...     visibility = trace(scene, 0)
    >>> seen_truth(Data()).tolist()
    [[True]]
    """
    bi, mono = data.visibility.va_timelines()
    return np.logical_or.accumulate(bi | mono, axis=0)


def ospa_per_epoch(
    estimates: Sequence[npt.ArrayLike],
    data: BsData,
    *,
    cutoff_m: float,
    order: float = 1,
    truncate: bool = True,
) -> npt.NDArray[np.float64]:
    """OSPA of each epoch's map against the VAs seen so far (:func:`seen_truth`).

    Parameters
    ----------
    estimates : sequence of array_like, each shape (n_est, 3), [m]
        The map (estimated VAs) after each of the first ``len(estimates)`` epochs.
    data : skysense.mapping.BsData
        The BS's data (its ``visibility`` gives the VAs and when they are seen).
    cutoff_m, order, truncate
        As in :func:`skysense.metrics.ospa` (the mapping experiments use ``cutoff_m=10``,
        ``order=2``).

    Returns
    -------
    ndarray, shape (len(estimates),), float64, [m]
        Averaged over Monte-Carlo runs this is the MOSPA.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import Scene, trace
    >>> from skysense.metrics import ospa_per_epoch
    >>> scene = Scene([(0.0, 30.0, 30.0, 10.0, 30.0)], [(0.0, 0.0, 15.0)], [(0.0, 5.0, 30.0)])
    >>> class Data:  # a BsData stand-in: only ``visibility`` is read
    ...     visibility = trace(scene, 0)
    >>> ospa_per_epoch([np.zeros((0, 3))], Data(), cutoff_m=10.0, order=2).tolist()
    [10.0]
    """
    _options(cutoff_m, order, truncate)  # validated even for an empty run
    truth = seen_truth(data)
    vas = data.visibility.va_positions_m
    if len(estimates) > truth.shape[0]:
        raise ValueError(
            f"estimates must hold at most one map per epoch of data ({truth.shape[0]}), "
            f"got {len(estimates)}"
        )
    return np.array(
        [
            ospa(est, vas[truth[n]], cutoff_m=cutoff_m, order=order, truncate=truncate)
            for n, est in enumerate(estimates)
        ]
    )


def completeness(estimate: npt.ArrayLike, data: BsData, *, radius_m: float = 2.0) -> float:
    """Fraction of observable VAs recovered within ``radius_m`` by a one-to-one matching.

    Parameters
    ----------
    estimate : array_like, shape (n_est, 3), [m]
        The final map.
    data : skysense.mapping.BsData
        Its VAs seen by either link over the run are the observable ones.
    radius_m : float
        Largest distance of a recovered VA from its match [m].

    Returns
    -------
    float
        In [0, 1]; 1 when nothing is observable.

    Examples
    --------
    >>> from skysense.mapping import Scene, trace
    >>> from skysense.metrics import completeness
    >>> scene = Scene([(0.0, 30.0, 30.0, 10.0, 30.0)], [(0.0, 0.0, 15.0)], [(0.0, 5.0, 30.0)])
    >>> class Data:  # a BsData stand-in: only ``visibility`` is read
    ...     visibility = trace(scene, 0)
    >>> completeness([[0.0, 50.0, 15.5]], Data())
    1.0
    """
    radius_m = check_positive(radius_m, "radius_m")
    truth = data.visibility.va_positions_m[seen_truth(data)[-1]]
    if truth.shape[0] == 0:
        return 1.0
    est = as_array(estimate, "estimate", kind="fiu", dtype=np.float64)
    if est.size == 0:
        return 0.0
    if est.ndim != 2 or est.shape[1] != 3:
        raise ValueError(f"estimate must have shape (n_est, 3), got {est.shape}")
    # distances d = d_s * 2**e (scaled: no overflow for any finite coordinates)
    d_s, e = _scaled_distances(np.asarray(truth, dtype=np.float64), est)
    with np.errstate(over="ignore", under="ignore"):
        radius_s = float(np.ldexp(radius_m, -e))
    rows, cols = linear_sum_assignment(np.minimum(d_s, 10.0 * radius_s))
    return float(np.count_nonzero(d_s[rows, cols] <= radius_s) / truth.shape[0])
