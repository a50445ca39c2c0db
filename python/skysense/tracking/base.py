"""The roles of a BP tracker, one small abstract base class each (Stone Soup's component split,
and the stages of Meyer et al.'s particle-BP tracker).

A :class:`~skysense.tracking.BPTracker` is assembled from one component per role; Gaussian and
particle beliefs are two families of predictor, updater and initiator behind the same roles.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from skysense._results import Result
from skysense.tracking.state import Detections, Targets, Tracks

if TYPE_CHECKING:
    from skysense.tracking.models import Measurements

__all__ = [
    "Association",
    "Associator",
    "Births",
    "Evaluation",
    "FrameTracker",
    "Initiator",
    "Predictor",
    "Pruner",
    "Updater",
]


@dataclass(frozen=True, repr=False)
class Evaluation(Result):
    """Measurement evaluation of the legacy potential targets (T2, T3).

    Attributes
    ----------
    association_weights : ndarray, shape (n_targets, n_measurements + 1), float64
        The messages beta_k of docs/tracking.md: column 0 is "target k not detected or not
        existing", column ``1 + m`` "target k detected as measurement m".
    likelihood_ratio : ndarray, shape (n_targets, n_measurements), float64
        ``p_d`` times the predicted likelihood of measurement m over the clutter intensity;
        0 outside the gate.
    particle_likelihood_ratio : ndarray, shape (n_targets, n_measurements, n_particles), float64, optional
        Per-particle ratios (particle beliefs; rows of pairs outside the gate are undefined).
    gated : ndarray, shape (n_targets, n_measurements), uint8, optional
        Pairs inside the gate (particle beliefs).
    mode_likelihood_ratio : ndarray, shape (n_targets, n_modes, n_measurements), float64, optional
        Per-mode ratios (IMM beliefs); ``likelihood_ratio`` is their mixture with the
        predicted mode probabilities.
    """

    association_weights: np.ndarray
    likelihood_ratio: np.ndarray
    particle_likelihood_ratio: np.ndarray | None = None
    gated: np.ndarray | None = None
    mode_likelihood_ratio: np.ndarray | None = None


@dataclass(frozen=True, repr=False)
class Association(Result):
    """Output of the loopy-BP data association (T4 - T6).

    Attributes
    ----------
    measurement_to_target : ndarray, shape (n_targets, n_measurements), float64
        Messages kappa_{k,m} = nu_{m->k} from measurement m to legacy potential target k.
    measurement_to_new_target : ndarray, shape (n_measurements,), float64
        Messages iota_m from measurement m to its new potential target.
    n_iter : int
        Iterations run.
    """

    measurement_to_target: np.ndarray
    measurement_to_new_target: np.ndarray
    n_iter: int


@dataclass(frozen=True, repr=False)
class Births(Result):
    """New potential targets proposed from one frame's measurements (before association).

    Attributes
    ----------
    targets : GaussianTargets or ParticleTargets
        One per measurement, existence 0 until :meth:`Initiator.existence` sets it.
    clutter_weights : ndarray, shape (n_measurements,), float64
        Weight of "measurement m is clutter or a new target", the message
        ``xi_m = 1 + mu_n p_d f_n(z_m) / lambda_c(z_m)`` of docs/tracking.md.
    """

    targets: Targets
    clutter_weights: np.ndarray

    def existence(self, measurement_to_new_target: np.ndarray) -> np.ndarray:
        """Existence of the new potential targets after association (T6):
        ``iota (xi - 1) / (iota (xi - 1) + 1)`` with ``iota = measurement_to_new_target``,
        ``xi = clutter_weights``."""
        a = measurement_to_new_target * (self.clutter_weights - 1.0)
        return a / (a + 1.0)


class Predictor(abc.ABC):
    """Prediction of the legacy potential targets over one frame interval (T1)."""

    @abc.abstractmethod
    def predict(self, targets: Targets, interval_s: float, *, rng: np.random.Generator) -> Targets:
        """Predicted targets (same type), existence times the survival probability."""


class Updater(abc.ABC):
    """Measurement evaluation (T2, T3) and belief update (T7, T8) of legacy targets."""

    @abc.abstractmethod
    def evaluate(self, targets: Targets, measurements: Measurements) -> Evaluation:
        """beta messages of every (target, measurement) pair."""

    @abc.abstractmethod
    def update(
        self,
        targets: Targets,
        measurements: Measurements,
        evaluation: Evaluation,
        measurement_to_target: np.ndarray,
        *,
        rng: np.random.Generator,
    ) -> Targets:
        """Posterior targets (same type) given the association messages
        ``measurement_to_target``."""


class Associator(abc.ABC):
    """Probabilistic data association of legacy targets, measurements and new targets."""

    @abc.abstractmethod
    def associate(
        self, association_weights: np.ndarray, clutter_weights: np.ndarray
    ) -> Association:
        """Messages to the legacy and the new targets from the weights of the legacy targets
        (T2, T3) and of clutter or new targets (T6)."""


class Initiator(abc.ABC):
    """New potential targets, one per measurement (T9)."""

    @abc.abstractmethod
    def initiate(self, measurements: Measurements, *, rng: np.random.Generator) -> Births:
        """The proposed new targets and their clutter weights (xi messages)."""


class Pruner(abc.ABC):
    """Removal of potential targets that are unlikely to exist."""

    @abc.abstractmethod
    def prune(self, targets: Targets) -> Targets:
        """The targets to keep (same type)."""


class FrameTracker(Protocol):
    """What runs frame by frame: :class:`~skysense.tracking.BPTracker` and the baselines."""

    def reset(self) -> None:
        """Forget every track."""

    def update(self, detections: Detections | None) -> Tracks:
        """Process one frame's detections; the tracks after it."""
