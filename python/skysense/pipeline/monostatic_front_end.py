"""The monostatic front end: the BS's own echo CSI of a mapping scene, and a 3-D matrix pencil.

Each BS carries ``n_panels`` vertical uniform planar arrays (UPAs), one per azimuth sector
(the usual sectorised BS), each with ``n_horizontal x n_vertical`` elements and the OFDM
numerology of the bistatic link. :func:`simulate_monostatic_csi` turns the facade returns the
image-method tracer finds for a BS (the specular foot point of every visible facade, mapping
paper Sec. II-B, and a diffuse cluster on the facade around it) into the echo CSI of every
panel: round-trip delay ``2 R / c``, azimuth and elevation of the return, noise.
:func:`estimate_monostatic` estimates (round-trip delay, azimuth, elevation, gain) per echo by a
3-D ESPRIT on PARAMING's three-level Hankel matrix (``cpp/include/skysense/echo_pencil.hpp``)
and an ML refinement, attaches the Cramer-Rao bound at the estimates, and converts each echo to
the mapper's monostatic pseudo-position ``p_B + (c tau / 2) e(az, el)`` with its covariance by
first-order propagation (mapping paper eqs. (5)-(8)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._results import Result
from skysense._rng import RngLike
from skysense._validation import as_array, check_count, check_finite_scalar, check_positive
from skysense._workers import resolve_workers
from skysense.bistatic.scenario import SPEED_OF_LIGHT
from skysense.mapping.params import MappingParams
from skysense.mapping.scene import Scene
from skysense.mapping.simulate import BsData, Visibility
from skysense.pipeline.bistatic_front_end import _fim_inverse
from skysense.pipeline.geometry import _check_bs_off_facades, _simulate_per_bs

__all__ = [
    "MonostaticChannel",
    "MonostaticCsi",
    "MonostaticMeasurements",
    "estimate_monostatic",
    "monostatic_crb",
    "monostatic_fisher_information",
    "simulate_monostatic_csi",
    "with_monostatic_measurements",
]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]

#: Delays are reported in ``[-GUARD / df, (1 - GUARD) / df)`` (as PARAMING's window).
_DELAY_GUARD_CELLS = 0.125
#: Cap of an MDL order per panel.
DEFAULT_MAX_PATHS = 8


@dataclass(frozen=True)
class MonostaticChannel:
    """The BS's echo link: UPA panels, OFDM numerology, link budget and diffuse clusters.

    Parameters
    ----------
    n_horizontal, n_vertical : int
        Elements of each panel along its horizontal and vertical axes (>= 2 each; 8 x 8).
    n_subcarriers : int
        Subcarriers N (64, as the bistatic ``Scenario``).
    subcarrier_spacing_hz, carrier_frequency_hz : float
        Numerology of the bistatic ``Scenario`` (960 kHz, 30 GHz).
    spacing_wavelengths : float
        Element spacing along both axes [wavelengths] (1/2).
    panel_azimuths_rad : tuple of float
        Boresight azimuth of each panel [rad] (four panels at 0, 90, 180, 270 degrees). A
        panel receives the echoes whose azimuth is nearest to its boresight (its sector).
    snr_db : float
        Per-entry SNR [dB] of an echo with ``|gain| = 1``: the CSI noise variance is
        ``10^(-snr_db / 10)``.
    reference_range_m : float
        Free-space amplitudes: the specular echo of a facade at distance ``R`` has
        ``|gain| = reflection_amplitude * reference_range_m / (2 R)`` (the BS's image at
        ``2 R``) [m].
    reflection_amplitude : float
        Specular reflection amplitude of a facade, in (0, 1].
    diffuse_mean : float
        Poisson mean of the diffuse echoes of a visible facade per epoch (>= 0; 0: specular
        only).
    diffuse_amplitude : float
        Amplitude of a diffuse echo relative to the specular echo at its distance, in [0, 1];
        its phase is uniform.
    diffuse_half_width_m : float
        Diffuse scatterers are uniform in a ``+-diffuse_half_width_m`` square on the facade
        around the specular foot point (mapping simulator's patch) [m].
    subarray_horizontal, subarray_vertical, subarray_subcarriers : int or None
        Sub-array sizes of the Hankel matrix (default ``(n + 1) // 2`` per dimension).

    Examples
    --------
    >>> from skysense.pipeline import MonostaticChannel
    >>> ch = MonostaticChannel()
    >>> ch.csi_shape  # (n_panels, n_horizontal, n_vertical, n_subcarriers)
    (4, 8, 8, 64)
    >>> round(ch.max_range_m, 2)  # one-way distances the delay window resolves [m]
    136.72
    """

    n_horizontal: int = 8
    n_vertical: int = 8
    n_subcarriers: int = 64
    subcarrier_spacing_hz: float = 960e3
    carrier_frequency_hz: float = 30e9
    spacing_wavelengths: float = 0.5
    panel_azimuths_rad: tuple[float, ...] = (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)
    snr_db: float = 20.0
    reference_range_m: float = 100.0
    reflection_amplitude: float = 0.5
    diffuse_mean: float = 3.0
    diffuse_amplitude: float = 0.3
    diffuse_half_width_m: float = 8.0
    subarray_horizontal: int | None = None
    subarray_vertical: int | None = None
    subarray_subcarriers: int | None = None

    def __post_init__(self) -> None:
        check_count(self.n_horizontal, "n_horizontal", minimum=2)
        check_count(self.n_vertical, "n_vertical", minimum=2)
        check_count(self.n_subcarriers, "n_subcarriers", minimum=3)
        check_positive(self.subcarrier_spacing_hz, "subcarrier_spacing_hz")
        check_positive(self.carrier_frequency_hz, "carrier_frequency_hz")
        d = check_positive(self.spacing_wavelengths, "spacing_wavelengths")
        if d > 0.5:
            raise ValueError(
                f"spacing_wavelengths must lie in (0, 0.5] (no grating lobes), got {d}"
            )
        az = as_array(self.panel_azimuths_rad, "panel_azimuths_rad", shape=(None,), kind="fiu")
        if az.shape[0] == 0:
            raise ValueError("panel_azimuths_rad must hold at least one panel, got none")
        object.__setattr__(self, "panel_azimuths_rad", tuple(float(a) for a in az))
        check_finite_scalar(self.snr_db, "snr_db")
        check_positive(self.reference_range_m, "reference_range_m")
        r = check_positive(self.reflection_amplitude, "reflection_amplitude")
        if r > 1:
            raise ValueError(f"reflection_amplitude must lie in (0, 1], got {r}")
        check_positive(self.diffuse_mean, "diffuse_mean", strict=False)
        a = check_positive(self.diffuse_amplitude, "diffuse_amplitude", strict=False)
        if a > 1:
            raise ValueError(f"diffuse_amplitude must lie in [0, 1], got {a}")
        check_positive(self.diffuse_half_width_m, "diffuse_half_width_m", strict=False)
        for name, n in (
            ("subarray_horizontal", self.n_horizontal),
            ("subarray_vertical", self.n_vertical),
            ("subarray_subcarriers", self.n_subcarriers),
        ):
            v = getattr(self, name)
            if v is None:
                object.__setattr__(self, name, (n + 1) // 2)
                continue
            hi = n - 1 if name == "subarray_subcarriers" else n
            check_count(v, name, minimum=2, maximum=hi)

    @property
    def n_panels(self) -> int:
        """Number of UPA panels."""
        return len(self.panel_azimuths_rad)

    @property
    def csi_shape(self) -> tuple[int, int, int, int]:
        """One epoch's echo CSI: ``(n_panels, n_horizontal, n_vertical, n_subcarriers)``."""
        return (self.n_panels, self.n_horizontal, self.n_vertical, self.n_subcarriers)

    @property
    def noise_var(self) -> float:
        """Noise variance of one CSI entry, ``10^(-snr_db / 10)``."""
        return 10.0 ** (-self.snr_db / 10.0)

    @property
    def wavelength_m(self) -> float:
        """Carrier wavelength [m]."""
        return SPEED_OF_LIGHT / self.carrier_frequency_hz

    @property
    def max_range_m(self) -> float:
        """Longest one-way distance [m] in the delay window, ``c (1 - 1/8) / (2 df)``."""
        return SPEED_OF_LIGHT * (1.0 - _DELAY_GUARD_CELLS) / (2.0 * self.subcarrier_spacing_hz)

    def panel_of(self, azimuth_rad: npt.ArrayLike) -> IntArray:
        """Panel whose boresight is nearest in azimuth (its sector), same shape as the input."""
        az = np.asarray(azimuth_rad, float)[..., None]
        diff = np.angle(np.exp(1j * (az - np.asarray(self.panel_azimuths_rad))))
        out: IntArray = np.argmin(np.abs(diff), axis=-1).astype(np.int64)
        return out


def _direction(azimuth_rad: FloatArray, elevation_rad: FloatArray) -> FloatArray:
    ce = np.cos(elevation_rad)
    return np.stack(
        [ce * np.cos(azimuth_rad), ce * np.sin(azimuth_rad), np.sin(elevation_rad)], axis=-1
    )


def _cosines(
    azimuth_rad: FloatArray, elevation_rad: FloatArray, panel_azimuth_rad: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Direction cosines along a panel's horizontal axis (boresight rotated +90 degrees about
    z) and its vertical axis: ``u_x = cos(el) sin(az - a_p)``, ``u_y = sin(el)``."""
    return np.cos(elevation_rad) * np.sin(azimuth_rad - panel_azimuth_rad), np.sin(elevation_rad)


def _atoms(
    channel: MonostaticChannel, delay_s: FloatArray, ux: FloatArray, uy: FloatArray
) -> tuple[ComplexArray, ComplexArray, ComplexArray]:
    """Steering rows a_x (q, Nx), a_y (q, Ny) and delay rows c (q, N)."""
    d = channel.spacing_wavelengths
    ax = np.exp(-2j * np.pi * d * ux[:, None] * np.arange(channel.n_horizontal))
    ay = np.exp(-2j * np.pi * d * uy[:, None] * np.arange(channel.n_vertical))
    turns = np.mod(
        channel.subcarrier_spacing_hz * delay_s[:, None] * np.arange(channel.n_subcarriers), 1.0
    )
    return ax, ay, np.exp(-2j * np.pi * turns)


def _panel_csi(
    channel: MonostaticChannel,
    delay_s: FloatArray,
    ux: FloatArray,
    uy: FloatArray,
    gain: ComplexArray,
) -> ComplexArray:
    ax, ay, c = _atoms(channel, delay_s, ux, uy)
    out: ComplexArray = np.einsum("q,qx,qy,qn->xyn", gain, ax, ay, c)
    return out


@dataclass(frozen=True, repr=False)
class MonostaticCsi(Result):
    """Echo CSI of one BS over the epochs, with the echoes it was drawn from.

    Attributes
    ----------
    bs_index : int
    csi : ndarray, shape (n_epochs, n_panels, n_horizontal, n_vertical, n_subcarriers), complex128
    delay_s, azimuth_rad, elevation_rad : tuple of ndarray, each shape (n_echoes,)
        True round-trip delay [s], azimuth and elevation [rad] of every echo per epoch.
    gain : tuple of ndarray, each shape (n_echoes,), complex128
    panel : tuple of ndarray, each shape (n_echoes,), int
        Panel that received the echo.
    specular : tuple of ndarray, each shape (n_echoes,), bool
        Specular (foot point) or diffuse echo.
    noise_var : float
        Noise variance of one CSI entry.

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import simulate_monostatic_csi
    >>> (echo,) = simulate_monostatic_csi(default_scene(3), rng=0, bs_indices=[0])
    >>> echo.csi.shape, echo.n_paths.shape
    ((3, 4, 8, 8, 64), (3, 4))
    """

    bs_index: int
    csi: ComplexArray
    delay_s: tuple[FloatArray, ...]
    azimuth_rad: tuple[FloatArray, ...]
    elevation_rad: tuple[FloatArray, ...]
    gain: tuple[ComplexArray, ...]
    panel: tuple[IntArray, ...]
    specular: tuple[npt.NDArray[np.bool_], ...]
    noise_var: float

    @property
    def n_paths(self) -> IntArray:
        """True number of echoes per epoch and panel, shape (n_epochs, n_panels)."""
        n_panels = self.csi.shape[1]
        return np.array([np.bincount(p, minlength=n_panels) for p in self.panel], np.int64)


@dataclass(frozen=True, repr=False)
class MonostaticMeasurements(Result):
    """Per-epoch monostatic measurements estimated from echo CSI, sorted by delay.

    Attributes
    ----------
    positions_m : tuple of ndarray, each shape (n_measurements, 3) [m]
        Pseudo-positions ``p_B + (c tau / 2) e(az, el)`` (mapping paper eqs. (6)-(7)): the
        mapper's monostatic measurements (:class:`skysense.mapping.BsData`).
    position_covariance_m2 : tuple of ndarray, each shape (n_measurements, 3, 3) [m^2]
        ``J Sigma J^T``, ``J`` the Jacobian of the conversion and ``Sigma`` the CRB of
        (delay, azimuth, elevation) (eq. (8)).
    delay_s, azimuth_rad, elevation_rad : tuple of ndarray, each shape (n_measurements,)
        Round-trip delay [s], azimuth and elevation [rad] in the scene frame.
    gain : tuple of ndarray, each shape (n_measurements,), complex128
    covariance : tuple of ndarray, each shape (n_measurements, 3, 3)
        CRB of (delay [s], azimuth [rad], elevation [rad]) at the estimates, with the noise
        variance estimated from the residual.
    panel : tuple of ndarray, each shape (n_measurements,), int

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import estimate_monostatic, simulate_monostatic_csi
    >>> scene = default_scene(2)
    >>> (echo,) = simulate_monostatic_csi(scene, rng=0, bs_indices=[0])
    >>> meas = estimate_monostatic(echo.csi, scene.base_stations_m[0])
    >>> meas.n_epochs, meas.positions_m[0].shape[1]
    (2, 3)
    """

    positions_m: tuple[FloatArray, ...]
    position_covariance_m2: tuple[FloatArray, ...]
    delay_s: tuple[FloatArray, ...]
    azimuth_rad: tuple[FloatArray, ...]
    elevation_rad: tuple[FloatArray, ...]
    gain: tuple[ComplexArray, ...]
    covariance: tuple[FloatArray, ...]
    panel: tuple[IntArray, ...]

    @property
    def n_epochs(self) -> int:
        """Epochs of the measurements."""
        return len(self.positions_m)

    @property
    def n_measurements(self) -> IntArray:
        """Measurements per epoch, shape (n_epochs,)."""
        return np.array([p.shape[0] for p in self.positions_m], np.int64)


def _simulate_bs(
    scene: Scene,
    i: int,
    channel: MonostaticChannel,
    gen: np.random.Generator,
    tracer: Callable[[Scene, int], Visibility],
) -> MonostaticCsi:
    from skysense.mapping._tracer_numba import segments_free

    _check_bs_off_facades(scene, i, "its echo would have zero delay")
    vis = tracer(scene, i)
    if not isinstance(vis, Visibility):
        raise TypeError(f"tracer must return a Visibility, got {type(vis).__name__}")
    bs = scene.base_stations_m[i]
    k = 2.0 * np.pi / channel.wavelength_m
    vz = np.array([0.0, 0.0, 1.0])
    w = channel.diffuse_half_width_m
    shape = channel.csi_shape
    csi = np.empty((scene.n_epochs, *shape), np.complex128)
    std = math.sqrt(channel.noise_var / 2.0)
    out: dict[str, list[npt.NDArray[np.generic]]] = {
        key: [] for key in ("delay", "az", "el", "gain", "panel", "specular")
    }
    for e in range(scene.n_epochs):
        points: list[FloatArray] = []
        amp: list[float] = []
        spec: list[bool] = []
        seen: set[int] = set()
        for f, j in enumerate(vis.facade_va_index):
            if j < 0 or not vis.monostatic_visible[f] or j in seen:
                continue
            seen.add(int(j))
            s = vis.monostatic_points_m[f]
            points.append(s)
            amp.append(1.0)
            spec.append(True)
            n_d = gen.poisson(channel.diffuse_mean) if channel.diffuse_amplitude > 0 else 0
            q = (
                s
                + gen.uniform(-w, w, n_d)[:, None] * scene.facade_tangents[f]
                + gen.uniform(-w, w, n_d)[:, None] * vz
            )
            tangent = scene.facade_tangents[f]
            off = q @ tangent - scene.facade_points_m[f] @ tangent
            ok = (np.abs(off) <= scene.facade_half_widths_m[f]) & (q[:, 2] >= 0)
            ok &= q[:, 2] <= scene.facade_heights_m[f]
            q = q[ok]
            if q.shape[0]:
                q = q[
                    segments_free(
                        bs, q + 1e-3 * scene.facade_normals[f], scene.box_lo_m, scene.box_hi_m
                    )
                ]
            points.extend(q)
            amp.extend([channel.diffuse_amplitude] * q.shape[0])
            spec.extend([False] * q.shape[0])
        pts = np.array(points, float).reshape(-1, 3)
        v = pts - bs
        dist = np.linalg.norm(v, axis=1)
        if dist.size and dist.max() > channel.max_range_m:
            raise ValueError(
                f"an echo from {dist.max():.1f} m at epoch {e} exceeds channel.max_range_m = "
                f"{channel.max_range_m:.1f} (delays wrap modulo 1/subcarrier_spacing_hz); "
                "lower subcarrier_spacing_hz"
            )
        az = np.arctan2(v[:, 1], v[:, 0])
        el = np.arcsin(np.clip(v[:, 2] / np.maximum(dist, 1e-300), -1.0, 1.0))
        delay = 2.0 * dist / SPEED_OF_LIGHT
        phase = np.exp(-1j * np.mod(2.0 * k * dist, 2.0 * np.pi))
        diffuse_phase = np.where(
            np.array(spec, bool), 1.0, np.exp(2j * np.pi * gen.uniform(size=dist.shape[0]))
        )
        gain = (
            channel.reflection_amplitude
            * np.array(amp)
            * channel.reference_range_m
            / (2.0 * np.maximum(dist, 1e-300))
            * phase
            * diffuse_phase
        )
        panel = channel.panel_of(az)
        for p in range(channel.n_panels):
            sel = panel == p
            noise = std * (gen.standard_normal(shape[1:]) + 1j * gen.standard_normal(shape[1:]))
            if not sel.any():
                csi[e, p] = noise
                continue
            ux, uy = _cosines(az[sel], el[sel], np.float64(channel.panel_azimuths_rad[p]))
            csi[e, p] = _panel_csi(channel, delay[sel], ux, uy, gain[sel]) + noise
        order = np.argsort(delay, kind="stable")
        for key, val in (
            ("delay", delay),
            ("az", az),
            ("el", el),
            ("gain", gain.astype(np.complex128)),
            ("panel", panel),
            ("specular", np.array(spec, bool)),
        ):
            out[key].append(np.ascontiguousarray(val[order]))
    return MonostaticCsi(
        bs_index=i,
        csi=csi,
        delay_s=tuple(out["delay"]),  # type: ignore[arg-type]
        azimuth_rad=tuple(out["az"]),  # type: ignore[arg-type]
        elevation_rad=tuple(out["el"]),  # type: ignore[arg-type]
        gain=tuple(out["gain"]),  # type: ignore[arg-type]
        panel=tuple(out["panel"]),  # type: ignore[arg-type]
        specular=tuple(out["specular"]),  # type: ignore[arg-type]
        noise_var=channel.noise_var,
    )


def simulate_monostatic_csi(
    scene: Scene,
    channel: MonostaticChannel | None = None,
    *,
    rng: RngLike = None,
    bs_indices: Sequence[int] | None = None,
    tracer: Callable[[Scene, int], Visibility] | None = None,
) -> tuple[MonostaticCsi, ...]:
    """Echo CSI of every BS (or of ``bs_indices``) per epoch: facade returns on its UPA panels.

    Parameters
    ----------
    scene : skysense.mapping.Scene
        Buildings and BSs (the trajectory sets the number of epochs).
    channel : MonostaticChannel, optional
        Panels, numerology, link budget, diffuse clusters (default ``MonostaticChannel()``).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        BS ``i`` draws from the ``i``-th of ``scene.n_bs`` children of ``rng``, so its CSI does
        not depend on which other BSs are simulated.
    bs_indices : sequence of int, optional
        BS indices (default: all).
    tracer : callable, optional
        ``tracer(scene, bs_index) -> Visibility`` (default :func:`skysense.mapping.trace`).

    Returns
    -------
    tuple of MonostaticCsi
        Per epoch and panel: ``sum_i gamma_i a_x(u_x,i) (x) a_y(u_y,i) (x) c(tau_i)`` plus
        complex white noise of variance ``channel.noise_var`` per entry. One specular echo per
        VA seen on the monostatic link (its foot point, delay ``2 R / c``, phase
        ``-2 k R``) and ``Poisson(diffuse_mean)`` diffuse echoes on the facade patch around it
        (visible from the BS), each on the panel of its azimuth sector.

    Raises
    ------
    ValueError
        A BS on a facade (zero delay), or an echo beyond ``channel.max_range_m``.

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import MonostaticChannel, simulate_monostatic_csi
    >>> ch = MonostaticChannel(diffuse_mean=0.0)
    >>> (echo,) = simulate_monostatic_csi(default_scene(2), ch, rng=0, bs_indices=[0])
    >>> echo.n_paths[0].tolist()  # specular echoes per panel (+x, +y, -x, -y)
    [1, 1, 1, 0]
    """
    return _simulate_per_bs(
        scene, channel, MonostaticChannel, rng, bs_indices, tracer, _simulate_bs
    )


def monostatic_fisher_information(
    channel: MonostaticChannel,
    delay_s: npt.ArrayLike,
    azimuth_rad: npt.ArrayLike,
    elevation_rad: npt.ArrayLike,
    gain: npt.ArrayLike,
    *,
    panel_azimuth_rad: float,
    noise_var: float,
) -> FloatArray:
    """FIM of the echoes of one panel, blocks ``[tau, az, el, Re gamma, Im gamma]`` (5q x 5q).

    The CSI is ``h = sum_i gamma_i a_x(u_x,i) (x) a_y(u_y,i) (x) c(tau_i) + w``, ``w`` white
    with variance ``noise_var`` per entry, so ``F = 2 / noise_var Re(D^H D)``, ``D`` the
    derivatives of ``h`` (Slepian-Bangs). Every derivative is a Kronecker product of an x, a y
    and a delay factor, so each entry is a product of three small inner products (as the
    bistatic paper's eq. (52) in its separable form); the angles enter through
    ``u_x = cos(el) sin(az - a_p)``, ``u_y = sin(el)`` (chain rule).

    Parameters
    ----------
    channel : MonostaticChannel
        Array sizes, spacing and numerology.
    delay_s, azimuth_rad, elevation_rad : array_like, shape (q,)
        Round-trip delay [s], azimuth and elevation [rad] of the echoes.
    gain : array_like, shape (q,), complex
        Complex gains of the echoes.
    panel_azimuth_rad : float
        Boresight azimuth of the panel [rad].
    noise_var : float
        Noise variance of one CSI entry.

    Returns
    -------
    ndarray, shape (5 q, 5 q), float64
        Blocks in the order delay [s], azimuth [rad], elevation [rad], Re gamma, Im gamma.

    Examples
    --------
    >>> from skysense.pipeline import MonostaticChannel, monostatic_fisher_information
    >>> fim = monostatic_fisher_information(MonostaticChannel(), [2e-7], [0.1], [0.0], [1.0],
    ...                                     panel_azimuth_rad=0.0, noise_var=0.01)
    >>> fim.shape
    (5, 5)
    """
    tau = np.atleast_1d(np.asarray(delay_s, np.float64))
    az = np.atleast_1d(np.asarray(azimuth_rad, np.float64))
    el = np.atleast_1d(np.asarray(elevation_rad, np.float64))
    g = np.atleast_1d(np.asarray(gain, np.complex128))
    ap = float(panel_azimuth_rad)
    ux, uy = _cosines(az, el, np.float64(ap))
    ax, ay, c = _atoms(channel, tau, ux, uy)
    d = channel.spacing_wavelengths
    kx = -2j * np.pi * d * np.arange(channel.n_horizontal)
    ky = -2j * np.pi * d * np.arange(channel.n_vertical)
    kn = -2j * np.pi * channel.subcarrier_spacing_hz * np.arange(channel.n_subcarriers)
    # du/d(az, el)
    dux_daz = np.cos(el) * np.cos(az - ap)
    dux_del = -np.sin(el) * np.sin(az - ap)
    duy_del = np.cos(el)
    ax_dot, ay_dot, c_dot = kx * ax, ky * ay, kn * c
    one = np.ones_like(g)
    # d/daz = dux_daz ax' (x) ay (x) c;  d/del = dux_del ax' (x) ay (x) c + duy_del ax (x) ay' (x) c
    # written as sums of separable terms: expand el into two separable terms (rows 2a, 2b).
    xs = np.concatenate([ax, dux_daz[:, None] * ax_dot, dux_del[:, None] * ax_dot, ax, ax, ax])
    ys = np.concatenate([ay, ay, ay, duy_del[:, None] * ay_dot, ay, ay])
    cs = np.concatenate([c_dot, c, c, c, c, c])
    scal = np.concatenate([g, g, g, g, one, 1j * one])
    gram = (xs.conj() @ xs.T) * (ys.conj() @ ys.T) * (cs.conj() @ cs.T)
    f6 = (np.conj(scal)[:, None] * scal[None, :] * gram).real
    q = tau.shape[0]
    # merge the two elevation terms (blocks 2 and 3) into one parameter
    m = np.zeros((5 * q, 6 * q))
    for b_out, b_in in ((0, 0), (1, 1), (2, 2), (2, 3), (3, 4), (4, 5)):
        m[b_out * q : (b_out + 1) * q, b_in * q : (b_in + 1) * q] = np.eye(q)
    out: FloatArray = 2.0 / float(noise_var) * (m @ f6 @ m.T)
    return out


def monostatic_crb(
    channel: MonostaticChannel,
    delay_s: npt.ArrayLike,
    azimuth_rad: npt.ArrayLike,
    elevation_rad: npt.ArrayLike,
    gain: npt.ArrayLike,
    *,
    panel_azimuth_rad: float,
    noise_var: float,
) -> FloatArray:
    """Cramer-Rao bound of (delay [s], azimuth [rad], elevation [rad]) per echo of one panel.

    The inverse of :func:`monostatic_fisher_information` (equilibrated, pseudo-inverse), its
    3 x 3 block of each echo.

    Parameters
    ----------
    channel : MonostaticChannel
        Array sizes, spacing and numerology.
    delay_s, azimuth_rad, elevation_rad : array_like, shape (q,)
        Round-trip delay [s], azimuth and elevation [rad] of the echoes.
    gain : array_like, shape (q,), complex
        Complex gains of the echoes.
    panel_azimuth_rad : float
        Boresight azimuth of the panel [rad].
    noise_var : float
        Noise variance of one CSI entry.

    Returns
    -------
    ndarray, shape (q, 3, 3)
        Units s^2, s rad, rad^2 by entry.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.pipeline import MonostaticChannel, monostatic_crb
    >>> crb = monostatic_crb(MonostaticChannel(), [2e-7], [0.1], [0.0], [1.0],
    ...                      panel_azimuth_rad=0.0, noise_var=0.01)
    >>> bool(np.sqrt(crb[0, 0, 0]) * 3e8 / 2 < 0.01)  # range std below 1 cm at 46 dB
    True
    """
    fim = monostatic_fisher_information(
        channel,
        delay_s,
        azimuth_rad,
        elevation_rad,
        gain,
        panel_azimuth_rad=panel_azimuth_rad,
        noise_var=noise_var,
    )
    q = fim.shape[0] // 5
    cov = _fim_inverse(fim)
    idx = np.stack([np.arange(q), q + np.arange(q), 2 * q + np.arange(q)], axis=1)
    out: FloatArray = cov[idx[:, :, None], idx[:, None, :]]
    return out


def _as_orders(n_paths: object, shape: tuple[int, int]) -> IntArray | None:
    if isinstance(n_paths, str):
        if n_paths != "mdl":
            raise ValueError(
                "n_paths must be an int >= 0, an array of shape (n_epochs, n_panels), or "
                f"'mdl', got {n_paths!r}"
            )
        return None
    q = np.asarray(n_paths)
    if q.ndim == 0:
        return np.full(shape, check_count(n_paths, "n_paths", minimum=0), np.int64)
    if q.ndim == 1 and shape[0] == 1:  # one epoch: one order per panel
        q = q[None]
    q = as_array(q, "n_paths", shape=shape, kind="iu", dtype=np.int64)
    if (q < 0).any():
        raise ValueError(f"n_paths must be >= 0 per epoch and panel, got min {int(q.min())}")
    return q


def estimate_monostatic(
    csi: npt.ArrayLike,
    bs_position_m: npt.ArrayLike,
    channel: MonostaticChannel | None = None,
    *,
    n_paths: int | Literal["mdl"] | npt.ArrayLike = "mdl",
    max_paths: int = DEFAULT_MAX_PATHS,
    refine: bool = True,
    workers: int | None = None,
) -> MonostaticMeasurements:
    """3-D matrix pencil per epoch and panel: delay, azimuth, elevation, pseudo-positions, CRB.

    Parameters
    ----------
    csi : array_like, shape (n_epochs, n_panels, n_horizontal, n_vertical, n_subcarriers) or one epoch
        Echo CSI (e.g. :attr:`MonostaticCsi.csi`). complex64 runs the estimator on float32
        input (the computation is in double); the outputs are float64.
    bs_position_m : array_like, shape (3,) [m]
        Position of the BS (the origin of the pseudo-positions).
    channel : MonostaticChannel, optional
        Panels and numerology (default ``MonostaticChannel()``).
    n_paths : int, array_like of shape (n_epochs, n_panels) (one epoch: (n_panels,)), or "mdl"
        Echoes per panel (e.g. :attr:`MonostaticCsi.n_paths`; 0: none), or MDL per panel
        (:func:`skysense.pipeline.mdl_order`, computed in the kernel), capped at ``max_paths``. An order above the
        numerical rank of the Hankel matrix is lowered to it.
    max_paths : int
        Largest order per panel (8).
    refine : bool
        ML refinement after the pencil (default True; False: the pencil's estimate with LS
        gains).
    workers : int, optional
        Threads over the panels and epochs (SciPy's meaning).

    Returns
    -------
    MonostaticMeasurements
        Echoes whose direction cosines fall outside the visible region or whose delay is
        negative (noise) are dropped, as are those of a panel whose estimate failed.

    Raises
    ------
    ValueError
        ``csi`` of the wrong shape or with NaN/Inf; ``n_paths`` of the wrong shape or
        negative.
    TypeError
        ``csi`` that is not complex or real.

    Notes
    -----
    Per panel: the q dominant left singular vectors of the three-level block-Hankel matrix of
    the CSI (bistatic paper eqs. (26)-(32), the array axes in place of Tx and Rx), a 3-D
    ESPRIT whose three shift-invariance matrices share their eigenvectors (which pairs the
    delay and both direction cosines of each echo), then Levenberg-Marquardt on the joint ML
    cost (eq. (13)). ``u_x = mu_x / d``, ``u_y = mu_y / d`` give
    ``el = asin(u_y)``, ``az = a_p + asin(u_x / cos el)`` (a panel sees its front half-space).
    The covariance is :func:`monostatic_crb` at the estimates with the residual noise variance
    ``||h - h(estimates)||^2 / (Nx Ny N - 5 q)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import (MonostaticChannel, estimate_monostatic,
    ...                                simulate_monostatic_csi)
    >>> scene = default_scene(2)
    >>> ch = MonostaticChannel(diffuse_mean=0.0)
    >>> (echo,) = simulate_monostatic_csi(scene, ch, rng=0, bs_indices=[0])
    >>> meas = estimate_monostatic(echo.csi, scene.base_stations_m[0], ch)
    >>> truth = scene.base_stations_m[0] + 1.5e8 * echo.delay_s[0][:, None] * np.stack(
    ...     [np.cos(echo.azimuth_rad[0]), np.sin(echo.azimuth_rad[0]), 0 * echo.delay_s[0]], 1)
    >>> bool(np.abs(np.sort(meas.positions_m[0], 0) - np.sort(truth, 0)).max() < 0.05)
    True
    """
    channel = MonostaticChannel() if channel is None else channel
    if not isinstance(channel, MonostaticChannel):
        raise TypeError(f"channel must be a MonostaticChannel, got {type(channel).__name__}")
    bs = as_array(bs_position_m, "bs_position_m", shape=(3,), kind="fiu", dtype=np.float64)
    shape = channel.csi_shape
    arr = np.asarray(csi)
    if arr.ndim not in (4, 5) or arr.shape[-4:] != shape:
        raise ValueError(
            "csi must have shape (n_epochs, n_panels, n_horizontal, n_vertical, n_subcarriers) "
            f"or one epoch's (n_panels, n_horizontal, n_vertical, n_subcarriers) = {shape} of "
            f"channel, got {arr.shape}"
        )
    dtype = np.complex64 if arr.dtype == np.complex64 else np.complex128
    arr = as_array(arr, "csi", kind="fc", dtype=dtype).reshape(-1, *shape)
    n_epochs, n_panels = arr.shape[0], shape[0]
    max_paths = check_count(max_paths, "max_paths")
    orders = _as_orders(n_paths, (n_epochs, n_panels))
    flat = arr.reshape(n_epochs * n_panels, *shape[1:])
    if orders is None:
        q = np.full(flat.shape[0], -1, np.int64)  # MDL per CSI in the kernel
    else:
        q = np.minimum(orders.reshape(-1), max_paths).astype(np.int64)
    mx, my, m = channel.subarray_horizontal, channel.subarray_vertical, channel.subarray_subcarriers
    assert mx is not None and my is not None and m is not None
    rank_cap = min(mx * my * m, (shape[1] - mx + 1) * (shape[2] - my + 1) * (shape[3] - m))
    q = np.minimum(q, rank_cap)
    width = max(min(max_paths if orders is None else int(q.max(initial=0)), rank_cap), 1)
    batch = flat.shape[0]
    nu, mux, muy = (np.full((batch, width), np.nan) for _ in range(3))
    gain = np.full((batch, width), np.nan, np.complex128)
    used, status, iters = (np.zeros(batch, np.int64) for _ in range(3))
    _core.echo_pencil(
        csi=np.ascontiguousarray(flat),
        n_paths=np.ascontiguousarray(q),
        subarray_x=mx,
        subarray_y=my,
        subarray_subcarriers=m,
        max_paths=width,
        min_delay_normalized=-_DELAY_GUARD_CELLS,
        refine=bool(refine),
        max_iter=20,
        refine_rtol=1e-9,
        krylov_rtol=1e-12,
        krylov_noise_rtol=1e-3,
        krylov_max_steps=1000,
        nu=nu,
        mu_x=mux,
        mu_y=muy,
        gain=gain,
        n_paths_used=used,
        status=status,
        iterations=iters,
        n_threads=resolve_workers(workers),
    )
    fields: list[list[npt.NDArray[np.generic]]] = [[] for _ in range(8)]
    for e in range(n_epochs):
        panels = [_empty_panel()]  # keeps the dtypes and shapes of an epoch without echoes
        for p in range(n_panels):
            b = e * n_panels + p
            k = int(used[b]) if status[b] == 0 else 0
            panels.append(
                _panel_measurements(
                    channel, bs, flat[b], p, nu[b, :k], mux[b, :k], muy[b, :k], gain[b, :k]
                )
            )
        cat = [np.concatenate(col) for col in zip(*panels, strict=True)]
        order = np.argsort(cat[2], kind="stable")  # by delay
        for out, v in zip(fields, cat, strict=True):
            out.append(np.ascontiguousarray(v[order]))
    return MonostaticMeasurements(*(tuple(f) for f in fields))  # type: ignore[arg-type]


def _empty_panel() -> tuple[npt.NDArray[np.generic], ...]:
    z = np.zeros(0)
    return (
        np.zeros((0, 3)),
        np.zeros((0, 3, 3)),
        z,
        z,
        z,
        np.zeros(0, np.complex128),
        np.zeros((0, 3, 3)),
        np.zeros(0, np.int64),
    )


def _panel_measurements(
    channel: MonostaticChannel,
    bs: FloatArray,
    h: npt.NDArray[np.complexfloating],
    p: int,
    nu: FloatArray,
    mu_x: FloatArray,
    mu_y: FloatArray,
    gain: ComplexArray,
) -> tuple[npt.NDArray[np.generic], ...]:
    """The fields of :class:`MonostaticMeasurements` (in order) of one panel's pencil output."""
    d = channel.spacing_wavelengths
    tau = nu / channel.subcarrier_spacing_hz
    ux, uy = mu_x / d, mu_y / d
    ok = (tau >= 0) & (ux**2 + uy**2 <= 1.0)  # a negative delay or an invisible direction: noise
    tau, ux, uy, g = tau[ok], ux[ok], uy[ok], gain[ok]
    ap = channel.panel_azimuths_rad[p]
    el = np.arcsin(np.clip(uy, -1.0, 1.0))
    az = ap + np.arcsin(np.clip(ux / np.maximum(np.cos(el), 1e-300), -1.0, 1.0))
    az = np.angle(np.exp(1j * az))
    cov = _crb_at_estimates(channel, h, tau, az, el, g, ap)
    pos, pcov = _pseudo_positions(bs, tau, az, el, cov)
    return pos, pcov, tau, az, el, g.astype(np.complex128), cov, np.full(tau.shape, p, np.int64)


def _crb_at_estimates(
    channel: MonostaticChannel,
    h: npt.NDArray[np.complexfloating],
    tau: FloatArray,
    az: FloatArray,
    el: FloatArray,
    g: ComplexArray,
    panel_azimuth_rad: float,
) -> FloatArray:
    q = tau.shape[0]
    if q == 0:
        return np.zeros((0, 3, 3))
    ux, uy = _cosines(az, el, np.float64(panel_azimuth_rad))
    residual = h.astype(np.complex128) - _panel_csi(channel, tau, ux, uy, g)
    dof = max(h.size - 5 * q, 1)
    var = float(np.vdot(residual, residual).real) / dof
    floor = (np.finfo(np.float64).eps * float(np.sqrt(np.mean(np.abs(h) ** 2)))) ** 2
    return monostatic_crb(
        channel, tau, az, el, g, panel_azimuth_rad=panel_azimuth_rad, noise_var=max(var, floor)
    )


def _pseudo_positions(
    bs: FloatArray, tau: FloatArray, az: FloatArray, el: FloatArray, cov: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``p_B + (c tau / 2) e(az, el)`` and ``J cov J^T`` (mapping paper eqs. (6)-(8))."""
    r = 0.5 * SPEED_OF_LIGHT * tau
    e = _direction(az, el)
    ca, sa, ce, se = np.cos(az), np.sin(az), np.cos(el), np.sin(el)
    d_az = np.stack([-ce * sa, ce * ca, np.zeros_like(az)], axis=-1)
    d_el = np.stack([-se * ca, -se * sa, ce], axis=-1)
    jac = np.stack([0.5 * SPEED_OF_LIGHT * e, r[:, None] * d_az, r[:, None] * d_el], axis=-1)
    pcov = jac @ cov @ np.swapaxes(jac, -1, -2)
    return bs + r[:, None] * e, 0.5 * (pcov + np.swapaxes(pcov, -1, -2))


def with_monostatic_measurements(
    data: BsData, measurements: MonostaticMeasurements, params: MappingParams | None = None
) -> BsData:
    """``data`` with its monostatic pseudo-positions replaced by those estimated from CSI.

    Parameters
    ----------
    data : skysense.mapping.BsData
        From :func:`skysense.mapping.simulate` (its bistatic sets and truth are kept).
    measurements : MonostaticMeasurements
        From :func:`estimate_monostatic`, one epoch per epoch of ``data``.
    params : skysense.mapping.MappingParams, optional
        Points outside ``params.clutter_box_m`` (the monostatic clutter region of the filter)
        are not passed on (default ``MappingParams()``).

    Returns
    -------
    skysense.mapping.BsData
        Ready for :meth:`skysense.mapping.Mapper.run`.

    Examples
    --------
    >>> from skysense.mapping import default_scene, simulate
    >>> from skysense.pipeline import (estimate_monostatic, simulate_monostatic_csi,
    ...                                with_monostatic_measurements)
    >>> scene = default_scene(2)
    >>> (data,) = simulate(scene, rng=0, bs_indices=[0])
    >>> (echo,) = simulate_monostatic_csi(scene, rng=0, bs_indices=[0])
    >>> meas = estimate_monostatic(echo.csi, scene.base_stations_m[0])
    >>> data = with_monostatic_measurements(data, meas)
    >>> data.monostatic_positions_m[0].shape[1]
    3
    """
    if not isinstance(data, BsData):
        raise TypeError(f"data must be a mapping BsData, got {type(data).__name__}")
    if not isinstance(measurements, MonostaticMeasurements):
        raise TypeError(
            f"measurements must be MonostaticMeasurements, got {type(measurements).__name__}"
        )
    if measurements.n_epochs != data.n_epochs:
        raise ValueError(
            f"measurements must have one epoch per epoch of data ({data.n_epochs}), got "
            f"{measurements.n_epochs}"
        )
    params = MappingParams() if params is None else params
    return replace(
        data,
        monostatic_positions_m=tuple(in_clutter_box(p, params) for p in measurements.positions_m),
    )


def in_clutter_box(positions_m: FloatArray, params: MappingParams) -> FloatArray:
    """The rows of ``positions_m`` (n, 3) inside ``params.clutter_box_m`` (a copy).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import MappingParams
    >>> from skysense.pipeline.monostatic_front_end import in_clutter_box
    >>> in_clutter_box(np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 99.0]]), MappingParams())
    array([[ 0.,  0., 10.]])
    """
    box = np.asarray(params.clutter_box_m)
    inside = np.all((positions_m >= box[:3]) & (positions_m <= box[3:]), axis=1)
    out: FloatArray = positions_m[inside].copy()
    return out
