"""Model and algorithm parameters of the VA mapper (spec table 1.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array, check_count, check_finite_scalar, check_positive

__all__ = ["MappingParams"]


def _probability(value, name, *, open_low=True, open_high=False):
    value = check_finite_scalar(value, name)
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok):
        raise ValueError(
            f"{name} must lie in {'(' if open_low else '['}0, 1{')' if open_high else ']'}"
        )
    return value


@dataclass(frozen=True)
class MappingParams:
    """Measurement model, birth model and SPA settings; defaults from shared/specs/mapping.md.

    Parameters
    ----------
    n_particles : int
        P, particles per PMF (paper: 20,000).
    n_iter : int
        T, message-passing iterations per module call (paper: 2).
    range_std_m : float
        sigma_r, bistatic pseudo-range noise std [m].
    position_std_m : float
        sigma_z, monostatic pseudo-position noise std per axis [m] (Sigma_z = sigma_z^2 I).
    excess_mean_m : float
        1 / lambda_e, mean diffuse excess pseudo-range (exponential) [m].
    mean_specular, mean_diffuse : float
        mu_s, mu_d: mean specular / diffuse bistatic MPCs per facade and epoch.
    mean_monostatic : float
        mu_m: mean monostatic MPCs per facade and epoch.
    clutter_mean_b, range_max_m : float
        Bistatic clutter: Poisson mean, uniform on [0, range_max_m] [m].
    clutter_mean_m : float
        Monostatic clutter Poisson mean, uniform in the box ``clutter_box_m``.
    clutter_box_m : tuple of 6 float
        (x_lo, y_lo, z_lo, x_hi, y_hi, z_hi) [m]; also the region monostatic points must lie in.
    facade_area_m2 : float
        A_f, in-plane area constant of the monostatic likelihood [m^2].
    birth_mean : float
        mu_n, mean births per epoch and birth link.
    roi_center_m, roi_radius_m : tuple of 3 float, float
        Birth pdf: uniform on this ball [m].
    birth_height_std_m : float or None
        Vertical-facade birth pdf of *bistatic* births (not in the paper): VA height
        ~ N(birth_height_m, birth_height_std_m^2) instead of uniform over the ROI ball
        (``None``, the paper's model). Facades here are vertical, so every VA lies at the
        BS height; a bistatic range then confines a new VA to a circle instead of a sphere,
        and far fewer particles suffice (see :class:`skysense.mapping.Mapper`).
    birth_height_m : float or None
        The VA height of that pdf [m]; :class:`~skysense.mapping.Mapper` fills in the BS
        height when it is ``None``.
    cone_half_angle_deg : float
        Half-angle of the plane-normal cone of the monostatic birth proposal [deg].
    survival : float
        p_s, survival probability per epoch.
    process_std_m, jitter_std_m : float
        Process noise per epoch and post-resampling jitter std [m].
    visibility_b, visibility_m : float
        p_v per link (spec 3.7); 1 is the paper's model.
    prune_threshold, detect_threshold : float
        P_pr and P_de on the existence probability.
    gate_llr : float
        Edges whose largest log-likelihood ratio is below this are not connected.
    gate_range_m : float or None
        Bistatic births ignore measurements farther than this from their own [m]
        (``None``: 5 sigma_r + 10 / lambda_e).
    gate_distance_m : float
        Monostatic births ignore measurements farther than this from their own [m] (a facade
        cluster is assumed to span less; the spec's patch is +-8 m).
    n_birth_particles : int or None
        Particles of a new PMF (not in the paper; ``None``: ``n_particles``, the paper). The
        messages of a new PMF are computed on this many particles drawn from its proposal;
        if it survives pruning it is resampled (systematic, with jitter) to ``n_particles``.
        Values >= ``n_particles`` mean ``n_particles``. Off by default: in mapping-mospa at
        P = 20,000 a cap of 2,000 gave back almost all of the MOSPA gain of P = 20,000 over
        P = 2,000 (a PMF resampled from 2,000 particles keeps only 2,000 distinct positions;
        README, Environment mapping).
    censor_threshold : float or None
        Censoring of new PMFs (Meyer et al., Proc. IEEE 2018; not in the paper; ``None``:
        off). A birth-link measurement whose association probability with the legacy PMFs,
        ``sum_k rho_km / (1 + sum_k rho_km)`` from a legacy-only first message-passing
        iteration, exceeds this creates no new PMF (it is still associated as usual).
        Default 0.9: in the mapping-mospa run it lowered MOSPA in most fusion cells (README).
    detect_prob_specular : float
        Simulator: probability that the specular MPC is detected.
    diffuse_half_width_m : float
        Simulator: half-width of the monostatic diffuse patch around the foot point [m].
    detect_prob_oto, undetected_mean : float
        One-to-one baseline: p_d and mu_u (spec 4.4).
    """

    n_particles: int = 3000
    n_iter: int = 2
    range_std_m: float = 0.3
    position_std_m: float = 0.1
    excess_mean_m: float = 2.0
    mean_specular: float = 0.95
    mean_diffuse: float = 3.0
    mean_monostatic: float = 4.0
    clutter_mean_b: float = 1.0
    range_max_m: float = 400.0
    clutter_mean_m: float = 1.0
    clutter_box_m: tuple = (-150.0, -150.0, 0.0, 150.0, 150.0, 60.0)
    facade_area_m2: float = 1500.0
    birth_mean: float = 1e-2
    roi_center_m: tuple = (0.0, 0.0, 20.0)
    roi_radius_m: float = 200.0
    birth_height_std_m: float | None = None
    birth_height_m: float | None = None
    cone_half_angle_deg: float = 80.0
    survival: float = 0.999
    process_std_m: float = 0.02
    jitter_std_m: float = 0.1
    visibility_b: float = 1.0
    visibility_m: float = 1.0
    prune_threshold: float = 1e-3
    detect_threshold: float = 0.5
    gate_llr: float = math.log(1e-10)
    gate_range_m: float | None = None
    gate_distance_m: float = 25.0
    n_birth_particles: int | None = None
    censor_threshold: float | None = 0.9
    detect_prob_specular: float = 0.95
    diffuse_half_width_m: float = 8.0
    detect_prob_oto: float = 0.95
    undetected_mean: float = 1.0

    def __post_init__(self):
        check_count(self.n_particles, "n_particles")
        check_count(self.n_iter, "n_iter", minimum=0)
        for name in (
            "range_std_m",
            "position_std_m",
            "excess_mean_m",
            "mean_specular",
            "mean_diffuse",
            "mean_monostatic",
            "clutter_mean_b",
            "range_max_m",
            "clutter_mean_m",
            "facade_area_m2",
            "birth_mean",
            "roi_radius_m",
            "cone_half_angle_deg",
        ):
            check_positive(getattr(self, name), name)
        for name in ("process_std_m", "jitter_std_m", "diffuse_half_width_m", "undetected_mean"):
            check_positive(getattr(self, name), name, strict=False)
        if self.cone_half_angle_deg >= 90:
            raise ValueError("cone_half_angle_deg must be < 90")
        box = as_array(self.clutter_box_m, "clutter_box_m", shape=(6,), dtype=np.float64)
        if not np.all(box[3:] > box[:3]):
            raise ValueError("clutter_box_m must have hi > lo on every axis")
        object.__setattr__(self, "clutter_box_m", tuple(float(b) for b in box))
        centre = as_array(self.roi_center_m, "roi_center_m", shape=(3,), dtype=np.float64)
        object.__setattr__(self, "roi_center_m", tuple(float(c) for c in centre))
        _probability(self.survival, "survival")
        _probability(self.visibility_b, "visibility_b")
        _probability(self.visibility_m, "visibility_m")
        _probability(self.prune_threshold, "prune_threshold", open_high=True)
        _probability(self.detect_threshold, "detect_threshold", open_high=True)
        _probability(self.detect_prob_specular, "detect_prob_specular", open_low=False)
        _probability(self.detect_prob_oto, "detect_prob_oto", open_high=True)
        check_finite_scalar(self.gate_llr, "gate_llr")
        check_positive(self.gate_distance_m, "gate_distance_m")
        if self.gate_range_m is not None:
            check_positive(self.gate_range_m, "gate_range_m")
        if self.n_birth_particles is not None:
            check_count(self.n_birth_particles, "n_birth_particles")
        if self.censor_threshold is not None:
            _probability(self.censor_threshold, "censor_threshold", open_high=True)
        if self.birth_height_std_m is not None:
            check_positive(self.birth_height_std_m, "birth_height_std_m")
            if self.birth_height_std_m >= 0.5 * self.roi_radius_m:
                raise ValueError("birth_height_std_m must be < roi_radius_m / 2")
        if self.birth_height_m is not None:
            h = check_finite_scalar(self.birth_height_m, "birth_height_m")
            if abs(h - self.roi_center_m[2]) >= self.roi_radius_m:
                raise ValueError("birth_height_m must lie inside the ROI ball")
            std = self.birth_height_std_m or 0.0
            if (h - self.roi_center_m[2]) ** 2 + std**2 >= self.roi_radius_m**2:
                # the birth pdf's normaliser pi (R^2 - dz^2 - std^2) must be positive
                raise ValueError(
                    "birth_height_m and birth_height_std_m put the birth disc outside the ROI "
                    "ball: need (birth_height_m - z_centre)^2 + birth_height_std_m^2 < "
                    "roi_radius_m^2"
                )

    @property
    def clutter_volume_m3(self) -> float:
        """V_m, volume of the monostatic clutter box [m^3]."""
        b = self.clutter_box_m
        return (b[3] - b[0]) * (b[4] - b[1]) * (b[5] - b[2])

    def link_mean(self, kind: str, diffuse: bool = True) -> float:
        """Poisson mean of MPCs per feature on a link (mu_b = mu_s + mu_d, or mu_s, or mu_m)."""
        if kind == "monostatic":
            return self.mean_monostatic
        return self.mean_specular + (self.mean_diffuse if diffuse else 0.0)

    def _birth_z(self) -> float:
        if self.birth_height_std_m is None:
            return math.nan
        if self.birth_height_m is None:
            raise ValueError(
                "birth_height_std_m needs birth_height_m (the Mapper sets it to the BS height)"
            )
        return float(self.birth_height_m)

    def kernel_dict(self) -> dict:
        """The constants of the C++ module (``skysense._core.spa_update``)."""
        gate_range = (
            5 * self.range_std_m + 10 * self.excess_mean_m
            if self.gate_range_m is None
            else self.gate_range_m
        )
        return {
            "n_iter": self.n_iter,
            "sig_r": self.range_std_m,
            "lam_e": 1.0 / self.excess_mean_m,
            "mu_s": self.mean_specular,
            "mu_d": self.mean_diffuse,
            "log_clutter_b": math.log(self.clutter_mean_b / self.range_max_m),
            "sig_z": self.position_std_m,
            "mu_m": self.mean_monostatic,
            "log_area": math.log(self.facade_area_m2),
            "log_clutter_m": math.log(self.clutter_mean_m / self.clutter_volume_m3),
            "log_mu_n": math.log(self.birth_mean),
            "roi_c": list(self.roi_center_m),
            "roi_r": self.roi_radius_m,
            "birth_z_std": 0.0 if self.birth_height_std_m is None else self.birth_height_std_m,
            "birth_z": self._birth_z(),
            "cone_cos": math.cos(math.radians(self.cone_half_angle_deg)),
            "p_s": self.survival,
            "sig_q": self.process_std_m,
            "sig_reg": self.jitter_std_m,
            "gate_log": self.gate_llr,
            "gate_range": gate_range,
            "gate_distance": self.gate_distance_m,
            "log_prune": math.log(self.prune_threshold) - math.log1p(-self.prune_threshold),
            "n_birth": 0 if self.n_birth_particles is None else int(self.n_birth_particles),
            "censor_logit": (
                math.inf
                if self.censor_threshold is None
                else math.log(self.censor_threshold) - math.log1p(-self.censor_threshold)
            ),
        }
