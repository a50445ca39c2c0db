"""Random bistatic geometries for Monte-Carlo runs (targets inside the CP-limited window, eq. 7).

Plane geometry: the BS at the origin with its ULA along x and broadside +y; a direction is the
angle ``psi`` of the unit vector ``(sin psi, cos psi)``. The radar sits at distance
``baseline_m`` in the direction of the LoS AoD, and its broadside is turned so that the LoS
path arrives at ``los_aoa_rad``. The receiver is synchronised to the LoS path, so a target's
ToA is its bistatic excess path over c, which eq. (7) bounds by the cyclic prefix.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_finite_scalar, check_positive
from skysense.bistatic.paths import Paths
from skysense.bistatic.scenario import SPEED_OF_LIGHT, Scenario

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


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def random_paths(
    scenario: Scenario,
    *,
    rng: RngLike = None,
    n_targets: int = 3,
    los: bool = True,
    baseline_m: float = 50.0,
    los_aod_rad: float = LOS_AOD_RAD,
    los_aoa_rad: float = LOS_AOA_RAD,
    max_angle_rad: float = MAX_ANGLE_RAD,
    min_range_m: float = 1.0,
    min_toa_separation_s: float | None = None,
    max_toa_s: float | None = None,
    gain_model: Literal["unit", "radar"] = "unit",
    max_speed_mps: float = 0.0,
) -> Paths:
    """Draw targets uniformly inside the bistatic window, plus the LoS path.

    Parameters
    ----------
    scenario : Scenario
        Numerology (c T_cp bounds the excess path).
    rng : None, int, SeedSequence or Generator
        Random source (see ``docs/conventions.md``; a Generator's stream advances).
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
    min_toa_separation_s : float, optional
        Minimum ToA difference between any two paths [s]; default one resolution cell
        1/(N df), so the paths are resolvable in ToA.
    max_toa_s : float, optional
        Upper bound of the target ToAs (bistatic excess delays) [s]; default T_cp (eq. 7).
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
        Sorted by ToA.

    Raises
    ------
    RuntimeError
        No target position satisfies the constraints within 100,000 draws.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> p = bs.random_paths(sc, rng=0)
    >>> p.n_paths, float(p.toa_s[0])  # LoS + 3 targets; the LoS path comes first
    (4, 0.0)
    """
    gen = as_generator(rng)
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic Scenario, got {type(scenario).__name__}")
    n_targets = check_count(n_targets, "n_targets", minimum=0)
    baseline = check_positive(baseline_m, "baseline_m")
    phi_l = check_finite_scalar(los_aod_rad, "los_aod_rad")
    theta_l = check_finite_scalar(los_aoa_rad, "los_aoa_rad")
    max_angle = check_positive(max_angle_rad, "max_angle_rad")
    min_range = check_positive(min_range_m, "min_range_m", strict=False)
    speed = check_positive(max_speed_mps, "max_speed_mps", strict=False)
    sep = scenario.toa_resolution_s if min_toa_separation_s is None else min_toa_separation_s
    sep = check_positive(sep, "min_toa_separation_s", strict=False)
    tmax = scenario.cyclic_prefix_s if max_toa_s is None else max_toa_s
    tmax = check_positive(tmax, "max_toa_s")
    if tmax >= scenario.useful_symbol_s:
        raise ValueError(
            f"max_toa_s must be < 1/df = {scenario.useful_symbol_s:g} s (no ToA aliasing), "
            f"got {tmax:g}"
        )
    if gain_model not in _GAIN_MODELS:
        raise ValueError(f"gain_model must be one of {_GAIN_MODELS}, got {gain_model!r}")
    if n_targets + los < 1:
        raise ValueError("random_paths needs at least one path: n_targets >= 1 or los=True")

    radar = baseline * np.array([math.sin(phi_l), math.cos(phi_l)])
    beta = phi_l + math.pi - theta_l  # radar broadside direction
    excess_max = SPEED_OF_LIGHT * tmax
    semi_major = 0.5 * (baseline + excess_max)
    centre = 0.5 * radar

    aoa: list[float] = []
    aod: list[float] = []
    toa: list[float] = []
    d_bt: list[float] = []
    d_tr: list[float] = []
    doppler: list[float] = []
    if los:
        aoa.append(theta_l)
        aod.append(phi_l)
        toa.append(0.0)
        doppler.append(0.0)
    lam = scenario.wavelength_m
    for _ in range(n_targets):
        for _draw in range(_MAX_DRAWS):
            p = centre + gen.uniform(-semi_major, semi_major, 2)
            r_bt, r_tr = float(np.hypot(*p)), float(np.hypot(*(p - radar)))
            tau = (r_bt + r_tr - baseline) / SPEED_OF_LIGHT
            if tau > tmax or min(r_bt, r_tr) < max(min_range, 1e-9):
                continue
            phi = _wrap(math.atan2(p[0], p[1]))
            theta = _wrap(math.atan2(p[0] - radar[0], p[1] - radar[1]) - beta)
            if abs(phi) > max_angle or abs(theta) > max_angle:
                continue
            if toa and np.min(np.abs(np.asarray(toa) - tau)) < sep:
                continue
            break
        else:
            raise RuntimeError(
                f"no target position found in {_MAX_DRAWS} draws; relax min_toa_separation_s, "
                "max_angle_rad or max_toa_s"
            )
        aoa.append(theta)
        aod.append(phi)
        toa.append(tau)
        d_bt.append(r_bt)
        d_tr.append(r_tr)
        v = gen.uniform(0.0, speed) * np.array(
            [math.cos(a := gen.uniform(0, 2 * math.pi)), math.sin(a)]
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
    gain = amp * np.exp(2j * math.pi * gen.uniform(size=q))
    return Paths(
        np.asarray(aoa), np.asarray(aod), np.asarray(toa), gain, np.asarray(doppler)
    ).sorted()
