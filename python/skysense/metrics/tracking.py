"""Multitarget-tracking metrics: GOSPA, OSPA on tracks (OSPA^(2)), identity switches and the
track RMSE after convergence.

Conventions (docs/tracking.md, "Metrics"):

* Point sets are ``(n, dim)`` arrays in metres; a run is a sequence of per-frame point sets
  with a sequence of per-frame integer identities (track ids, or true UAV indices).
* Matching inside one frame (identity switches, RMSE) is the GOSPA assignment: the optimal
  assignment of cost ``min(d, cutoff)^order``; a pair at distance ``>= cutoff`` counts as
  unmatched.
* GOSPA uses alpha = 2 (Rahmathullah, Garcia-Fernandez, Svensson 2017): it splits into a
  localisation cost and ``cutoff^order / 2`` per missed and per false target, and is not
  normalised by the number of targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from skysense._results import Result
from skysense._validation import check_count, check_finite_scalar, check_positive

#: A run: one array per frame (point sets ``(n_f, dim)`` or identities ``(n_f,)``).
Frames: TypeAlias = Sequence[npt.ArrayLike] | np.ndarray

__all__ = [
    "GospaResult",
    "IdentitySwitches",
    "TrackingScores",
    "gospa",
    "gospa_per_frame",
    "identity_switches",
    "ospa2",
    "track_rmse",
    "tracking_scores",
]


def _points(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must be a real array of shape (n_points, dim), got dtype {arr.dtype}"
        )
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_points, dim), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr.astype(np.float64, copy=False)


def _ids(x: npt.ArrayLike, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        arr = arr.reshape(0).astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer identities, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one id per point), got {arr.shape}")
    if np.unique(arr).size != n:
        raise ValueError(f"{name} has a repeated identity within one frame: {arr.tolist()}")
    return arr.astype(np.int64, copy=False)


def _sequence(x: object, name: str) -> Any:
    if isinstance(x, str | bytes) or not isinstance(x, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of per-frame arrays, got {type(x).__name__}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty (n_frames = 0)")
    return x


def _options(cutoff_m: float, order: float) -> tuple[float, float]:
    c = check_positive(cutoff_m, "cutoff_m")
    p = check_finite_scalar(order, "order")
    if p < 1:
        raise ValueError(f"order must be >= 1, got {p}")
    return c, p


def _assign(
    est: np.ndarray, truth: np.ndarray, c: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GOSPA assignment: (est rows, truth cols, distances) of the pairs closer than ``c``."""
    if est.shape[0] == 0 or truth.shape[0] == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
    if est.shape[1] != truth.shape[1]:
        raise ValueError(
            f"estimated and truth points must have the same dimension, got {est.shape[1]} "
            f"and {truth.shape[1]}"
        )
    dist = np.sqrt(((est[:, None, :] - truth[None, :, :]) ** 2).sum(axis=-1))
    rows, cols = linear_sum_assignment(np.minimum(dist, c))
    ok = dist[rows, cols] < c
    return rows[ok], cols[ok], dist[rows[ok], cols[ok]]


@dataclass(frozen=True, repr=False)
class GospaResult(Result):
    """GOSPA (alpha = 2) of one frame (scalars) or of each frame (arrays of shape (n_frames,)).

    Attributes
    ----------
    distance_m : float or ndarray, [m]
        ``(localisation + (n_missed + n_false) cutoff^order / 2)^(1 / order)``.
    localisation : float or ndarray, [m^order]
        Sum of ``d^order`` over the matched pairs.
    n_missed, n_false : int or ndarray
        True targets without an estimate, estimates without a true target.
    """

    distance_m: float | np.ndarray
    localisation: float | np.ndarray
    n_missed: int | np.ndarray
    n_false: int | np.ndarray

    @property
    def mean_m(self) -> float:
        """Mean GOSPA over the frames [m]."""
        return float(np.mean(self.distance_m))


