"""Interacting-multiple-model (IMM) Gaussian beliefs inside BP data association
(docs/tracking.md, section 3).

Each potential target carries one Kalman mean and covariance per motion mode and the mode
probabilities (:class:`~skysense.tracking.IMMTargets`). Per frame:

- prediction (T1): the IMM mixing step (Bar-Shalom's interaction) then one Kalman prediction
  per mode with that mode's F and Q, through the same C++ stage as the single-model tracker;
- evaluation (T2, T3): the per-mode likelihood ratios, and the target's ratio is their mixture
  with the predicted mode probabilities, so BP associates with the mode-mixture likelihood;
- update (T7, T8): per mode, the moment-matched mixture of the missed-detection and the
  Kalman-updated beliefs weighted by the BP messages (the same C++ stage); the mode
  probabilities are the predicted ones times each mode's total weight, normalised.

With one mode every step reduces to the single-model Gaussian tracker (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skysense.tracking._kernels import check_engine, kernels
from skysense.tracking.base import Births, Evaluation, Initiator, Predictor, Updater
from skysense.tracking.gaussian import KalmanInitiator
from skysense.tracking.models import BirthModel, Measurements, ModeSwitching, PositionSensor
from skysense.tracking.state import GaussianTargets, IMMTargets, Targets

__all__ = ["IMMInitiator", "IMMPredictor", "IMMUpdater", "imm_mix"]

#: Floor of a predicted mode probability (a mode that no mode switches into keeps its
#: mixing weights finite).
_TINY = 1e-300


def _check_targets(targets: object) -> IMMTargets:
    if not isinstance(targets, IMMTargets):
        raise TypeError(f"targets must be IMMTargets, got {type(targets).__name__}")
    return targets


def imm_mix(
    mode_states: np.ndarray,
    mode_covariances: np.ndarray,
    mode_probabilities: np.ndarray,
    switching: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IMM interaction (mixing) step of every target.

    ``c_j = sum_i p_ij mu_i`` (predicted mode probabilities), ``mu_{i|j} = p_ij mu_i / c_j``,
    ``x0_j = sum_i mu_{i|j} x_i``,
    ``P0_j = sum_i mu_{i|j} (P_i + (x_i - x0_j)(x_i - x0_j)^T)``.

    Parameters
    ----------
    mode_states : ndarray, shape (n_targets, n_modes, s)
    mode_covariances : ndarray, shape (n_targets, n_modes, s, s)
    mode_probabilities : ndarray, shape (n_targets, n_modes)
    switching : ndarray, shape (n_modes, n_modes)
        Markov matrix ``p_ij = P(mode j | previous mode i)``.

    Returns
    -------
    mixed_states, mixed_covariances, predicted_probabilities
        Shapes as the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[0.0, 1.0], [2.0, 1.0]]])
    >>> p = np.broadcast_to(np.eye(2), (1, 2, 2, 2))
    >>> x0, p0, c = imm_mix(x, p, np.array([[0.5, 0.5]]), np.eye(2))
    >>> bool(np.allclose(x0, x)), c.tolist()
    (True, [[0.5, 0.5]])
    """
    joint = mode_probabilities[:, :, None] * switching[None]  # (k, i, j): mu_i p_ij
    c = joint.sum(axis=1)
    mix = joint / np.maximum(c, _TINY)[:, None, :]  # mu_{i|j}
    x0 = np.einsum("kij,kis->kjs", mix, mode_states)
    dev = mode_states[:, :, None, :] - x0[:, None, :, :]  # (k, i, j, s)
    p0 = np.einsum("kij,kiab->kjab", mix, mode_covariances) + np.einsum(
        "kij,kija,kijb->kjab", mix, dev, dev
    )
    return x0, p0, c / c.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class IMMPredictor(Predictor):
    """IMM prediction (T1): mixing, then one Kalman prediction per motion mode.

    Parameters
    ----------
    motion : ModeSwitching
        The motion modes and their Markov switching.
    survival_probability : float
        p_s per frame.
    engine : {"cpp", "numpy"}
        Kernel of the per-mode Kalman prediction: C++ or the NumPy reference.
    """

    motion: ModeSwitching
    survival_probability: float = 0.99
    engine: str = "cpp"

    def __post_init__(self) -> None:
        from skysense.tracking.models import _probability

        if not isinstance(self.motion, ModeSwitching):
            raise TypeError(f"motion must be a ModeSwitching, got {type(self.motion).__name__}")
        _probability(self.survival_probability, "survival_probability", open_interval=False)
        check_engine(self.engine)

    def predict(
        self, targets: Targets, interval_s: float, *, rng: np.random.Generator | None = None
    ) -> IMMTargets:
        t = _check_targets(targets)
        if t.n_modes != self.motion.n_modes:
            raise ValueError(
                f"targets have {t.n_modes} modes, the motion model {self.motion.n_modes}"
            )
        f, q = self.motion.matrices(interval_s, t.n_dims)
        x0, p0, c = imm_mix(
            t.mode_states, t.mode_covariances, t.mode_probabilities, self.motion.switching_matrix
        )
        xs, ps = np.empty_like(x0), np.empty_like(p0)
        k = kernels(self.engine)
        for j in range(t.n_modes):
            xs[:, j], ps[:, j], _ = k.tracking_predict_gaussian(
                mean=np.ascontiguousarray(x0[:, j]),
                cov=np.ascontiguousarray(p0[:, j]),
                existence=t.existence,
                transition=f[j],
                noise_cov=q[j],
                survival=self.survival_probability,
            )
        return IMMTargets._trusted(
            mode_states=xs,
            mode_covariances=ps,
            mode_probabilities=c,
            existence=self.survival_probability * t.existence,
            track_id=t.track_id,
        )


