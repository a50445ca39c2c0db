"""The bistatic front end: BS -> UAV OFDM CSI of a mapping scene, and PARAMING on it.

:func:`simulate_bistatic_csi` turns the paths of a :class:`~skysense.mapping.Scene` (LoS and
first-order specular facade paths from the image-method tracer) into the CSI of the bistatic
paper's link (its :class:`~skysense.bistatic.Scenario` numerology, orthogonal pilots, LS
estimate, noise, timing offset; bistatic paper eqs. (4)-(11)). :func:`estimate_bistatic` runs
PARAMING on each epoch's CSI and returns what the mapper consumes, the bistatic pseudo-ranges
(mapping paper eq. (3), the BS -> facade -> UAV path lengths), with the AoA at the UAV, the AoD
at the BS and a covariance per path from the Cramer-Rao bound evaluated at the estimates
(bistatic paper, Appendix A, eq. (52)).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike
from skysense._validation import as_array, check_count, check_finite_scalar, check_positive
from skysense.bistatic.paraming import paraming
from skysense.bistatic.paths import Paths
from skysense.bistatic.scenario import SPEED_OF_LIGHT, Scenario
from skysense.bistatic.simulate import simulate as simulate_link
from skysense.mapping.link import BistaticAngles
from skysense.mapping.scene import Scene
from skysense.mapping.simulate import BsData, Visibility, trace
from skysense.pipeline.geometry import (
    _check_bs_off_facades,
    _simulate_per_bs,
    _ula_angle,
    los_angles,
    unit_axis,
    va_angles,
)

__all__ = [
    "BistaticChannel",
    "BistaticCsi",
    "BistaticMeasurements",
    "bistatic_paths",
    "estimate_bistatic",
    "mdl_order",
    "simulate_bistatic_csi",
    "with_bistatic_measurements",
]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

#: ToAs are reported in ``[timing_offset_s - GUARD / df, timing_offset_s + (1 - GUARD) / df)``
#: (PARAMING's window): a little room below the earliest possible arrival for noise.
_TOA_GUARD_CELLS = 0.125
#: Cap of an order estimated by MDL.
DEFAULT_MAX_PATHS = 8


def _default_axis(degrees: float) -> tuple[float, float, float]:
    a = math.radians(degrees)
    return (math.cos(a), math.sin(a), 0.0)


@dataclass(frozen=True)
class BistaticChannel:
    """The BS -> UAV link of a mapping scene: numerology, ULA orientations, link budget.

    Parameters
    ----------
    scenario : skysense.bistatic.Scenario
        OFDM numerology and ULA sizes (default: the bistatic paper's, Nt 8 at the BS, Nr 10 at
        the UAV, N 64 subcarriers at 960 kHz, 30 GHz).
    bs_axis, uav_axis : tuple of 3 float
        Axes of the BS (transmit) and UAV (receive) ULAs in the scene frame, element 0 to
        element 1 (normalised here). Defaults: horizontal, at 30 and 120 degrees from x, so
        that no path of the default scene (axis-aligned facades) leaves or arrives along an
        axis (endfire).
    snr_db : float
        Per-receive-antenna SNR [dB] of a path with ``|gain| = 1`` (the noise variance is
        ``n_tx / snr``, pilots of unit power).
    reference_range_m : float
        Free-space amplitudes: a LoS path of this length has ``|gain| = 1`` and a path of
        length ``d`` ``reference_range_m / d`` (times ``reflection_amplitude`` for a facade) [m].
    reflection_amplitude : float
        Amplitude of the specular facade reflection, in (0, 1].
    timing_offset_s : float
        Mean receiver timing offset [s], added to every ToA by the simulator. Known
        (calibrated) by the estimator when ``timing_offset_std_s`` is 0, which subtracts it.
    timing_offset_std_s : float
        Std of the unknown part of the receiver clock offset [s] (>= 0): epoch ``e`` has the
        offset ``timing_offset_s + timing_offset_std_s * w_e``, ``w_e ~ N(0, 1)`` independent
        over epochs (a UAV receiver whose clock is re-acquired every burst). 0 (default): a
        synchronised receiver. Above 0 the estimator synchronises on the LoS path
        (:func:`estimate_bistatic`).
    diffuse_mean : float
        Poisson mean of the diffuse scatterers of a facade per epoch (>= 0; 0: specular paths
        only). Each scatterer gives a path BS -> scatterer -> UAV with its own delay, AoD and
        AoA (mapping paper eq. (1)); the LoS has no cluster.
    diffuse_amplitude : float
        Amplitude of a diffuse path relative to a specular path of the same length, in [0, 1]
        (0: none); its phase is uniform.
    diffuse_half_width_m : float
        Scatterers are uniform in a ``+-diffuse_half_width_m`` square on the facade (its
        horizontal tangent and the vertical) around the bistatic reflection point, kept where
        on the facade and seen from both the BS and the UAV [m].

    Notes
    -----
    The diffuse parameters are those of :class:`MonostaticChannel` (3 scatterers, 0.3, +-8 m),
    the values :func:`skysense.mapping.simulate` draws its diffuse measurements with.

    Examples
    --------
    >>> from skysense.pipeline import BistaticChannel
    >>> ch = BistaticChannel(snr_db=30.0)
    >>> ch.noise_var  # n_tx / snr
    0.008
    >>> round(ch.max_range_m, 2)  # path lengths the ToA window resolves [m]
    273.44
    >>> ch.synchronised, BistaticChannel(timing_offset_std_s=1e-7).synchronised
    (True, False)
    """

    scenario: Scenario = field(default_factory=Scenario)
    bs_axis: tuple[float, ...] = _default_axis(30.0)
    uav_axis: tuple[float, ...] = _default_axis(120.0)
    snr_db: float = 20.0
    reference_range_m: float = 100.0
    reflection_amplitude: float = 0.5
    timing_offset_s: float = 0.0
    timing_offset_std_s: float = 0.0
    diffuse_mean: float = 3.0
    diffuse_amplitude: float = 0.3
    diffuse_half_width_m: float = 8.0

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, Scenario):
            raise TypeError(
                f"scenario must be a bistatic Scenario, got {type(self.scenario).__name__}"
            )
        if self.scenario.n_tx < 2 or self.scenario.n_rx < 2:
            raise ValueError(
                "the bistatic front end needs n_tx >= 2 and n_rx >= 2 (PARAMING's angle fit), "
                f"got n_tx = {self.scenario.n_tx}, n_rx = {self.scenario.n_rx}"
            )
        if self.scenario.n_symbols < self.scenario.n_tx:
            raise ValueError(
                "LS estimation needs scenario.n_symbols >= scenario.n_tx, got "
                f"{self.scenario.n_symbols} < {self.scenario.n_tx}"
            )
        for name in ("bs_axis", "uav_axis"):
            object.__setattr__(self, name, tuple(unit_axis(getattr(self, name), name).tolist()))
        check_finite_scalar(self.snr_db, "snr_db")
        check_positive(self.reference_range_m, "reference_range_m")
        r = check_positive(self.reflection_amplitude, "reflection_amplitude")
        if r > 1:
            raise ValueError(f"reflection_amplitude must lie in (0, 1], got {r}")
        check_finite_scalar(self.timing_offset_s, "timing_offset_s")
        check_positive(self.timing_offset_std_s, "timing_offset_std_s", strict=False)
        check_positive(self.diffuse_mean, "diffuse_mean", strict=False)
        a = check_positive(self.diffuse_amplitude, "diffuse_amplitude", strict=False)
        if a > 1:
            raise ValueError(f"diffuse_amplitude must lie in [0, 1], got {a}")
        check_positive(self.diffuse_half_width_m, "diffuse_half_width_m", strict=False)

    @property
    def synchronised(self) -> bool:
        """Whether the receiver knows its timing offset (``timing_offset_std_s == 0``)."""
        return self.timing_offset_std_s == 0.0

    @property
    def diffuse(self) -> bool:
        """Whether the facades carry diffuse clusters (``diffuse_mean`` and amplitude > 0)."""
        return self.diffuse_mean > 0.0 and self.diffuse_amplitude > 0.0

    @property
    def noise_var(self) -> float:
        """sigma^2 of the received samples (unit-power pilots): ``n_tx / 10^(snr_db / 10)``."""
        return self.scenario.n_tx / 10.0 ** (self.snr_db / 10.0)

    @property
    def max_range_m(self) -> float:
        """Longest path [m] inside the ToA window, ``c (1 - 1/8) / df`` (ToAs wrap mod 1/df)."""
        return SPEED_OF_LIGHT * (1.0 - _TOA_GUARD_CELLS) / self.scenario.subcarrier_spacing_hz

    def _min_toa_s(self) -> float:
        return self.timing_offset_s - _TOA_GUARD_CELLS / self.scenario.subcarrier_spacing_hz


@dataclass(frozen=True, repr=False)
class BistaticCsi(Result):
    """Bistatic CSI of one BS over the epochs, with the paths it was drawn from.

    Attributes
    ----------
    bs_index : int
    csi : ndarray, shape (n_epochs, n_tx, n_rx, n_subcarriers), complex128
        LS CSI per epoch (one sub-frame), the layout of :func:`skysense.bistatic.simulate`.
    paths : tuple of (skysense.bistatic.Paths or None)
        True paths per epoch: LoS first, then one specular path per visible VA, then the
        diffuse paths; None for an epoch without paths (its CSI is noise). ToAs include the
        epoch's timing offset (an unknown one modulo ``1 / subcarrier_spacing_hz``, the
        period of the CSI in the delay).
    noise_var : float
        sigma^2 of the received samples; each CSI entry has noise variance
        ``noise_var / n_symbols`` (orthogonal pilots).
    diffuse : tuple of ndarray, each shape (n_paths,), bool
        Which paths of the epoch are diffuse (empty for an epoch without paths).
    scatterers_m : tuple of ndarray, each shape (n_paths, 3) [m]
        Where each path meets a facade: the reflection point of a specular path, the
        scatterer of a diffuse one, NaN for the LoS.
    timing_offset_s : ndarray, shape (n_epochs,) [s]
        The receiver timing offset of each epoch (in the paths' ToAs).

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import BistaticChannel, simulate_bistatic_csi
    >>> ch = BistaticChannel(diffuse_mean=0.0)  # LoS and specular paths only
    >>> (link,) = simulate_bistatic_csi(default_scene(5), ch, rng=0, bs_indices=[0])
    >>> link.csi.shape, link.n_paths.tolist()
    ((5, 8, 10, 64), [1, 3, 1, 2, 2])
    >>> (link,) = simulate_bistatic_csi(default_scene(5), rng=0, bs_indices=[0])
    >>> link.n_specular.tolist(), link.n_paths.tolist()  # + diffuse clusters
    ([1, 3, 1, 2, 2], [1, 13, 1, 8, 12])
    """

    bs_index: int
    csi: ComplexArray
    paths: tuple[Paths | None, ...]
    noise_var: float
    diffuse: tuple[npt.NDArray[np.bool_], ...]
    scatterers_m: tuple[FloatArray, ...]
    timing_offset_s: FloatArray

    @property
    def n_paths(self) -> npt.NDArray[np.int64]:
        """True number of paths per epoch, diffuse ones included, shape (n_epochs,)."""
        return np.array([0 if p is None else p.n_paths for p in self.paths], np.int64)

    @property
    def n_specular(self) -> npt.NDArray[np.int64]:
        """LoS and specular paths per epoch (the oracle order of a receiver that does not
        resolve the diffuse clusters), shape (n_epochs,)."""
        return np.array([int(np.sum(~d)) for d in self.diffuse], np.int64)


@dataclass(frozen=True, repr=False)
class BistaticMeasurements(Result):
    """Per-epoch bistatic measurements estimated from CSI, sorted by range.

    Attributes
    ----------
    ranges_m : tuple of ndarray, each shape (n_measurements,) [m]
        BS -> (facade ->) UAV path lengths ``c (tau - timing_offset_s)``: the mapper's
        bistatic pseudo-ranges (mapping paper eq. (3); :class:`skysense.mapping.BsData`).
    aoa_rad, aod_rad : tuple of ndarray, each shape (n_measurements,) [rad]
        AoA at the UAV's ULA and AoD at the BS's ULA (see :mod:`skysense.pipeline.geometry`).
    gain : tuple of ndarray, each shape (n_measurements,), complex128
        Complex path gains.
    covariance : tuple of ndarray, each shape (n_measurements, 3, 3)
        Cramer-Rao bound of ``(range [m], AoA [rad], AoD [rad])`` per path, evaluated at the
        estimates with the noise variance estimated from the residual (units m^2, m rad,
        rad^2 by entry).
    timing_offset_s : ndarray, shape (n_epochs,) [s]
        The receiver timing offset the ranges are referred to: the channel's known offset, or
        the one estimated on the LoS (:func:`estimate_bistatic` with an unknown offset,
        known modulo ``1 / subcarrier_spacing_hz``: the one within half that period of the
        channel's ``timing_offset_s``); NaN for an epoch without a LoS path, which then has
        no measurements.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import BistaticChannel, estimate_bistatic, simulate_bistatic_csi
    >>> ch = BistaticChannel(snr_db=30.0)
    >>> (link,) = simulate_bistatic_csi(default_scene(3), ch, rng=0, bs_indices=[0])
    >>> meas = estimate_bistatic(link.csi, ch, n_paths=link.n_paths)
    >>> truth = np.sort(link.paths[0].toa_s) * 3e8
    >>> bool(np.all(np.abs(meas.ranges_m[0] - truth) < 0.5))
    True
    """

    ranges_m: tuple[FloatArray, ...]
    aoa_rad: tuple[FloatArray, ...]
    aod_rad: tuple[FloatArray, ...]
    gain: tuple[ComplexArray, ...]
    covariance: tuple[FloatArray, ...]
    timing_offset_s: FloatArray

    @property
    def n_epochs(self) -> int:
        """Epochs of the measurements."""
        return len(self.ranges_m)

    @property
    def synchronised(self) -> npt.NDArray[np.bool_]:
        """Epochs whose ranges are referred to a known or estimated offset, (n_epochs,) bool;
        False where the receiver found no LoS to synchronise on."""
        out: npt.NDArray[np.bool_] = np.isfinite(self.timing_offset_s)
        return out

    @property
    def n_measurements(self) -> npt.NDArray[np.int64]:
        """Measurements per epoch, shape (n_epochs,)."""
        return np.array([r.shape[0] for r in self.ranges_m], np.int64)


def _check_traced(scene: Scene, i: int, vis: object) -> None:
    """``vis`` is the tracing of BS ``i`` on ``scene``, and the BS is off every facade."""
    if not isinstance(vis, Visibility):
        raise TypeError(f"visibility must be a Visibility, got {type(vis).__name__}")
    if vis.bistatic_visible.shape != (scene.n_epochs, scene.n_facades):
        raise ValueError(
            "visibility must be traced on this scene: bistatic_visible of shape "
            f"{(scene.n_epochs, scene.n_facades)}, got {vis.bistatic_visible.shape}"
        )
    _check_bs_off_facades(scene, i, "its mirror image, the VA, would be the BS itself")


def bistatic_paths(
    scene: Scene,
    bs_index: int,
    channel: BistaticChannel,
    *,
    visibility: Visibility | None = None,
) -> tuple[Paths | None, ...]:
    """The noise-free BS -> UAV paths of every epoch: LoS and first-order specular paths.

    Parameters
    ----------
    scene : skysense.mapping.Scene
        Buildings, BSs and the UAV trajectory.
    bs_index : int
        Index of the BS into ``scene.base_stations_m``.
    channel : BistaticChannel
        Numerology, timing offset and range limit of the bistatic link.
    visibility : skysense.mapping.Visibility, optional
        The traced paths of this BS (default ``skysense.mapping.trace(scene, bs_index)``).

    Returns
    -------
    tuple of (skysense.bistatic.Paths or None), one per epoch
        LoS first (if unoccluded), then one specular path per VA seen on the bistatic link
        (coplanar facades share one VA, as in :func:`skysense.mapping.simulate`); ToA
        ``d / c + timing_offset_s`` for a path of length ``d``; None where no path exists.
        The diffuse clusters and the unknown clock offset are random:
        :func:`simulate_bistatic_csi` draws them.

    Raises
    ------
    ValueError
        A path longer than ``channel.max_range_m`` (its ToA would wrap around 1/df), or the BS
        on a facade.

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import BistaticChannel, bistatic_paths
    >>> paths = bistatic_paths(default_scene(4), 0, BistaticChannel())
    >>> [p.n_paths for p in paths]
    [1, 3, 2, 2]
    """
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a mapping Scene, got {type(scene).__name__}")
    if not isinstance(channel, BistaticChannel):
        raise TypeError(f"channel must be a BistaticChannel, got {type(channel).__name__}")
    i = scene._bs(bs_index)
    vis = trace(scene, i) if visibility is None else visibility
    _check_traced(scene, i, vis)
    return tuple(p for p, _, _ in _epoch_paths(scene, i, channel, vis, None))


#: Scatterers are tested for visibility 1 mm in front of their facade (off its own box).
_FACADE_STANDOFF_M = 1e-3


def _diffuse_scatterers(
    scene: Scene,
    f: int,
    centre_m: FloatArray,
    ends_m: tuple[FloatArray, FloatArray],
    channel: BistaticChannel,
    gen: np.random.Generator,
) -> tuple[FloatArray, ComplexArray]:
    """The diffuse scatterers of facade ``f`` around ``centre_m`` and their unit phasors.

    ``Poisson(diffuse_mean)`` points uniform in the ``+-diffuse_half_width_m`` square of the
    facade's tangent and the vertical about the reflection point, kept where they lie on the
    facade and both ends of the link (BS, UAV) see them. All draws are made before the
    selection, so the stream does not depend on the geometry.
    """
    from skysense.mapping._tracer_numba import segments_free

    w = channel.diffuse_half_width_m
    n_d = int(gen.poisson(channel.diffuse_mean))
    tangent = scene.facade_tangents[f]
    q = (
        centre_m
        + gen.uniform(-w, w, n_d)[:, None] * tangent
        + gen.uniform(-w, w, n_d)[:, None] * np.array([0.0, 0.0, 1.0])
    )
    phasor = np.exp(2j * np.pi * gen.uniform(size=n_d))
    off = q @ tangent - scene.facade_points_m[f] @ tangent
    ok = (np.abs(off) <= scene.facade_half_widths_m[f]) & (q[:, 2] >= 0.0)
    ok &= q[:, 2] <= scene.facade_heights_m[f]
    if ok.any():
        front = q[ok] + _FACADE_STANDOFF_M * scene.facade_normals[f]
        seen = np.ones(front.shape[0], bool)
        for end in ends_m:
            seen &= segments_free(end, front, scene.box_lo_m, scene.box_hi_m)
        ok[ok] = seen
    return q[ok], phasor[ok]


def _epoch_paths(
    scene: Scene,
    i: int,
    channel: BistaticChannel,
    vis: Visibility,
    diffuse_rng: np.random.Generator | None,
) -> list[tuple[Paths | None, npt.NDArray[np.bool_], FloatArray]]:
    """Per epoch: the paths (LoS, specular, then diffuse when ``diffuse_rng`` is given), the
    diffuse mask and the facade point of each path (NaN for the LoS)."""
    bs = scene.base_stations_m[i]
    k = 2 * np.pi / channel.scenario.wavelength_m
    axes: dict[str, Any] = {"uav_axis": channel.uav_axis, "bs_axis": channel.bs_axis}
    uav_axis, bs_axis = np.asarray(channel.uav_axis), np.asarray(channel.bs_axis)
    draw = diffuse_rng is not None and channel.diffuse
    out: list[tuple[Paths | None, npt.NDArray[np.bool_], FloatArray]] = []
    for e in range(scene.n_epochs):
        u = scene.trajectory_m[e]
        length, aoa, aod, amp = [], [], [], []
        points: list[FloatArray] = []
        if vis.los_visible[e]:
            a, d = los_angles(u, bs, **axes)
            length.append(float(np.linalg.norm(u - bs)))
            aoa.append(a)
            aod.append(d)
            amp.append(1.0)
            points.append(np.full(3, np.nan))
        seen: set[int] = set()
        clusters: list[tuple[FloatArray, ComplexArray]] = []
        for f, j in enumerate(vis.facade_va_index):
            if j < 0 or not vis.bistatic_visible[e, f] or j in seen:
                continue
            seen.add(int(j))
            va = vis.va_positions_m[j]
            a_j, d_j = va_angles(va, u, bs, **axes)
            length.append(float(np.linalg.norm(u - va)))  # eq. (9)
            aoa.append(float(a_j))
            aod.append(float(d_j))
            amp.append(channel.reflection_amplitude)
            points.append(vis.bistatic_points_m[e, f])
            if draw:
                assert diffuse_rng is not None
                clusters.append(
                    _diffuse_scatterers(
                        scene, f, vis.bistatic_points_m[e, f], (bs, u), channel, diffuse_rng
                    )
                )
        n_specular = len(length)
        phasor = np.ones(n_specular, np.complex128)
        if clusters:
            q = np.concatenate([c[0] for c in clusters]).reshape(-1, 3)
            to_bs, to_uav = q - bs, q - u
            dist = np.linalg.norm(to_bs, axis=1) + np.linalg.norm(to_uav, axis=1)
            length.extend(dist.tolist())
            aoa.extend(_ula_angle(uav_axis, to_uav).tolist())  # arrives from the scatterer
            aod.extend(_ula_angle(bs_axis, to_bs).tolist())  # leaves towards it
            amp.extend([channel.reflection_amplitude * channel.diffuse_amplitude] * q.shape[0])
            points.extend(q)
            phasor = np.concatenate([phasor, *(c[1] for c in clusters)])
        diffuse = np.arange(len(length)) >= n_specular
        if not length:
            out.append((None, diffuse, np.zeros((0, 3))))
            continue
        dist = np.array(length)
        if dist.max() > channel.max_range_m:
            raise ValueError(
                f"a path of {dist.max():.1f} m at epoch {e} exceeds channel.max_range_m = "
                f"{channel.max_range_m:.1f} (ToAs wrap modulo 1/subcarrier_spacing_hz); "
                "lower scenario.subcarrier_spacing_hz"
            )
        gain = (
            np.array(amp)
            * channel.reference_range_m
            / dist
            * np.exp(-1j * np.mod(k * dist, 2 * np.pi))
            * phasor
        )
        toa = dist / SPEED_OF_LIGHT + channel.timing_offset_s
        out.append((Paths(np.array(aoa), np.array(aod), toa, gain), diffuse, np.array(points)))
    return out


def _simulate_bs(
    scene: Scene,
    i: int,
    channel: BistaticChannel,
    gen: np.random.Generator,
    tracer: Callable[[Scene, int], Visibility],
) -> BistaticCsi:
    sc = channel.scenario
    vis = tracer(scene, i)
    _check_traced(scene, i, vis)
    # the scatterers and the clock offsets draw from streams of their own: the noise draws
    # (and, without them, the CSI) are those of the specular-only synchronised link
    diffuse_rng, clock_rng = gen.spawn(2)
    epochs = _epoch_paths(scene, i, channel, vis, diffuse_rng)
    offset = np.full(scene.n_epochs, channel.timing_offset_s)
    if not channel.synchronised:
        offset += channel.timing_offset_std_s * clock_rng.standard_normal(scene.n_epochs)
    noise_var = channel.noise_var
    period = 1.0 / sc.subcarrier_spacing_hz
    csi = np.empty((scene.n_epochs, *sc.csi_shape), np.complex128)
    all_paths: list[Paths | None] = []
    for e, (paths, _, _) in enumerate(epochs):
        if paths is not None and not channel.synchronised:
            # modulo 1/df: the CSI is periodic in the delay, and a ToA must be >= 0
            toa = np.mod(paths.toa_s + (offset[e] - channel.timing_offset_s), period)
            paths = replace(paths, toa_s=toa)
        all_paths.append(paths)
        if paths is None:  # noise only: the LS noise of orthogonal pilots, white, sigma^2 / K
            std = math.sqrt(noise_var / sc.n_symbols / 2.0)
            csi[e] = std * (
                gen.standard_normal(sc.csi_shape) + 1j * gen.standard_normal(sc.csi_shape)
            )
            continue
        h = sc.channel(paths)
        # the per-antenna SNR of this epoch's channel at the link's fixed noise variance
        snr = float(np.sum(np.abs(h) ** 2)) / (sc.n_subcarriers * sc.n_rx * noise_var)
        m = simulate_link(
            sc,
            paths.sorted(),
            10.0 * math.log10(snr),
            rng=gen,
            pilots="orthogonal",
            timing_offset_s=0.0,  # already in the paths' ToAs
        )
        csi[e] = m.csi[0]
    return BistaticCsi(
        bs_index=i,
        csi=csi,
        paths=tuple(all_paths),
        noise_var=noise_var,
        diffuse=tuple(d for _, d, _ in epochs),
        scatterers_m=tuple(p for _, _, p in epochs),
        timing_offset_s=offset,
    )


def simulate_bistatic_csi(
    scene: Scene,
    channel: BistaticChannel | None = None,
    *,
    rng: RngLike = None,
    bs_indices: Sequence[int] | None = None,
    tracer: Callable[[Scene, int], Visibility] | None = None,
) -> tuple[BistaticCsi, ...]:
    """Bistatic BS -> UAV CSI of every epoch, for every BS (or the BSs in ``bs_indices``).

    Parameters
    ----------
    scene : skysense.mapping.Scene
        Buildings, BSs and the UAV trajectory.
    channel : BistaticChannel, optional
        Default ``BistaticChannel()``.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        BS i draws from the i-th of ``scene.n_bs`` children spawned from ``rng``, so its CSI
        does not depend on which other BSs are simulated.
    bs_indices : sequence of int, optional
        BS indices (default: all).
    tracer : callable, optional
        ``tracer(scene, bs_index) -> Visibility`` (default :func:`skysense.mapping.trace`).

    Returns
    -------
    tuple of BistaticCsi
        One per simulated BS, in the order of ``bs_indices``: its CSI of every epoch.

    Notes
    -----
    Paths from :func:`bistatic_paths`, plus, per specular facade path, a diffuse cluster of
    ``Poisson(channel.diffuse_mean)`` scatterers on the facade around its reflection point,
    each a path BS -> scatterer -> UAV (mapping paper eq. (1)), and the epoch's clock offset
    (``timing_offset_s``, plus ``timing_offset_std_s`` times a standard normal per epoch). Per
    epoch one sub-frame of ``n_symbols`` orthogonal pilots through them and the LS estimate
    (:func:`skysense.bistatic.simulate`, bistatic paper eqs. (4)-(11)), with noise of
    variance ``channel.noise_var`` per received sample. The scatterers and the offsets draw
    from streams of their own, so without them the CSI is that of the specular-only,
    synchronised link, draw for draw. Doppler is not modelled.

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import simulate_bistatic_csi
    >>> links = simulate_bistatic_csi(default_scene(4), rng=0)
    >>> len(links), links[2].csi.shape
    (4, (4, 8, 10, 64))
    """
    return _simulate_per_bs(scene, channel, BistaticChannel, rng, bs_indices, tracer, _simulate_bs)


def _as_orders(n_paths: int | str | npt.ArrayLike, n_epochs: int) -> npt.NDArray[np.int64] | None:
    """Per-epoch model orders, or None for the MDL criterion."""
    if isinstance(n_paths, str):
        if n_paths != "mdl":
            raise ValueError(
                f"n_paths must be an int >= 0, one int per epoch, or 'mdl', got {n_paths!r}"
            )
        return None
    q = np.asarray(n_paths)
    if q.ndim == 0:
        q = np.full(n_epochs, check_count(n_paths, "n_paths", minimum=0), np.int64)
    q = as_array(q, "n_paths", shape=(n_epochs,), kind="iu", dtype=np.int64)
    if (q < 0).any():
        raise ValueError(f"n_paths must be >= 0 per epoch, got min {int(q.min())}")
    return q


def mdl_order(csi: ComplexArray, max_paths: int = DEFAULT_MAX_PATHS) -> int:
    """MDL model order of one CSI from its delay-smoothed covariance (cheap).

    The ``n_tx n_rx`` antenna pairs and the ``N - M + 1`` windows of ``M = N // 2``
    subcarriers are the snapshots of an ``M x M`` sample covariance (its sum of the diagonal
    blocks of ``H^T conj(H)``, ``H`` the ``(n_tx n_rx, N)`` reshape of eq. (11)); each path
    adds one exponential ``c(tau)`` to it, so paths of coinciding ToAs count once (give the
    order instead where such clusters matter). Wax-Kailath MDL on its eigenvalues, capped at ``max_paths``. Costs
    ``n_tx n_rx N^2`` products (PARAMING's own criterion takes every singular value of its
    ``L x P`` Hankel matrix X1, ~100x more at the default size).

    Parameters
    ----------
    csi : ndarray, shape (n_tx, n_rx, n_subcarriers), complex
        One LS CSI.
    max_paths : int
        Largest order returned.

    Returns
    -------
    int
        The order, in ``[0, min(max_paths, N // 2 - 1)]``.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> from skysense.pipeline.bistatic_front_end import mdl_order
    >>> sc = bs.Scenario()
    >>> paths = bs.random_paths(sc, rng=0)
    >>> mdl_order(bs.simulate(sc, paths, 20.0, rng=1).csi[0]), paths.n_paths
    (4, 4)
    """
    n = csi.shape[-1]
    h = csi.reshape(-1, n)
    # (N, N) Gram without BLAS: a multithreaded zgemm this small loses to its thread start-up
    full = np.einsum("in,im->nm", h, h.conj())
    m = n // 2
    smoothed = np.zeros((m, m), np.complex128)
    for i in range(n - m + 1):
        smoothed += full[i : i + m, i : i + m]
    lam = np.linalg.eigvalsh(smoothed)[::-1]
    lam = np.maximum(lam, lam[0] * 1e-300 if lam[0] > 0 else np.finfo(np.float64).tiny)
    snapshots = h.shape[0] * (n - m + 1)
    best, best_k = np.inf, 0
    for k in range(min(max_paths, m - 1) + 1):
        tail = lam[k:]
        log_ratio = float(np.mean(np.log(tail)) - np.log(np.mean(tail)))  # <= 0
        crit = -snapshots * (m - k) * log_ratio + 0.5 * k * (2 * m - k) * np.log(snapshots)
        if crit < best:
            best, best_k = crit, k
    return best_k


def _paraming_with_fallback(
    csi: ComplexArray, order: int, channel: BistaticChannel
) -> tuple[FloatArray, FloatArray, FloatArray, ComplexArray]:
    """PARAMING on one CSI; a model order above what the data resolve (rank) is lowered one
    path at a time, and paths PARAMING marks unreliable (not significant above the noise, or
    an unseparable delay cluster) are dropped: the mapper takes a missed path as a missed
    detection, whereas a wrong range would enter the map."""
    q = order
    while True:
        try:
            with warnings.catch_warnings():
                # the unreliable paths are handled below, per epoch, without a warning each
                warnings.simplefilter("ignore", RuntimeWarning)
                est = paraming(
                    csi,
                    q,
                    scenario=channel.scenario,
                    min_toa_s=channel._min_toa_s(),
                    check_finite=False,
                    workers=1,
                )
            break
        except ValueError:
            if q <= 1:
                raise
            q -= 1
    assert est.toa_s is not None and est.gain is not None
    keep = np.ones(np.shape(est.toa_s), bool) if est.reliable is None else np.asarray(est.reliable)
    real = (np.asarray(v, np.float64)[keep] for v in (est.toa_s, est.aoa_rad, est.aod_rad))
    return (*real, np.asarray(est.gain, np.complex128)[keep])


def separable_fisher_information(scenario: Scenario, paths: Paths, noise_var: float) -> FloatArray:
    """FIM of ``[theta, phi, tau, Re gamma, Im gamma]`` (bistatic paper eq. (52)) in O(q^2 N).

    Every derivative of the CSI is a Kronecker product ``s c (x) a_r (x) a_t`` of a delay, a
    receive and a transmit factor, so each FIM entry is a product of three small inner
    products: ``F_ab = 2 K / sigma^2 Re{conj(s_a) s_b (c_a^H c_b)(r_a^H r_b)(t_a^H t_b)}``
    (pilots with ``S S^H = K I``). Equals :func:`skysense.bistatic.fisher_information` with
    ``pilots=None`` (tested), without forming the ``(N, Nr, Nt, 5 q)`` derivative array.

    Parameters
    ----------
    scenario : skysense.bistatic.Scenario
    paths : skysense.bistatic.Paths
    noise_var : float
        sigma^2 of the received samples.

    Returns
    -------
    ndarray, shape (5 n_paths, 5 n_paths), float64
        Blocks in the order theta [rad], phi [rad], tau [s], Re gamma, Im gamma.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> from skysense.pipeline.bistatic_front_end import separable_fisher_information
    >>> sc = bs.Scenario()
    >>> separable_fisher_information(sc, bs.random_paths(sc, rng=0), 1.0).shape
    (20, 20)
    """
    factors = _path_factors(scenario, paths.aoa_rad, paths.aod_rad, paths.toa_s)
    return _fim(scenario, paths.aoa_rad, paths.aod_rad, factors, paths.gain, noise_var)


def _path_factors(
    scenario: Scenario, aoa_rad: FloatArray, aod_rad: FloatArray, toa_s: FloatArray
) -> tuple[ComplexArray, ComplexArray, ComplexArray]:
    """Steering rows a_t (q, Nt), a_r (q, Nr) and delay rows c (q, N) of q paths (eq. (5))."""
    kt, kr = np.arange(scenario.n_tx), np.arange(scenario.n_rx)
    n = np.arange(scenario.n_subcarriers)
    at = np.exp(-2j * np.pi * scenario.spacing_tx_wavelengths * np.sin(aod_rad)[:, None] * kt)
    ar = np.exp(-2j * np.pi * scenario.spacing_rx_wavelengths * np.sin(aoa_rad)[:, None] * kr)
    c = np.exp(-2j * np.pi * np.mod(scenario.subcarrier_spacing_hz * toa_s[:, None] * n, 1.0))
    return at, ar, c


def _fim(
    scenario: Scenario,
    aoa_rad: FloatArray,
    aod_rad: FloatArray,
    factors: tuple[ComplexArray, ComplexArray, ComplexArray],
    gain: ComplexArray,
    noise_var: float,
) -> FloatArray:
    at, ar, c = factors
    kr, kt = np.arange(scenario.n_rx), np.arange(scenario.n_tx)
    n = np.arange(scenario.n_subcarriers)
    ar_dot = -2j * np.pi * scenario.spacing_rx_wavelengths * np.cos(aoa_rad)[:, None] * kr * ar
    at_dot = -2j * np.pi * scenario.spacing_tx_wavelengths * np.cos(aod_rad)[:, None] * kt * at
    c_dot = -2j * np.pi * scenario.subcarrier_spacing_hz * n * c
    one = np.ones(gain.shape[0], np.complex128)
    delay = np.concatenate([c, c, c_dot, c, c])
    rx = np.concatenate([ar_dot, ar, ar, ar, ar])
    tx = np.concatenate([at, at_dot, at, at, at])
    scalar = np.concatenate([gain, gain, gain, one, 1j * one])
    gram = (delay.conj() @ delay.T) * (rx.conj() @ rx.T) * (tx.conj() @ tx.T)
    f = np.conj(scalar)[:, None] * scalar[None, :] * gram
    out: FloatArray = 2.0 * scenario.n_symbols / noise_var * f.real
    return out


def _fim_inverse(fim: FloatArray) -> FloatArray:
    """Symmetric pseudo-inverse of a Fisher matrix, equilibrated first.

    The delay entries exceed the angle entries by about ``(2 pi N df)^2``, so the matrix is
    scaled to a unit diagonal before inverting (a zero diagonal entry, a parameter the data
    do not see, is left unscaled).
    """
    diag = np.diag(fim)
    d = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
    cov = d[:, None] * np.linalg.pinv(d[:, None] * fim * d[None, :], hermitian=True) * d[None, :]
    out: FloatArray = 0.5 * (cov + cov.T)  # exactly symmetric
    return out


def _crb_covariance(
    csi: ComplexArray,
    toa_s: FloatArray,
    aoa_rad: FloatArray,
    aod_rad: FloatArray,
    gain: ComplexArray,
    scenario: Scenario,
    reference: int | None = None,
) -> FloatArray:
    """CRB of (range, AoA, AoD) per path at the estimates, noise from the residual.

    With a ``reference`` path (the LoS of a receiver synchronised on it) the range of path
    ``i`` is ``c (tau_i - tau_ref)`` plus a known length, so its variance and covariances
    are those of the delay difference (the reference's own range variance is 0)."""
    q = toa_s.shape[0]
    at, ar, c = factors = _path_factors(scenario, aoa_rad, aod_rad, toa_s)
    # the model CSI, eq. (15): H[t, r, n] = sum_i gamma_i a_t[i, t] a_r[i, r] c[i, n]
    spatial = ((at * gain[:, None])[:, :, None] * ar[:, None, :]).reshape(q, -1)
    residual = csi.reshape(-1, scenario.n_subcarriers) - spatial.T @ c
    dof = max(csi.size - 5 * q, 1)
    entry_var = float(np.vdot(residual, residual).real) / dof
    floor = (np.finfo(np.float64).eps * float(np.sqrt(np.mean(np.abs(csi) ** 2)))) ** 2
    noise_var = scenario.n_symbols * max(entry_var, floor)  # CSI entry var = sigma^2 / K
    cov = _fim_inverse(_fim(scenario, aoa_rad, aod_rad, factors, gain, noise_var))
    idx = np.stack([2 * q + np.arange(q), np.arange(q), q + np.arange(q)], axis=1)  # tau, th, ph
    if reference is None:
        out = cov[idx[:, :, None], idx[:, None, :]]  # (q, 3, 3)
    else:  # J Sigma J^T, J the rows (d tau_i - d tau_ref, d theta_i, d phi_i) per path
        jac = np.zeros((q, 3, 5 * q))
        jac[np.arange(q)[:, None], np.arange(3)[None, :], idx] = 1.0
        jac[:, 0, 2 * q + reference] -= 1.0
        out = np.einsum("qai,ij,qbj->qab", jac, cov, jac)
    scale = np.array([SPEED_OF_LIGHT, 1.0, 1.0])
    result: FloatArray = out * scale[:, None] * scale[None, :]
    return result


#: A path is the LoS candidate when both its sines lie within this fraction of the ULA's
#: beamwidth ``1 / (n d)`` (in sine) of the LoS's, plus four CRB stds.
LOS_GATE_BEAMWIDTHS = 0.25


def _find_los(
    aoa: FloatArray,
    aod: FloatArray,
    gain: ComplexArray,
    cov: FloatArray,
    los_aoa: float,
    los_aod: float,
    scenario: Scenario,
) -> int | None:
    """Index of the estimated LoS path (None: none), by its angles, which the geometry gives:
    the strongest path whose AoA and AoD sines both lie in the LoS gate."""
    if aoa.shape[0] == 0:
        return None
    std = np.sqrt(np.nan_to_num(np.diagonal(cov, axis1=1, axis2=2)[:, 1:], nan=np.inf))
    std_a = np.abs(np.cos(aoa)) * std[:, 0]  # std of the sine, to first order
    std_d = np.abs(np.cos(aod)) * std[:, 1]
    gate_a = LOS_GATE_BEAMWIDTHS / (scenario.n_rx * scenario.spacing_rx_wavelengths) + 4 * std_a
    gate_d = LOS_GATE_BEAMWIDTHS / (scenario.n_tx * scenario.spacing_tx_wavelengths) + 4 * std_d
    ok = (np.abs(np.sin(aoa) - math.sin(los_aoa)) <= gate_a) & (
        np.abs(np.sin(aod) - math.sin(los_aod)) <= gate_d
    )
    if not ok.any():
        return None
    return int(np.flatnonzero(ok)[np.argmax(np.abs(gain[ok]))])


def _uncensored(
    range_m: FloatArray, gain: ComplexArray, cluster_db: float | None, scenario: Scenario
) -> npt.NDArray[np.bool_]:
    """False for an estimate within one resolution cell of one over ``cluster_db`` dB stronger."""
    if cluster_db is None or range_m.shape[0] < 2:
        return np.ones(range_m.shape[0], bool)
    cell_m = SPEED_OF_LIGHT / (scenario.n_subcarriers * scenario.subcarrier_spacing_hz)
    amp = np.abs(gain)
    close = np.abs(range_m[:, None] - range_m[None, :]) < cell_m
    stronger = amp[None, :] > 10.0 ** (cluster_db / 20.0) * amp[:, None]  # never itself
    out: npt.NDArray[np.bool_] = ~np.any(close & stronger, axis=1)
    return out


def _link_positions(
    channel: BistaticChannel,
    n_epochs: int,
    bs_position_m: npt.ArrayLike | None,
    uav_positions_m: npt.ArrayLike | None,
) -> tuple[FloatArray, FloatArray] | None:
    """The BS position (3,) and the UAV position per epoch (n_epochs, 3) of a receiver that
    synchronises on the LoS; None for a synchronised channel."""
    if channel.synchronised:
        return None
    if bs_position_m is None or uav_positions_m is None:
        raise ValueError(
            "bs_position_m and uav_positions_m are needed when channel.timing_offset_std_s > 0 "
            "(the receiver synchronises on the LoS, whose length they give), got "
            f"bs_position_m={'None' if bs_position_m is None else 'given'}, "
            f"uav_positions_m={'None' if uav_positions_m is None else 'given'}"
        )
    bs = as_array(bs_position_m, "bs_position_m", shape=(3,), kind="fiu", dtype=np.float64)
    uav = np.asarray(uav_positions_m)
    uav = uav.reshape(1, 3) if uav.shape == (3,) and n_epochs == 1 else uav
    uav = as_array(uav, "uav_positions_m", shape=(n_epochs, 3), kind="fiu", dtype=np.float64)
    return bs, uav


def estimate_bistatic(
    csi: npt.ArrayLike,
    channel: BistaticChannel | None = None,
    *,
    n_paths: int | Literal["mdl"] | npt.ArrayLike = "mdl",
    max_paths: int = DEFAULT_MAX_PATHS,
    bs_position_m: npt.ArrayLike | None = None,
    uav_positions_m: npt.ArrayLike | None = None,
    missing_los: Literal["drop", "raise"] = "drop",
    cluster_db: float | None = None,
) -> BistaticMeasurements:
    """PARAMING on each epoch's bistatic CSI: the mapper's pseudo-ranges, with angles and CRB.

    Parameters
    ----------
    csi : array_like, shape (n_epochs, n_tx, n_rx, n_subcarriers) or (n_tx, n_rx, n_subcarriers)
        LS CSI per epoch (e.g. :attr:`BistaticCsi.csi`); one CSI is one epoch. complex64 is
        promoted to complex128: the outputs feed the mapper, which runs in float64.
    channel : BistaticChannel, optional
        Numerology and the timing model (default ``BistaticChannel()``).
    n_paths : int, array_like of int, or "mdl"
        Model order per epoch (one int for all, one per epoch, e.g. ``BistaticCsi.n_paths``;
        0: an epoch without measurements), or ``"mdl"``: :func:`mdl_order` per epoch. An order
        above an epoch's numerical rank is lowered path by path; paths PARAMING marks
        unreliable are dropped.
    max_paths : int
        Cap of an MDL order (8).
    bs_position_m : array_like, shape (3,), optional
        The BS's position [m]; needed (with ``uav_positions_m``) when the channel's timing
        offset is unknown (``channel.timing_offset_std_s > 0``), ignored otherwise.
    uav_positions_m : array_like, shape (n_epochs, 3), optional
        The UAV's position per epoch [m] (shape (3,) for one CSI).
    missing_los : {"drop", "raise"}
        An unknown timing offset is estimated from the LoS path; an epoch where no estimated
        path matches the LoS's angles cannot be synchronised: ``"drop"`` gives it no
        measurements and a NaN ``timing_offset_s``, ``"raise"`` raises.
    cluster_db : float, optional
        Censoring of resolved diffuse paths: an estimate within one resolution cell
        ``c / (N df)`` in range of another estimate more than ``cluster_db`` dB stronger is
        dropped (the weaker parts of a facade's diffuse cluster; a specular path that close to
        a much stronger one is lost too). None (default): every estimate is kept.

    Returns
    -------
    BistaticMeasurements
        Paths estimated at a negative range (noise) are dropped; an all-zero CSI gives an
        epoch without measurements.

    Raises
    ------
    ValueError
        ``csi`` of the wrong shape (not the scenario's ``(n_tx, n_rx, n_subcarriers)``) or with
        NaN/Inf; ``n_paths`` of the wrong length or negative; an unknown timing offset without
        the positions; with ``missing_los="raise"``, an epoch without a LoS path.
    TypeError
        ``csi`` that is not complex or real.

    Notes
    -----
    Known offset: range ``c (tau - timing_offset_s)``. Unknown offset: the LoS is the
    strongest path whose AoA and AoD sines lie within a quarter of the ULA's beamwidth (plus
    four CRB stds) of the sines the BS and UAV positions give; the offset estimate is
    ``tau_LoS - |u - b| / c`` and the range ``|u - b| + c ((tau - tau_LoS) mod 1/df)``
    (delays relative to the LoS, which arrives first; the ToA wraps modulo 1/df), with
    ``1/8`` cell of room below the LoS for noise. The covariance is the inverse Fisher
    information of the bistatic paper (eq. (52), pilots with ``S S^H = K I``) at the
    estimated paths and the residual noise variance
    ``||csi - H(estimates)||^2 / (n_tx n_rx N - 5 q)``, the block of (tau, AoA, AoD) with tau
    scaled to range by c (the delay difference to the LoS when synchronised on it).

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import BistaticChannel, estimate_bistatic, simulate_bistatic_csi
    >>> (link,) = simulate_bistatic_csi(default_scene(3), rng=0, bs_indices=[1])
    >>> meas = estimate_bistatic(link.csi)  # MDL order
    >>> meas.n_epochs, meas.covariance[0].shape[1:]
    (3, (3, 3))

    An unknown clock offset (100 ns std per epoch), removed on the LoS:

    >>> scene = default_scene(3)
    >>> ch = BistaticChannel(timing_offset_std_s=100e-9)
    >>> (link,) = simulate_bistatic_csi(scene, ch, rng=0, bs_indices=[1])
    >>> meas = estimate_bistatic(link.csi, ch, bs_position_m=scene.base_stations_m[1],
    ...                          uav_positions_m=scene.trajectory_m)
    >>> bool(abs(meas.timing_offset_s[0] - link.timing_offset_s[0]) < 1e-9)
    True
    """
    channel = BistaticChannel() if channel is None else channel
    if not isinstance(channel, BistaticChannel):
        raise TypeError(f"channel must be a BistaticChannel, got {type(channel).__name__}")
    sc = channel.scenario
    arr = np.asarray(csi)
    if arr.ndim not in (3, 4) or arr.shape[-3:] != sc.csi_shape:
        raise ValueError(
            "csi must have shape (n_epochs, n_tx, n_rx, n_subcarriers) or (n_tx, n_rx, "
            f"n_subcarriers) with (n_tx, n_rx, n_subcarriers) = {sc.csi_shape} of "
            f"channel.scenario, got {arr.shape}"
        )
    arr = as_array(arr, "csi", kind="fc", dtype=np.complex128).reshape(-1, *sc.csi_shape)
    max_paths = check_count(max_paths, "max_paths")
    if missing_los not in ("drop", "raise"):
        raise ValueError(f"missing_los must be 'drop' or 'raise', got {missing_los!r}")
    if cluster_db is not None:
        check_positive(cluster_db, "cluster_db", strict=False)
    orders = _as_orders(n_paths, arr.shape[0])
    link = _link_positions(channel, arr.shape[0], bs_position_m, uav_positions_m)
    period = 1.0 / sc.subcarrier_spacing_hz
    guard = _TOA_GUARD_CELLS * period
    ranges, aoas, aods, gains, covs = [], [], [], [], []
    offsets = np.full(arr.shape[0], channel.timing_offset_s)

    def skip() -> None:
        ranges.append(np.zeros(0))
        aoas.append(np.zeros(0))
        aods.append(np.zeros(0))
        gains.append(np.zeros(0, np.complex128))
        covs.append(np.zeros((0, 3, 3)))

    for e in range(arr.shape[0]):
        h = arr[e]
        if not np.any(h != 0):
            order = 0
        else:
            order = mdl_order(h, max_paths) if orders is None else int(orders[e])
        if order == 0:
            toa = aoa = aod = np.zeros(0)
            gain = np.zeros(0, np.complex128)
        else:
            toa, aoa, aod, gain = _paraming_with_fallback(h, order, channel)
        if link is None:
            if toa.shape[0] == 0:
                skip()
                continue
            cov = _crb_covariance(h, toa, aoa, aod, gain, sc)
            rng_m = SPEED_OF_LIGHT * (toa - channel.timing_offset_s)
        else:
            bs, uav = link[0], link[1][e]
            los_aoa, los_aod = los_angles(
                uav, bs, uav_axis=channel.uav_axis, bs_axis=channel.bs_axis
            )
            cov = (
                _crb_covariance(h, toa, aoa, aod, gain, sc) if toa.shape[0] else np.zeros((0, 3, 3))
            )
            los = _find_los(aoa, aod, gain, cov, los_aoa, los_aod, sc)
            if los is None:
                if missing_los == "raise":
                    raise ValueError(
                        f"epoch {e}: no estimated path matches the LoS (AoA {los_aoa:.3f} rad, "
                        f"AoD {los_aod:.3f} rad at uav_positions_m[{e}]; {toa.shape[0]} paths "
                        "estimated): the receiver cannot synchronise on it "
                        "(missing_los='drop' gives the epoch no measurements)"
                    )
                offsets[e] = np.nan
                skip()
                continue
            los_m = float(np.linalg.norm(uav - bs))
            # the offset is known modulo 1/df: the one nearest to the channel's mean offset
            raw = toa[los] - los_m / SPEED_OF_LIGHT - channel.timing_offset_s
            offsets[e] = channel.timing_offset_s + raw - period * np.round(raw / period)
            rng_m = los_m + SPEED_OF_LIGHT * (np.mod(toa - toa[los] + guard, period) - guard)
            cov = _crb_covariance(h, toa, aoa, aod, gain, sc, reference=los)
        keep = np.flatnonzero((rng_m >= 0) & _uncensored(rng_m, gain, cluster_db, sc))
        keep = keep[np.argsort(rng_m[keep], kind="stable")]
        ranges.append(np.ascontiguousarray(rng_m[keep], np.float64))
        aoas.append(np.ascontiguousarray(aoa[keep], np.float64))
        aods.append(np.ascontiguousarray(aod[keep], np.float64))
        gains.append(np.ascontiguousarray(gain[keep], np.complex128))
        covs.append(np.ascontiguousarray(cov[keep]))
    return BistaticMeasurements(
        ranges_m=tuple(ranges),
        aoa_rad=tuple(aoas),
        aod_rad=tuple(aods),
        gain=tuple(gains),
        covariance=tuple(covs),
        timing_offset_s=offsets,
    )


#: Smallest angle std handed to the mapper [rad] (a CRB can underflow to 0 at high SNR).
_MIN_ANGLE_STD_RAD = 1e-6


def measured_angles(
    measurements: BistaticMeasurements,
    bs_position_m: npt.ArrayLike,
    channel: BistaticChannel | None = None,
) -> tuple[BistaticAngles, ...]:
    """The estimated AoA and AoD of every epoch, as the angle-aided mapper takes them.

    Parameters
    ----------
    measurements : BistaticMeasurements
        From :func:`estimate_bistatic`.
    bs_position_m : array_like, shape (3,) [m]
        Position of the BS (the transmitter).
    channel : BistaticChannel, optional
        The channel the measurements were estimated with (its ULA axes; default
        ``BistaticChannel()``).

    Returns
    -------
    tuple of skysense.mapping.BistaticAngles
        One per epoch, with the CRB stds (square roots of the covariance diagonal, at least
        1e-6 rad), in the order of ``measurements.ranges_m``.

    Examples
    --------
    >>> from skysense.mapping import default_scene
    >>> from skysense.pipeline import estimate_bistatic, measured_angles, simulate_bistatic_csi
    >>> scene = default_scene(2)
    >>> (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    >>> angles = measured_angles(estimate_bistatic(link.csi), scene.base_stations_m[0])
    >>> len(angles), angles[0].n_measurements == len(link.paths[0].toa_s)
    (2, True)
    """
    channel = BistaticChannel() if channel is None else channel
    if not isinstance(channel, BistaticChannel):
        raise TypeError(f"channel must be a BistaticChannel, got {type(channel).__name__}")
    if not isinstance(measurements, BistaticMeasurements):
        raise TypeError(
            f"measurements must be BistaticMeasurements, got {type(measurements).__name__}"
        )
    bs = as_array(bs_position_m, "bs_position_m", shape=(3,), dtype=np.float64, kind="fiu")
    out = []
    half_pi = 0.5 * np.pi
    for aoa, aod, cov in zip(
        measurements.aoa_rad, measurements.aod_rad, measurements.covariance, strict=True
    ):
        std = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
        std = np.maximum(np.nan_to_num(std, nan=half_pi, posinf=half_pi), _MIN_ANGLE_STD_RAD)
        out.append(
            BistaticAngles(
                np.clip(aoa, -half_pi, half_pi),
                np.clip(aod, -half_pi, half_pi),
                std[:, 1],
                std[:, 2],
                np.asarray(channel.uav_axis),
                np.asarray(channel.bs_axis),
                bs,
            )
        )
    return tuple(out)


def with_bistatic_measurements(
    data: BsData,
    measurements: BistaticMeasurements,
    *,
    channel: BistaticChannel | None = None,
) -> BsData:
    """``data`` with its bistatic pseudo-ranges replaced by the ranges estimated from CSI.

    Parameters
    ----------
    data : skysense.mapping.BsData
        From :func:`skysense.mapping.simulate` (its monostatic sets and truth are kept).
    measurements : BistaticMeasurements
        From :func:`estimate_bistatic`, one epoch per epoch of ``data``.
    channel : BistaticChannel, optional
        The channel of the measurements (its ULA axes; default ``BistaticChannel()``).

    Returns
    -------
    skysense.mapping.BsData
        Ready for :meth:`skysense.mapping.Mapper.run`, with the estimated angles in
        ``bistatic_angles`` (:func:`measured_angles`) for the angle-aided mapper.

    Examples
    --------
    >>> from skysense.mapping import default_scene, simulate
    >>> from skysense.pipeline import (estimate_bistatic, simulate_bistatic_csi,
    ...                                with_bistatic_measurements)
    >>> scene = default_scene(3)
    >>> (data,) = simulate(scene, rng=0, bs_indices=[0])
    >>> (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    >>> data = with_bistatic_measurements(data, estimate_bistatic(link.csi))
    >>> data.n_epochs, data.bistatic_ranges_m[0].ndim
    (3, 1)
    """
    if not isinstance(data, BsData):
        raise TypeError(f"data must be a mapping BsData, got {type(data).__name__}")
    if not isinstance(measurements, BistaticMeasurements):
        raise TypeError(
            f"measurements must be BistaticMeasurements, got {type(measurements).__name__}"
        )
    if measurements.n_epochs != data.n_epochs:
        raise ValueError(
            f"measurements must have one epoch per epoch of data ({data.n_epochs}), got "
            f"{measurements.n_epochs}"
        )
    return replace(
        data,
        bistatic_ranges_m=tuple(r.copy() for r in measurements.ranges_m),
        bistatic_angles=measured_angles(measurements, data.bs_position_m, channel),
    )
