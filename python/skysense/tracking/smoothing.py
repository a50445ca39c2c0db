"""Fixed-lag Rauch-Tung-Striebel smoothing of the tracks of a run (docs/tracking.md).

A filter's position at frame t uses the detections up to t only; the smoothed position at
frame t also uses those of frames t + 1 .. t + ``lag_frames`` of the same track (the
Rauch-Tung-Striebel backward pass of the near-constant-velocity model, run from frame
``t + lag_frames`` back to t on the track's filtered Gaussian). In a stream the smoothed
position of frame t is known ``lag_frames`` frames later.

An IMM tracker's tracks are smoothed on the merged (mode-mixture) estimate: its modes share
the transition F, and the process noise of the step from frame t is the mixture of the modes'
``Q_j`` with the predicted mode probabilities ``c = mu_t P`` of that track at frame t.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from skysense._validation import check_count
from skysense.tracking.models import ConstantVelocity, ModeSwitching
from skysense.tracking.run import TrackHistory

__all__ = ["smooth_history"]


def smooth_history(
    history: TrackHistory,
    motion: ConstantVelocity | ModeSwitching,
    interval_s: float,
    *,
    lag_frames: int = 5,
    confirm_threshold: float | None = None,
) -> TrackHistory:
    """Fixed-lag RTS smoothing of every track of a run.

    Parameters
    ----------
    history : TrackHistory
        A run of a tracker that reports ``Tracks.state_covariance``
        (:class:`~skysense.tracking.BPTracker`).
    motion : ConstantVelocity or ModeSwitching
        The tracker's motion model (``TrackerConfig.motion()``); with ``ModeSwitching`` the
        history must carry the tracks' mode probabilities (an IMM tracker's run).
    interval_s : float
        Frame interval [s].
    lag_frames : int
        Frames of future detections each smoothed position uses (>= 0; 0 returns the
        filtered positions). A track's last frames use the frames it has.
    confirm_threshold : float, optional
        Fixed-lag confirmation: keep a track at frame t only if its existence exceeds this
        at some frame t .. t + ``lag_frames`` (consecutively reported). With a history that
        also holds tentative tracks (a tracker with a lower ``confirm_threshold``), a track is
        reported from its first frames instead of after its confirmation delay, and short
        dips of a track's existence are bridged. None keeps every row of the history.

    Returns
    -------
    TrackHistory
        The same tracks, ids and existence (less the rows that ``confirm_threshold`` drops)
        with smoothed positions and velocities (and the smoothed covariances); ``step_s`` is
        the filter's.

    Raises
    ------
    ValueError
        The history carries no state covariances (a baseline's run), or no mode
        probabilities for a ``ModeSwitching`` motion.

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
    if not isinstance(motion, ConstantVelocity | ModeSwitching):
        raise TypeError(
            f"motion must be a ConstantVelocity or a ModeSwitching, got {type(motion).__name__}"
        )
    lag = check_count(lag_frames, "lag_frames", minimum=0)
    if confirm_threshold is not None:
        from skysense.tracking.models import _probability

        _probability(confirm_threshold, "confirm_threshold")
    n = history.n_frames
    covs = history.state_covariance
    if len(covs) != n or len(history.velocities_mps) != n or any(c is None for c in covs):
        raise ValueError(
            "history carries no state covariances: smooth the run of a BPTracker "
            "(track_frames records Tracks.state_covariance)"
        )
    if isinstance(motion, ModeSwitching) and (
        len(history.mode_probabilities) != n or any(m is None for m in history.mode_probabilities)
    ):
        raise ValueError(
            "history carries no mode probabilities: smooth with ModeSwitching the run of "
            "an IMM BPTracker (TrackerConfig.modes)"
        )
    dims = {c.shape[1] // 2 for c in covs if c is not None and c.shape[0]}
    if not dims:
        return history
    if len(dims) != 1:
        raise ValueError(f"state_covariance changes dimension within the run: {sorted(dims)}")
    d = dims.pop()
    p = np.concatenate([c for c in covs if c is not None])
    q_mat: np.ndarray
    if isinstance(motion, ConstantVelocity):
        f_mat, q_mat = motion.matrices(interval_s, d)
    else:
        mode_rows = history.mode_probabilities
        f_all, q_all = motion.matrices(interval_s, d)
        f_mat = f_all[0]
        # per row: Q of the next step, mixed with the predicted mode probabilities mu P
        mu = np.concatenate([m for m in mode_rows if m is not None])
        if mu.shape[1] != motion.n_modes:
            raise ValueError(f"history has {mu.shape[1]} motion modes, motion {motion.n_modes}")
        q_mat = np.einsum("nj,jab->nab", mu @ motion.switching_matrix, q_all)
    # every (frame, track) row of the run, flat: state, covariance, and the row of the same
    # track in the next frame (-1 if it is not reported there)
    counts = np.array([ids.size for ids in history.track_id])
    start = np.r_[0, np.cumsum(counts)]
    x = np.concatenate(
        [np.c_[history.positions_m[f][:, :d], history.velocities_mps[f][:, :d]] for f in range(n)]
    )
    nxt = np.full(x.shape[0], -1, dtype=np.int64)
    for f in range(n - 1):
        here, there = history.track_id[f], history.track_id[f + 1]
        _, i, j = np.intersect1d(here, there, assume_unique=True, return_indices=True)
        nxt[start[f] + i] = start[f + 1] + j
    chain = _successors(nxt, lag)
    xs, ps = _fixed_lag_rts(x, p, chain, f_mat, q_mat)
    keep = np.ones(x.shape[0], dtype=bool)
    if confirm_threshold is not None:  # the largest existence within the lag, per row
        ex = np.concatenate(history.existence)
        best = ex.copy()
        for later in chain[1:]:
            ok = later >= 0
            best[ok] = np.maximum(best[ok], ex[later[ok]])
        keep = best > confirm_threshold
    pos, vel, ids, exist, out_cov = [], [], [], [], []
    out_modes: list[np.ndarray | None] = []
    for f in range(n):
        rows = np.flatnonzero(keep[start[f] : start[f + 1]])
        pf = history.positions_m[f][rows].copy()
        vf = history.velocities_mps[f][rows].copy()
        pf[:, :d] = xs[start[f] + rows, :d]
        vf[:, :d] = xs[start[f] + rows, d:]
        pos.append(pf)
        vel.append(vf)
        ids.append(history.track_id[f][rows])
        exist.append(history.existence[f][rows])
        out_cov.append(ps[start[f] + rows])
        if len(history.mode_probabilities) == n:
            mu_f = history.mode_probabilities[f]
            out_modes.append(None if mu_f is None else mu_f[rows])
    return replace(
        history,
        positions_m=pos,
        velocities_mps=vel,
        track_id=ids,
        existence=exist,
        state_covariance=list(out_cov),
        mode_probabilities=out_modes,
    )


def _successors(nxt: np.ndarray, lag: int) -> list[np.ndarray]:
    """``chain[j][i]``: the row j frames after row i along its track (-1: the track ended),
    for j = 0 .. lag, from the next-frame rows ``nxt``."""
    chain = [np.arange(nxt.shape[0])]
    for _ in range(lag):
        prev = chain[-1]
        chain.append(np.where(prev >= 0, nxt[np.maximum(prev, 0)], -1))
    return chain


def _fixed_lag_rts(
    x: np.ndarray,
    p: np.ndarray,
    chain: list[np.ndarray],
    f_mat: np.ndarray,
    q_mat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-lag RTS of filtered states ``x`` (N, s) and covariances ``p`` (N, s, s) whose
    successors along their tracks are ``chain`` (:func:`_successors`): each row is smoothed
    from its last successor within ``lag`` steps back to itself, all rows at once. ``q_mat``
    is one (s, s) process noise or one per row (N, s, s)."""
    pred_x = x @ f_mat.T  # F x_u
    pred_p = f_mat @ p @ f_mat.T + q_mat  # F P_u F^T + Q
    # RTS gains G_u = P_u F^T (F P_u F^T + Q)^-1 (the predicted covariance is symmetric)
    gain = np.swapaxes(np.linalg.solve(pred_p, f_mat @ p), 1, 2)
    lag = len(chain) - 1
    rows = chain[0]
    steps = np.zeros(x.shape[0], dtype=np.int64)  # frames of smoothing data of each row
    for j in range(1, lag + 1):
        steps[chain[j] >= 0] = j
    end = np.stack(chain)[steps, rows]
    xs, ps = x[end].copy(), p[end].copy()
    for j in range(lag, 0, -1):  # step from frame i + j back to i + j - 1
        act = np.flatnonzero(steps >= j)
        if not act.size:
            continue
        u = chain[j - 1][act]
        g = gain[u]
        xs[act] = x[u] + np.einsum("kij,kj->ki", g, xs[act] - pred_x[u])
        ps[act] = p[u] + g @ (ps[act] - pred_p[u]) @ np.swapaxes(g, 1, 2)
    return xs, ps
