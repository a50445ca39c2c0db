"""Model configuration of the BP tracker: region, motion, sensor and births (frozen dataclasses).

The target state is ``[position (D), velocity (D)]`` in metres and metres per second, D = 2
for a 2-D ROI (a plane at fixed height; z is carried along, not tracked) and D = 3 otherwise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_finite_scalar, check_positive
from skysense.tracking import _imaging_adapter as adapter

if TYPE_CHECKING:
    from skysense.imaging import Scenario
    from skysense.tracking.state import Detections

__all__ = [
    "BirthModel",
    "ConstantVelocity",
    "IntensityModel",
    "Measurements",
    "ModeSwitching",
    "PositionSensor",
    "SurveillanceRegion",
]


def _probability(value: object, name: str, *, open_interval: bool = True) -> float:
    value = check_finite_scalar(value, name)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {bounds}, got {value}")
    return value


@dataclass(frozen=True)
class SurveillanceRegion:
    """Axis-aligned box the targets live in (the imaging ROI).

    Parameters
    ----------
    lower_m, upper_m : tuple of 3 float
        Corners [m]. Equal z bounds make a 2-D region (a plane at that height).
    """

    lower_m: tuple[float, float, float]
    upper_m: tuple[float, float, float]

    def __post_init__(self) -> None:
        lo = as_array(self.lower_m, "lower_m", shape=(3,), kind="fiu", dtype=np.float64)
        hi = as_array(self.upper_m, "upper_m", shape=(3,), kind="fiu", dtype=np.float64)
        if np.any(hi[:2] <= lo[:2]) or hi[2] < lo[2]:
            raise ValueError(
                f"upper_m must exceed lower_m along x and y (and not be below it along z), got "
                f"lower_m={tuple(lo)}, upper_m={tuple(hi)}"
            )
        object.__setattr__(self, "lower_m", tuple(float(v) for v in lo))
        object.__setattr__(self, "upper_m", tuple(float(v) for v in hi))

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> SurveillanceRegion:
        """The ROI of a :class:`skysense.imaging.Scenario` (grid edges)."""
        lo, hi = adapter.roi_bounds(scenario)
        return cls(
            (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))
        )

    @property
    def n_dims(self) -> int:
        """Tracked position dimensions: 2 (plane) or 3."""
        return 2 if self.upper_m[2] == self.lower_m[2] else 3

    @property
    def measure(self) -> float:
        """Area [m^2] (2-D) or volume [m^3] (3-D)."""
        d = self.n_dims
        return math.prod(h - lo for lo, h in zip(self.lower_m[:d], self.upper_m[:d], strict=True))

    def contains(self, points_m: npt.ArrayLike, *, margin_m: float = 0.0) -> np.ndarray:
        """Whether each point ``(..., 3)`` lies in the box grown by ``margin_m`` (z exact in 2-D)."""
        p = np.asarray(points_m, dtype=float)
        lo = np.asarray(self.lower_m) - margin_m
        hi = np.asarray(self.upper_m) + margin_m
        if self.n_dims == 2:
            lo[2], hi[2] = self.lower_m[2] - margin_m, self.upper_m[2] + margin_m
        return np.all((p >= lo) & (p <= hi), axis=-1)


@dataclass(frozen=True)
class ConstantVelocity:
    """Near-constant-velocity motion: white acceleration noise of spectral density ``q``.

    Parameters
    ----------
    acceleration_std_mps2 : float
        sqrt(q) [m/s^2/sqrt(Hz)]: over an interval T, ``Q = q [[T^3/3, T^2/2], [T^2/2, T]]``
        per axis (discretised continuous white-noise acceleration).
    """

    acceleration_std_mps2: float = 2.0

    def __post_init__(self) -> None:
        check_positive(self.acceleration_std_mps2, "acceleration_std_mps2", strict=False)

    def matrices(self, interval_s: float, n_dims: int) -> tuple[np.ndarray, np.ndarray]:
        """Transition F and process-noise covariance Q, each ``(2 D, 2 D)``."""
        t = check_positive(interval_s, "interval_s")
        f, q = _cv_matrices(self.acceleration_std_mps2, t, int(n_dims))
        return f.copy(), q.copy()


@functools.lru_cache(maxsize=64)
def _cv_matrices(accel_std: float, t: float, n_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """F and Q of :class:`ConstantVelocity` (cached: a tracker asks for the same ones every
    frame)."""
    eye = np.eye(n_dims)
    f = np.block([[eye, t * eye], [np.zeros_like(eye), eye]])
    q = accel_std**2 * np.block([[t**3 / 3 * eye, t**2 / 2 * eye], [t**2 / 2 * eye, t * eye]])
    return f, q


@dataclass(frozen=True)
class ModeSwitching:
    """Motion modes of an interacting multiple model (IMM): near-constant-velocity modes of
    different process noise with Markov switching between frames (Bar-Shalom, Li,
    Kirubarajan 2001, Sec. 11.6).

    Parameters
    ----------
    modes : tuple of ConstantVelocity
        The motion modes, e.g. a quiet mode for straight flight and a manoeuvre mode.
    switching : tuple of tuple of float
        Markov matrix ``p_ij = P(mode j at frame t | mode i at frame t - 1)``, shape
        ``(n_modes, n_modes)``; each row sums to 1.
    initial : tuple of float, optional
        Mode probabilities of a new target (sum to 1); default: uniform.

    Examples
    --------
    >>> from skysense.tracking import ConstantVelocity, ModeSwitching
    >>> m = ModeSwitching((ConstantVelocity(0.5), ConstantVelocity(5.0)), ((0.95, 0.05), (0.1, 0.9)))
    >>> m.n_modes, m.initial
    (2, (0.5, 0.5))
    >>> f, q = m.matrices(0.1, 2)
    >>> f.shape, q.shape
    ((2, 4, 4), (2, 4, 4))
    """

    modes: tuple[ConstantVelocity, ...]
    switching: tuple[tuple[float, ...], ...]
    initial: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        modes = tuple(self.modes)
        if not modes:
            raise ValueError("modes must hold at least one motion mode, got none")
        for j, mode in enumerate(modes):
            if not isinstance(mode, ConstantVelocity):
                raise TypeError(f"modes[{j}] must be a ConstantVelocity, got {type(mode).__name__}")
        n = len(modes)
        p = as_array(self.switching, "switching", shape=(n, n), kind="fiu", dtype=np.float64)
        if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-9):
            raise ValueError(
                "switching must be a stochastic matrix (entries >= 0, each row summing to 1), "
                f"got {p.tolist()}"
            )
        init = np.full(n, 1.0 / n) if self.initial is None else self.initial
        mu = as_array(init, "initial", shape=(n,), kind="fiu", dtype=np.float64)
        if np.any(mu < 0) or abs(mu.sum() - 1.0) > 1e-9:
            raise ValueError(f"initial must hold probabilities summing to 1, got {mu.tolist()}")
        object.__setattr__(self, "modes", modes)
        object.__setattr__(self, "switching", tuple(tuple(float(v) for v in row) for row in p))
        object.__setattr__(self, "initial", tuple(float(v) for v in mu))

    @property
    def n_modes(self) -> int:
        return len(self.modes)

    @property
    def switching_matrix(self) -> np.ndarray:
        """The Markov matrix as an array ``(n_modes, n_modes)``."""
        return np.array(self.switching)

    def matrices(self, interval_s: float, n_dims: int) -> tuple[np.ndarray, np.ndarray]:
        """Transitions F and process-noise covariances Q of every mode, each
        ``(n_modes, 2 D, 2 D)``."""
        fq = [mode.matrices(interval_s, n_dims) for mode in self.modes]
        return np.stack([f for f, _ in fq]), np.stack([q for _, q in fq])


@dataclass(frozen=True)
class Measurements:
    """One frame's detections in tracker coordinates (private to the components).

    Attributes
    ----------
    positions_m : ndarray, shape (n_measurements, n_dims), float64, [m]
        The tracked coordinates (z_m of docs/tracking.md).
    covariance_m2 : ndarray, shape (n_measurements, n_dims, n_dims), float64, [m^2]
    clutter_intensity : ndarray, shape (n_measurements,), float64
        Clutter intensity lambda_c f_c(z_m) [1/m^D], divided by the intensity likelihood
        ratio of the detection when the sensor has an intensity model.
    """

    positions_m: np.ndarray
    covariance_m2: np.ndarray
    clutter_intensity: np.ndarray

    @property
    def n_measurements(self) -> int:
        return int(self.positions_m.shape[0])


@dataclass(frozen=True)
class IntensityModel:
    """Detection intensities of targets against clutter: a piecewise-constant likelihood ratio.

    A detection of intensity ``a`` in bin ``b`` (``edges[b] <= a < edges[b + 1]``, clamped to
    the outer bins) multiplies the target-versus-clutter likelihood ratio by
    ``exp(log_ratio[b]) = f_target(a) / f_clutter(a)`` (amplitude-aided association); the
    clutter intensity of that measurement is divided by it.

    Parameters
    ----------
    edges : tuple of float
        Increasing bin edges (n_bins + 1 of them).
    log_ratio : tuple of float
        ``log(f_target / f_clutter)`` per bin (finite).
    """

    edges: tuple[float, ...]
    log_ratio: tuple[float, ...]

    def __post_init__(self) -> None:
        e = as_array(self.edges, "edges", ndim=1, kind="fiu", dtype=np.float64)
        r = as_array(self.log_ratio, "log_ratio", shape=(e.size - 1,), kind="fiu", dtype=np.float64)
        if e.size < 2 or np.any(np.diff(e) <= 0):
            raise ValueError(f"edges must hold >= 2 increasing values, got {e.tolist()}")
        object.__setattr__(self, "edges", tuple(float(v) for v in e))
        object.__setattr__(self, "log_ratio", tuple(float(v) for v in r))

    @classmethod
    def fit(
        cls,
        target: npt.ArrayLike,
        clutter: npt.ArrayLike,
        *,
        n_bins: int = 6,
        max_log_ratio: float = 3.0,
    ) -> IntensityModel:
        """Histogram estimate from intensities of matched (``target``) and false detections.

        Bins are quantiles of the pooled intensities; each bin count gets one pseudo-count, and
        the log ratio is clipped to +-``max_log_ratio``.
        """
        t = np.asarray(target, dtype=float).ravel()
        c = np.asarray(clutter, dtype=float).ravel()
        pooled = np.concatenate([t, c])
        if t.size < 2 or c.size < 2:
            raise ValueError("need >= 2 target and >= 2 clutter intensities to fit")
        edges = np.unique(np.quantile(pooled, np.linspace(0, 1, n_bins + 1)))
        if edges.size < 2:
            edges = np.array([pooled.min(), pooled.min() + 1.0])
        nb = edges.size - 1
        ft = (np.histogram(np.clip(t, edges[0], edges[-1]), edges)[0] + 1.0) / (t.size + nb)
        fc = (np.histogram(np.clip(c, edges[0], edges[-1]), edges)[0] + 1.0) / (c.size + nb)
        ratio = np.clip(np.log(ft / fc), -max_log_ratio, max_log_ratio)
        return cls(tuple(edges), tuple(ratio))

    def __call__(self, intensity: npt.ArrayLike) -> np.ndarray:
        """Likelihood ratio ``f_target(a) / f_clutter(a)`` of each intensity."""
        b = np.searchsorted(np.asarray(self.edges), np.asarray(intensity, dtype=float), "right") - 1
        return np.exp(np.asarray(self.log_ratio)[np.clip(b, 0, len(self.log_ratio) - 1)])


@dataclass(frozen=True)
class PositionSensor:
    """Detections of target positions: detection probability, uniform clutter, gate.

    Parameters
    ----------
    region : SurveillanceRegion
        Box the targets and the clutter live in.
    detection_probability : float
        p_d in (0, 1).
    clutter_rate : float
        Mean false detections per frame (> 0), uniform over the region.
    gate_probability : float
        A target-measurement pair is considered only inside the ellipsoid holding this
        probability mass of the predicted measurement density (chi-square quantile).
    intensity : IntensityModel, optional
        Amplitude-aided association: the clutter intensity of a measurement is divided by the
        intensity likelihood ratio of its detection.
    """

    region: SurveillanceRegion
    detection_probability: float = 0.7
    clutter_rate: float = 1.0
    gate_probability: float = 0.9999
    intensity: IntensityModel | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.region, SurveillanceRegion):
            raise TypeError(
                f"region must be a SurveillanceRegion, got {type(self.region).__name__}"
            )
        _probability(self.detection_probability, "detection_probability")
        check_positive(self.clutter_rate, "clutter_rate")
        _probability(self.gate_probability, "gate_probability")
        if self.intensity is not None and not isinstance(self.intensity, IntensityModel):
            raise TypeError(
                f"intensity must be an IntensityModel or None, got {type(self.intensity).__name__}"
            )

    @property
    def n_dims(self) -> int:
        return self.region.n_dims

    @property
    def clutter_intensity(self) -> float:
        """lambda_c f_c = clutter_rate / region measure [1/m^D]."""
        return self.clutter_rate / self.region.measure

    @functools.cached_property
    def gate(self) -> float:
        """Squared Mahalanobis gate: the chi-square quantile of ``gate_probability``."""
        from scipy.stats import chi2

        return float(chi2.ppf(self.gate_probability, self.n_dims))

    def measurements(self, detections: Detections) -> Measurements:
        """Tracker coordinates of a :class:`~skysense.tracking.Detections` frame."""
        d = self.n_dims
        clutter = np.full(detections.n_detections, self.clutter_intensity)
        if self.intensity is not None:
            clutter /= self.intensity(detections.intensity)
        return Measurements(
            positions_m=np.ascontiguousarray(detections.positions_m[:, :d]),
            covariance_m2=np.ascontiguousarray(detections.covariance_m2[:, :d, :d]),
            clutter_intensity=clutter,
        )


@dataclass(frozen=True)
class BirthModel:
    """Targets that appear: the new potential targets born from measurements.

    Parameters
    ----------
    birth_rate : float
        mu_n: mean number of newly appearing targets per frame (> 0), uniform over the region.
    velocity_std_mps : float
        Std of each velocity component of a new target [m/s].
    """

    birth_rate: float = 0.05
    velocity_std_mps: float = 10.0

    def __post_init__(self) -> None:
        check_positive(self.birth_rate, "birth_rate")
        check_positive(self.velocity_std_mps, "velocity_std_mps")

    def clutter_weights(self, sensor: PositionSensor, measurements: Measurements) -> np.ndarray:
        """Weight of "measurement m is clutter or a new target" (T6):
        xi_m = 1 + mu_n p_d f_n(z_m) / lambda_c(z_m), f_n = 1 / region measure."""
        f_n = 1.0 / sensor.region.measure
        return (
            1.0
            + self.birth_rate * sensor.detection_probability * f_n / measurements.clutter_intensity
        )
