"""Random bistatic geometries for Monte-Carlo runs (targets inside the CP-limited window, eq. 7).

Plane geometry: the BS at the origin with its ULA along x and broadside +y; a direction is the
angle ``psi`` of the unit vector ``(sin psi, cos psi)``. The radar sits at distance
``baseline_m`` in the direction of the LoS AoD, and its broadside is turned so that the LoS
path arrives at ``los_aoa_rad``. The receiver is synchronised to the LoS path, so a target's
ToA is its bistatic excess path over c, which eq. (7) bounds by the cyclic prefix.
"""

from __future__ import annotations

import math

import numpy as np

from skysense._validation import check_count, check_finite_scalar, check_positive
from skysense.bistatic.scenario import SPEED_OF_LIGHT, Paths, Scenario

__all__ = ["random_paths"]

_GAIN_MODELS = ("unit", "radar")
#: Default LoS AoD and AoA [rad]: both arrays nearly face each other, so the bistatic window
#: spreads the targets over the +-60 degree sectors (with the JSTSP code's 50 / 60 degrees
#: most targets would sit near the BS endfire).
LOS_AOD_RAD = math.radians(10.0)
LOS_AOA_RAD = math.radians(-10.0)
#: Default field of view of both ULAs [rad].
MAX_ANGLE_RAD = math.radians(60.0)
#: Candidate draws per target before giving up.
_MAX_DRAWS = 100_000


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def random_paths(
    scenario: Scenario,
    rng,
    *,
    n_targets=3,
    los=True,
    baseline_m=50.0,
    los_aod_rad=LOS_AOD_RAD,
    los_aoa_rad=LOS_AOA_RAD,
    max_angle_rad=MAX_ANGLE_RAD,
    min_range_m=1.0,
    min_separation_s=None,
    max_excess_delay_s=None,
    gain_model="unit",
    max_speed_mps=0.0,
) -> Paths:
    """Draw targets uniformly inside the bistatic window, plus the LoS path.

    Parameters
    ----------
    scenario : Scenario
        Numerology (c T_cp bounds the excess path).
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).
    n_targets : int
        Targets q_t (3); the result has ``n_targets + los`` paths.
    los : bool
        Include the LoS BS -> radar path (delay 0).
    baseline_m : float
        BS-radar distance [m].
    los_aod_rad, los_aoa_rad : float
        LoS AoD at the BS and AoA at the radar [rad] (10 and -10 degrees).
    max_angle_rad : float
        Targets keep |AoA|, |AoD| <= this [rad] (field of view of both ULAs).
    min_range_m : float
        Minimum BS-target and target-radar distance [m].
    min_separation_s : float, optional
        Minimum delay difference between any two paths [s]; default one resolution cell
        1/(N df), so the paths are resolvable in delay.
    max_excess_delay_s : float, optional
        Upper bound of the target delays [s]; default T_cp (eq. 7).
    gain_model : {"unit", "radar"}
        ``"unit"``: |gamma| = 1 (JSTSP code). ``"radar"``: eq. (3) with unit RCS,
        ``|gamma| ~ lambda / ((4 pi)^1.5 d_BT d_TR)`` against ``lambda / (4 pi d_BR)`` for the
        LoS, scaled so the strongest path has |gamma| = 1. Phases are uniform.
    max_speed_mps : float
        Target speeds are uniform in [0, max_speed_mps] in a uniform direction; the
        bistatic Doppler is ``-(v . (u_BT + u_RT)) / lambda`` (0 for the LoS).

    Returns
    -------
    Paths
        Sorted by delay.
    """
    rng = np.random.default_rng(rng)
    n_targets = check_count(n_targets, "n_targets", minimum=0)
    baseline = check_positive(baseline_m, "baseline_m")
    phi_l = check_finite_scalar(los_aod_rad, "los_aod_rad")
    theta_l = check_finite_scalar(los_aoa_rad, "los_aoa_rad")
    max_angle = check_positive(max_angle_rad, "max_angle_rad")
    min_range = check_positive(min_range_m, "min_range_m", strict=False)
    speed = check_positive(max_speed_mps, "max_speed_mps", strict=False)
    sep = scenario.delay_resolution_s if min_separation_s is None else min_separation_s
    sep = check_positive(sep, "min_separation_s", strict=False)
    tmax = scenario.cp_s if max_excess_delay_s is None else max_excess_delay_s
    tmax = check_positive(tmax, "max_excess_delay_s")
    if tmax >= scenario.useful_symbol_s:
        raise ValueError("max_excess_delay_s must be < 1/df (no delay aliasing)")
    if gain_model not in _GAIN_MODELS:
        raise ValueError(f"gain_model must be one of {_GAIN_MODELS}, got {gain_model!r}")
    if n_targets + los < 1:
        raise ValueError("need at least one path (n_targets >= 1 or los=True)")

    radar = baseline * np.array([math.sin(phi_l), math.cos(phi_l)])
    beta = phi_l + math.pi - theta_l  # radar broadside direction
    excess_max = SPEED_OF_LIGHT * tmax
    semi_major = 0.5 * (baseline + excess_max)
    centre = 0.5 * radar

    aoa, aod, delay, d_bt, d_tr, doppler = [], [], [], [], [], []
    if los:
        aoa.append(theta_l)
        aod.append(phi_l)
        delay.append(0.0)
        doppler.append(0.0)
    lam = scenario.wavelength_m
    for _ in range(n_targets):
        for _draw in range(_MAX_DRAWS):
            p = centre + rng.uniform(-semi_major, semi_major, 2)
            r_bt, r_tr = float(np.hypot(*p)), float(np.hypot(*(p - radar)))
            tau = (r_bt + r_tr - baseline) / SPEED_OF_LIGHT
            if tau > tmax or min(r_bt, r_tr) < max(min_range, 1e-9):
                continue
            phi = _wrap(math.atan2(p[0], p[1]))
            theta = _wrap(math.atan2(p[0] - radar[0], p[1] - radar[1]) - beta)
            if abs(phi) > max_angle or abs(theta) > max_angle:
                continue
            if delay and np.min(np.abs(np.asarray(delay) - tau)) < sep:
                continue
            break
        else:
            raise RuntimeError(
                f"no target position found in {_MAX_DRAWS} draws; relax min_separation_s, "
                "max_angle_rad or max_excess_delay_s"
            )
        aoa.append(theta)
        aod.append(phi)
        delay.append(tau)
        d_bt.append(r_bt)
        d_tr.append(r_tr)
        v = rng.uniform(0.0, speed) * np.array(
            [math.cos(a := rng.uniform(0, 2 * math.pi)), math.sin(a)]
        )
        u_bt, u_rt = p / r_bt, (p - radar) / r_tr
        doppler.append(-float(v @ (u_bt + u_rt)) / lam)

    q = len(aoa)
    if gain_model == "unit":
        amp = np.ones(q)
    else:
        target_amp = lam / ((4 * math.pi) ** 1.5 * np.asarray(d_bt) * np.asarray(d_tr))
        amp = np.concatenate(([lam / (4 * math.pi * baseline)] if los else [], target_amp))
        amp = amp / amp.max()
    gain = amp * np.exp(2j * math.pi * rng.uniform(size=q))
    return Paths(
        np.asarray(aoa), np.asarray(aod), np.asarray(delay), gain, np.asarray(doppler)
    ).sorted()
