"""First-order image-method tracing and synthetic per-epoch measurement sets (spec 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense.mapping.params import MappingParams
from skysense.mapping.scene import Scene

__all__ = ["BsData", "Visibility", "simulate", "trace"]


@dataclass(frozen=True)
class Visibility:
    """Noise-free tracing result of one BS over the trajectory.

    Attributes
    ----------
    vas : ndarray, shape (n_vas, 3), [m]
        Unique VAs of the facades facing the BS.
    facade_va : ndarray, shape (n_facades,), int
        VA of each facade (-1: facing away).
    bistatic : ndarray, shape (n_epochs, n_facades), bool
        Specular BS -> facade -> UAV path exists (on the facade, unoccluded).
    bistatic_points : ndarray, shape (n_epochs, n_facades, 3), [m]
        Its reflection points (NaN where not visible).
    monostatic : ndarray, shape (n_facades,), bool
        The BS foot point is on the facade and unoccluded.
    monostatic_points : ndarray, shape (n_facades, 3), [m]
    los : ndarray, shape (n_epochs,), bool
        Direct BS -> UAV path is free.
    """

    vas: np.ndarray
    facade_va: np.ndarray
    bistatic: np.ndarray
    bistatic_points: np.ndarray
    monostatic: np.ndarray
    monostatic_points: np.ndarray
    los: np.ndarray

    def va_timelines(self) -> tuple[np.ndarray, np.ndarray]:
        """Visibility per VA and epoch, (n_epochs, n_vas) bool each: bistatic, monostatic."""
        n_ep, n_va = self.bistatic.shape[0], self.vas.shape[0]
        bi = np.zeros((n_ep, n_va), bool)
        mono = np.zeros((n_ep, n_va), bool)
        for f, j in enumerate(self.facade_va):
            if j >= 0:
                bi[:, j] |= self.bistatic[:, f]
                mono[:, j] |= self.monostatic[f]
        return bi, mono

    def classes(self) -> np.ndarray:
        """Observability class per VA: 'A' both links, 'B' bistatic only, 'C' monostatic only,
        '-' neither (over the whole trajectory); shape (n_vas,), str."""
        bi, mono = self.va_timelines()
        b, m = bi.any(axis=0), mono.any(axis=0)
        return np.where(b & m, "A", np.where(b, "B", np.where(m, "C", "-")))


def trace(scene: Scene, bs_index: int) -> Visibility:
    """Trace first-order specular paths of one BS over the scene's trajectory (numba).

    Parameters
    ----------
    scene : Scene
    bs_index : int

    Returns
    -------
    Visibility
    """
    from skysense.mapping import _tracer_numba as tr

    i = scene._bs(bs_index)
    bs = scene.base_stations[i]
    args = (
        scene.facade_point,
        scene.facade_normal,
        scene.facade_tangent,
        scene.facade_half_width,
        scene.facade_height,
        scene.box_lo,
        scene.box_hi,
    )
    vis_b, pts_b = tr.trace_bistatic(bs, scene.trajectory, *args)
    vis_m, pts_m = tr.trace_monostatic(bs, *args)
    los = tr.segments_free(bs, scene.trajectory, scene.box_lo, scene.box_hi)
    vas, facade_va = scene.virtual_anchors(i)
    return Visibility(vas, facade_va, vis_b, pts_b, vis_m, pts_m, los)


@dataclass(frozen=True)
class BsData:
    """Measurements and ground truth of one BS.

    Attributes
    ----------
    bs_index : int
    bs_position : ndarray, shape (3,), [m]
    uav : ndarray, shape (n_epochs, 3), [m]
    bistatic : tuple of ndarray, each shape (n_meas,), [m]
        Pseudo-ranges per epoch (LoS, specular, diffuse, clutter; shuffled).
    monostatic : tuple of ndarray, each shape (n_meas, 3), [m]
        Pseudo-positions per epoch (specular, diffuse, clutter; shuffled).
    visibility : Visibility
    """

    bs_index: int
    bs_position: np.ndarray
    uav: np.ndarray
    bistatic: tuple
    monostatic: tuple
    visibility: Visibility

    @property
    def n_epochs(self) -> int:
        return self.uav.shape[0]


def _simulate_bs(scene, i, params, rng, tracer):
    from skysense.mapping._tracer_numba import segments_free

    vis = tracer(scene, i)
    if not isinstance(vis, Visibility):
        raise TypeError(f"tracer must return a Visibility, got {type(vis).__name__}")
    bs = scene.base_stations[i]
    box = np.asarray(params.clutter_box_m)
    pd, sig_r, sig_z = params.detect_prob_specular, params.range_std_m, params.position_std_m
    vz = np.array([0.0, 0.0, 1.0])
    # one cluster per distinct VA: first visible facade of each VA
    bi_list, mono_list = [], []
    for e in range(scene.n_epochs):
        u = scene.trajectory[e]
        zb, zm = [], []
        if vis.los[e] and rng.uniform() < pd:
            zb.append(np.linalg.norm(u - bs) + sig_r * rng.standard_normal())
        seen_b, seen_m = set(), set()
        for f, j in enumerate(vis.facade_va):
            if j < 0:
                continue
            if vis.bistatic[e, f] and j not in seen_b:
                seen_b.add(j)
                h = np.linalg.norm(u - vis.vas[j])
                if rng.uniform() < pd:
                    zb.append(h + sig_r * rng.standard_normal())
                n_d = rng.poisson(params.mean_diffuse)
                excess = rng.exponential(params.excess_mean_m, n_d)
                zb.extend(h + excess + sig_r * rng.standard_normal(n_d))
            if vis.monostatic[f] and j not in seen_m:
                seen_m.add(j)
                s = vis.monostatic_points[f]
                if rng.uniform() < pd:
                    zm.append(s + sig_z * rng.standard_normal(3))
                n_d = rng.poisson(max(params.mean_monostatic - pd, 0.0))
                w = params.diffuse_half_width_m
                q = (
                    s
                    + rng.uniform(-w, w, n_d)[:, None] * scene.facade_tangent[f]
                    + rng.uniform(-w, w, n_d)[:, None] * vz
                )
                off = q @ scene.facade_tangent[f] - scene.facade_point[f] @ scene.facade_tangent[f]
                ok = (np.abs(off) <= scene.facade_half_width[f]) & (q[:, 2] >= 0)
                ok &= q[:, 2] <= scene.facade_height[f]
                q = q[ok]
                if q.shape[0]:
                    # pull 1 mm towards the BS so the own facade does not occlude the point
                    q_test = q + 1e-3 * scene.facade_normal[f]
                    q = q[segments_free(bs, q_test, scene.box_lo, scene.box_hi)]
                zm.extend(q + sig_z * rng.standard_normal(q.shape))
        zb.extend(rng.uniform(0, params.range_max_m, rng.poisson(params.clutter_mean_b)))
        zm.extend(rng.uniform(box[:3], box[3:], (rng.poisson(params.clutter_mean_m), 3)))
        zb = np.clip(np.array(zb, float), 0.0, params.range_max_m)
        zm = np.array(zm, float).reshape(-1, 3)
        zm = np.clip(zm, box[:3], box[3:])
        bi_list.append(rng.permutation(zb))
        mono_list.append(zm[rng.permutation(zm.shape[0])])
    return BsData(i, bs.copy(), scene.trajectory.copy(), tuple(bi_list), tuple(mono_list), vis)


def simulate(
    scene: Scene, seed, params: MappingParams | None = None, *, bs=None, tracer=None
) -> tuple:
    """Per-epoch measurement sets of every BS (or of the BSs in ``bs``).

    Parameters
    ----------
    scene : Scene
    seed : int or numpy.random.SeedSequence
        BS i draws from ``SeedSequence(seed).spawn(n_bs)[i]``, so its data do not depend on
        which other BSs are simulated.
    params : MappingParams, optional
        Noise, diffuse and clutter model (defaults of the spec).
    bs : sequence of int, optional
        BS indices (default: all).
    tracer : callable, optional
        ``tracer(scene, bs_index) -> Visibility``: the propagation paths the measurements are
        drawn around; default :func:`trace` (numba image method). A ray tracer plugs in here,
        e.g. :func:`skysense.scenes.sionna.trace_mapping`.

    Returns
    -------
    tuple of BsData

    Notes
    -----
    Bistatic: LoS and the specular path with probability ``detect_prob_specular``, plus
    ``Poisson(mean_diffuse)`` diffuse paths with exponential excess range (mean
    ``excess_mean_m``), all with N(0, sigma_r^2) noise; monostatic: the specular foot point
    (same probability) plus ``Poisson(mean_monostatic - p_d)`` points uniform in a
    ``+-diffuse_half_width_m`` patch on the facade and visible from the BS, with
    N(0, sigma_z^2 I) noise; Poisson clutter, uniform. One cluster per distinct VA.
    """
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a Scene, got {type(scene).__name__}")
    params = MappingParams() if params is None else params
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = ss.spawn(scene.n_bs)
    indices = range(scene.n_bs) if bs is None else [scene._bs(i) for i in bs]
    tracer = trace if tracer is None else tracer
    if not callable(tracer):
        raise TypeError(f"tracer must be callable, got {type(tracer).__name__}")
    return tuple(
        _simulate_bs(scene, i, params, np.random.default_rng(children[i]), tracer) for i in indices
    )
