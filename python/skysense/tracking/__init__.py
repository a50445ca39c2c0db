"""Tracking the imaged UAVs across frames: BP multitarget tracking (Meyer et al., Proc. IEEE
2018) on detections from SP or learned images (docs/tracking.md).

==========================  ==========================================================
``TrackingScenario``        UAVs appearing, flying smooth paths and leaving; ``paper_3d()``
``simulate_trajectories``   lifetimes and paths -> ``Trajectories``
``simulate_csi``            off-grid CSI frames of UAVs at given positions (forward model)
``PursuitImager``           SP images ``|x| / max |x|`` (C++, Gram form)
``LearnedImager``           the shipped learned detector's heat map (torch)
``BlobDetector``            blob detections refined off the grid, with a covariance
``calibrate_detector``      position std, detection probability, clutter rate of a detector
``BPTracker``               streaming tracker: ``update(detections) -> Tracks``, ``reset()``
``StreamingTracker``        CSI frames in, tracks out (imager, detector, tracker); plugs into
                            ``skysense.edge.StreamProcessor``
``PerFrameTracker``         baseline without tracking: each frame's detections are the tracks
``StoneSoupTracker``        the peer: Stone Soup's JPDA tracker (``skysense[tracking-peer]``)
``track_frames``            run a tracker over a run's detections -> ``TrackHistory``
``smooth_history``          fixed-lag RTS smoothing of a run's tracks
``TrackerConfig``           model and algorithm parameters; ``BPTracker.from_config``
``Detections``, ``Tracks``  one frame's detections in, confirmed tracks out
``SurveillanceRegion``      the ROI box (2-D plane or 3-D)
``ConstantVelocity``        near-constant-velocity motion model
``ModeSwitching``           motion modes with Markov switching (IMM)
``PositionSensor``          detection probability, uniform clutter, gate
``BirthModel``              new-target rate and velocity prior
``IntensityModel``          intensity likelihood ratio of targets vs clutter (calibrated)
``GaussianTargets``         potential targets with Kalman beliefs
``ParticleTargets``         potential targets with particle beliefs
``IMMTargets``              potential targets with one Kalman belief per motion mode
``KalmanPredictor``         Gaussian components, with ``KalmanUpdater``, ``KalmanInitiator``
``ParticlePredictor``       particle components, with ``ParticleUpdater``, ``ParticleInitiator``
``IMMPredictor``            IMM components, with ``IMMUpdater``, ``IMMInitiator``
``BPAssociator``            loopy-BP data association (C++)
``ExistencePruner``         drop unlikely potential targets
``Predictor``               the role ABCs, with ``Updater``, ``Associator``, ``Initiator``, ``Pruner``
``FrameTracker``            protocol of what runs frame by frame (``update``, ``reset``)
``Targets``                 ``GaussianTargets | ParticleTargets``
``DETECTION_RULES``         the allowed option values, with ``REFINEMENTS``, ``BELIEFS``
==========================  ==========================================================
"""

from skysense.tracking.association import BPAssociator, ExistencePruner
from skysense.tracking.base import (
    Association,
    Associator,
    Births,
    Evaluation,
    FrameTracker,
    Initiator,
    Predictor,
    Pruner,
    Updater,
)
from skysense.tracking.baselines import PerFrameTracker, StoneSoupTracker
from skysense.tracking.detection import (
    DETECTION_RULES,
    REFINEMENTS,
    BlobDetector,
    DetectorCalibration,
    PositionErrorModel,
    calibrate_detector,
    detection_nees,
)
from skysense.tracking.gaussian import KalmanInitiator, KalmanPredictor, KalmanUpdater
from skysense.tracking.imagers import LearnedImager, PursuitImager
from skysense.tracking.imm import IMMInitiator, IMMPredictor, IMMUpdater
from skysense.tracking.models import (
    BirthModel,
    ConstantVelocity,
    IntensityModel,
    Measurements,
    ModeSwitching,
    PositionSensor,
    SurveillanceRegion,
)
from skysense.tracking.particle import ParticleInitiator, ParticlePredictor, ParticleUpdater
from skysense.tracking.run import TrackHistory, track_frames
from skysense.tracking.scenario import (
    TrackingScenario,
    Trajectories,
    simulate_csi,
    simulate_trajectories,
)
from skysense.tracking.smoothing import smooth_history
from skysense.tracking.state import (
    Detections,
    GaussianTargets,
    IMMTargets,
    ParticleTargets,
    Targets,
    Tracks,
)
from skysense.tracking.streaming import StreamingTracker
from skysense.tracking.tracker import BELIEFS, BPTracker, TrackerConfig

__all__ = [
    "BELIEFS",
    "DETECTION_RULES",
    "REFINEMENTS",
    "Association",
    "Associator",
    "BPAssociator",
    "BPTracker",
    "BirthModel",
    "Births",
    "BlobDetector",
    "ConstantVelocity",
    "Detections",
    "DetectorCalibration",
    "Evaluation",
    "ExistencePruner",
    "FrameTracker",
    "GaussianTargets",
    "IMMInitiator",
    "IMMPredictor",
    "IMMTargets",
    "IMMUpdater",
    "Initiator",
    "IntensityModel",
    "KalmanInitiator",
    "KalmanPredictor",
    "KalmanUpdater",
    "LearnedImager",
    "Measurements",
    "ModeSwitching",
    "ParticleInitiator",
    "ParticlePredictor",
    "ParticleTargets",
    "ParticleUpdater",
    "PerFrameTracker",
    "PositionErrorModel",
    "PositionSensor",
    "Predictor",
    "Pruner",
    "PursuitImager",
    "StoneSoupTracker",
    "StreamingTracker",
    "SurveillanceRegion",
    "Targets",
    "TrackHistory",
    "TrackerConfig",
    "TrackingScenario",
    "Tracks",
    "Trajectories",
    "Updater",
    "calibrate_detector",
    "detection_nees",
    "simulate_csi",
    "simulate_trajectories",
    "smooth_history",
    "track_frames",
]
