"""The streaming BP multitarget tracker, assembled from one component per role."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_positive
from skysense.tracking.association import BPAssociator, ExistencePruner
from skysense.tracking.base import Associator, Initiator, Predictor, Pruner, Updater
from skysense.tracking.gaussian import KalmanInitiator, KalmanPredictor, KalmanUpdater
from skysense.tracking.imm import IMMInitiator, IMMPredictor, IMMUpdater
from skysense.tracking.models import (
    BirthModel,
    ConstantVelocity,
    IntensityModel,
    ModeSwitching,
    PositionSensor,
    SurveillanceRegion,
    _probability,
)
from skysense.tracking.particle import ParticleInitiator, ParticlePredictor, ParticleUpdater
from skysense.tracking.state import (
    Detections,
    GaussianTargets,
    IMMTargets,
    ParticleTargets,
    Targets,
    Tracks,
)

__all__ = ["BELIEFS", "BPTracker", "TrackerConfig"]

#: Belief representations of :meth:`BPTracker.from_config`.
BELIEFS = ("gaussian", "particles")


@dataclass(frozen=True)
class TrackerConfig:
    """Model and algorithm parameters of the BP tracker.

    The defaults suit a 10 Hz imaging stream of UAVs at ~8 m/s (chosen on simulated SP and
    learned-imager detections, docs/tracking.md); ``detection_probability`` and
    ``clutter_rate`` should come from :func:`calibrate_detector`.

    Parameters
    ----------
    region : SurveillanceRegion
        The ROI (2-D if its z extent is zero).
    frame_rate_hz : float
        Frames per second (> 0); the interval of the motion model is ``1 / frame_rate_hz``.
    detection_probability : float
        p_d of a present UAV in one frame.
    clutter_rate : float
        Mean false detections per frame.
    acceleration_std_mps2 : float
        Process noise of the near-constant-velocity model (single-model tracker).
    survival_probability : float
        p_s per frame.
    birth_rate : float
        Mean number of newly appearing UAVs per frame.
    birth_velocity_std_mps : float
        Velocity prior of a new UAV, per axis [m/s].
    gate_probability : float
        Probability mass of the association gate.
    prune_threshold : float
        Potential targets below this existence probability are dropped.
    confirm_threshold : float
        Potential targets above this existence probability are reported as tracks.
    max_iter, tol
        Loopy-BP iteration cap and tolerance.
    intensity : IntensityModel, optional
        Amplitude-aided association (see :class:`PositionSensor`).
    modes : ModeSwitching, optional
        Motion modes of an interacting-multiple-model tracker (Gaussian beliefs only); None:
        one near-constant-velocity model with ``acceleration_std_mps2``.
    """

    region: SurveillanceRegion
    frame_rate_hz: float = 10.0
    detection_probability: float = 0.7
    clutter_rate: float = 1.0
    acceleration_std_mps2: float = 4.0
    survival_probability: float = 0.95
    birth_rate: float = 0.05
    birth_velocity_std_mps: float = 10.0
    gate_probability: float = 0.9999
    prune_threshold: float = 1e-3
    confirm_threshold: float = 0.8
    max_iter: int = 100
    tol: float = 1e-6
    intensity: IntensityModel | None = None
    modes: ModeSwitching | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.region, SurveillanceRegion):
            raise TypeError(
                f"region must be a SurveillanceRegion, got {type(self.region).__name__}"
            )
        check_positive(self.frame_rate_hz, "frame_rate_hz")
        _probability(self.confirm_threshold, "confirm_threshold")
        # the remaining fields are validated by the component that owns them
        self.sensor()
        ConstantVelocity(self.acceleration_std_mps2)
        BirthModel(self.birth_rate, self.birth_velocity_std_mps)
        ExistencePruner(self.prune_threshold)
        BPAssociator(self.max_iter, self.tol)
        _probability(self.survival_probability, "survival_probability", open_interval=False)
        if self.modes is not None and not isinstance(self.modes, ModeSwitching):
            raise TypeError(
                f"modes must be a ModeSwitching or None, got {type(self.modes).__name__}"
            )
        if self.prune_threshold >= self.confirm_threshold:
            raise ValueError(
                f"prune_threshold ({self.prune_threshold}) must be below confirm_threshold "
                f"({self.confirm_threshold})"
            )

    @property
    def interval_s(self) -> float:
        return 1.0 / self.frame_rate_hz

    def sensor(self) -> PositionSensor:
        return PositionSensor(
            self.region,
            self.detection_probability,
            self.clutter_rate,
            self.gate_probability,
            self.intensity,
        )

    def motion(self) -> ConstantVelocity | ModeSwitching:
        """The motion model: ``modes`` if given, else near-constant velocity."""
        return (
            self.modes if self.modes is not None else ConstantVelocity(self.acceleration_std_mps2)
        )

    def replace(self, **changes: Any) -> TrackerConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


@dataclass
class _State:
    targets: Targets
    next_id: int = 0
    frame: int = 0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)


class BPTracker:
    """Multitarget tracker by belief propagation (Meyer et al., Proc. IEEE 2018, Sec. VIII).

    A streaming object: :meth:`update` takes one frame's detections and returns the current
    tracks; :meth:`reset` forgets everything. Each step runs the components in Meyer's order:
    prediction, measurement evaluation, new potential targets, loopy-BP data association,
    update of the legacy targets, existence of the new ones, pruning.

    Parameters
    ----------
    predictor, updater, associator, initiator, pruner
        One component per role (see :mod:`skysense.tracking.base`); the predictor, updater
        and initiator must use the same belief representation.
    region : SurveillanceRegion
        The ROI (positions of a 2-D region are reported at its height).
    frame_rate_hz : float
        Frames per second (> 0); the motion model's interval is ``1 / frame_rate_hz`` [s].
    confirm_threshold : float
        Existence probability above which a potential target is reported.
    rng : None, int, SeedSequence or Generator, keyword-only
        Randomness of particle beliefs (unused by Gaussian beliefs); :meth:`reset` keeps
        drawing from the same stream.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.tracking import BPTracker, Detections, SurveillanceRegion, TrackerConfig
    >>> region = SurveillanceRegion((-60.0, -60.0, 40.0), (60.0, 60.0, 40.0))
    >>> tracker = BPTracker.from_config(TrackerConfig(region, clutter_rate=0.5))
    >>> cov = np.diag([1.0, 1.0, 0.0])[None]
    >>> for t in range(5):
    ...     tracks = tracker.update(Detections([[10.0 + t, 0.0, 40.0]], cov, [1.0]))
    >>> tracks.n_tracks, tracks.track_id.tolist()
    (1, [0])
    """

    def __init__(
        self,
        *,
        predictor: Predictor,
        updater: Updater,
        associator: Associator,
        initiator: Initiator,
        pruner: Pruner,
        region: SurveillanceRegion,
        frame_rate_hz: float = 10.0,
        confirm_threshold: float = 0.5,
        rng: RngLike = None,
    ) -> None:
        for name, obj, role in (
            ("predictor", predictor, Predictor),
            ("updater", updater, Updater),
            ("associator", associator, Associator),
            ("initiator", initiator, Initiator),
            ("pruner", pruner, Pruner),
        ):
            if not isinstance(obj, role):
                raise TypeError(f"{name} must be a {role.__name__}, got {type(obj).__name__}")
        if not isinstance(region, SurveillanceRegion):
            raise TypeError(f"region must be a SurveillanceRegion, got {type(region).__name__}")
        self.predictor, self.updater, self.associator = predictor, updater, associator
        self.initiator, self.pruner, self.region = initiator, pruner, region
        self.frame_rate_hz = check_positive(frame_rate_hz, "frame_rate_hz")
        self.confirm_threshold = _probability(confirm_threshold, "confirm_threshold")
        self.sensor = self._sensor()
        self._rng = as_generator(rng)
        self.reset()

    @classmethod
    def from_config(
        cls,
        config: TrackerConfig,
        *,
        belief: str = "gaussian",
        n_particles: int = 1000,
        engine: str = "cpp",
        workers: int | None = None,
        rng: RngLike = None,
    ) -> BPTracker:
        """The standard composition for ``config``.

        Parameters
        ----------
        config : TrackerConfig
        belief : {"gaussian", "particles"}
            Kalman (mean and covariance, one per motion mode if ``config.modes`` is set: IMM)
            or particle beliefs.
        n_particles : int
            Particles per potential target (``belief="particles"``).
        engine : {"cpp", "numpy"}
            The C++ stages or their NumPy twin.
        workers : int, optional
            Threads over potential targets of the particle stages.
        rng : keyword-only
            See the class.
        """
        if not isinstance(config, TrackerConfig):
            raise TypeError(f"config must be a TrackerConfig, got {type(config).__name__}")
        if belief not in BELIEFS:
            raise ValueError(f"belief must be one of {BELIEFS}, got {belief!r}")
        sensor = config.sensor()
        motion = ConstantVelocity(config.acceleration_std_mps2)
        births = BirthModel(config.birth_rate, config.birth_velocity_std_mps)
        ps = config.survival_probability
        parts: dict[str, Any]
        if belief == "gaussian" and config.modes is not None:
            parts = {
                "predictor": IMMPredictor(config.modes, ps, engine),
                "updater": IMMUpdater(sensor, engine),
                "initiator": IMMInitiator(sensor, config.modes, births),
            }
        elif belief == "gaussian":
            parts = {
                "predictor": KalmanPredictor(motion, ps, engine),
                "updater": KalmanUpdater(sensor, engine),
                "initiator": KalmanInitiator(sensor, births),
            }
        else:
            if config.modes is not None:
                raise ValueError("config.modes (IMM) needs belief='gaussian'")
            check_count(n_particles, "n_particles")
            parts = {
                "predictor": ParticlePredictor(motion, ps, workers, engine),
                "updater": ParticleUpdater(sensor, workers, engine),
                "initiator": ParticleInitiator(sensor, births, n_particles, workers, engine),
            }
        return cls(
            **parts,
            associator=BPAssociator(config.max_iter, config.tol, engine),
            pruner=ExistencePruner(config.prune_threshold),
            region=config.region,
            frame_rate_hz=config.frame_rate_hz,
            confirm_threshold=config.confirm_threshold,
            rng=rng,
        )

    def _sensor(self) -> PositionSensor:
        sensor = getattr(self.updater, "sensor", None)
        if not isinstance(sensor, PositionSensor):
            raise TypeError("updater must carry a PositionSensor as its 'sensor'")
        if sensor.region != self.region:
            raise ValueError("the updater's sensor region differs from region")
        return sensor

    # -- streaming ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every potential target and restart the frame count and track ids."""
        d = self.region.n_dims
        empty: Targets
        if isinstance(self.predictor, ParticlePredictor):
            empty = ParticleTargets.empty(d, getattr(self.initiator, "n_particles", 1))
        elif isinstance(self.predictor, IMMPredictor):
            empty = IMMTargets.empty(d, self.predictor.motion.n_modes)
        else:
            empty = GaussianTargets.empty(d)
        self._state = _State(targets=empty, rng=self._rng)

    @property
    def targets(self) -> Targets:
        """All current potential targets (confirmed or not)."""
        return self._state.targets

    @property
    def frame_index(self) -> int:
        """Frames processed since the last :meth:`reset`."""
        return self._state.frame

    def update(self, detections: Detections | None) -> Tracks:
        """Process one frame; returns the confirmed tracks after it.

        Parameters
        ----------
        detections : Detections or None
            This frame's detections; ``None`` or an empty set makes a prediction-only step
            (missed detections for every target).

        Returns
        -------
        Tracks
        """
        if detections is None:
            detections = Detections.empty()
        if not isinstance(detections, Detections):
            raise TypeError(f"detections must be Detections, got {type(detections).__name__}")
        inside = self.region.contains(detections.positions_m, margin_m=1e-6)
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            raise ValueError(
                f"detections.positions_m[{bad}] = {detections.positions_m[bad].tolist()} lies "
                f"outside the region {self.region.lower_m}..{self.region.upper_m}"
            )
        st = self._state
        rng = st.rng
        meas = self.sensor.measurements(detections)
        # (T1) prediction of the legacy potential targets
        legacy = self.predictor.predict(st.targets, 1.0 / self.frame_rate_hz, rng=rng)
        # (T2, T3) measurement evaluation; (T9) one new potential target per measurement
        evaluation = self.updater.evaluate(legacy, meas)
        births = self.initiator.initiate(meas, rng=rng)
        # (T4 - T6) loopy-BP data association
        assoc = self.associator.associate(evaluation.association_weights, births.clutter_weights)
        # (T7, T8) legacy beliefs and existence; new targets' existence from iota
        legacy = self.updater.update(legacy, meas, evaluation, assoc.measurement_to_target, rng=rng)
        new = replace(
            births.targets,
            existence=births.existence(assoc.measurement_to_new_target),
            track_id=np.arange(st.next_id, st.next_id + births.targets.n_targets, dtype=np.int64),
        )
        targets = self.pruner.prune(legacy.concat(new))
        st.next_id += new.n_targets
        st.targets = targets
        st.frame += 1
        return self._tracks(targets, (st.frame - 1) / self.frame_rate_hz)

    def _tracks(self, targets: Targets, time_s: float) -> Tracks:
        keep = np.flatnonzero(targets.existence > self.confirm_threshold)
        kept = targets.take(keep)
        states = kept.states
        if isinstance(kept, GaussianTargets | IMMTargets):
            cov = kept.covariances.copy()
        else:  # sample covariance of the equally weighted particles
            dev = kept.particles - states[:, None, :]
            cov = np.einsum("kpi,kpj->kij", dev, dev) / max(kept.particles.shape[1] - 1, 1)
        d = self.region.n_dims
        pos = np.empty((keep.size, 3))
        vel = np.zeros((keep.size, 3))
        pos[:, :d] = states[:, :d]
        vel[:, :d] = states[:, d:]
        if d == 2:
            pos[:, 2] = self.region.lower_m[2]
        return Tracks(
            track_id=targets.track_id[keep],
            positions_m=pos,
            velocities_mps=vel,
            existence=targets.existence[keep],
            time_s=float(time_s),
            state_covariance=cov,
            mode_probabilities=(
                kept.mode_probabilities.copy() if isinstance(kept, IMMTargets) else None
            ),
        )
