"""Fixed-lag Rauch-Tung-Striebel smoothing of the tracks of a run (docs/tracking.md).

A filter's position at frame t uses the detections up to t only; the smoothed position at
frame t also uses those of frames t + 1 .. t + ``lag_frames`` of the same track (the
Rauch-Tung-Striebel backward pass of the near-constant-velocity model, run from frame
``t + lag_frames`` back to t on the track's filtered Gaussian). In a stream the smoothed
position of frame t is known ``lag_frames`` frames later.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skysense._validation import check_count
from skysense.tracking.models import ConstantVelocity
from skysense.tracking.run import TrackHistory

__all__ = ["smooth_history"]


def smooth_history(
    history: TrackHistory,
    motion: ConstantVelocity,
    interval_s: float,
    *,
    lag_frames: int = 5,
) -> TrackHistory:
    """Fixed-lag RTS smoothing of every track of a run.

    Parameters
    ----------
    history : TrackHistory
        A run of a tracker that reports ``Tracks.state_covariance``
        (:class:`~skysense.tracking.BPTracker`).
    motion : ConstantVelocity
        The tracker's motion model (``TrackerConfig.acceleration_std_mps2``).
    interval_s : float
        Frame interval [s].
    lag_frames : int
        Frames of future detections each smoothed position uses (>= 0; 0 returns the
        filtered positions). A track's last frames use the frames it has.

    Returns
    -------
    TrackHistory
        The same tracks, ids and existence with smoothed positions and velocities (and the
        smoothed covariances); ``step_s`` is the filter's.

    Raises
    ------
    ValueError
        The history carries no state covariances (a baseline's run).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.tracking import (BPTracker, Detections, SurveillanceRegion,
    ...     TrackerConfig, track_frames)
    >>> region = SurveillanceRegion((0.0, 0.0, 50.0), (60.0, 60.0, 50.0))
    >>> config = TrackerConfig(region, detection_probability=0.9, clutter_rate=0.1)
    >>> frames = [Detections(np.array([[10.0 + f, 30.0, 50.0]]), np.diag([1.0, 1.0, 0.0])[None],
    ...                      np.ones(1)) for f in range(20)]
    >>> h = track_frames(BPTracker.from_config(config), frames)
    >>> s = smooth_history(h, ConstantVelocity(config.acceleration_std_mps2),
    ...                    config.interval_s, lag_frames=5)
    >>> [len(p) for p in s.positions_m] == [len(p) for p in h.positions_m]
    True
    """
    if not isinstance(history, TrackHistory):
        raise TypeError(f"history must be a TrackHistory, got {type(history).__name__}")
    if not isinstance(motion, ConstantVelocity):
        raise TypeError(f"motion must be a ConstantVelocity, got {type(motion).__name__}")
    lag = check_count(lag_frames, "lag_frames", minimum=0)
    n = history.n_frames
    covs = history.state_covariance
    if len(covs) != n or len(history.velocities_mps) != n or any(c is None for c in covs):
        raise ValueError(
            "history carries no state covariances: smooth the run of a BPTracker "
            "(track_frames records Tracks.state_covariance)"
        )
    dims = {c.shape[1] // 2 for c in covs if c is not None and c.shape[0]}
    if not dims:
        return history
    if len(dims) != 1:
        raise ValueError(f"state_covariance changes dimension within the run: {sorted(dims)}")
    d = dims.pop()
    f_mat, q_mat = motion.matrices(interval_s, d)
    # filtered state and covariance of each track, by frame
    filt: dict[int, list[tuple[int, int]]] = {}  # track id -> [(frame, row)]
    for f in range(n):
        for k, tid in enumerate(history.track_id[f]):
            filt.setdefault(int(tid), []).append((f, k))
    pos = [p.copy() for p in history.positions_m]
    vel = [v.copy() for v in history.velocities_mps]
    out_cov = [np.array(c, copy=True) for c in covs if c is not None]
    for rows in filt.values():
        # split the track into runs of consecutive frames (a track may leave the report)
        frames = np.array([f for f, _ in rows])
        breaks = np.flatnonzero(np.diff(frames) != 1) + 1
        for seg in np.split(np.arange(len(rows)), breaks):
            fk = [rows[i] for i in seg]
            x = np.stack(
                [
                    np.r_[history.positions_m[f][k, :d], history.velocities_mps[f][k, :d]]
                    for f, k in fk
                ]
            )
            p = np.stack([covs[f][k] for f, k in fk])  # type: ignore[index]
            xs, ps = _fixed_lag_rts(x, p, f_mat, q_mat, lag)
            for (f, k), xi, pi in zip(fk, xs, ps, strict=True):
                pos[f][k, :d] = xi[:d]
                vel[f][k, :d] = xi[d:]
                out_cov[f][k] = pi
    return replace(history, positions_m=pos, velocities_mps=vel, state_covariance=list(out_cov))


def _fixed_lag_rts(
    x: np.ndarray, p: np.ndarray, f_mat: np.ndarray, q_mat: np.ndarray, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-lag RTS of one run of consecutive filtered states ``x`` (n, s), ``p`` (n, s, s):
    frame t is smoothed from frame ``min(t + lag, n - 1)`` back (all frames at once)."""
    n = x.shape[0]
    pred_x = x @ f_mat.T  # F x_u
    pred_p = f_mat @ p @ f_mat.T + q_mat  # F P_u F^T + Q
    # RTS gains G_u = P_u F^T (F P_u F^T + Q)^-1 (the predicted covariance is symmetric)
    gain = np.swapaxes(np.linalg.solve(pred_p, f_mat @ p), 1, 2)
    t = np.arange(n)
    end = np.minimum(t + lag, n - 1)
    xs, ps = x[end].copy(), p[end].copy()
    for j in range(min(lag, n - 1), 0, -1):  # step from frame t + j back to t + j - 1
        act = np.flatnonzero(end - t >= j)
        u = t[act] + j - 1
        g = gain[u]
        xs[act] = x[u] + np.einsum("kij,kj->ki", g, xs[act] - pred_x[u])
        ps[act] = p[u] + g @ (ps[act] - pred_p[u]) @ np.swapaxes(g, 1, 2)
    return xs, ps
