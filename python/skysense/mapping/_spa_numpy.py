"""Pure NumPy twin of the per-epoch SPA module: the reference of the C++ kernel.

One function per stage of ``ModuleCall`` in ``cpp/include/skysense/mapping_spa.hpp``, with the
same equations, edge set, gating and floors (mapping paper Secs. III-IV, docs/mapping_model.md);
vectorised over particles, Python loops over edges:

==========================  =================================================================
``predict_legacy_pmfs``     survival and position noise of the legacy PMFs, eqs. (12)-(17)
``add_legacy_edges``        legacy PMF - measurement edges and their log-likelihood ratios
``censor_new_pmfs``         the legacy-association log-odds of every birth measurement
``draw_birth_randoms``,     one new PMF per birth measurement, eq. (27): its random numbers,
``place_new_pmf``           then its particles and log weights
``add_new_pmf_edges``       gated edges of the new PMFs, eqs. (28)-(29)
``iterate_messages``        T iterations of the association messages (docs section 5.2)
``beliefs_and_estimates``   posterior existence log-odds and MMSE positions (Sec. IV-A)
``confirm_new_pmfs``        new PMFs on fewer particles that may survive: redrawn on P (docs 4.5)
``resample_pmf``            systematic resampling with jitter
==========================  =================================================================

Every stage is deterministic given its inputs and random numbers, so each can be run on
exactly the inputs of its C++ twin (``skysense._core._spa_stages``, tests/mapping/
test_spa_stages.py). :func:`spa_update_numpy` chains them with draws from a NumPy generator: it
agrees with the C++ module in distribution, not draw for draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import erfc, erfcx, logsumexp

from skysense.mapping.link import Link
from skysense.mapping.params import _KernelConstants

FloatArray = npt.NDArray[np.float64]

#: Floor of every log-message and log-likelihood ratio (docs/mapping_model.md, section 5.2).
LOG_FLOOR = -700.0
_LOG2PI = np.log(2 * np.pi)


def _log_norm(x: npt.ArrayLike, var: float) -> FloatArray:
    x = np.asarray(x, float)
    return -0.5 * (_LOG2PI + np.log(var) + x * x / var)


def _softplus(y: npt.ArrayLike) -> FloatArray:
    return np.logaddexp(0.0, y)


# --------------------------------------------------------------------- likelihood ratios
def log_emg(z: npt.ArrayLike, h: npt.ArrayLike, std: float, rate: float) -> FloatArray:
    """log pdf of ``z = h + D + e``, ``D ~ Exp(rate)``, ``e ~ N(0, std^2)`` (eq. (19)), stable
    for every ``z`` (docs section 2.1)."""
    z, h = np.broadcast_arrays(np.asarray(z, float), np.asarray(h, float))
    t = (h + rate * std * std - z) / (np.sqrt(2.0) * std)
    out = np.empty_like(t)
    pos = t > 0
    out[pos] = np.log(rate / 2) - (z[pos] - h[pos]) ** 2 / (2 * std * std) + np.log(erfcx(t[pos]))
    neg = ~pos
    out[neg] = (
        np.log(rate / 2)
        + rate * (h[neg] - z[neg])
        + 0.5 * rate * rate * std * std
        + np.log(erfc(t[neg]))
    )
    return out


def predicted_sines(link: Link, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``sin AoA`` at the UAV and ``sin AoD`` at the BS (n,) of VA particles ``x`` (n, 3) on an
    angle-aided bistatic link (ours; docs/pipeline.md): the direction UAV -> VA, and BS ->
    mirror image of the UAV in the facade (the perpendicular bisector of BS and VA), on each
    ULA's axis. NaN for a particle at the UAV or at the BS."""
    assert link.angles is not None
    u, b = link.sensor_position_m, link.angles.bs_position_m
    v = x - u
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.linalg.norm(v, axis=-1)
        n = (b - x) / np.linalg.norm(b - x, axis=-1, keepdims=True)
        w = u - x
        departure = w - 2 * np.sum(w * n, axis=-1, keepdims=True) * n  # |departure| = h
        return (v @ link.angles.uav_axis) / h, (departure @ link.angles.bs_axis) / h


def angle_log_factor(link: Link, m: int, x: FloatArray, kc: _KernelConstants) -> FloatArray:
    """log of the angle factor of measurement ``m`` (ours; docs/pipeline.md): Gaussian in the
    sines of AoA and AoD over their clutter density (uniform on [-1, 1]^2), ``log 4 -
    log(2 pi s_a s_d) - (sin AoA - a(x))^2 / (2 s_a^2) - (sin AoD - d(x))^2 / (2 s_d^2)``;
    -inf where the particle has no angle."""
    assert link.angles is not None
    sa, std_a, sd, std_d = link.angles.kernel_rows(kc.angle_spread_rad)[m]
    pa, pd = predicted_sines(link, x)
    out = np.log(4.0) + _log_norm(sa - pa, std_a**2) + _log_norm(sd - pd, std_d**2)
    return np.where(np.isfinite(out), out, -np.inf)