def _flat(t: IMMTargets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mode components as rows ``(n_targets * n_modes, ...)`` for the single-model stages."""
    k, m, s = t.mode_states.shape
    return (
        t.mode_states.reshape(k * m, s),
        t.mode_covariances.reshape(k * m, s, s),
        np.repeat(t.existence, m),
    )


@dataclass(frozen=True)
class IMMUpdater(Updater):
    """IMM measurement evaluation (T2, T3: the mode-mixture likelihood) and update (T7, T8:
    per-mode moment-matched beliefs and mode probabilities).

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    engine : {"cpp", "numpy"}
        Kernel of the per-mode stages: C++ or the NumPy reference.
    """

    sensor: PositionSensor
    engine: str = "cpp"

    def __post_init__(self) -> None:
        check_engine(self.engine)

    def evaluate(self, targets: Targets, measurements: Measurements) -> Evaluation:
        t = _check_targets(targets)
        mean, cov, r = _flat(t)
        _, ratio = kernels(self.engine).tracking_evaluate_gaussian(
            mean=mean,
            cov=cov,
            existence=r,
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            clutter=measurements.clutter_intensity,
            detection_probability=self.sensor.detection_probability,
            gate=self.sensor.gate,
        )
        per_mode = ratio.reshape(t.n_targets, t.n_modes, measurements.n_measurements)
        mixed = np.einsum("km,kmz->kz", t.mode_probabilities, per_mode)
        pd = self.sensor.detection_probability
        miss = (1.0 - t.existence) + t.existence * (1.0 - pd)
        beta = np.concatenate([miss[:, None], t.existence[:, None] * mixed], axis=1)
        return Evaluation(beta, mixed, mode_likelihood_ratio=per_mode)

    def update(
        self,
        targets: Targets,
        measurements: Measurements,
        evaluation: Evaluation,
        measurement_to_target: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
    ) -> IMMTargets:
        t = _check_targets(targets)
        per_mode = evaluation.mode_likelihood_ratio
        if per_mode is None:
            raise ValueError("evaluation carries no mode_likelihood_ratio (not an IMM evaluation)")
        k, m = t.n_targets, t.n_modes
        kappa = np.ascontiguousarray(measurement_to_target, dtype=np.float64)
        mean, cov, r = _flat(t)
        x, p, _ = kernels(self.engine).tracking_update_gaussian(
            mean=mean,
            cov=cov,
            existence=r,
            z=measurements.positions_m,
            zcov=measurements.covariance_m2,
            ratio=np.ascontiguousarray(per_mode.reshape(k * m, measurements.n_measurements)),
            kappa=np.repeat(kappa, m, axis=0),
            detection_probability=self.sensor.detection_probability,
        )
        # total weight of each mode: (1 - p_d) + sum_m kappa_m ratio_j(m)  (T8 per mode)
        pd = self.sensor.detection_probability
        weight = (1.0 - pd) + np.einsum("kz,kmz->km", kappa, per_mode)
        joint = t.mode_probabilities * weight
        total = joint.sum(axis=1)
        ex = t.existence * total / (t.existence * total + (1.0 - t.existence))
        mu = joint / total[:, None]
        s = t.mode_states.shape[2]
        return IMMTargets._trusted(
            mode_states=x.reshape(k, m, s),
            mode_covariances=p.reshape(k, m, s, s),
            mode_probabilities=mu,
            existence=ex,
            track_id=t.track_id,
        )


@dataclass(frozen=True)
class IMMInitiator(Initiator):
    """New IMM potential targets, one per measurement (T9): every mode starts from the
    single-model birth (position N(z_m, R_m), velocity N(0, velocity_std^2 I)) with the
    motion model's initial mode probabilities.

    Parameters
    ----------
    sensor : PositionSensor
        Detection probability, clutter and gate of the measurements.
    motion : ModeSwitching
        The motion modes (their number and ``initial`` probabilities).
    births : BirthModel
        Birth rate and velocity spread of the new potential targets.
    """

    sensor: PositionSensor
    motion: ModeSwitching
    births: BirthModel = field(default_factory=BirthModel)

    def __post_init__(self) -> None:
        if not isinstance(self.motion, ModeSwitching):
            raise TypeError(f"motion must be a ModeSwitching, got {type(self.motion).__name__}")

    def initiate(
        self, measurements: Measurements, *, rng: np.random.Generator | None = None
    ) -> Births:
        single = KalmanInitiator(self.sensor, self.births).initiate(measurements)
        g = single.targets
        assert isinstance(g, GaussianTargets)
        n, m = g.n_targets, self.motion.n_modes
        targets = IMMTargets(
            np.repeat(g.states[:, None], m, axis=1),
            np.repeat(g.covariances[:, None], m, axis=1),
            np.broadcast_to(np.asarray(self.motion.initial), (n, m)).copy(),
            g.existence,
            g.track_id,
        )
        return Births(targets, single.clutter_weights)
