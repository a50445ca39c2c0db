"""Data of the tracker: detections in, potential targets inside, tracks out (arrays only).

Every type is a frozen dataclass of arrays (no per-target or per-particle objects). States are
``[position (D), velocity (D)]`` rows in metres and metres per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, check_finite_scalar

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Detections", "GaussianTargets", "IMMTargets", "ParticleTargets", "Targets", "Tracks"]


@dataclass(frozen=True, repr=False)
class Detections(Result):
    """One frame's detections (positions with a covariance each).

    Attributes
    ----------
    positions_m : ndarray, shape (n_detections, 3), float64, [m]
    covariance_m2 : ndarray, shape (n_detections, 3, 3), float64, [m^2]
        Measurement covariance of each position (symmetric; only the tracked axes need to be
        positive definite: z of a 2-D ROI may have zero variance).
    intensity : ndarray, shape (n_detections,), float64
        Image value at the detection (peak of its blob), unitless.
    """

    positions_m: np.ndarray
    covariance_m2: np.ndarray
    intensity: np.ndarray

    def __post_init__(self) -> None:
        pos = as_array(self.positions_m, "positions_m", shape=(None, 3), kind="fiu", dtype=float)
        n = pos.shape[0]
        cov = as_array(
            self.covariance_m2, "covariance_m2", shape=(n, 3, 3), kind="fiu", dtype=float
        )
        inten = as_array(self.intensity, "intensity", shape=(n,), kind="fiu", dtype=float)
        if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-9, atol=1e-12):
            raise ValueError("covariance_m2 must be symmetric")
        object.__setattr__(self, "positions_m", pos)
        object.__setattr__(self, "covariance_m2", cov)
        object.__setattr__(self, "intensity", inten)

    @classmethod
    def empty(cls) -> Detections:
        """A frame without detections (the tracker makes a prediction-only step)."""
        return cls(np.empty((0, 3)), np.empty((0, 3, 3)), np.empty(0))

    @property
    def n_detections(self) -> int:
        return int(self.positions_m.shape[0])


def _check_targets(
    states: np.ndarray, existence: npt.ArrayLike, track_id: npt.ArrayLike, name: str
) -> tuple[np.ndarray, np.ndarray]:
    k = states.shape[0]
    ex = as_array(existence, "existence", shape=(k,), kind="f", dtype=np.float64)
    if np.any((ex < 0) | (ex > 1)):
        raise ValueError("existence must lie in [0, 1]")
    ids = as_array(track_id, "track_id", shape=(k,), kind="iu", dtype=np.int64)
    if states.shape[-1] not in (4, 6):
        raise ValueError(
            f"{name} must have 4 (2-D) or 6 (3-D) state components, got {states.shape}"
        )
    return ex, ids


class _Targets:
    """Shared bookkeeping of the potential-target containers (not a public type)."""

    existence: np.ndarray
    track_id: np.ndarray
    _arrays: tuple[str, ...]

    @property
    def n_targets(self) -> int:
        return int(self.existence.shape[0])

    @property
    def n_dims(self) -> int:
        return int(self.states.shape[-1] // 2)  # type: ignore[attr-defined]

    @classmethod
    def _trusted(cls, **fields: np.ndarray) -> Self:
        """An instance from arrays already known to be valid (subsets and concatenations of
        validated instances, the stages' outputs): skips the checks of the constructor, which
        would otherwise dominate a tracker step."""
        obj = object.__new__(cls)
        for name in cls._arrays:
            object.__setattr__(obj, name, fields[name])
        return obj

    def take(self, index: Any) -> Self:
        """Subset of the potential targets (boolean mask or integer indices)."""
        return self._trusted(**{f: getattr(self, f)[index] for f in self._arrays})

    def concat(self, other: _Targets) -> Self:
        """These potential targets followed by ``other`` (same type and sizes)."""
        if type(other) is not type(self):
            raise TypeError(f"other must be {type(self).__name__}, got {type(other).__name__}")
        shapes = {
            f: (getattr(self, f).shape[1:], getattr(other, f).shape[1:]) for f in self._arrays
        }
        if any(a != b for a, b in shapes.values()):
            raise ValueError(f"other has other sizes than these targets: {shapes}")
        fields = {f: np.concatenate([getattr(self, f), getattr(other, f)]) for f in self._arrays}
        return self._trusted(**fields)


@dataclass(frozen=True, repr=False)
class GaussianTargets(_Targets, Result):
    """Potential targets with Gaussian beliefs (one Kalman mean and covariance each).

    Attributes
    ----------
    states : ndarray, shape (n_targets, 2 D), float64, [m, m/s]
    covariances : ndarray, shape (n_targets, 2 D, 2 D), float64
    existence : ndarray, shape (n_targets,), float64
        Existence probabilities r_k.
    track_id : ndarray, shape (n_targets,), int64
    """

    states: np.ndarray
    covariances: np.ndarray
    existence: np.ndarray
    track_id: np.ndarray

    _arrays = ("states", "covariances", "existence", "track_id")

    def __post_init__(self) -> None:
        x = as_array(self.states, "states", ndim=2, kind="f", dtype=np.float64)
        s = x.shape[1]
        p = as_array(self.covariances, "covariances", shape=(x.shape[0], s, s), kind="f")
        ex, ids = _check_targets(x, self.existence, self.track_id, "states")
        object.__setattr__(self, "states", x)
        object.__setattr__(self, "covariances", p.astype(np.float64, copy=False))
        object.__setattr__(self, "existence", ex)
        object.__setattr__(self, "track_id", ids)

    @classmethod
    def empty(cls, n_dims: int) -> GaussianTargets:
        s = 2 * n_dims
        return cls(np.empty((0, s)), np.empty((0, s, s)), np.empty(0), np.empty(0, np.int64))


@dataclass(frozen=True, repr=False)
class ParticleTargets(_Targets, Result):
    """Potential targets with particle beliefs (equally weighted particles).

    Attributes
    ----------
    particles : ndarray, shape (n_targets, n_particles, 2 D), float64, [m, m/s]
    existence : ndarray, shape (n_targets,), float64
    track_id : ndarray, shape (n_targets,), int64
    """

    particles: np.ndarray
    existence: np.ndarray
    track_id: np.ndarray

    _arrays = ("particles", "existence", "track_id")

    def __post_init__(self) -> None:
        x = as_array(self.particles, "particles", ndim=3, kind="f", dtype=np.float64)
        if x.shape[1] < 1:
            raise ValueError(f"particles must hold at least one particle per target, got {x.shape}")
        ex, ids = _check_targets(x, self.existence, self.track_id, "particles")
        object.__setattr__(self, "particles", x)
        object.__setattr__(self, "existence", ex)
        object.__setattr__(self, "track_id", ids)

    @classmethod
    def empty(cls, n_dims: int, n_particles: int) -> ParticleTargets:
        return cls(np.empty((0, n_particles, 2 * n_dims)), np.empty(0), np.empty(0, np.int64))

    @property
    def states(self) -> np.ndarray:
        """MMSE states (particle means), shape (n_targets, 2 D)."""
        return self.particles.mean(axis=1)


@dataclass(frozen=True, repr=False)
class IMMTargets(_Targets, Result):
    """Potential targets with interacting-multiple-model beliefs: one Kalman mean and covariance
    per motion mode, and the mode probabilities.

    Attributes
    ----------
    mode_states : ndarray, shape (n_targets, n_modes, 2 D), float64, [m, m/s]
    mode_covariances : ndarray, shape (n_targets, n_modes, 2 D, 2 D), float64
    mode_probabilities : ndarray, shape (n_targets, n_modes), float64
        Rows sum to 1.
    existence : ndarray, shape (n_targets,), float64
    track_id : ndarray, shape (n_targets,), int64
    """

    mode_states: np.ndarray
    mode_covariances: np.ndarray
    mode_probabilities: np.ndarray
    existence: np.ndarray
    track_id: np.ndarray

    _arrays = ("mode_states", "mode_covariances", "mode_probabilities", "existence", "track_id")

    def __post_init__(self) -> None:
        x = as_array(self.mode_states, "mode_states", ndim=3, kind="f", dtype=np.float64)
        k, m, s = x.shape
        p = as_array(self.mode_covariances, "mode_covariances", shape=(k, m, s, s), kind="f")
        mu = as_array(self.mode_probabilities, "mode_probabilities", shape=(k, m), kind="f")
        if m < 1 or (k and (mu.min() < 0 or np.abs(mu.sum(axis=1) - 1.0).max() > 1e-9)):
            raise ValueError("mode_probabilities must be >= 0 with rows summing to 1")
        ex, ids = _check_targets(x, self.existence, self.track_id, "mode_states")
        object.__setattr__(self, "mode_states", x)
        object.__setattr__(self, "mode_covariances", p.astype(np.float64, copy=False))
        object.__setattr__(self, "mode_probabilities", mu.astype(np.float64, copy=False))
        object.__setattr__(self, "existence", ex)
        object.__setattr__(self, "track_id", ids)

    @classmethod
    def empty(cls, n_dims: int, n_modes: int) -> IMMTargets:
        s = 2 * n_dims
        return cls(
            np.empty((0, n_modes, s)),
            np.empty((0, n_modes, s, s)),
            np.empty((0, n_modes)),
            np.empty(0),
            np.empty(0, np.int64),
        )

    @property
    def n_modes(self) -> int:
        return int(self.mode_probabilities.shape[1])

    @property
    def states(self) -> np.ndarray:
        """Merged (mode-mixture) means, shape (n_targets, 2 D)."""
        return np.einsum("km,kms->ks", self.mode_probabilities, self.mode_states)

    @property
    def covariances(self) -> np.ndarray:
        """Covariances of the mode mixtures, shape (n_targets, 2 D, 2 D)."""
        dev = self.mode_states - self.states[:, None, :]
        spread = self.mode_covariances + dev[..., :, None] * dev[..., None, :]
        return np.einsum("km,kmij->kij", self.mode_probabilities, spread)


#: Potential targets of any belief family (what the tracker's components pass around).
Targets: TypeAlias = GaussianTargets | ParticleTargets | IMMTargets


@dataclass(frozen=True, repr=False)
class Tracks(Result):
    """The confirmed tracks after one frame.

    Attributes
    ----------
    track_id : ndarray, shape (n_tracks,), int64
        Identity, kept from frame to frame.
    positions_m : ndarray, shape (n_tracks, 3), float64, [m]
        Estimated positions (z = the plane height for a 2-D region).
    velocities_mps : ndarray, shape (n_tracks, 3), float64, [m/s]
    existence : ndarray, shape (n_tracks,), float64
        Existence probability of each track (the confidence).
    time_s : float
        Time of the frame [s].
    state_covariance : ndarray, shape (n_tracks, 2 D, 2 D), float64, or None
        Covariance of the tracked state ``[position (D), velocity (D)]`` (D = 2 for a 2-D
        region, 3 otherwise) [m^2, m^2/s, m^2/s^2]; None from trackers without one (the
        baselines).
    mode_probabilities : ndarray, shape (n_tracks, n_modes), float64, or None
        Motion-mode probabilities of an IMM tracker (rows sum to 1); None otherwise.
    """

    track_id: np.ndarray
    positions_m: np.ndarray
    velocities_mps: np.ndarray
    existence: np.ndarray
    time_s: float = 0.0
    state_covariance: np.ndarray | None = None
    mode_probabilities: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_finite_scalar(self.time_s, "time_s")
        if self.mode_probabilities is not None:
            n = int(np.shape(self.track_id)[0])
            mu = as_array(self.mode_probabilities, "mode_probabilities", ndim=2, kind="f")
            if mu.shape[0] != n:
                raise ValueError(
                    f"mode_probabilities must have shape ({n}, n_modes), got {mu.shape}"
                )
            object.__setattr__(self, "mode_probabilities", mu.astype(np.float64, copy=False))
        if self.state_covariance is not None:
            n = int(np.shape(self.track_id)[0])
            cov = as_array(self.state_covariance, "state_covariance", ndim=3, kind="f")
            if cov.shape[0] != n or cov.shape[1] != cov.shape[2] or cov.shape[1] not in (4, 6):
                raise ValueError(
                    f"state_covariance must have shape ({n}, 4, 4) or ({n}, 6, 6), got {cov.shape}"
                )
            object.__setattr__(self, "state_covariance", cov.astype(np.float64, copy=False))

    @property
    def n_tracks(self) -> int:
        return int(self.track_id.shape[0])