def log_likelihood_ratio(link: Link, m: int, x: FloatArray, kc: _KernelConstants) -> FloatArray:
    """Unfloored ``log L(z_m | x)`` of particles ``x`` (n, 3) on ``link`` (eqs. (18)-(20) over
    the clutter density of eq. (24); docs section 2), times the angle factor on an angle-aided
    bistatic link (:func:`angle_log_factor`)."""
    if link.kind == "bistatic":
        h = np.linalg.norm(x - link.sensor_position_m, axis=-1)  # eq. (9)
        z = link.measurements_m[m]
        ll = np.log(kc.specular_mpc_mean) + _log_norm(z - h, kc.range_std_m**2)  # eq. (18)
        if link.diffuse:  # eq. (19): mu_s f_s + mu_d f_d
            ll = np.logaddexp(
                ll,
                np.log(kc.diffuse_mpc_mean) + log_emg(z, h, kc.range_std_m, kc.excess_rate_per_m),
            )
        if link.angles is not None:
            ll = ll + angle_log_factor(link, m, x, kc)
        return ll - kc.log_clutter_density_bistatic
    v = x - link.sensor_position_m
    nrm = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # eqs. (10)-(11): signed distance of z~ from the perpendicular-bisector plane of x
        d = np.sum(
            v / nrm[:, None] * (link.measurements_m[m] - 0.5 * (x + link.sensor_position_m)),
            axis=-1,
        )
    out = (
        np.log(kc.monostatic_mpc_mean)
        + _log_norm(d, kc.position_std_m**2)
        - kc.log_facade_area
        - kc.log_clutter_density_monostatic
    )  # eq. (20)
    return np.where(nrm > 0, out, -np.inf)


def link_mpc_mean(link: Link, kc: _KernelConstants) -> float:
    """Poisson mean of a feature's MPCs on ``link`` (the ``mu`` of eq. (26))."""
    if link.kind == "monostatic":
        return kc.monostatic_mpc_mean
    return kc.specular_mpc_mean + (kc.diffuse_mpc_mean if link.diffuse else 0.0)


# --------------------------------------------------------------------- births
def _log_birth_pdf(x: FloatArray, kc: _KernelConstants) -> FloatArray:
    r = np.linalg.norm(x - np.asarray(kc.roi_center_m), axis=-1)
    return np.where(r <= kc.roi_radius_m, -np.log(4.0 / 3.0 * np.pi * kc.roi_radius_m**3), -np.inf)


def _range_proposal(link: Link, m: int, kc: _KernelConstants) -> tuple[float, float]:
    """Centre and variance of the folded-normal range proposal (docs section 4.1)."""
    mean_excess = 0.0
    if link.diffuse:
        mean_excess = (
            kc.diffuse_mpc_mean / (kc.specular_mpc_mean + kc.diffuse_mpc_mean)
        ) / kc.excess_rate_per_m
    centre = float(link.measurements_m[m]) - 0.5 * mean_excess
    return centre, 4 * kc.range_std_m**2 + mean_excess**2


def _log_folded_normal(r: FloatArray, centre: float, var: float) -> FloatArray:
    return np.logaddexp(_log_norm(r - centre, var), _log_norm(r + centre, var))


