"""Model and algorithm parameters of the VA mapper (docs/mapping_model.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from skysense._validation import as_array, check_count, check_finite_scalar, check_positive

__all__ = ["MappingParams"]


def _probability(value: Any, name: str, *, open_low: bool = True, open_high: bool = False) -> float:
    value = check_finite_scalar(value, name)
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok):
        interval = f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


#: Largest length [m] a parameter may hold (its cube is still a float64).
_MAX_LENGTH_M = 1e100


@dataclass
class _KernelConstants:
    """The constants of one module call, under the names of the C++ ``SpaParams``.

    Both engines read them: the C++ kernel (``skysense._core.spa_update(params=...)``, as a
    dict) and its NumPy twin (:mod:`skysense.mapping._spa_numpy`). Not frozen: it is built
    once per :class:`MappingParams` and read only (a frozen dataclass of 25 fields costs a
    measurable share of a small module call to build).
    """

    n_iterations: int
    range_std_m: float
    excess_rate_per_m: float
    specular_mpc_mean: float
    diffuse_mpc_mean: float
    log_clutter_density_bistatic: float
    position_std_m: float
    monostatic_mpc_mean: float
    log_facade_area: float
    log_clutter_density_monostatic: float
    log_birth_mean: float
    roi_center_m: tuple[float, float, float]
    roi_radius_m: float
    birth_height_m: float
    birth_height_std_m: float
    cos_cone_half_angle: float
    survival_probability: float
    process_std_m: float
    jitter_std_m: float
    gate_log_ratio: float
    gate_range_m: float
    gate_distance_m: float
    log_prune_odds: float
    n_birth_particles: int
    censor_logodds: float
    confirm_logodds: float
    angle_spread_rad: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The constants as the binding takes them (a copy; ``dataclasses.asdict`` deep-copies
        and costs ~50x more)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class MappingParams:
    """Measurement model, birth model and sum-product settings of the mapper.

    The paper's numbers are kept where it gives them (P = 20,000, T = 2 iterations); the
    values its text lost are our defaults (docs/mapping_model.md says which and why).

    Parameters
    ----------
    n_particles : int
        Particles per PMF (paper: 20,000).
    n_iterations : int
        Message-passing iterations per module call (paper: 2).
    range_std_m : float
        Bistatic pseudo-range noise std, mapping paper eq. (4) [m].
    position_std_m : float
        Monostatic pseudo-position noise std per axis, eq. (8) (covariance
        ``position_std_m**2 * I``) [m].
    excess_mean_m : float
        Mean excess range of a diffuse bistatic path (exponential), eq. (19) [m].
    specular_mpc_mean, diffuse_mpc_mean : float
        Poisson means of the specular and diffuse bistatic MPCs of a facade per epoch.
    monostatic_mpc_mean : float
        Poisson mean of the monostatic MPCs of a facade per epoch.
    clutter_mean_bistatic : float
        Poisson mean of the bistatic false alarms per epoch, uniform on ``[0, range_max_m]``.
    range_max_m : float
        Largest bistatic pseudo-range (the clutter interval) [m].
    clutter_mean_monostatic : float
        Poisson mean of the monostatic false alarms per epoch, uniform in ``clutter_box_m``.
    clutter_box_m : tuple of 6 float
        ``(x_lo, y_lo, z_lo, x_hi, y_hi, z_hi)`` [m]; monostatic points must lie in it.
    facade_area_m2 : float
        In-plane area constant of the monostatic likelihood (docs/mapping_model.md,
        section 2.2) [m^2].
    birth_mean : float
        Mean number of new features per epoch and birth link, eq. (27).
    roi_center_m, roi_radius_m : tuple of 3 float, float
        The birth pdf is uniform on this ball [m].
    birth_height_std_m : float or None
        Vertical-facade birth pdf of *bistatic* births (not in the paper): VA height
        ~ N(birth_height_m, birth_height_std_m^2) instead of uniform over the ROI ball
        (``None``, the paper's model). Facades here are vertical, so every VA lies at the
        BS height; a bistatic range then confines a new VA to a circle instead of a sphere,
        and far fewer particles suffice (docs/mapping_model.md, section 4.2) [m].
    birth_height_m : float or None
        The VA height of that pdf [m]; :class:`~skysense.mapping.Mapper` fills in the BS
        height when it is ``None``.
    cone_half_angle_deg : float
        Half-angle of the plane-normal cone of the monostatic birth proposal, in (0, 90)
        [deg].
    survival_probability : float
        Probability that a feature survives one epoch, eq. (12).
    process_std_m, jitter_std_m : float
        Position random walk per epoch (eq. (12)) and post-resampling jitter std [m].
    visibility_bistatic, visibility_monostatic : float
        Probability that a feature is visible on the link, in (0, 1]; 1 is the paper's model
        (docs/mapping_model.md, section 3.4).
    prune_threshold, detect_threshold : float
        Existence probabilities below which a PMF is pruned and above which it is reported
        (paper Sec. IV-A), in (0, 1).
    gate_log_ratio : float
        Edges whose largest log-likelihood ratio is below this are not connected.
    gate_range_m : float or None
        Bistatic births ignore measurements farther than this from their own [m]
        (``None``: ``5 range_std_m + 10 excess_mean_m``).
    gate_distance_m : float
        Monostatic births ignore measurements farther than this from their own [m] (a facade
        cluster is assumed to span less; the simulator's patch is +-8 m).
    n_birth_particles : int or None
        Particles of a new PMF until it is confirmed (not in the paper; ``None``:
        ``n_particles``, the paper's model; docs/mapping_model.md, section 4.5). The messages
        of a new PMF are first computed on this many particles drawn from its birth proposal;
        see ``birth_confirm_margin`` for what happens to one that may survive. Values >=
        ``n_particles`` mean ``n_particles``. Default 2,000: most new PMFs die in their first
        call (all of them at 4x the default measurement load), and these then cost
        ``n_birth_particles`` instead of ``n_particles`` particles.
    birth_confirm_margin : float or None
        Confirmation of new PMFs on ``n_birth_particles`` (nats of log-odds, >= 0). A new PMF
        whose posterior log-odds reaches ``log(prune_threshold / (1 - prune_threshold))`` less
        this margin is redrawn on ``n_particles`` particles from its birth proposal (the
        paper's draw) and the messages of the call are computed again; the others keep their
        particles and are pruned unless that second pass lifts them. ``None``: no
        confirmation, a surviving new PMF is resampled from its ``n_birth_particles``
        particles (this lost accuracy in mapping-mospa). Default 4: for the 54 new PMFs that
        survived their first call in a test at P = 20,000, the estimate on 1,000 / 2,500
        particles was at most 4.2 / 2.4 below the one on 20,000 (docs section 4.5).
    censor_threshold : float or None
        Censoring of new PMFs (Meyer et al., Proc. IEEE 2018; not in the paper; ``None``:
        off; docs/mapping_model.md, section 5.3). A birth-link measurement whose association
        probability with the legacy PMFs exceeds this creates no new PMF (it is still
        associated as usual). Default 0.9: in the mapping-mospa run it lowered MOSPA in most
        fusion cells (README).
    specular_detection_probability : float
        Simulator: probability that the specular MPC of a visible facade is detected.
    diffuse_half_width_m : float
        Simulator: half-width of the monostatic diffuse patch around the foot point [m].
    one_to_one_detection_probability, undetected_mean : float
        One-to-one baseline: detection probability and mean number of undetected features
        (docs/mapping_model.md, section 8).
    bistatic_angles : bool
        Angle-aided bistatic likelihood and births (ours, not the paper's; docs/pipeline.md):
        the :class:`~skysense.mapping.Mapper` attaches the AoA and AoD of the bistatic
        measurements to the bistatic link. Default False: range only, the paper's model.
    angle_spread_rad : float
        Std added in quadrature to each measured angle's own std in the angle-aided
        likelihood (model mismatch: estimator bias, facade roughness) [rad].

    Raises
    ------
    ValueError, TypeError
        For a value out of its range or of the wrong type (the message names the parameter).

    Examples
    --------
    >>> from skysense.mapping import MappingParams
    >>> params = MappingParams(n_particles=2000, birth_height_std_m=1.0)
    >>> params.link_mpc_mean("bistatic")  # specular + diffuse
    3.95
    >>> round(params.clutter_volume_m3)
    5400000
    """

    n_particles: int = 3000
    n_iterations: int = 2
    range_std_m: float = 0.3
    position_std_m: float = 0.1
    excess_mean_m: float = 2.0
    specular_mpc_mean: float = 0.95
    diffuse_mpc_mean: float = 3.0
    monostatic_mpc_mean: float = 4.0
    clutter_mean_bistatic: float = 1.0
    range_max_m: float = 400.0
    clutter_mean_monostatic: float = 1.0
    clutter_box_m: tuple[float, ...] = (-150.0, -150.0, 0.0, 150.0, 150.0, 60.0)
    facade_area_m2: float = 1500.0
    birth_mean: float = 1e-2
    roi_center_m: tuple[float, ...] = (0.0, 0.0, 20.0)
    roi_radius_m: float = 200.0
    birth_height_std_m: float | None = None
    birth_height_m: float | None = None
    cone_half_angle_deg: float = 80.0
    survival_probability: float = 0.999
    process_std_m: float = 0.02
    jitter_std_m: float = 0.1
    visibility_bistatic: float = 1.0
    visibility_monostatic: float = 1.0
    prune_threshold: float = 1e-3
    detect_threshold: float = 0.5
    gate_log_ratio: float = math.log(1e-10)
    gate_range_m: float | None = None
    gate_distance_m: float = 25.0
    n_birth_particles: int | None = 2000
    birth_confirm_margin: float | None = 4.0
    censor_threshold: float | None = 0.9
    specular_detection_probability: float = 0.95
    diffuse_half_width_m: float = 8.0
    one_to_one_detection_probability: float = 0.95
    undetected_mean: float = 1.0
    bistatic_angles: bool = False
    angle_spread_rad: float = 0.01

    def __post_init__(self) -> None:
        check_count(self.n_particles, "n_particles")
        check_count(self.n_iterations, "n_iterations", minimum=0)
        for name in (
            "range_std_m",
            "position_std_m",
            "excess_mean_m",
            "specular_mpc_mean",
            "diffuse_mpc_mean",
            "monostatic_mpc_mean",
            "clutter_mean_bistatic",
            "range_max_m",
            "clutter_mean_monostatic",
            "facade_area_m2",
            "birth_mean",
            "roi_radius_m",
            "cone_half_angle_deg",
        ):
            check_positive(getattr(self, name), name)
        if not isinstance(self.bistatic_angles, bool | np.bool_):
            raise TypeError(
                f"bistatic_angles must be a bool, got {type(self.bistatic_angles).__name__}"
            )
        for name in (
            "process_std_m",
            "jitter_std_m",
            "diffuse_half_width_m",
            "undetected_mean",
            "angle_spread_rad",
        ):
            check_positive(getattr(self, name), name, strict=False)
        if self.cone_half_angle_deg >= 90:
            raise ValueError(
                f"cone_half_angle_deg must lie in (0, 90), got {self.cone_half_angle_deg}"
            )
        box = as_array(self.clutter_box_m, "clutter_box_m", shape=(6,), dtype=np.float64)
        if not np.all(box[3:] > box[:3]):
            raise ValueError(
                f"clutter_box_m must have hi > lo on every axis, got {tuple(box.tolist())}"
            )
        object.__setattr__(self, "clutter_box_m", tuple(float(b) for b in box))
        centre = as_array(self.roi_center_m, "roi_center_m", shape=(3,), dtype=np.float64)
        object.__setattr__(self, "roi_center_m", tuple(float(c) for c in centre))
        # volumes and squared distances of the model must be float64: a length's cube may not
        # overflow (roi_radius_m=1e300 raised OverflowError 34 without a name)
        for name in ("roi_radius_m", "range_max_m", "process_std_m", "jitter_std_m"):
            if getattr(self, name) > _MAX_LENGTH_M:
                raise ValueError(
                    f"{name} must be <= {_MAX_LENGTH_M:g} m, got {getattr(self, name)}"
                )
        for name in ("clutter_box_m", "roi_center_m"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if np.abs(values).max() > _MAX_LENGTH_M:
                raise ValueError(
                    f"{name} must lie within +-{_MAX_LENGTH_M:g} m, got {tuple(values.tolist())}"
                )
        _probability(self.survival_probability, "survival_probability")
        _probability(self.visibility_bistatic, "visibility_bistatic")
        _probability(self.visibility_monostatic, "visibility_monostatic")
        _probability(self.prune_threshold, "prune_threshold", open_high=True)
        _probability(self.detect_threshold, "detect_threshold", open_high=True)
        _probability(
            self.specular_detection_probability, "specular_detection_probability", open_low=False
        )
        _probability(
            self.one_to_one_detection_probability,
            "one_to_one_detection_probability",
            open_high=True,
        )
        check_finite_scalar(self.gate_log_ratio, "gate_log_ratio")
        check_positive(self.gate_distance_m, "gate_distance_m")
        if self.gate_range_m is not None:
            check_positive(self.gate_range_m, "gate_range_m")
        if self.n_birth_particles is not None:
            check_count(self.n_birth_particles, "n_birth_particles")
        if self.censor_threshold is not None:
            _probability(self.censor_threshold, "censor_threshold", open_high=True)
        if self.birth_confirm_margin is not None:
            check_positive(self.birth_confirm_margin, "birth_confirm_margin", strict=False)
        if self.birth_height_std_m is not None:
            check_positive(self.birth_height_std_m, "birth_height_std_m")
            if self.birth_height_std_m >= 0.5 * self.roi_radius_m:
                raise ValueError(
                    f"birth_height_std_m must be < roi_radius_m / 2 = {0.5 * self.roi_radius_m},"
                    f" got {self.birth_height_std_m}"
                )
        if self.birth_height_m is not None:
            h = check_finite_scalar(self.birth_height_m, "birth_height_m")
            if abs(h - self.roi_center_m[2]) >= self.roi_radius_m:
                raise ValueError(
                    f"birth_height_m must lie inside the ROI ball (|h - {self.roi_center_m[2]}| "
                    f"< {self.roi_radius_m}), got {h}"
                )
            std = self.birth_height_std_m or 0.0
            if (h - self.roi_center_m[2]) ** 2 + std**2 >= self.roi_radius_m**2:
                # the birth pdf's normaliser pi (R^2 - dz^2 - std^2) must be positive
                raise ValueError(
                    "birth_height_m and birth_height_std_m put the birth disc outside the ROI "
                    "ball: need (birth_height_m - z_centre)^2 + birth_height_std_m^2 < "
                    f"roi_radius_m^2 = {self.roi_radius_m**2}, got "
                    f"{(h - self.roi_center_m[2]) ** 2 + std**2}"
                )

    @property
    def clutter_volume_m3(self) -> float:
        """Volume of the monostatic clutter box [m^3]."""
        b = self.clutter_box_m
        return (b[3] - b[0]) * (b[4] - b[1]) * (b[5] - b[2])

    def link_mpc_mean(self, kind: str, *, diffuse: bool = True) -> float:
        """Poisson mean of the MPCs a facade generates per epoch on a link.

        Parameters
        ----------
        kind : {"bistatic", "monostatic"}
        diffuse : bool
            Bistatic: count the diffuse MPCs too (the specular-only model counts
            ``specular_mpc_mean`` alone).

        Returns
        -------
        float
            The ``mu`` of the pseudo-prior ``exp(-mu)`` of eq. (26).
        """
        if kind == "monostatic":
            return self.monostatic_mpc_mean
        if kind != "bistatic":
            raise ValueError(f"kind must be 'bistatic' or 'monostatic', got {kind!r}")
        return self.specular_mpc_mean + (self.diffuse_mpc_mean if diffuse else 0.0)

    def _kernel_constants(self) -> _KernelConstants:
        """The constants of one module call (both engines); computed once per instance."""
        cached = self.__dict__.get("_kernel_cache")
        if cached is None:
            cached = self._compute_kernel_constants()
            object.__setattr__(self, "_kernel_cache", cached)  # not a field: eq, hash unaffected
        return cached

    def _compute_kernel_constants(self) -> _KernelConstants:
        birth_height_m = math.nan  # unused by the paper's uniform-ball birth pdf
        if self.birth_height_std_m is not None:
            if self.birth_height_m is None:
                raise ValueError(
                    "birth_height_std_m needs birth_height_m (the Mapper sets it to the BS height)"
                )
            birth_height_m = float(self.birth_height_m)
        gate_range_m = (
            5 * self.range_std_m + 10 * self.excess_mean_m
            if self.gate_range_m is None
            else self.gate_range_m
        )
        centre = self.roi_center_m
        return _KernelConstants(
            n_iterations=self.n_iterations,
            range_std_m=self.range_std_m,
            excess_rate_per_m=1.0 / self.excess_mean_m,
            specular_mpc_mean=self.specular_mpc_mean,
            diffuse_mpc_mean=self.diffuse_mpc_mean,
            log_clutter_density_bistatic=math.log(self.clutter_mean_bistatic / self.range_max_m),
            position_std_m=self.position_std_m,
            monostatic_mpc_mean=self.monostatic_mpc_mean,
            log_facade_area=math.log(self.facade_area_m2),
            log_clutter_density_monostatic=math.log(
                self.clutter_mean_monostatic / self.clutter_volume_m3
            ),
            log_birth_mean=math.log(self.birth_mean),
            roi_center_m=(centre[0], centre[1], centre[2]),
            roi_radius_m=self.roi_radius_m,
            birth_height_m=birth_height_m,
            birth_height_std_m=(
                0.0 if self.birth_height_std_m is None else float(self.birth_height_std_m)
            ),
            cos_cone_half_angle=math.cos(math.radians(self.cone_half_angle_deg)),
            survival_probability=self.survival_probability,
            process_std_m=self.process_std_m,
            jitter_std_m=self.jitter_std_m,
            gate_log_ratio=self.gate_log_ratio,
            gate_range_m=gate_range_m,
            gate_distance_m=self.gate_distance_m,
            log_prune_odds=_logit(self.prune_threshold),
            n_birth_particles=0 if self.n_birth_particles is None else int(self.n_birth_particles),
            censor_logodds=(
                math.inf if self.censor_threshold is None else _logit(self.censor_threshold)
            ),
            confirm_logodds=(
                math.inf
                if self.birth_confirm_margin is None
                else _logit(self.prune_threshold) - self.birth_confirm_margin
            ),
            angle_spread_rad=self.angle_spread_rad,
        )
