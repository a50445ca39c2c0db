"""Baselines with the streaming-tracker interface (``update(detections) -> Tracks``, ``reset()``):
no tracking (each frame's detections are the estimate) and Stone Soup's JPDA tracker.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np

from skysense.tracking.state import Detections, Tracks
from skysense.tracking.tracker import TrackerConfig

__all__ = ["PerFrameTracker", "StoneSoupTracker"]

_STONESOUP_HINT = (
    "the Stone Soup peer needs the optional 'stonesoup' package: "
    "pip install 'skysense[tracking-peer]' (or pip install stonesoup)"
)


def _check(detections: object) -> Detections:
    if detections is None:
        return Detections.empty()
    if not isinstance(detections, Detections):
        raise TypeError(f"detections must be Detections, got {type(detections).__name__}")
    return detections


class PerFrameTracker:
    """No tracking: every detection of a frame is reported, with an identity of its own.

    Parameters
    ----------
    frame_rate_hz : float
        Sets ``Tracks.time_s``.
    """

    def __init__(self, frame_rate_hz: float = 10.0) -> None:
        from skysense._validation import check_positive

        self.frame_rate_hz = check_positive(frame_rate_hz, "frame_rate_hz")
        self.reset()

    def reset(self) -> None:
        self._next_id = 0
        self._frame = 0

    def update(self, detections: Detections | None) -> Tracks:
        det = _check(detections)
        n = det.n_detections
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        time_s = self._frame / self.frame_rate_hz
        self._frame += 1
        return Tracks(ids, det.positions_m.copy(), np.zeros((n, 3)), np.ones(n), time_s)


class StoneSoupTracker:
    """Stone Soup's JPDA multitarget tracker on the same detections and model (the peer).

    Configured as Stone Soup's JPDA tutorial does: Kalman predictor and updater on the same
    near-constant-velocity model and measurement covariance, ``PDAHypothesiser`` with the
    same detection probability and clutter density, exact JPDA association computed by
    efficient hypothesis management (``JPDAwithEHM2``; the plain ``JPDA`` enumerates every
    joint hypothesis and took minutes per frame here) inside
    ``MultiTargetMixtureTracker``, ``MultiMeasurementInitiator`` (GNN with a Mahalanobis
    distance hypothesiser, missed distance 3), and a ``CovarianceBasedDeleter`` on the
    position covariance. The tutorial's two-point initiation and a loose deleter make many
    false tracks from the imagers' clutter; ``min_points=4`` and deletion when the position
    std exceeds 2 ``position_std_m`` were the best of {2, 3, 4} x {2, 3} on the runs the BP
    tracker's defaults were chosen on (docs/tracking.md).

    Parameters
    ----------
    config : TrackerConfig
        Model parameters shared with the BP tracker.
    position_std_m : float
        Measurement std per axis [m] (the calibrated detector's).
    delete_std_m : float, optional
        Position std per axis above which a track is deleted; default 2 ``position_std_m``.
    min_points : int
        Detections a tentative track needs before it is confirmed.
    """

    def __init__(
        self,
        config: TrackerConfig,
        position_std_m: float,
        *,
        delete_std_m: float | None = None,
        min_points: int = 4,
    ) -> None:
        try:
            import stonesoup  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(_STONESOUP_HINT) from exc
        from skysense._validation import check_count, check_positive

        if not isinstance(config, TrackerConfig):
            raise TypeError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.config = config
        self.position_std_m = check_positive(position_std_m, "position_std_m")
        self.delete_std_m = check_positive(
            2.0 * self.position_std_m if delete_std_m is None else delete_std_m, "delete_std_m"
        )
        self.min_points = check_count(min_points, "min_points")
        self.reset()

    def _build(self) -> Any:
        from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
        from stonesoup.dataassociator.probability import JPDAwithEHM2
        from stonesoup.deleter.error import CovarianceBasedDeleter
        from stonesoup.hypothesiser.distance import DistanceHypothesiser
        from stonesoup.hypothesiser.probability import PDAHypothesiser
        from stonesoup.initiator.simple import MultiMeasurementInitiator
        from stonesoup.measures import Mahalanobis
        from stonesoup.models.measurement.linear import LinearGaussian
        from stonesoup.models.transition.linear import (
            CombinedLinearGaussianTransitionModel,
            ConstantVelocity,
        )
        from stonesoup.predictor.kalman import KalmanPredictor
        from stonesoup.tracker.simple import MultiTargetMixtureTracker
        from stonesoup.types.state import GaussianState
        from stonesoup.updater.kalman import KalmanUpdater

        cfg = self.config
        d = cfg.region.n_dims
        q = cfg.acceleration_std_mps2**2
        transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(q)] * d)
        self._mapping = tuple(2 * a for a in range(d))  # Stone Soup orders [x, vx, y, vy, ...]
        measurement = LinearGaussian(
            ndim_state=2 * d, mapping=self._mapping, noise_covar=self.position_std_m**2 * np.eye(d)
        )
        predictor = KalmanPredictor(transition)
        updater = KalmanUpdater(measurement)
        hypothesiser = PDAHypothesiser(
            predictor=predictor,
            updater=updater,
            clutter_spatial_density=cfg.clutter_rate / cfg.region.measure,
            prob_detect=cfg.detection_probability,
        )
        deleter = CovarianceBasedDeleter(
            covar_trace_thresh=d * self.delete_std_m**2, mapping=list(self._mapping)
        )
        prior_var = np.zeros(2 * d)
        prior_var[0::2] = self.position_std_m**2
        prior_var[1::2] = cfg.birth_velocity_std_mps**2
        initiator = MultiMeasurementInitiator(
            prior_state=GaussianState(np.zeros((2 * d, 1)), np.diag(prior_var)),
            measurement_model=measurement,
            deleter=deleter,
            data_associator=GNNWith2DAssignment(
                DistanceHypothesiser(predictor, updater, Mahalanobis(), missed_distance=3)
            ),
            updater=updater,
            min_points=self.min_points,
        )
        self._measurement = measurement
        return MultiTargetMixtureTracker(
            initiator=initiator,
            deleter=deleter,
            detector=None,
            data_associator=JPDAwithEHM2(hypothesiser=hypothesiser),
            updater=updater,
        )

    def reset(self) -> None:
        self._tracker = self._build()
        self._ids: dict[str, int] = {}
        self._frame = 0
        self._t0 = datetime.datetime(2026, 1, 1)

    def update(self, detections: Detections | None) -> Tracks:
        from stonesoup.types.detection import Detection

        det = _check(detections)
        d = self.config.region.n_dims
        now = self._t0 + datetime.timedelta(seconds=self._frame / self.config.frame_rate_hz)
        self._frame += 1
        frame = {
            Detection(p[:d].reshape(-1, 1), timestamp=now, measurement_model=self._measurement)
            for p in det.positions_m
        }
        _, tracks = self._tracker.update_tracker(now, frame)
        tracks = sorted(tracks, key=lambda t: t.id)
        n = len(tracks)
        pos = np.zeros((n, 3))
        vel = np.zeros((n, 3))
        ids = np.empty(n, np.int64)
        for i, track in enumerate(tracks):
            x = np.asarray(track.state_vector, dtype=float).ravel()
            pos[i, :d] = x[0::2]
            vel[i, :d] = x[1::2]
            ids[i] = self._ids.setdefault(track.id, len(self._ids))
        if d == 2:
            pos[:, 2] = self.config.region.lower_m[2]
        return Tracks(ids, pos, vel, np.ones(n), (self._frame - 1) / self.config.frame_rate_hz)