def _gospa(est: np.ndarray, truth: np.ndarray, c: float, p: float) -> tuple[float, float, int, int]:
    _, _, d = _assign(est, truth, c)
    loc = float(np.sum(d**p))
    missed, false = truth.shape[0] - d.size, est.shape[0] - d.size
    return (loc + 0.5 * c**p * (missed + false)) ** (1.0 / p), loc, missed, false


def gospa(
    estimated: npt.ArrayLike, truth: npt.ArrayLike, *, cutoff_m: float, order: float = 1
) -> GospaResult:
    """GOSPA distance with alpha = 2 between an estimated and a true point set.

    Parameters
    ----------
    estimated : array_like, shape (n_est, dim), [m]
        Estimated positions.
    truth : array_like, shape (n_true, dim), [m]
        True positions.
    cutoff_m : float
        Cut-off c > 0 [m]: the largest distance of a match; a missed or false target costs
        ``c^order / 2``.
    order : float
        p >= 1.

    Returns
    -------
    GospaResult
        Scalar fields.

    Notes
    -----
    .. math:: d_p^{(c, 2)}(X, Y) = \\Big(\\min_{\\gamma} \\sum_{(i, j) \\in \\gamma}
              d(x_i, y_j)^p + \\frac{c^p}{2}\\big(|X| + |Y| - 2|\\gamma|\\big)\\Big)^{1/p}

    over partial assignments :math:`\\gamma` of pairs closer than c.

    References
    ----------
    A. S. Rahmathullah, A. F. Garcia-Fernandez, L. Svensson, "Generalized optimal sub-pattern
    assignment metric", FUSION 2017.

    Examples
    --------
    >>> from skysense.metrics import gospa
    >>> r = gospa([[0.0, 0.0], [50.0, 0.0]], [[1.0, 0.0]], cutoff_m=10.0)
    >>> r.distance_m, r.n_false
    (6.0, 1)
    """
    c, p = _options(cutoff_m, order)
    d, loc, missed, false = _gospa(_points(estimated, "estimated"), _points(truth, "truth"), c, p)
    return GospaResult(float(d), loc, missed, false)


def gospa_per_frame(
    estimated: Frames, truth: Frames, *, cutoff_m: float, order: float = 1
) -> GospaResult:
    """GOSPA (alpha = 2) of each frame of a run.

    Parameters
    ----------
    estimated, truth : sequence of array_like, each shape (n_f, dim), [m]
        Point sets per frame.
    cutoff_m, order
        As in :func:`gospa`.

    Returns
    -------
    GospaResult
        Fields of shape (n_frames,); ``mean_m`` is the mean GOSPA.
    """
    c, p = _options(cutoff_m, order)
    est, tru = _sequence(estimated, "estimated"), _sequence(truth, "truth")
    if len(est) != len(tru):
        raise ValueError(f"estimated has {len(est)} frames, truth {len(tru)}")
    rows = [
        _gospa(_points(e, f"estimated[{f}]"), _points(t, f"truth[{f}]"), c, p)
        for f, (e, t) in enumerate(zip(est, tru, strict=True))
    ]
    d, loc, missed, false = (np.asarray(v) for v in zip(*rows, strict=True))
    return GospaResult(
        d.astype(float), loc.astype(float), missed.astype(np.int64), false.astype(np.int64)
    )


