"""First-order image-method tracing and synthetic per-epoch measurement sets.

They replace the paper's Wireless InSite data (mapping paper Sec. V-A; docs/mapping_model.md,
section 7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import check_positive
from skysense.mapping.link import BistaticAngles, _unit
from skysense.mapping.params import MappingParams
from skysense.mapping.scene import Scene

__all__ = ["BsData", "Visibility", "simulate", "trace"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, repr=False)
class Visibility(Result):
    """Noise-free tracing result of one BS over the trajectory.

    Attributes
    ----------
    va_positions_m : ndarray, shape (n_vas, 3) [m]
        Unique VAs of the facades facing the BS.
    facade_va_index : ndarray, shape (n_facades,), int
        VA of each facade (-1: facing away).
    bistatic_visible : ndarray, shape (n_epochs, n_facades), bool
        A specular BS -> facade -> UAV path exists (on the facade, unoccluded).
    bistatic_points_m : ndarray, shape (n_epochs, n_facades, 3) [m]
        Its reflection points (NaN where not visible).
    monostatic_visible : ndarray, shape (n_facades,), bool
        The BS foot point is on the facade and unoccluded.
    monostatic_points_m : ndarray, shape (n_facades, 3) [m]
        The foot points (NaN where not visible).
    los_visible : ndarray, shape (n_epochs,), bool
        The direct BS -> UAV path is free.

    Examples
    --------
    >>> from skysense.mapping import default_scene, trace
    >>> vis = trace(default_scene(300), 0)
    >>> bistatic, monostatic = vis.va_timelines()  # (n_epochs, n_vas) each
    >>> bistatic.shape, vis.classes().tolist()
    ((300, 4), ['A', 'A', 'B', 'C'])
    """

    va_positions_m: FloatArray
    facade_va_index: npt.NDArray[np.int64]
    bistatic_visible: BoolArray
    bistatic_points_m: FloatArray
    monostatic_visible: BoolArray
    monostatic_points_m: FloatArray
    los_visible: BoolArray

    def va_timelines(self) -> tuple[BoolArray, BoolArray]:
        """Visibility per epoch and VA, (n_epochs, n_vas) bool each: bistatic, monostatic."""
        n_ep, n_va = self.bistatic_visible.shape[0], self.va_positions_m.shape[0]
        bi = np.zeros((n_ep, n_va), bool)
        mono = np.zeros((n_ep, n_va), bool)
        for f, j in enumerate(self.facade_va_index):
            if j >= 0:
                bi[:, j] |= self.bistatic_visible[:, f]
                mono[:, j] |= self.monostatic_visible[f]
        return bi, mono

    def classes(self) -> npt.NDArray[np.str_]:
        """Observability class per VA over the whole trajectory (paper Sec. V-A): 'A' both
        links, 'B' bistatic only, 'C' monostatic only, '-' neither; shape (n_vas,), str."""
        bi, mono = self.va_timelines()
        b, m = bi.any(axis=0), mono.any(axis=0)
        return np.where(b & m, "A", np.where(b, "B", np.where(m, "C", "-")))


def trace(scene: Scene, bs_index: int) -> Visibility:
    """Trace first-order specular paths of one BS over the scene's trajectory (numba).

    Parameters
    ----------
    scene : Scene
        Buildings, BSs and the UAV trajectory.
    bs_index : int
        Index of the BS into ``scene.base_stations_m``.

    Returns
    -------
    Visibility
        VAs, bistatic, monostatic and LoS visibility and reflection points per epoch.

    Examples
    --------
    >>> from skysense.mapping import default_scene, trace
    >>> vis = trace(default_scene(300), 0)
    >>> vis.va_positions_m[0]
    array([-50.,  30.,  15.])
    """
    from skysense.mapping import _tracer_numba as tr

    i = scene._bs(bs_index)
    bs = scene.base_stations_m[i]
    args = (
        scene.facade_points_m,
        scene.facade_normals,
        scene.facade_tangents,
        scene.facade_half_widths_m,
        scene.facade_heights_m,
        scene.box_lo_m,
        scene.box_hi_m,
    )
    vis_b, pts_b = tr.trace_bistatic(bs, scene.trajectory_m, *args)
    vis_m, pts_m = tr.trace_monostatic(bs, *args)
    los = tr.segments_free(bs, scene.trajectory_m, scene.box_lo_m, scene.box_hi_m)
    vas, facade_va = scene.virtual_anchors(i)
    return Visibility(
        va_positions_m=vas,
        facade_va_index=facade_va,
        bistatic_visible=vis_b,
        bistatic_points_m=pts_b,
        monostatic_visible=vis_m,
        monostatic_points_m=pts_m,
        los_visible=los,
    )


@dataclass(frozen=True, repr=False)
class BsData(Result):
    """Measurements and ground truth of one BS.

    Attributes
    ----------
    bs_index : int
    bs_position_m : ndarray, shape (3,) [m]
    uav_positions_m : ndarray, shape (n_epochs, 3) [m]
    bistatic_ranges_m : tuple of ndarray, each shape (n_measurements,) [m]
        Pseudo-ranges per epoch (LoS, specular, diffuse, clutter; shuffled).
    monostatic_positions_m : tuple of ndarray, each shape (n_measurements, 3) [m]
        Pseudo-positions per epoch (specular, diffuse, clutter; shuffled).
    visibility : Visibility
    bistatic_angles : tuple of BistaticAngles or None
        AoA and AoD of each bistatic pseudo-range per epoch (same order), for the angle-aided
        mapper (``MappingParams(bistatic_angles=True)``): from :func:`simulate` with
        ``ula_axes``, or :func:`skysense.pipeline.with_bistatic_measurements`; ``None``: range
        only.

    Examples
    --------
    >>> from skysense.mapping import default_scene, simulate
    >>> (data,) = simulate(default_scene(10), rng=0, bs_indices=[1])
    >>> data.bs_index, data.n_epochs, data.bs_position_m
    (1, 10, array([  0., -40.,  15.]))
    """

    bs_index: int
    bs_position_m: FloatArray
    uav_positions_m: FloatArray
    bistatic_ranges_m: tuple[FloatArray, ...]
    monostatic_positions_m: tuple[FloatArray, ...]
    visibility: Visibility
    bistatic_angles: tuple[BistaticAngles, ...] | None = None

    @property
    def n_epochs(self) -> int:
        """Epochs of the data."""
        return int(self.uav_positions_m.shape[0])


def _sin_angles(
    uav: FloatArray, bs: FloatArray, va: FloatArray | None, axes: tuple[FloatArray, FloatArray]
) -> tuple[float, float]:
    """AoA at the UAV and AoD at the BS [rad] of the LoS (``va`` None) or of a VA's specular
    path: ULA angles ``arcsin(axis . direction)`` (docs/pipeline.md, "The link")."""
    if va is None:
        arrive, leave = bs - uav, uav - bs
    else:
        n = (bs - va) / np.linalg.norm(bs - va)
        arrive, d = va - uav, uav - va
        leave = d - 2.0 * (d @ n) * n  # the mirror of the facade plane
    a = axes[0] @ arrive / np.linalg.norm(arrive)
    b = axes[1] @ leave / np.linalg.norm(leave)
    return float(np.arcsin(np.clip(a, -1, 1))), float(np.arcsin(np.clip(b, -1, 1)))


def _simulate_bs(
    scene: Scene,
    i: int,
    params: MappingParams,
    rng: np.random.Generator,
    tracer: Callable[[Scene, int], Visibility],
    ula_axes: tuple[FloatArray, FloatArray] | None = None,
    angle_std_rad: float = 0.0,
) -> BsData:
    from skysense.mapping._tracer_numba import segments_free

    vis = tracer(scene, i)
    if not isinstance(vis, Visibility):
        raise TypeError(f"tracer must return a Visibility, got {type(vis).__name__}")
    bs = scene.base_stations_m[i]
    box = np.asarray(params.clutter_box_m)
    pd = params.specular_detection_probability
    range_std, position_std = params.range_std_m, params.position_std_m
    vz = np.array([0.0, 0.0, 1.0])
    # one cluster per distinct VA: first visible facade of each VA
    bi_list, mono_list = [], []
    # angles (with ula_axes): their own stream, so the ranges and points do not change
    arng = rng.spawn(1)[0]
    angle_list = []
    for e in range(scene.n_epochs):
        u = scene.trajectory_m[e]
        zb: list[float] = []
        zm: list[FloatArray] = []
        true_angles: list[tuple[float, float]] = []  # per range: its path's (AoA, AoD)
        if vis.los_visible[e] and rng.uniform() < pd:
            zb.append(float(np.linalg.norm(u - bs) + range_std * rng.standard_normal()))
            if ula_axes is not None:
                true_angles.append(_sin_angles(u, bs, None, ula_axes))
        seen_b, seen_m = set(), set()
        for f, j in enumerate(vis.facade_va_index):
            if j < 0:
                continue
            if vis.bistatic_visible[e, f] and j not in seen_b:
                seen_b.add(j)
                h = np.linalg.norm(u - vis.va_positions_m[j])  # eq. (9): the specular range
                n_before = len(zb)
                if rng.uniform() < pd:
                    zb.append(float(h + range_std * rng.standard_normal()))
                n_d = rng.poisson(params.diffuse_mpc_mean)
                excess = rng.exponential(params.excess_mean_m, n_d)  # eq. (19)
                zb.extend(h + excess + range_std * rng.standard_normal(n_d))
                if ula_axes is not None:  # diffuse paths: the specular path's angles
                    va_angles = _sin_angles(u, bs, vis.va_positions_m[j], ula_axes)
                    true_angles.extend([va_angles] * (len(zb) - n_before))
            if vis.monostatic_visible[f] and j not in seen_m:
                seen_m.add(j)
                s = vis.monostatic_points_m[f]
                if rng.uniform() < pd:
                    zm.append(s + position_std * rng.standard_normal(3))
                n_d = rng.poisson(max(params.monostatic_mpc_mean - pd, 0.0))
                w = params.diffuse_half_width_m
                q = (
                    s
                    + rng.uniform(-w, w, n_d)[:, None] * scene.facade_tangents[f]
                    + rng.uniform(-w, w, n_d)[:, None] * vz
                )
                tangent = scene.facade_tangents[f]
                off = q @ tangent - scene.facade_points_m[f] @ tangent
                ok = (np.abs(off) <= scene.facade_half_widths_m[f]) & (q[:, 2] >= 0)
                ok &= q[:, 2] <= scene.facade_heights_m[f]
                q = q[ok]
                if q.shape[0]:
                    # pull 1 mm towards the BS so the own facade does not occlude the point
                    q_test = q + 1e-3 * scene.facade_normals[f]
                    q = q[segments_free(bs, q_test, scene.box_lo_m, scene.box_hi_m)]
                zm.extend(q + position_std * rng.standard_normal(q.shape))
        n_paths = len(zb)
        zb.extend(rng.uniform(0, params.range_max_m, rng.poisson(params.clutter_mean_bistatic)))
        zm.extend(rng.uniform(box[:3], box[3:], (rng.poisson(params.clutter_mean_monostatic), 3)))
        ranges = np.clip(np.array(zb, float), 0.0, params.range_max_m)
        points = np.clip(np.array(zm, float).reshape(-1, 3), box[:3], box[3:])
        order = rng.permutation(ranges.shape[0])  # the draws of rng.permutation(ranges)
        bi_list.append(ranges[order])
        mono_list.append(points[rng.permutation(points.shape[0])])
        if ula_axes is not None:
            # clutter: sines uniform on [-1, 1]; every angle with N(0, angle_std_rad^2) noise
            clutter = np.arcsin(arng.uniform(-1, 1, (ranges.shape[0] - n_paths, 2)))
            ang = np.vstack([np.array(true_angles).reshape(-1, 2), clutter])
            ang = ang + angle_std_rad * arng.standard_normal(ang.shape)
            ang = np.clip(ang, -np.pi / 2, np.pi / 2)[order]
            std = np.full(ang.shape[0], angle_std_rad)
            angle_list.append(BistaticAngles(ang[:, 0], ang[:, 1], std, std, *ula_axes, bs))
    return BsData(
        bs_index=i,
        bs_position_m=bs.copy(),
        uav_positions_m=scene.trajectory_m.copy(),
        bistatic_ranges_m=tuple(bi_list),
        monostatic_positions_m=tuple(mono_list),
        visibility=vis,
        bistatic_angles=None if ula_axes is None else tuple(angle_list),
    )


def simulate(
    scene: Scene,
    params: MappingParams | None = None,
    *,
    rng: RngLike = None,
    bs_indices: Sequence[int] | None = None,
    tracer: Callable[[Scene, int], Visibility] | None = None,
    ula_axes: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    angle_std_rad: float = 0.005,
) -> tuple[BsData, ...]:
    """Per-epoch measurement sets of every BS (or of the BSs in ``bs_indices``).

    Parameters
    ----------
    scene : Scene
        Buildings, BSs and the UAV trajectory.
    params : MappingParams, optional
        Noise, diffuse and clutter model (default ``MappingParams()``).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        BS i draws from the i-th of ``scene.n_bs`` children spawned from ``rng``
        (``Generator.spawn``), so its data do not depend on which other BSs are simulated.
    bs_indices : sequence of int, optional
        BS indices (default: all).
    tracer : callable, optional
        ``tracer(scene, bs_index) -> Visibility``: the propagation paths the measurements are
        drawn around; default :func:`trace` (numba image method). A ray tracer plugs in here,
        e.g. :func:`skysense.scenes.sionna.trace_mapping`.
    ula_axes : (array_like, array_like), optional
        Axes ``(uav_axis, bs_axis)`` of the UAV's and the BS's ULA: also draw the AoA and AoD
        of each bistatic range (``BsData.bistatic_angles``, for the angle-aided mapper; not
        in the paper, docs/pipeline.md): its path's (LoS, specular; a diffuse path has its
        specular path's), clutter's with sines uniform on [-1, 1], all with
        N(0, ``angle_std_rad**2``) noise, from a stream of their own (the ranges and points are
        those drawn without angles).
    angle_std_rad : float
        Std of that angle noise, > 0 [rad].

    Returns
    -------
    tuple of BsData
        One per BS: its noisy measurements and the ground truth of every epoch.

    Notes
    -----
    Bistatic: LoS and the specular path with probability ``specular_detection_probability``,
    plus ``Poisson(diffuse_mpc_mean)`` diffuse paths with exponential excess range (mean
    ``excess_mean_m``), all with N(0, range_std_m^2) noise (eqs. (2)-(4), (19)); monostatic:
    the specular foot point (same probability) plus ``Poisson(monostatic_mpc_mean - p_d)``
    points uniform in a ``+-diffuse_half_width_m`` patch on the facade and visible from the
    BS, with N(0, position_std_m^2 I) noise (eq. (8)); Poisson clutter, uniform. One cluster
    per distinct VA (docs/mapping_model.md, section 7).

    Examples
    --------
    >>> from skysense.mapping import default_scene, simulate
    >>> (data,) = simulate(default_scene(20), rng=1, bs_indices=[0])
    >>> data.n_epochs, data.bistatic_ranges_m[0].ndim, data.monostatic_positions_m[0].shape[1]
    (20, 1, 3)
    """
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a Scene, got {type(scene).__name__}")
    params = MappingParams() if params is None else params
    if not isinstance(params, MappingParams):
        raise TypeError(f"params must be a MappingParams, got {type(params).__name__}")
    children = as_generator(rng).spawn(scene.n_bs)
    indices = range(scene.n_bs) if bs_indices is None else [scene._bs(i) for i in bs_indices]
    tracer = trace if tracer is None else tracer
    if not callable(tracer):
        raise TypeError(f"tracer must be callable, got {type(tracer).__name__}")
    axes = None
    if ula_axes is not None:
        if len(ula_axes) != 2:
            raise ValueError(f"ula_axes must be (uav_axis, bs_axis), got {len(ula_axes)} entries")
        axes = (_unit(ula_axes[0], "ula_axes[0]"), _unit(ula_axes[1], "ula_axes[1]"))
    std = check_positive(angle_std_rad, "angle_std_rad")
    return tuple(_simulate_bs(scene, i, params, children[i], tracer, axes, std) for i in indices)
