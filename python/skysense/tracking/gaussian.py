"""Gaussian beliefs: one Kalman mean and covariance per potential target (C++ stages).

The legacy-target update (T7) is a mixture of the predicted belief (missed detection) and one
Kalman update per gated measurement, weighted by the BP messages; it is collapsed to one
Gaussian by moment matching, so the belief stays one mean and one covariance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skysense.tracking._kernels import check_engine, kernels
from skysense.tracking.base import Births, Evaluation, Initiator, Predictor, Updater
from skysense.tracking.models import BirthModel, ConstantVelocity, Measurements, PositionSensor
from skysense.tracking.state import GaussianTargets, Targets

__all__ = ["KalmanInitiator", "KalmanPredictor", "KalmanUpdater"]


def _check_targets(targets: object) -> GaussianTargets:
    if not isinstance(targets, GaussianTargets):
        raise TypeError(f"targets must be GaussianTargets, got {type(targets).__name__}")
    return targets


@dataclass(frozen=True)
class KalmanPredictor(Predictor):
    """Near-constant-velocity prediction of Gaussian beliefs (T1).

    Parameters
    ----------
    motion : ConstantVelocity
        Motion model (its white acceleration noise).
    survival_probability : float
        p_s per frame.
    engine : {"cpp", "numpy"}
        Kernel implementation: C++ or the NumPy reference (the same results).
    """

    motion: ConstantVelocity = field(default_factory=ConstantVelocity)
    survival_probability: float = 0.99
    engine: str = "cpp"

    def __post_init__(self) -> None:
        from skysense.tracking.models import _probability

        _probability(self.survival_probability, "survival_probability", open_interval=False)
        check_engine(self.engine)

    def predict(
        self, targets: Targets, interval_s: float, *, rng: np.random.Generator | None = None
    ) -> GaussianTargets:
        t = _check_targets(targets)
        f, q = self.motion.matrices(interval_s, t.n_dims)
        x, p, r = kernels(self.engine).tracking_predict_gaussian(
            mean=t.states,
            cov=t.covariances,
            existence=t.existence,
            transition=f,
            noise_cov=q,
            survival=self.survival_probability,
        )
        return GaussianTargets(x, p, r, t.track_id)


@dataclass(frozen=True)
class KalmanUpdater(Updater):
    """Gated Gaussian measurement evaluation (T2, T3) and moment-matched update (T7, T8).

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    engine : {"cpp", "numpy"}
        Kernel implementation: C++ or the NumPy reference (the same results).
    """

    sensor: PositionSensor
    engine: str = "cpp"

    def __post_init__(self) -> None:
        check_engine(self.engine)

    def evaluate(self, targets: Targets, measurements: Measurements) -> Evaluation:
        t = _check_targets(targets)
        beta, ratio = kernels(self.engine).tracking_evaluate_gaussian(
            mean=t.states,
            cov=t.covariances,
            existence=t.existence,
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            clutter=measurements.clutter_intensity,
            detection_probability=self.sensor.detection_probability,
            gate=self.sensor.gate,
        )
        return Evaluation(beta, ratio)

    def update(
        self,
        targets: Targets,
        measurements: Measurements,
        evaluation: Evaluation,
        measurement_to_target: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
    ) -> GaussianTargets:
        t = _check_targets(targets)
        x, p, r = kernels(self.engine).tracking_update_gaussian(
            mean=t.states,
            cov=t.covariances,
            existence=t.existence,
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            ratio=evaluation.likelihood_ratio,
            kappa=np.ascontiguousarray(measurement_to_target, dtype=np.float64),
            detection_probability=self.sensor.detection_probability,
        )
        return GaussianTargets(x, p, r, t.track_id)


@dataclass(frozen=True)
class KalmanInitiator(Initiator):
    """One new Gaussian potential target per measurement (T9): position N(z_m, R_m), velocity
    N(0, velocity_std^2 I).

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    births : BirthModel
        Birth rate and velocity spread of the new potential targets.
    """

    sensor: PositionSensor
    births: BirthModel = field(default_factory=BirthModel)

    def initiate(
        self, measurements: Measurements, *, rng: np.random.Generator | None = None
    ) -> Births:
        m, d = measurements.positions_m.shape
        states = np.concatenate([measurements.positions_m, np.zeros((m, d))], axis=1)
        cov = np.zeros((m, 2 * d, 2 * d))
        cov[:, :d, :d] = measurements.covariance_m2
        cov[:, d:, d:] = self.births.velocity_std_mps**2 * np.eye(d)
        targets = GaussianTargets(states, cov, np.zeros(m), np.full(m, -1, np.int64))
        return Births(targets, self.births.clutter_weights(self.sensor, measurements))