def _run(positions: Frames, ids: Frames, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    pos = _sequence(positions, f"{name}_positions")
    idv = _sequence(ids, f"{name}_ids")
    if len(pos) != len(idv):
        raise ValueError(f"{name}_positions has {len(pos)} frames, {name}_ids {len(idv)}")
    p = [_points(x, f"{name}_positions[{f}]") for f, x in enumerate(pos)]
    i = [
        _ids(x, q.shape[0], f"{name}_ids[{f}]") for f, (x, q) in enumerate(zip(idv, p, strict=True))
    ]
    return p, i


def _two_runs(
    est_pos: Frames, est_ids: Frames, truth_pos: Frames, truth_ids: Frames
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    ep, ei = _run(est_pos, est_ids, "estimated")
    tp, ti = _run(truth_pos, truth_ids, "truth")
    if len(ep) != len(tp):
        raise ValueError(f"the estimated run has {len(ep)} frames, the true run {len(tp)}")
    return ep, ei, tp, ti


def _window_tracks(pos: list[np.ndarray], ids: list[np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Tracks present in frames [lo, hi): ids and positions (n, w, dim) with NaN gaps."""
    present = np.unique(np.concatenate([ids[f] for f in range(lo, hi)] + [np.empty(0, np.int64)]))
    dim = next((pos[f].shape[1] for f in range(lo, hi) if pos[f].shape[0]), 1)
    out = np.full((present.size, hi - lo, dim), np.nan)
    for f in range(lo, hi):
        if ids[f].size:
            out[np.searchsorted(present, ids[f]), f - lo] = pos[f]
    return out


def ospa2(
    estimated_positions: Frames,
    estimated_ids: Frames,
    truth_positions: Frames,
    truth_ids: Frames,
    *,
    cutoff_m: float,
    order: float = 1,
    window: int = 10,
) -> np.ndarray:
    """OSPA on tracks (OSPA^(2)) at each frame, over the sliding window ending there.

    Parameters
    ----------
    estimated_positions : sequence of array_like, each shape (n_f, dim), [m]
        Track positions per frame.
    estimated_ids : sequence of array_like, each shape (n_f,), int
        Track identities per frame (unique within a frame).
    truth_positions, truth_ids : sequences
        The same for the true targets.
    cutoff_m : float
        Cut-off c [m] of the base distance and of the track-set OSPA.
    order : float
        p >= 1, of both levels.
    window : int
        Frames of the window (the first frames use the frames so far).

    Returns
    -------
    ndarray, shape (n_frames,), float64, [m]
        OSPA^(2) of each frame's window.

    Notes
    -----
    Over the window W, the distance of two tracks x, y with frames of existence D_x, D_y is

    .. math:: \\tilde d(x, y) = \\Big(\\frac{1}{|D_x \\cup D_y|} \\sum_{t \\in D_x \\cup D_y}
              d_c(x_t, y_t)^p\\Big)^{1/p},

    with :math:`d_c = \\min(c, \\|x_t - y_t\\|)` where both exist and :math:`c` where one
    does; OSPA^(2) is the OSPA (cut-off c, order p) of the two track sets under
    :math:`\\tilde d` (0 when both are empty). One track that changes identity becomes two
    tracks, so identity switches raise OSPA^(2).

    References
    ----------
    M. Beard, B.-T. Vo, B.-N. Vo, "A solution for large-scale multi-object tracking", IEEE
    TSP 68 (2020), Sec. VI (the OSPA^(2) metric).
    """
    c, p = _options(cutoff_m, order)
    w = check_count(window, "window")
    ep, ei, tp, ti = _two_runs(estimated_positions, estimated_ids, truth_positions, truth_ids)
    out = np.empty(len(ep))
    for k in range(len(ep)):
        lo = max(0, k - w + 1)
        x = _window_tracks(ep, ei, lo, k + 1)
        y = _window_tracks(tp, ti, lo, k + 1)
        n_x, n_y = x.shape[0], y.shape[0]
        n, m = max(n_x, n_y), min(n_x, n_y)
        if n == 0:
            out[k] = 0.0
            continue
        matched = 0.0
        if m > 0:
            if x.shape[2] != y.shape[2]:
                raise ValueError("estimated and truth points must have the same dimension")
            ex = ~np.isnan(x[..., 0])
            ey = ~np.isnan(y[..., 0])
            both = ex[:, None] & ey[None]
            either = ex[:, None] | ey[None]
            dist = np.sqrt(np.nansum((x[:, None] - y[None]) ** 2, axis=-1))
            base = np.where(both, np.minimum(dist, c), np.where(either, c, 0.0)) ** p
            tilde = np.minimum((base.sum(axis=-1) / either.sum(axis=-1)) ** (1.0 / p), c)
            rows, cols = linear_sum_assignment(tilde**p)
            matched = float((tilde[rows, cols] ** p).sum())
        out[k] = ((matched + c**p * (n - m)) / n) ** (1.0 / p)
    return out


@dataclass(frozen=True, repr=False)
class IdentitySwitches(Result):
    """Identity switches of a run.

    Attributes
    ----------
    n_switches : int
        Times a true target's matched track id differs from the last id matched to it.
    n_truth_frames : int
        Frames summed over the true targets (track-frames).
    per_frame : ndarray, shape (n_frames,), int64
        Switches in each frame.
    """

    n_switches: int
    n_truth_frames: int
    per_frame: np.ndarray

    @property
    def per_track_per_100_frames(self) -> float:
        """``100 n_switches / n_truth_frames``: switches per true track per 100 frames."""
        return 100.0 * self.n_switches / max(self.n_truth_frames, 1)


def identity_switches(
    estimated_positions: Frames,
    estimated_ids: Frames,
    truth_positions: Frames,
    truth_ids: Frames,
    *,
    cutoff_m: float,
) -> IdentitySwitches:
    """Count identity switches: per frame, true targets are matched to tracks (the GOSPA
    assignment with cut-off ``cutoff_m``); a switch is a match to a track id other than the
    last one matched to that target (frames without a match neither count nor reset).

    Parameters
    ----------
    estimated_positions, estimated_ids, truth_positions, truth_ids
        As in :func:`ospa2`.
    cutoff_m : float
        Cut-off c [m] of the per-frame assignment: a farther track is no match.

    Returns
    -------
    IdentitySwitches
        Switch counts (total and per frame).

    Examples
    --------
    >>> from skysense.metrics import identity_switches
    >>> est = [[[0.0, 0.0]], [[1.0, 0.0]], [[2.0, 0.0]]]
    >>> r = identity_switches(est, [[7], [7], [9]], est, [[0], [0], [0]], cutoff_m=5.0)
    >>> r.n_switches, round(r.per_track_per_100_frames, 2)
    (1, 33.33)
    """
    c, _ = _options(cutoff_m, 1)
    ep, ei, tp, ti = _two_runs(estimated_positions, estimated_ids, truth_positions, truth_ids)
    last: dict[int, int] = {}
    per_frame = np.zeros(len(ep), dtype=np.int64)
    n_truth = 0
    for f in range(len(ep)):
        n_truth += ti[f].size
        rows, cols, _ = _assign(ep[f], tp[f], c)
        for r, col in zip(rows, cols, strict=True):
            target, track = int(ti[f][col]), int(ei[f][r])
            if target in last and last[target] != track:
                per_frame[f] += 1
            last[target] = track
    return IdentitySwitches(int(per_frame.sum()), int(n_truth), per_frame)


def track_rmse(
    estimated_positions: Frames,
    truth_positions: Frames,
    truth_ids: Frames,
    *,
    cutoff_m: float,
    settle_frames: int = 10,
) -> float:
    """Position RMSE of the matched tracks after convergence.

    Per frame, true targets are matched to estimates (GOSPA assignment, cut-off
    ``cutoff_m``); the errors of matches of targets present for at least ``settle_frames``
    frames (since their first appearance) are pooled: ``sqrt(mean ||x - y||^2)``.

    Parameters
    ----------
    estimated_positions : sequence of array_like, each shape (n_f, dim), [m]
        Track positions per frame.
    truth_positions, truth_ids
        As in :func:`ospa2`.
    cutoff_m : float
        Cut-off c [m] of the per-frame assignment: a farther estimate is no match.
    settle_frames : int
        Frames after a target's appearance that are left out (>= 0).

    Returns
    -------
    float
        [m]; NaN if no match qualifies (documented: there is no error to average).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import track_rmse
    >>> truth = [np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])]  # one target, two frames
    >>> tracks = [np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]])]  # 1 m off in each
    >>> track_rmse(tracks, truth, [np.array([7]), np.array([7])], cutoff_m=5.0, settle_frames=0)
    1.0
    """
    c, _ = _options(cutoff_m, 1)
    settle = check_count(settle_frames, "settle_frames", minimum=0)
    est = [
        _points(x, f"estimated_positions[{f}]")
        for f, x in enumerate(_sequence(estimated_positions, "estimated_positions"))
    ]
    tp, ti = _run(truth_positions, truth_ids, "truth")
    if len(est) != len(tp):
        raise ValueError(f"estimated_positions has {len(est)} frames, truth_positions {len(tp)}")
    first: dict[int, int] = {}
    sq = []
    for f in range(len(est)):
        for t in ti[f]:
            first.setdefault(int(t), f)
        _, cols, d = _assign(est[f], tp[f], c)
        age = np.array([f - first[int(ti[f][col])] for col in cols])
        sq.append(d[age >= settle] ** 2 if d.size else d)
    pooled = np.concatenate(sq)
    return float(np.sqrt(pooled.mean())) if pooled.size else float("nan")


@dataclass(frozen=True, repr=False)
class TrackingScores(Result):
    """The tracking metrics of one run.

    Attributes
    ----------
    gospa_m : float
        Mean GOSPA (alpha = 2) over the frames [m].
    ospa2_m : float
        Mean OSPA^(2) over the frames [m].
    id_switches : float
        Identity switches per true track per 100 frames.
    rmse_m : float
        Track RMSE after convergence [m] (NaN if nothing matched).
    gospa_per_frame, ospa2_per_frame : ndarray, shape (n_frames,), [m]
    n_switches : int
    """

    gospa_m: float
    ospa2_m: float
    id_switches: float
    rmse_m: float
    gospa_per_frame: np.ndarray
    ospa2_per_frame: np.ndarray
    n_switches: int


def tracking_scores(
    estimated_positions: Frames,
    estimated_ids: Frames,
    truth_positions: Frames,
    truth_ids: Frames,
    *,
    cutoff_m: float,
    order: float = 1,
    window: int = 10,
    settle_frames: int = 10,
) -> TrackingScores:
    """GOSPA, OSPA^(2), identity switches and RMSE after convergence of one run.

    Parameters
    ----------
    estimated_positions, estimated_ids, truth_positions, truth_ids
        As in :func:`ospa2`.
    cutoff_m, order, window, settle_frames
        As in :func:`gospa_per_frame`, :func:`ospa2` and :func:`track_rmse`.

    Returns
    -------
    TrackingScores
        Mean GOSPA, mean OSPA^(2), identity switches and RMSE of the run.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import tracking_scores
    >>> truth = [np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])]  # one target, two frames
    >>> tracks = [np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]])]  # one track, 1 m off
    >>> ids = [np.array([7]), np.array([7])]
    >>> s = tracking_scores(tracks, ids, truth, ids, cutoff_m=5.0, settle_frames=0)
    >>> s.gospa_m, s.ospa2_m, s.n_switches, s.rmse_m
    (1.0, 1.0, 0, 1.0)
    """
    g = gospa_per_frame(estimated_positions, truth_positions, cutoff_m=cutoff_m, order=order)
    o = ospa2(
        estimated_positions,
        estimated_ids,
        truth_positions,
        truth_ids,
        cutoff_m=cutoff_m,
        order=order,
        window=window,
    )
    s = identity_switches(
        estimated_positions, estimated_ids, truth_positions, truth_ids, cutoff_m=cutoff_m
    )
    rmse = track_rmse(
        estimated_positions,
        truth_positions,
        truth_ids,
        cutoff_m=cutoff_m,
        settle_frames=settle_frames,
    )
    return TrackingScores(
        gospa_m=g.mean_m,
        ospa2_m=float(o.mean()),
        id_switches=s.per_track_per_100_frames,
        rmse_m=rmse,
        gospa_per_frame=np.asarray(g.distance_m),
        ospa2_per_frame=o,
        n_switches=s.n_switches,
    )