def _cone_frame(link: Link, m: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None:
    """``w = z~ - p_B``, its direction ``u0`` and two unit vectors ``e1, e2`` normal to it
    (``None`` at ``z~ = p_B``)."""
    w = link.measurements_m[m] - link.sensor_position_m
    nw = np.sqrt(np.sum(w * w))
    if not nw > 0:
        return None
    u0 = w / nw
    a = np.array([1.0, 0, 0]) if abs(u0[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(u0, a)
    e1 /= np.sqrt(np.sum(e1 * e1))
    return w, u0, e1, np.cross(u0, e1)


def birth_proposal(link: Link, kc: _KernelConstants) -> str:
    """The birth proposal of ``link`` (docs sections 4.1-4.3): ``"sphere"``,
    ``"vertical_circle"`` or ``"cone"``."""
    if link.kind == "monostatic":
        return "cone"
    if link.angles is not None:  # ours (docs/pipeline.md)
        vertical_ula = abs(link.angles.uav_axis[2]) >= 0.99
        return (
            "angle_cone_height" if kc.birth_height_std_m > 0 and not vertical_ula else "angle_cone"
        )
    return "vertical_circle" if kc.birth_height_std_m > 0 else "sphere"


def draw_birth_randoms(proposal: str, n: int, rng: np.random.Generator) -> FloatArray:
    """The random numbers (3, n) of a new PMF's ``n`` particles, in the layout of the C++
    ``draw_birth_randoms``: sphere (normal range, uniform cos polar angle, uniform azimuth),
    vertical circle (normal range, normal height, uniform azimuth), cone (uniform cos cone
    angle, uniform azimuth, normal plane offset)."""
    kinds = {
        "sphere": "NUU",
        "vertical_circle": "NNU",
        "cone": "UUN",
        "angle_cone": "NNU",
        "angle_cone_height": "NNN",
    }[proposal]
    return np.stack([rng.standard_normal(n) if c == "N" else rng.uniform(size=n) for c in kinds])


def _ula_frame(axis: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``e1, e2`` completing the ULA axis ``a`` to a right-handed frame (e1, e2, a): ``e2 = a x
    z`` normalised (horizontal) where ``a`` is not vertical."""
    e2 = np.array([axis[1], -axis[0], 0.0])
    n2 = np.hypot(e2[0], e2[1])
    e2 = e2 / n2 if n2 > 1e-6 else np.array([0.0, 1.0 if axis[2] > 0 else -1.0, 0.0])
    return np.cross(e2, axis), e2


def _log_vertical_birth(kc: _KernelConstants) -> float:
    """``-log A`` of the vertical-facade birth pdf (docs/mapping_model.md, section 4.2)."""
    dzc, sz = kc.birth_height_m - kc.roi_center_m[2], kc.birth_height_std_m
    return float(-np.log(np.pi * (kc.roi_radius_m**2 - dzc * dzc - sz * sz)))


def _place_angle_pmf(
    link: Link, m: int, draws: FloatArray, kc: _KernelConstants
) -> tuple[FloatArray, FloatArray]:
    """Angle-aided bistatic birth proposal (ours; docs/pipeline.md): particles (n, 3) and
    unfloored log weights (n,). Spherical coordinates about the UAV's ULA axis ``a``: ``x = u
    + r (c a + s (cos phi e1 + sin phi e2))``, ``dx = r^2 dr dc dphi``; ``r`` from the range
    proposal, ``c ~ N(sin AoA, (2 std)^2)``, ``phi`` uniform or (vertical-facade pdf) solved
    from a height ``~ N(z_B, s_z^2)``, the roots ``+-phi`` alternating over the particles."""
    assert link.angles is not None
    n = draws.shape[1]
    u = link.sensor_position_m
    a = link.angles.uav_axis
    e1, e2 = _ula_frame(a)
    centre, var = _range_proposal(link, m, kc)
    r = np.abs(centre + np.sqrt(var) * draws[0])
    rows = link.angles.kernel_rows(kc.angle_spread_rad)
    sa, sc = rows[m, 0], 2 * rows[m, 1]
    c = sa + sc * draws[1]
    s = np.sqrt(np.maximum(1 - c * c, 0.0))
    ok = (1 - c * c > 0) & (r > 0)
    vertical = kc.birth_height_std_m > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if birth_proposal(link, kc) == "angle_cone_height":
            zz = kc.birth_height_m + kc.birth_height_std_m * draws[2]
            kappa = (zz - u[2] - r * c * a[2]) / (r * s * e1[2])
            ok &= 1 - kappa * kappa > 0
            cp = np.where(ok, kappa, 1.0)
            sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
            sp = sign * np.sqrt(np.where(ok, 1 - kappa * kappa, 0.0))
            log_phi = -np.log(2.0) + np.log(r * s * abs(e1[2]) * np.abs(sp))  # N(z) cancels
        else:
            phi = 2 * np.pi * draws[2]
            cp, sp = np.cos(phi), np.sin(phi)
            log_phi = np.full(n, -np.log(2 * np.pi))
        d = c[:, None] * a + s[:, None] * (cp[:, None] * e1 + sp[:, None] * e2)
        x = u + r[:, None] * d
        logq = (
            _log_folded_normal(r, centre, var)
            + _log_norm(c - sa, sc * sc)
            + log_phi
            - 2 * np.log(np.maximum(r, 1e-300))
        )
        if not vertical:
            log_fb = np.full(n, -np.log(4.0 / 3.0 * np.pi * kc.roi_radius_m**3))
        elif birth_proposal(link, kc) == "angle_cone_height":
            log_fb = np.full(n, _log_vertical_birth(kc))
        else:
            log_fb = _log_vertical_birth(kc) + _log_norm(
                x[:, 2] - kc.birth_height_m, kc.birth_height_std_m**2
            )
    inside = np.sum((x - np.asarray(kc.roi_center_m)) ** 2, axis=1) <= kc.roi_radius_m**2
    away = np.sum((x - link.angles.bs_position_m) ** 2, axis=1) > 0
    return x, np.where(ok & inside & away, log_fb - logq, -np.inf)


def place_new_pmf(
    link: Link, m: int, draws: FloatArray, kc: _KernelConstants
) -> tuple[FloatArray, FloatArray, int]:
    """Particles (n, 3) and floored log weights ``log f_B - log q`` (n,) of the new PMF of
    measurement ``m`` from its random numbers ``draws`` (3, n), and how many particles have
    birth support (eq. (27); docs section 4)."""
    n = draws.shape[1]
    s = link.sensor_position_m
    centre_roi = np.asarray(kc.roi_center_m)
    r_roi = kc.roi_radius_m
    proposal = birth_proposal(link, kc)
    with np.errstate(divide="ignore", invalid="ignore"):
        if proposal.startswith("angle_cone"):
            x, lw = _place_angle_pmf(link, m, draws, kc)
        elif proposal == "vertical_circle":
            centre, var = _range_proposal(link, m, kc)
            r = np.abs(centre + np.sqrt(var) * draws[0])
            z = kc.birth_height_m + kc.birth_height_std_m * draws[1]
            rho2 = r * r - (z - s[2]) ** 2
            rho = np.sqrt(np.maximum(rho2, 0.0))
            phi = 2 * np.pi * draws[2]
            x = np.column_stack([s[0] + rho * np.cos(phi), s[1] + rho * np.sin(phi), z])
            dzc, sz = kc.birth_height_m - centre_roi[2], kc.birth_height_std_m
            log_area = np.log(np.pi * (r_roi**2 - dzc * dzc - sz * sz))
            inside = np.sum((x - centre_roi) ** 2, axis=1) <= r_roi**2
            lw = (
                -log_area
                + np.log(2 * np.pi)
                + np.log(np.maximum(r, 1e-300))
                - _log_folded_normal(r, centre, var)
            )
            lw = np.where((rho2 > 0) & inside, lw, -np.inf)
        elif proposal == "sphere":
            centre, var = _range_proposal(link, m, kc)
            r = np.abs(centre + np.sqrt(var) * draws[0])
            cz = 2.0 * draws[1] - 1.0
            sz = np.sqrt(np.maximum(1.0 - cz * cz, 0.0))
            phi = 2 * np.pi * draws[2]
            x = s + r[:, None] * np.column_stack([sz * np.cos(phi), sz * np.sin(phi), cz])
            logq = (
                _log_folded_normal(r, centre, var)
                - np.log(4 * np.pi)
                - 2 * np.log(np.maximum(r, 1e-300))
            )
            inside = np.sum((x - centre_roi) ** 2, axis=1) <= r_roi**2
            lw = np.where(inside, -np.log(4.0 / 3.0 * np.pi * r_roi**3) - logq, -np.inf)
        else:
            frame = _cone_frame(link, m)
            if frame is None:  # the measurement is the BS itself: no plane, no birth support
                return np.tile(s, (n, 1)), np.full(n, LOG_FLOOR), 0
            w, u0, e1, e2 = frame
            cmax, std = kc.cos_cone_half_angle, 2 * kc.position_std_m
            ct = cmax + (1 - cmax) * draws[0]
            sn = np.sqrt(np.maximum(1 - ct * ct, 0.0))
            phi = 2 * np.pi * draws[1]
            normal = (
                ct[:, None] * u0
                + (sn * np.cos(phi))[:, None] * e1
                + (sn * np.sin(phi))[:, None] * e2
            )
            rho0 = normal @ w
            rho = rho0 + std * draws[2]
            x = s + 2 * rho[:, None] * normal
            logq = (
                -np.log(2 * np.pi * (1 - cmax))
                + _log_norm(rho - rho0, std * std)
                - np.log(8.0)
                - 2 * np.log(np.maximum(rho, 1e-300))
            )
            inside = np.sum((x - centre_roi) ** 2, axis=1) <= r_roi**2
            lw = np.where((rho > 0) & inside, -np.log(4.0 / 3.0 * np.pi * r_roi**3) - logq, -np.inf)
    n_supported = int(np.count_nonzero(np.isfinite(lw)))
    return x, np.maximum(lw, LOG_FLOOR), n_supported


def birth_log_weights(link: Link, m: int, x: FloatArray, kc: _KernelConstants) -> FloatArray:
    """Unfloored ``log f_B(x) - log q(x)`` of particles ``x`` (n, 3) proposed from measurement
    ``m``, from their positions alone (an oracle of :func:`place_new_pmf`)."""
    s = link.sensor_position_m
    inside = np.linalg.norm(x - np.asarray(kc.roi_center_m), axis=-1) <= kc.roi_radius_m
    proposal = birth_proposal(link, kc)
    with np.errstate(divide="ignore", invalid="ignore"):
        if proposal.startswith("angle_cone"):
            assert link.angles is not None
            a = link.angles.uav_axis
            e1, e2 = _ula_frame(a)
            centre, var = _range_proposal(link, m, kc)
            v = x - s
            r = np.linalg.norm(v, axis=-1)
            c = (v @ a) / r
            rows = link.angles.kernel_rows(kc.angle_spread_rad)
            sa, sc = rows[m, 0], 2 * rows[m, 1]
            logq = _log_folded_normal(r, centre, var) + _log_norm(c - sa, sc * sc) - 2 * np.log(r)
            vertical = kc.birth_height_std_m > 0
            if proposal == "angle_cone_height":
                # q(phi) = N(x_z) r s |e1_z| |sin phi| / 2; N(x_z) cancels against f_B
                sin_phi = (v @ e2) / r / np.sqrt(1 - c * c)
                logq = logq - np.log(2.0) + np.log(r * np.sqrt(1 - c * c) * abs(e1[2]))
                logq = logq + np.log(np.abs(sin_phi))
                return np.where(inside, _log_vertical_birth(kc) - logq, -np.inf)
            logq = logq - np.log(2 * np.pi)
            if vertical:
                log_fb = _log_vertical_birth(kc) + _log_norm(
                    x[:, 2] - kc.birth_height_m, kc.birth_height_std_m**2
                )
                return np.where(inside, log_fb - logq, -np.inf)
            return _log_birth_pdf(x, kc) - logq
        if proposal == "vertical_circle":
            # f_B = N(x_z; z_B, s_z^2) / A on the ROI ball, q = N_fold(r) N(x_z) / (2 pi r):
            # the height factors cancel
            centre, var = _range_proposal(link, m, kc)
            d = x - s
            r = np.linalg.norm(d, axis=-1)
            dzc, sz = kc.birth_height_m - kc.roi_center_m[2], kc.birth_height_std_m
            log_area = np.log(np.pi * (kc.roi_radius_m**2 - dzc * dzc - sz * sz))
            lw = -log_area + np.log(2 * np.pi * r) - _log_folded_normal(r, centre, var)
            return np.where(inside & (d[:, 0] ** 2 + d[:, 1] ** 2 > 0), lw, -np.inf)
        if proposal == "sphere":
            centre, var = _range_proposal(link, m, kc)
            r = np.linalg.norm(x - s, axis=-1)
            logq = _log_folded_normal(r, centre, var) - np.log(4 * np.pi * r * r)
            return _log_birth_pdf(x, kc) - logq
        frame = _cone_frame(link, m)
        if frame is None:
            return np.full(x.shape[0], -np.inf)
        w, u0, _, _ = frame
        v = x - s
        rho = 0.5 * np.linalg.norm(v, axis=-1)
        normal = v / (2 * rho[:, None])
        cmax, std = kc.cos_cone_half_angle, 2 * kc.position_std_m
        logq = (
            -np.log(2 * np.pi * (1 - cmax))
            + _log_norm(rho - normal @ w, std * std)
            - np.log(8 * rho * rho)
        )
        in_cone = normal @ u0 >= cmax - 1e-12
        return np.where(in_cone, _log_birth_pdf(x, kc) - logq, -np.inf)


# --------------------------------------------------------------------- the module's stages
@dataclass
class Edge:
    """A PMF - measurement edge (the value ``a_m = k`` of eq. (21)) and its floored
    log-likelihood ratios on the particles the PMF uses."""

    pmf: int
    link: int
    measurement: int
    first: bool  # a new PMF's own measurement (eq. (28)); otherwise eq. (29)
    log_ratios: FloatArray


@dataclass
class PmfSet:
    """The PMFs of one module call: legacy ones, then one per birth-link measurement."""

    positions_m: FloatArray  # (Kt, P, 3); rows of new PMFs padded cyclically beyond n_used
    log_weights: FloatArray  # (Kt, P), floored; -inf beyond n_used
    prior_logodds: FloatArray  # (Kt,)
    birth_link: npt.NDArray[np.int64]  # (Kt,), -1 for legacy PMFs
    first_measurement: npt.NDArray[np.int64]  # (Kt,), -1 for legacy PMFs
    alive: npt.NDArray[np.bool_]  # (Kt,): False for dropped new PMFs
    n_used: npt.NDArray[np.int64]  # (Kt,): particles each PMF uses (the first n_used)

    @property
    def n_pmfs(self) -> int:
        return int(self.prior_logodds.shape[0])

    def particles(self, k: int) -> tuple[FloatArray, FloatArray]:
        """Positions (n_used, 3) and log weights (n_used,) of PMF ``k``."""
        n = int(self.n_used[k])
        return self.positions_m[k, :n], self.log_weights[k, :n]

    def connected(self, k: int, link: int) -> bool:
        """Whether PMF ``k`` takes part in the association of ``link``."""
        return bool(self.alive[k]) and (self.birth_link[k] < 0 or self.birth_link[k] == link)


def predict_legacy_pmfs(
    positions_m: FloatArray,
    log_weights: FloatArray,
    logodds: FloatArray,
    kc: _KernelConstants,
    noise: FloatArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Stage 1: floored log weights and, with ``noise`` (K, P, 3) standard normals, the state
    transition of eqs. (12)-(13): survival on the log-odds and a Gaussian random walk on the
    positions. ``noise=None`` is Scheme II's deterministic cross-link transition (eqs. (16)-
    (17) with p_cs = 1, p_cb = 0). Returns positions, log weights and log-odds."""
    lam = np.maximum(log_weights, LOG_FLOOR)
    if noise is None:
        return positions_m, lam, logodds
    ps = kc.survival_probability
    # (eq. 12) p <- p_s p, in log-odds without overflow
    eta = np.log(ps) - _softplus(-logodds) - np.log((1 - ps) + ps / (1 + np.exp(logodds)))
    return positions_m + kc.process_std_m * noise, lam, eta  # (eq. 12) x <- x + w


def _edge_log_ratios(link: Link, m: int, x: FloatArray, kc: _KernelConstants) -> FloatArray:
    return np.maximum(log_likelihood_ratio(link, m, x, kc), LOG_FLOOR)


def add_legacy_edges(pmfs: PmfSet, links: Sequence[Link], kc: _KernelConstants) -> list[Edge]:
    """Stage 2: the edges of the legacy PMFs, in (link, PMF, measurement) order: every edge
    whose largest log-likelihood ratio reaches ``gate_log_ratio`` (the factor of eq. (29))."""
    edges = []
    for li, link in enumerate(links):
        for k in map(int, np.flatnonzero(pmfs.birth_link < 0)):
            x, _ = pmfs.particles(k)
            for m in range(link.n_measurements):
                ll = _edge_log_ratios(link, m, x, kc)
                if ll.max() >= kc.gate_log_ratio:
                    edges.append(Edge(k, li, m, False, ll))
    return edges


def _visibility_terms(
    pmfs: PmfSet, links: Sequence[Link], k: int, li: int, kc: _KernelConstants
) -> tuple[float, float, float]:
    """log p_v, log(1 - p_v) and mu of PMF ``k`` on link ``li`` (docs section 3.4; a new PMF's
    own link: visible, its e^{-mu} is in its prior)."""
    if pmfs.birth_link[k] >= 0:
        return 0.0, -np.inf, 0.0
    pv = links[li].visibility
    return np.log(pv), (np.log1p(-pv) if pv < 1 else -np.inf), link_mpc_mean(links[li], kc)


def censor_new_pmfs(
    pmfs: PmfSet, legacy_edges: Sequence[Edge], links: Sequence[Link], kc: _KernelConstants
) -> list[FloatArray]:
    """Stage 3, censoring (docs section 5.3): per birth-link measurement, the log-odds
    ``log sum_k rho_km`` that a legacy PMF explains it, from a legacy-only first iteration
    (all messages 1); one array (M_l,) per link, -inf on links without births. Measurements
    above ``censor_logodds`` start no new PMF."""
    out = [np.full(link.n_measurements, -np.inf) for link in links]
    legacy = [int(k) for k in np.flatnonzero(pmfs.birth_link < 0)]
    log_phi_unit = {
        (k, li): np.logaddexp(lpv1, lpv - mu)
        for k in legacy
        for li in range(len(links))
        for lpv, lpv1, mu in [_visibility_terms(pmfs, links, k, li, kc)]
    }
    for e in legacy_edges:
        if not links[e.link].births:
            continue
        k, li = e.pmf, e.link
        x, lam = pmfs.particles(k)
        log_n = np.log(x.shape[0])
        lpv, _, mu = _visibility_terms(pmfs, links, k, li, kc)
        other = sum(log_phi_unit[k, l2] for l2 in range(len(links)) if l2 != li)
        log_z0 = logsumexp(lam + other + log_phi_unit[k, li]) - log_n
        log_z1 = logsumexp(lam + other + lpv - mu + e.log_ratios) - log_n
        eta = pmfs.prior_logodds[k]
        rho = eta + log_z1 - _softplus(eta + log_z0)  # general edge (docs section 5.2)
        out[li][e.measurement] = np.logaddexp(out[li][e.measurement], rho)
    return out


def _in_birth_gate(
    pmfs: PmfSet, k: int, m: int, links: Sequence[Link], kc: _KernelConstants
) -> bool:
    link = links[pmfs.birth_link[k]]
    z = link.measurements_m
    j = pmfs.first_measurement[k]
    if link.kind == "bistatic":
        return bool(abs(z[m] - z[j]) <= kc.gate_range_m)
    return bool(np.sum((z[m] - z[j]) ** 2) <= kc.gate_distance_m**2)


def add_new_pmf_edges(
    pmfs: PmfSet, legacy_edges: Sequence[Edge], links: Sequence[Link], kc: _KernelConstants
) -> list[Edge]:
    """Stage 5: the edges of the alive new PMFs (their own measurement, eq. (28), and the later
    measurements of their link within the birth gate, eq. (29)) added to ``legacy_edges``; all
    edges in (link, PMF, measurement) order."""
    new = []
    for k in map(int, np.flatnonzero(pmfs.birth_link >= 0)):
        if not pmfs.alive[k]:
            continue
        li, j = int(pmfs.birth_link[k]), int(pmfs.first_measurement[k])
        x, _ = pmfs.particles(k)
        for m in range(j, links[li].n_measurements):
            if not _in_birth_gate(pmfs, k, m, links, kc):
                continue
            ll = _edge_log_ratios(links[li], m, x, kc)
            if m == j or ll.max() >= kc.gate_log_ratio:
                new.append(Edge(k, li, m, m == j, ll))
    return sorted([*legacy_edges, *new], key=lambda e: e.link)  # stable: (l, k, m)


def _message_products(
    pmfs: PmfSet,
    edges: Sequence[Edge],
    log_kappa: FloatArray | None,
    links: Sequence[Link],
    kc: _KernelConstants,
) -> tuple[dict[tuple[int, int], FloatArray], dict[tuple[int, int], FloatArray]]:
    """Per connected (PMF, link): G = sum of the log messages and log Phi (docs section 5.2,
    3.4); all messages 1 when ``log_kappa`` is None."""
    big_g = {}
    for k in range(pmfs.n_pmfs):
        for li in range(len(links)):
            if pmfs.connected(k, li):
                big_g[k, li] = np.zeros(pmfs.n_used[k])
    for e, edge in enumerate(edges):
        big_g[edge.pmf, edge.link] += _log_message(edge, log_kappa, e)
    log_phi = {}
    for (k, li), g in big_g.items():
        lpv, lpv1, mu = _visibility_terms(pmfs, links, k, li, kc)
        log_phi[k, li] = np.logaddexp(lpv1, lpv - mu + g)
    return big_g, log_phi


def _log_message(edge: Edge, log_kappa: FloatArray | None, e: int) -> FloatArray:
    """log gamma_{m->k} of an edge: log kappa + log L (first edge, eq. (28)) or
    log(1 + kappa L) (general edge, eq. (29))."""
    if log_kappa is None:
        return np.zeros(edge.log_ratios.shape[0])
    v = log_kappa[e] + edge.log_ratios
    return np.maximum(v, LOG_FLOOR) if edge.first else _softplus(v)


def iterate_messages(
    pmfs: PmfSet, edges: Sequence[Edge], links: Sequence[Link], kc: _KernelConstants
) -> tuple[FloatArray, FloatArray]:
    """Stage 6: T iterations of the sum-product messages (docs section 5.2). Returns log kappa
    (association -> PMF) and log rho (PMF -> association, last iteration) per edge."""
    n_edges = len(edges)
    log_kappa = np.zeros(n_edges)
    log_rho = np.full(n_edges, -np.inf)
    for t in range(kc.n_iterations):
        current = None if t == 0 else log_kappa
        big_g, log_phi = _message_products(pmfs, edges, current, links, kc)
        for e, edge in enumerate(edges):
            k, li = edge.pmf, edge.link
            _, lam = pmfs.particles(k)
            lpv, lpv1, mu = _visibility_terms(pmfs, links, k, li, kc)
            log_n = np.log(pmfs.n_used[k])
            other = lam + sum(
                log_phi[k, l2] for l2 in range(len(links)) if l2 != li and pmfs.connected(k, l2)
            )
            extrinsic = big_g[k, li] - _log_message(edge, current, e)  # G without the edge
            log_z1 = logsumexp(other + lpv - mu + extrinsic + edge.log_ratios) - log_n
            eta = pmfs.prior_logodds[k]
            if edge.first:  # rho = e^eta Z1
                log_rho[e] = eta + log_z1
            else:  # rho = e^eta Z1 / (1 + e^eta Z0)
                log_z0 = logsumexp(other + np.logaddexp(lpv1, lpv - mu + extrinsic)) - log_n
                log_rho[e] = eta + log_z1 - _softplus(eta + log_z0)
        # kappa_km = 1 / (1 + sum_{k' != k} rho_k'm): the 1 is clutter (a_m = 0, eq. (21))
        for li, link in enumerate(links):
            for m in range(link.n_measurements):
                idx = [e for e, ed in enumerate(edges) if ed.link == li and ed.measurement == m]
                for a, e in enumerate(idx):
                    rest = [log_rho[j] for b, j in enumerate(idx) if b != a]
                    loo = _softplus(logsumexp(rest)) if rest else 0.0
                    log_kappa[e] = max(-loo, LOG_FLOOR)
    return log_kappa, log_rho


def beliefs_and_estimates(
    pmfs: PmfSet,
    edges: Sequence[Edge],
    log_kappa: FloatArray,
    links: Sequence[Link],
    kc: _KernelConstants,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Stage 7: posterior log weights S (Kt, P) (-inf beyond n_used and for dropped PMFs),
    existence log-odds (Kt,) and MMSE positions (Kt, 3) (NaN for dropped PMFs) (Sec. IV-A)."""
    current = log_kappa if kc.n_iterations > 0 else None
    _, log_phi = _message_products(pmfs, edges, current, links, kc)
    n_p = pmfs.positions_m.shape[1]
    s = np.full((pmfs.n_pmfs, n_p), -np.inf)
    eta = np.full(pmfs.n_pmfs, -np.inf)
    x_hat = np.full((pmfs.n_pmfs, 3), np.nan)
    for k in range(pmfs.n_pmfs):
        if not pmfs.alive[k]:
            continue
        x, lam = pmfs.particles(k)
        sk = lam + sum(log_phi[k, li] for li in range(len(links)) if pmfs.connected(k, li))
        s[k, : x.shape[0]] = sk
        a = logsumexp(sk)
        eta[k] = pmfs.prior_logodds[k] + a - np.log(x.shape[0])  # posterior existence
        x_hat[k] = np.exp(sk - a) @ x  # MMSE position
    return s, eta, x_hat


def systematic_resample(
    w: FloatArray, offset: float, n_out: int | None = None
) -> npt.NDArray[np.intp]:
    """Indices (n_out,) of the systematic resampling of normalised weights ``w`` (n,) with
    offset ``offset`` in [0, 1) (default ``n_out = n``)."""
    c = np.cumsum(w)
    c[-1] = 1.0
    n = w.shape[0]
    n_out = n if n_out is None else n_out
    return np.minimum(np.searchsorted(c, (np.arange(n_out) + offset) / n_out), n - 1)


def resample_pmf(
    positions_m: FloatArray,
    posterior_log_weights: FloatArray,
    n_out: int,
    offset: float,
    noise: FloatArray,
    jitter_std_m: float,
) -> FloatArray:
    """Stage 8: ``n_out`` particles of one PMF (positions (n, 3), log weights (n,)) by
    systematic resampling with ``offset`` plus the jitter ``jitter_std_m * noise`` (n_out, 3)
    (docs section 5.5)."""
    w = np.exp(posterior_log_weights - logsumexp(posterior_log_weights))
    idx = systematic_resample(w, offset, n_out)
    return positions_m[idx] + jitter_std_m * noise


#: Cost of a confirmation pass per legacy edge and particle, relative to a first pass (docs
#: section 4.5; the kernel's ``ModuleCall::kConfirmPassCost``).
CONFIRM_PASS_COST = 0.5


def births_are_staged(
    pmfs: PmfSet,
    legacy_edges: Sequence[Edge],
    censored: npt.NDArray[np.bool_],
    links: Sequence[Link],
    kc: _KernelConstants,
) -> bool:
    """Whether the new PMFs start on ``n_birth_particles`` < P particles (docs section 4.5):
    always without confirmation; with it, only where the edge-particles it saves,
    ``W_new (P - P_b)``, exceed ``CONFIRM_PASS_COST W_leg P`` (``W_new``: own and gated edges
    of the uncensored new PMFs, ``W_leg``: the legacy edges)."""
    n_p = pmfs.positions_m.shape[1]
    n_b = kc.n_birth_particles if 0 < kc.n_birth_particles < n_p else n_p
    if n_b >= n_p or not np.isfinite(kc.confirm_logodds):
        return n_b < n_p
    w_new = sum(
        _in_birth_gate(pmfs, k, m, links, kc)
        for k in map(int, np.flatnonzero(pmfs.birth_link >= 0))
        if not censored[k]
        for m in range(int(pmfs.first_measurement[k]), links[pmfs.birth_link[k]].n_measurements)
    )
    return w_new * (n_p - n_b) > CONFIRM_PASS_COST * len(legacy_edges) * n_p


def confirm_new_pmfs(
    pmfs: PmfSet,
    logodds: FloatArray,
    links: Sequence[Link],
    kc: _KernelConstants,
    draws: Callable[[int], FloatArray],
) -> list[int]:
    """Confirmation of new PMFs on fewer than P particles (docs section 4.5), in place: every
    alive new PMF whose posterior log-odds (``logodds``, from :func:`beliefs_and_estimates`)
    reach ``confirm_logodds`` is redrawn on all P particles of its row from the random numbers
    ``draws(k)`` (3, P). Returns the redrawn PMFs; the caller then recomputes the new PMFs'
    edges, the messages and the beliefs."""
    n_p = pmfs.positions_m.shape[1]
    redraw = [
        int(k)
        for k in np.flatnonzero(pmfs.birth_link >= 0)
        if pmfs.alive[k] and pmfs.n_used[k] < n_p and logodds[k] >= kc.confirm_logodds
    ]
    for k in redraw:
        link = links[pmfs.birth_link[k]]
        x, lw, n_supported = place_new_pmf(link, int(pmfs.first_measurement[k]), draws(k), kc)
        pmfs.positions_m[k], pmfs.log_weights[k], pmfs.n_used[k] = x, lw, n_p
        pmfs.alive[k] = n_supported > 0
    return redraw


# --------------------------------------------------------------------- whole module
def messages_and_beliefs(
    pmfs: PmfSet, links: Sequence[Link], kc: _KernelConstants
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Stages 2, 5, 6 and 7 on given PMFs (after prediction, censoring and births):
    posterior log weights, existence log-odds and MMSE positions."""
    edges = add_new_pmf_edges(pmfs, add_legacy_edges(pmfs, links, kc), links, kc)
    log_kappa, _ = iterate_messages(pmfs, edges, links, kc)
    return beliefs_and_estimates(pmfs, edges, log_kappa, links, kc)


def spa_update_numpy(
    positions_m: FloatArray,
    log_weights: FloatArray,
    logodds: FloatArray,
    links: Sequence[Link],
    kc: _KernelConstants,
    predict: bool,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The whole module with NumPy random draws; returns positions (Kt, P, 3), existence
    log-odds (Kt,) and MMSE positions (Kt, 3)."""
    k_leg, n_p = log_weights.shape
    n_b = kc.n_birth_particles if 0 < kc.n_birth_particles < n_p else n_p
    # one (P, 3) block of standard normals per legacy PMF, in PMF order
    noise = rng.standard_normal((k_leg, n_p, 3)) if predict else None
    x_leg, lam_leg, eta_leg = predict_legacy_pmfs(positions_m, log_weights, logodds, kc, noise)
    owner = [-1] * k_leg + [
        li for li, ln in enumerate(links) if ln.births for _ in range(ln.n_measurements)
    ]
    first = [-1] * k_leg + [m for ln in links if ln.births for m in range(ln.n_measurements)]
    kt = len(owner)
    pmfs = PmfSet(
        positions_m=np.concatenate([x_leg, np.zeros((kt - k_leg, n_p, 3))]),
        log_weights=np.concatenate([lam_leg, np.full((kt - k_leg, n_p), -np.inf)]),
        prior_logodds=np.concatenate(
            [eta_leg, [kc.log_birth_mean - link_mpc_mean(links[li], kc) for li in owner[k_leg:]]]
        ),
        birth_link=np.array(owner, np.int64),
        first_measurement=np.array(first, np.int64),
        alive=np.ones(kt, bool),
        n_used=np.array([n_p] * k_leg + [n_b] * (kt - k_leg), np.int64),
    )
    legacy_edges = add_legacy_edges(pmfs, links, kc)
    censored = np.zeros(kt, bool)
    if np.isfinite(kc.censor_logodds) and k_leg > 0:
        stat = censor_new_pmfs(pmfs, legacy_edges, links, kc)
        censored[k_leg:] = [
            stat[li][m] > kc.censor_logodds for li, m in zip(owner, first, strict=True) if li >= 0
        ]
    if not births_are_staged(pmfs, legacy_edges, censored, links, kc):
        n_b = n_p
        pmfs.n_used[k_leg:] = n_p
    for k in range(k_leg, kt):
        link = links[owner[k]]
        if censored[k]:
            pmfs.positions_m[k] = link.sensor_position_m
            pmfs.log_weights[k, :n_b] = LOG_FLOOR
            pmfs.alive[k] = False
            continue
        draws = draw_birth_randoms(birth_proposal(link, kc), n_b, rng)
        x, lw, n_supported = place_new_pmf(link, first[k], draws, kc)
        pmfs.positions_m[k] = x[np.arange(n_p) % n_b]  # rows padded cyclically
        pmfs.log_weights[k, :n_b] = lw
        pmfs.alive[k] = n_supported > 0
    edges = add_new_pmf_edges(pmfs, legacy_edges, links, kc)
    log_kappa, _ = iterate_messages(pmfs, edges, links, kc)
    s, eta, x_hat = beliefs_and_estimates(pmfs, edges, log_kappa, links, kc)

    # new PMFs on n_b < P particles that may survive: redrawn on P, messages again (docs 4.5)
    def full_draws(k: int) -> FloatArray:
        return draw_birth_randoms(birth_proposal(links[owner[k]], kc), n_p, rng)

    if n_b < n_p and confirm_new_pmfs(pmfs, eta, links, kc, full_draws):
        edges = add_new_pmf_edges(pmfs, legacy_edges, links, kc)
        log_kappa, _ = iterate_messages(pmfs, edges, links, kc)
        s, eta, x_hat = beliefs_and_estimates(pmfs, edges, log_kappa, links, kc)
    x_out = pmfs.positions_m.copy()
    for k in range(kt):
        if pmfs.alive[k] and eta[k] >= kc.log_prune_odds:
            n = int(pmfs.n_used[k])
            offset = rng.uniform()
            x_out[k] = resample_pmf(
                pmfs.positions_m[k, :n],
                s[k, :n],
                n_p,
                offset,
                rng.standard_normal((n_p, 3)),
                kc.jitter_std_m,
            )
    return x_out, eta, x_hat
