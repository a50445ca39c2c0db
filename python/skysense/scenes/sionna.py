"""Ray-traced BS-to-BS background multipath from Sionna RT (optional extra ``skysense[sionna]``).

Sionna RT 2.2 runs on the CPU through Dr.Jit's LLVM backend, which needs **libLLVM >= 19**
(Debian: ``apt-get install libllvm19``); with an older LLVM the path solver aborts the whole
process, so :func:`load_sionna` finds a recent library, points ``DRJIT_LIBLLVM_PATH`` at it
before Dr.Jit is imported, and refuses to run otherwise.

The scene of Sec. V-C5 of Huang et al. (TWC 2026) is :class:`UrbanCanyon`: a street canyon
between two rows of buildings, BSs at its four corners, the paper's 3D ROI above the street.
:func:`trace_pairs` traces the rays between every BS pair of an imaging scenario (monostatic
pairs included: tx and rx at the same array centre) into a :class:`~skysense.scenes.PairPaths`,
which :func:`~skysense.scenes.background_csi` turns into CSI in the units of A.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_positive
from skysense.imaging import Scenario
from skysense.scenes.paths import PairPaths

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.mapping import Scene, Visibility

__all__ = ["MIN_LLVM", "UrbanCanyon", "load_sionna", "trace_mapping", "trace_pairs"]

#: Oldest libLLVM Dr.Jit's path solver runs with here (14-16 abort in instruction selection).
MIN_LLVM = (19,)
_GROUND_MARGIN_M = 20.0
_LLVM_GLOB = ("/usr/lib/x86_64-linux-gnu/libLLVM*.so*", "/usr/lib/aarch64-linux-gnu/libLLVM*.so*")


def _find_llvm() -> str | None:
    """Path of the newest libLLVM >= MIN_LLVM on the system, or None."""
    best = None
    for pattern in _LLVM_GLOB:
        for path in glob.glob(pattern):
            match = re.search(r"libLLVM-?(\d+)", os.path.basename(path))
            if match and (int(match.group(1)),) >= MIN_LLVM:
                version = int(match.group(1))
                if best is None or version > best[0]:
                    best = (version, path)
    return None if best is None else best[1]


def load_sionna() -> Any:
    """Import Sionna RT with a usable LLVM; returns the ``sionna.rt`` module.

    Raises
    ------
    ImportError
        Sionna RT is not installed (``pip install "skysense[sionna]"``).
    RuntimeError
        No libLLVM >= 19 is found or Dr.Jit was already loaded with an older one.

    Examples
    --------
    >>> from skysense.scenes.sionna import load_sionna
    >>> rt = load_sionna()  # doctest: +SKIP
    """
    if "DRJIT_LIBLLVM_PATH" not in os.environ:
        path = _find_llvm()
        if path is None:
            raise RuntimeError(
                "Sionna RT needs libLLVM >= 19 on the CPU (older versions abort the process "
                "in the path solver): install it (Debian: apt-get install libllvm19) or set "
                "DRJIT_LIBLLVM_PATH"
            )
        os.environ["DRJIT_LIBLLVM_PATH"] = path
    try:
        import drjit
        from sionna import rt
    except ImportError as exc:
        raise ImportError(
            'skysense.scenes.sionna needs Sionna RT: pip install "skysense[sionna]"'
        ) from exc
    version = tuple(drjit.detail.llvm_version())
    if version[: len(MIN_LLVM)] < MIN_LLVM:
        raise RuntimeError(
            f"Dr.Jit runs on libLLVM {'.'.join(map(str, version))}; Sionna RT's path solver "
            f"needs >= {MIN_LLVM[0]} (set DRJIT_LIBLLVM_PATH before anything imports drjit)"
        )
    return rt


@dataclass(frozen=True)
class UrbanCanyon:
    """Street canyon of Sec. V-C5: the street runs along y between two rows of buildings.

    Attributes
    ----------
    width_m : float
        Street width between the facades (x = +-width/2) [m].
    length_m : float
        Canyon length along y [m].
    building_height_m, building_depth_m : float
        Height of the buildings and their depth away from the street [m].
    bs_height_m : float
        BS (array centre) height [m].
    bs_inset_m : float
        BSs stand this far inside the facade lines and the canyon ends [m] (a specular
        point exactly on a building edge is found or missed by rounding).
    material : str
        ITU material of the buildings (Sionna's ``ITURadioMaterial`` names).
    ground : bool
        Add a ground plane (``medium_dry_ground``) over the canyon's footprint.

    Examples
    --------
    >>> from skysense.scenes.sionna import UrbanCanyon
    >>> UrbanCanyon().imaging_scenario().grid_shape
    (8, 24, 8)
    """

    width_m: float = 50.0
    length_m: float = 130.0
    building_height_m: float = 60.0
    building_depth_m: float = 20.0
    bs_height_m: float = 10.0
    bs_inset_m: float = 2.0
    material: str = "concrete"
    ground: bool = True

    def __post_init__(self) -> None:
        for name in ("width_m", "length_m", "building_height_m", "building_depth_m"):
            check_positive(getattr(self, name), name)
        check_positive(self.bs_height_m, "bs_height_m")
        check_positive(self.bs_inset_m, "bs_inset_m", strict=False)
        if self.bs_inset_m >= min(self.width_m, self.length_m) / 2:
            raise ValueError(
                f"bs_inset_m must be < min(width_m, length_m) / 2, got {self.bs_inset_m}"
            )

    def bs_positions_m(self) -> npt.NDArray[np.float64]:
        """The four BSs at the canyon corners, shape (4, 3), float64 [m]."""
        x, y = self.width_m / 2 - self.bs_inset_m, self.length_m / 2 - self.bs_inset_m
        return np.array([[-x, y, 0.0], [x, y, 0.0], [x, -y, 0.0], [-x, -y, 0.0]]) + np.array(
            [0.0, 0.0, self.bs_height_m]
        )

    def building_boxes_m(self) -> npt.NDArray[np.float64]:
        """Building boxes ``(x0, x1, y0, y1, height)``, shape (2, 5), float64 [m]."""
        half_w, half_l = self.width_m / 2, self.length_m / 2
        d, h = self.building_depth_m, self.building_height_m
        return np.array(
            [[-half_w - d, -half_w, -half_l, half_l, h], [half_w, half_w + d, -half_l, half_l, h]]
        )

    def imaging_scenario(self, **overrides: Any) -> Scenario:
        """The paper's ROI in this canyon: 40 x 120 x 40 m from 20 to 60 m height, d0 = 5 m
        (8 x 24 x 8 voxels), BSs at the corners; 4 x 4 UPAs and N_f = 6 over 40 MHz as the
        paper's 3D setup (with one subcarrier SP finds under half of 8 UAVs here)."""
        base: dict[str, Any] = {
            "roi_size_m": (40.0, 120.0, 40.0),
            "roi_center_m": (0.0, 0.0, 40.0),
            "voxel_size_m": 5.0,
            "n_bs": 4,
            "bs_positions_m": tuple(map(tuple, self.bs_positions_m())),
            "n_antennas_side": 4,
            "n_subcarriers": 6,
            "bandwidth_hz": 40e6,
        }
        base.update(overrides)
        return Scenario(**base)

    def sionna_scene(self, frequency_hz: float) -> Any:
        """A Sionna RT scene of the buildings (and ground), built in memory."""
        rt = load_sionna()
        import mitsuba as mi

        scene = rt.load_scene()
        scene.frequency = float(frequency_hz)
        wall = rt.ITURadioMaterial("wall", self.material, thickness=0.3)
        objects = []
        for i, (x0, x1, y0, y1, h) in enumerate(self.building_boxes_m()):
            mesh = mi.load_dict(
                {
                    "type": "cube",
                    "to_world": mi.ScalarTransform4f()
                    .translate([float((x0 + x1) / 2), float((y0 + y1) / 2), float(h / 2)])
                    .scale([float((x1 - x0) / 2), float((y1 - y0) / 2), float(h / 2)]),
                }
            )
            objects.append(rt.SceneObject(mi_mesh=mesh, name=f"building{i}", radio_material=wall))
        if self.ground:
            soil = rt.ITURadioMaterial("soil", "medium_dry_ground", thickness=1.0)
            # The ground reaches past the buildings so no specular point lies on its edge.
            half_x = self.width_m / 2 + self.building_depth_m + _GROUND_MARGIN_M
            half_y = self.length_m / 2 + _GROUND_MARGIN_M
            mesh = mi.load_dict(
                {
                    "type": "rectangle",
                    "to_world": mi.ScalarTransform4f().scale([float(half_x), float(half_y), 1.0]),
                }
            )
            objects.append(rt.SceneObject(mi_mesh=mesh, name="ground", radio_material=soil))
        scene.edit(add=objects)
        return scene


def _sampler_seed(rng: RngLike) -> int:
    """The int seed of Sionna's ray sampler, drawn from ``rng``."""
    return int(as_generator(rng).integers(0, 2**31 - 1))


def trace_pairs(
    scene_or_canyon: Any,
    scenario: Scenario,
    *,
    max_depth: int = 1,
    diffuse: bool = False,
    n_samples_per_source: int = 10_000,
    rng: RngLike = None,
) -> PairPaths:
    """Trace the rays between every BS pair of ``scenario`` (no line of sight).

    Parameters
    ----------
    scene_or_canyon : UrbanCanyon or sionna.rt.Scene
        The environment; a Sionna scene must be empty of transmitters and receivers.
    scenario : Scenario
        Imaging scenario: its BS centres, pairs and carrier frequency are used.
    max_depth : int
        Largest number of interactions per ray.
    diffuse : bool
        Also trace diffuse reflection (needs ``scattering_coefficient > 0`` on materials).
    n_samples_per_source : int
        Rays shot per source (1e4 finds every specular ray of box scenes).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Source of the ray sampler's seed (one int drawn from it); the same int ``rng``
        gives the same rays.

    Returns
    -------
    PairPaths
        Rays between isotropic antennas at the array centres; the direct BS-to-BS line of
        sight is excluded (a known, calibrated-out term).

    Examples
    --------
    >>> from skysense.scenes import background_csi
    >>> from skysense.scenes.sionna import UrbanCanyon, trace_pairs
    >>> canyon = UrbanCanyon()
    >>> scenario = canyon.imaging_scenario(n_antennas_side=2)
    >>> paths = trace_pairs(canyon, scenario, rng=0)  # doctest: +SKIP
    >>> background_csi(scenario, paths).shape  # doctest: +SKIP
    (960,)
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    max_depth = check_count(max_depth, "max_depth")
    samples = check_count(n_samples_per_source, "n_samples_per_source")
    seed = _sampler_seed(rng)
    rt = load_sionna()
    import mitsuba as mi

    if isinstance(scene_or_canyon, UrbanCanyon):
        scene = scene_or_canyon.sionna_scene(scenario.carrier_frequency_hz)
    else:
        scene = scene_or_canyon
        if len(scene.transmitters) or len(scene.receivers):
            raise ValueError("the Sionna scene must have no transmitters or receivers")
        scene.frequency = float(scenario.carrier_frequency_hz)
    iso = rt.PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    scene.tx_array, scene.rx_array = iso, iso
    bs = scenario.bs_centers_m()
    for b, p in enumerate(bs):
        point = mi.Point3f(*(float(v) for v in p))
        scene.add(rt.Transmitter(f"skysense_tx{b}", position=point))
        scene.add(rt.Receiver(f"skysense_rx{b}", position=point))
    try:
        solved = rt.PathSolver()(
            scene,
            max_depth=max_depth,
            los=False,
            specular_reflection=True,
            diffuse_reflection=bool(diffuse),
            refraction=False,
            synthetic_array=True,
            samples_per_src=samples,
            seed=seed,
        )
        a = np.asarray(solved.a[0].numpy()) + 1j * np.asarray(solved.a[1].numpy())
        # a: (rx, rx_ant, tx, tx_ant, path); tau and angles: (rx, tx, path)
        a = a[:, 0, :, 0, :].astype(np.complex128)
        tau = np.asarray(solved.tau.numpy(), np.float64)
        valid = np.asarray(solved.valid.numpy(), bool)
        angles = [
            np.asarray(x.numpy(), np.float64)
            for x in (solved.theta_t, solved.phi_t, solved.theta_r, solved.phi_r)
        ]
    finally:
        for b in range(len(bs)):
            scene.remove(f"skysense_tx{b}")
            scene.remove(f"skysense_rx{b}")
    departure = _unit(angles[0], angles[1])
    arrival = _unit(angles[2], angles[3])
    pairs = scenario.pairs()
    tx, rx = pairs[:, 0], pairs[:, 1]
    keep = valid[rx, tx] & (np.abs(a[rx, tx]) > 0)  # (n_pairs, n_paths)
    gain = np.where(keep, a[rx, tx], 0.0)
    return PairPaths(
        pairs=pairs,
        gain=gain,
        delay_s=np.where(keep, tau[rx, tx], 0.0),
        departure_direction=np.where(keep[..., None], departure[rx, tx], 0.0),
        arrival_direction=np.where(keep[..., None], arrival[rx, tx], 0.0),
    )


def trace_mapping(
    scene: Scene,
    bs_index: int,
    *,
    n_samples_per_source: int = 10_000,
    rng: RngLike = None,
    tolerance_m: float = 0.05,
) -> Visibility:
    """Ray-trace one BS of a :class:`skysense.mapping.Scene` into a ``mapping.Visibility``.

    The buildings become Sionna boxes (no ground: the mapping model has facades only); the
    BS transmits to one receiver per trajectory epoch (all in one solve) and to a receiver at
    its own position (monostatic backscatter). LoS and first-order specular rays are kept;
    each reflection vertex is assigned to the facade whose plane and extent contain it.

    Parameters
    ----------
    scene : skysense.mapping.Scene
        Buildings, BSs and the UAV trajectory.
    bs_index : int
        Index of the BS into ``scene.base_stations_m``.
    n_samples_per_source : int
        Rays shot by the BS.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Source of the ray sampler's seed (one int drawn from it).
    tolerance_m : float
        Largest distance of a vertex from its facade's plane and extent [m].

    Returns
    -------
    skysense.mapping.Visibility
        Same layout as :func:`skysense.mapping.trace` (the numba image method), so it drops
        into ``mapping.simulate(scene, rng=seed, tracer=trace_mapping)``.

    Examples
    --------
    >>> from skysense import mapping
    >>> from skysense.scenes.sionna import trace_mapping
    >>> visibility = trace_mapping(mapping.default_scene(40), 0, rng=0)  # doctest: +SKIP
    """
    from skysense.mapping import Scene, Visibility

    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a skysense.mapping.Scene, got {type(scene).__name__}")
    i = scene._bs(bs_index)
    samples = check_count(n_samples_per_source, "n_samples_per_source")
    seed = _sampler_seed(rng)
    rt = load_sionna()
    import mitsuba as mi

    sc = rt.load_scene()
    sc.frequency = 3.5e9
    wall = rt.ITURadioMaterial("wall", "concrete", thickness=0.3)
    objects = []
    for b, (lo, hi) in enumerate(zip(scene.box_lo_m, scene.box_hi_m, strict=True)):
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        mesh = mi.load_dict(
            {
                "type": "cube",
                "to_world": mi.ScalarTransform4f()
                .translate([float(v) for v in centre])
                .scale([float(v) for v in half]),
            }
        )
        objects.append(rt.SceneObject(mi_mesh=mesh, name=f"building{b}", radio_material=wall))
    sc.edit(add=objects)
    iso = rt.PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    sc.tx_array, sc.rx_array = iso, iso
    bs = scene.base_stations_m[i]
    sc.add(rt.Transmitter("bs", position=mi.Point3f(*(float(v) for v in bs))))
    receivers = [*scene.trajectory_m, bs]  # epochs, then the BS itself
    for r, p in enumerate(receivers):
        sc.add(rt.Receiver(f"rx{r}", position=mi.Point3f(*(float(v) for v in p))))
    paths = rt.PathSolver()(
        sc,
        max_depth=1,
        los=True,
        specular_reflection=True,
        diffuse_reflection=False,
        refraction=False,
        synthetic_array=True,
        samples_per_src=samples,
        seed=seed,
    )
    valid = np.asarray(paths.valid.numpy(), bool)[:, 0]  # (rx, paths)
    kind = np.asarray(paths.interactions.numpy())[0][:, 0]  # (rx, paths)
    vertex = np.asarray(paths.vertices.numpy(), np.float64)[0][:, 0]  # (rx, paths, 3)

    n_ep, n_f = scene.n_epochs, scene.n_facades
    los = np.zeros(n_ep, bool)
    bistatic = np.zeros((n_ep, n_f), bool)
    bistatic_points = np.full((n_ep, n_f, 3), np.nan)
    monostatic = np.zeros(n_f, bool)
    monostatic_points = np.full((n_f, 3), np.nan)
    specular = int(rt.InteractionType.SPECULAR)
    for r in range(len(receivers)):
        for p in np.flatnonzero(valid[r]):
            if kind[r, p] == 0 and r < n_ep:
                los[r] = True
            elif kind[r, p] == specular:
                f = _facade_of(scene, vertex[r, p], tolerance_m)
                if f < 0:
                    continue
                if r < n_ep:
                    bistatic[r, f], bistatic_points[r, f] = True, vertex[r, p]
                else:
                    monostatic[f], monostatic_points[f] = True, vertex[r, p]
    vas, facade_va = scene.virtual_anchors(i)
    return Visibility(vas, facade_va, bistatic, bistatic_points, monostatic, monostatic_points, los)


def _facade_of(scene: Scene, point: npt.NDArray[np.float64], tol: float) -> int:
    """Index of the facade containing ``point`` (within ``tol`` m), or -1."""
    rel = point - scene.facade_points_m
    off_plane = np.abs(np.einsum("fc,fc->f", rel, scene.facade_normals))
    along = np.abs(np.einsum("fc,fc->f", rel, scene.facade_tangents))
    inside = (
        (off_plane <= tol)
        & (along <= scene.facade_half_widths_m + tol)
        & (point[2] >= -tol)
        & (point[2] <= scene.facade_heights_m + tol)
    )
    hits = np.flatnonzero(inside)
    return int(hits[np.argmin(off_plane[hits])]) if hits.size else -1


def _unit(theta: npt.NDArray[np.float64], phi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Unit vectors of zenith ``theta`` and azimuth ``phi`` [rad], shape ``theta.shape + (3,)``."""
    sin_t = np.sin(theta)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), np.cos(theta)], axis=-1)
