"""Run a streaming tracker over a sequence of detection frames, timing each step."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from skysense._results import Result
from skysense.tracking.base import FrameTracker
from skysense.tracking.state import Detections

__all__ = ["TrackHistory", "track_frames"]


@dataclass(frozen=True, repr=False)
class TrackHistory(Result):
    """Tracks of every frame of a run (ragged: one array per frame).

    Attributes
    ----------
    positions_m : list of ndarray, each shape (n_tracks_f, 3), float64, [m]
    track_id : list of ndarray, each shape (n_tracks_f,), int64
    existence : list of ndarray, each shape (n_tracks_f,), float64
    step_s : ndarray, shape (n_frames,), float64, [s]
        Wall time of each ``update`` call.
    velocities_mps : list of ndarray, each shape (n_tracks_f, 3), float64, [m/s]
        Empty list if not recorded.
    state_covariance : list of (ndarray, shape (n_tracks_f, 2 D, 2 D), or None)
        ``Tracks.state_covariance`` of each frame (None entries for trackers without one);
        empty list if not recorded.
    mode_probabilities : list of (ndarray, shape (n_tracks_f, n_modes), or None)
        ``Tracks.mode_probabilities`` of each frame (IMM trackers); empty list if not
        recorded.
    """

    positions_m: list[np.ndarray]
    track_id: list[np.ndarray]
    existence: list[np.ndarray]
    step_s: np.ndarray
    velocities_mps: list[np.ndarray] = field(default_factory=list)
    state_covariance: list[np.ndarray | None] = field(default_factory=list)
    mode_probabilities: list[np.ndarray | None] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return len(self.positions_m)

    @property
    def ms_per_frame(self) -> float:
        """Median wall time of one step [ms]."""
        return 1e3 * float(np.median(self.step_s))


def track_frames(tracker: FrameTracker, detections: Sequence[Detections | None]) -> TrackHistory:
    """Reset ``tracker`` and feed it every frame of ``detections``.

    Parameters
    ----------
    tracker : object with ``reset()`` and ``update(detections) -> Tracks``
        :class:`~skysense.tracking.BPTracker` or a baseline.
    detections : sequence of Detections
        One per frame (``None``: no detections in that frame).

    Returns
    -------
    TrackHistory
        Track positions, ids and existence per frame and the wall time of each step [s].
    """
    tracker.reset()
    pos, ids, ex, vel = [], [], [], []
    cov: list[np.ndarray | None] = []
    modes: list[np.ndarray | None] = []
    step = np.empty(len(detections))
    for f, det in enumerate(detections):
        t0 = time.perf_counter()
        tracks = tracker.update(det)
        step[f] = time.perf_counter() - t0
        pos.append(tracks.positions_m)
        ids.append(tracks.track_id)
        ex.append(tracks.existence)
        vel.append(tracks.velocities_mps)
        cov.append(tracks.state_covariance)
        modes.append(tracks.mode_probabilities)
    return TrackHistory(pos, ids, ex, step, vel, cov, modes)
