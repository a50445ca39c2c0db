"""Particle beliefs: equally weighted particles per potential target (C++ stages).

Each stage draws its randomness from a seed taken from the caller's generator; the kernel
derives one stream per potential target from it, so results do not depend on ``workers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skysense._validation import check_count
from skysense._workers import resolve_workers
from skysense.tracking._kernels import check_engine, kernels
from skysense.tracking.base import Births, Evaluation, Initiator, Predictor, Updater
from skysense.tracking.models import BirthModel, ConstantVelocity, Measurements, PositionSensor
from skysense.tracking.state import ParticleTargets, Targets

__all__ = ["ParticleInitiator", "ParticlePredictor", "ParticleUpdater"]

_SEED_BOUND = 2**63


def _check_targets(targets: object) -> ParticleTargets:
    if not isinstance(targets, ParticleTargets):
        raise TypeError(f"targets must be ParticleTargets, got {type(targets).__name__}")
    return targets


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(_SEED_BOUND))


def _noise_cholesky(q: np.ndarray) -> np.ndarray:
    """Lower factor L with L L^T = Q for a positive semi-definite Q (zero noise allowed)."""
    w, v = np.linalg.eigh(q)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    # QR of root^T gives root = L' Q' with L' lower triangular: L L^T = root root^T = Q
    _, r = np.linalg.qr(root.T)
    return np.ascontiguousarray(r.T)


@dataclass(frozen=True)
class ParticlePredictor(Predictor):
    """Near-constant-velocity prediction of particle beliefs (T1).

    Parameters
    ----------
    motion : ConstantVelocity
        Motion model (its white acceleration noise).
    survival_probability : float
        p_s per frame.
    workers : int, optional
        Threads over the potential targets (results do not depend on it).
    engine : {"cpp", "numpy"}
        Kernel implementation: C++ or the NumPy reference (the same results).
    """

    motion: ConstantVelocity = field(default_factory=ConstantVelocity)
    survival_probability: float = 0.99
    workers: int | None = None
    engine: str = "cpp"

    def __post_init__(self) -> None:
        from skysense.tracking.models import _probability

        _probability(self.survival_probability, "survival_probability", open_interval=False)
        check_engine(self.engine)

    def predict(
        self, targets: Targets, interval_s: float, *, rng: np.random.Generator
    ) -> ParticleTargets:
        t = _check_targets(targets)
        f, q = self.motion.matrices(interval_s, t.n_dims)
        x, r = kernels(self.engine).tracking_predict_particles(
            particles=t.particles,
            existence=t.existence,
            transition=f,
            noise_chol=_noise_cholesky(q),
            survival=self.survival_probability,
            seed=_seed(rng),
            n_threads=resolve_workers(self.workers),
        )
        return ParticleTargets(x, r, t.track_id)


@dataclass(frozen=True)
class ParticleUpdater(Updater):
    """Particle measurement evaluation (T2, T3) and reweighting with resampling (T7, T8).

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    workers : int, optional
        Threads over the potential targets (results do not depend on it).
    engine : {"cpp", "numpy"}
        Kernel implementation: C++ or the NumPy reference (the same results).
    """

    sensor: PositionSensor
    workers: int | None = None
    engine: str = "cpp"

    def __post_init__(self) -> None:
        check_engine(self.engine)

    def evaluate(self, targets: Targets, measurements: Measurements) -> Evaluation:
        t = _check_targets(targets)
        beta, ratio, lik, connected = kernels(self.engine).tracking_evaluate_particles(
            particles=t.particles,
            existence=t.existence,
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            clutter=measurements.clutter_intensity,
            detection_probability=self.sensor.detection_probability,
            gate=self.sensor.gate,
            n_threads=resolve_workers(self.workers),
        )
        return Evaluation(beta, ratio, lik, connected)

    def update(
        self,
        targets: Targets,
        measurements: Measurements,
        evaluation: Evaluation,
        measurement_to_target: np.ndarray,
        *,
        rng: np.random.Generator,
    ) -> ParticleTargets:
        t = _check_targets(targets)
        lik, gated = evaluation.particle_likelihood_ratio, evaluation.gated
        if lik is None or gated is None:
            raise ValueError(
                "evaluation must come from ParticleUpdater.evaluate (particle_likelihood_ratio, "
                "gated)"
            )
        x, r = kernels(self.engine).tracking_update_particles(
            particles=t.particles,
            existence=t.existence,
            lik=lik,
            connected=gated,
            kappa=np.ascontiguousarray(measurement_to_target, dtype=np.float64),
            detection_probability=self.sensor.detection_probability,
            seed=_seed(rng),
            n_threads=resolve_workers(self.workers),
        )
        return ParticleTargets(x, r, t.track_id)


@dataclass(frozen=True)
class ParticleInitiator(Initiator):
    """One new particle potential target per measurement (T9).

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    births : BirthModel
        Birth rate and velocity spread of the new potential targets.
    n_particles : int
        Particles per new potential target.
    workers : int, optional
        Threads over the potential targets (results do not depend on it).
    engine : {"cpp", "numpy"}
        Kernel implementation: C++ or the NumPy reference (the same results).
    """

    sensor: PositionSensor
    births: BirthModel = field(default_factory=BirthModel)
    n_particles: int = 1000
    workers: int | None = None
    engine: str = "cpp"

    def __post_init__(self) -> None:
        check_count(self.n_particles, "n_particles")
        check_engine(self.engine)

    def initiate(self, measurements: Measurements, *, rng: np.random.Generator) -> Births:
        x = kernels(self.engine).tracking_birth_particles(
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            n_particles=self.n_particles,
            velocity_std=self.births.velocity_std_mps,
            seed=_seed(rng),
            n_threads=resolve_workers(self.workers),
        )
        m = measurements.n_measurements
        targets = ParticleTargets(x, np.zeros(m), np.full(m, -1, np.int64))
        return Births(targets, self.births.clutter_weights(self.sensor, measurements))
