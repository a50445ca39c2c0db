"""Urban scene: box buildings (vertical facades), base stations, UAV trajectory; VAs.

The default scene replaces the paper's Wireless InSite scene, whose numbers its text lost
(docs/mapping_model.md, section 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_count

__all__ = ["Scene", "default_scene", "default_trajectory", "reconstruct_facade", "virtual_anchor"]

FloatArray = npt.NDArray[np.float64]

#: Buildings of the default scene, ``(cx, cy, wx, wy, height)`` [m] (docs/mapping_model.md,
#: section 1.1).
DEFAULT_BUILDINGS_M = (
    (-40.0, 30.0, 30.0, 30.0, 40.0),
    (40.0, 30.0, 30.0, 30.0, 50.0),
    (-40.0, -40.0, 30.0, 20.0, 35.0),
    (40.0, -40.0, 30.0, 20.0, 45.0),
    (0.0, 65.0, 30.0, 10.0, 17.0),
)
#: Base stations of the default scene [m].
DEFAULT_BASE_STATIONS_M = (
    (0.0, 30.0, 15.0),
    (0.0, -40.0, 15.0),
    (-40.0, -5.0, 15.0),
    (40.0, -5.0, 15.0),
)


def default_trajectory(n_epochs: int = 300) -> FloatArray:
    """UAV path of the default scene: N-S street, back to the crossing, E-W street.

    The +-4 m wiggle is lateral on every leg (perpendicular to the street, a whole number of
    ~60 m periods per leg so that it vanishes at the turns) and the altitude is 35 +- 5 m
    (3 periods), so that range-only (bistatic) data are not confined to a line or a plane: a
    wiggle along the track would leave the VAs of facades seen from the E-W street ambiguous
    up to a rotation about the street (docs/mapping_model.md, section 1.1).

    Parameters
    ----------
    n_epochs : int
        Epochs (>= 2), evenly spaced along the path.

    Returns
    -------
    ndarray, shape (n_epochs, 3), float64 [m]
        UAV positions per epoch.

    Examples
    --------
    >>> from skysense.mapping import default_trajectory
    >>> default_trajectory(5).shape
    (5, 3)
    """
    n_epochs = check_count(n_epochs, "n_epochs", minimum=2)
    w = np.array([(0, -60), (0, 60), (0, -5), (-60, -5), (60, -5)], float)
    seg = np.diff(w, axis=0)
    length = np.linalg.norm(seg, axis=1)
    cum = np.r_[0, np.cumsum(length)]
    s = np.linspace(0, cum[-1], n_epochs)
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    local = s - cum[i]
    periods = np.maximum(np.round(length / 60.0), 1.0)
    lateral = np.column_stack([-seg[:, 1], seg[:, 0]]) / length[:, None]
    wiggle = 4 * np.sin(2 * np.pi * periods[i] * local / length[i])
    x = np.interp(s, cum, w[:, 0]) + wiggle * lateral[i, 0]
    y = np.interp(s, cum, w[:, 1]) + wiggle * lateral[i, 1]
    z = 35 + 5 * np.sin(2 * np.pi * np.arange(n_epochs) / n_epochs * 3)
    return np.column_stack([x, y, z])


def virtual_anchor(
    bs_position_m: npt.ArrayLike, point_m: npt.ArrayLike, normal: npt.ArrayLike
) -> FloatArray:
    """Mirror image of a BS over a facade plane: its virtual anchor (mapping paper Sec. II-A).

    Parameters
    ----------
    bs_position_m : array_like, shape (3,) [m]
        Position of the BS.
    point_m : array_like, shape (3,) [m]
        A point of the plane.
    normal : array_like, shape (3,)
        Unit normal of the plane.

    Returns
    -------
    ndarray, shape (3,) [m]
        Position of the virtual anchor.

    Examples
    --------
    >>> from skysense.mapping import virtual_anchor
    >>> virtual_anchor([0.0, 30.0, 15.0], [-25.0, 0.0, 0.0], [1.0, 0.0, 0.0])
    array([-50.,  30.,  15.])
    """
    bs, point, n = (np.asarray(v, float) for v in (bs_position_m, point_m, normal))
    return bs - 2 * np.dot(n, bs - point) * n


def reconstruct_facade(
    bs_position_m: npt.ArrayLike, va_position_m: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Facade plane from a VA: the perpendicular bisector of BS and VA (paper Sec. II-C).

    Parameters
    ----------
    bs_position_m, va_position_m : array_like, shape (..., 3) [m]
        Positions of the BS and of its virtual anchor (broadcast against each other).

    Returns
    -------
    point_m : ndarray, shape (..., 3) [m]
        Midpoint (the foot point of the BS on the plane).
    normal : ndarray, shape (..., 3)
        Unit normal pointing towards the BS.

    Examples
    --------
    >>> from skysense.mapping import reconstruct_facade
    >>> point, normal = reconstruct_facade([0.0, 30.0, 15.0], [-50.0, 30.0, 15.0])
    >>> point, normal
    (array([-25.,  30.,  15.]), array([1., 0., 0.]))
    """
    bs = as_array(bs_position_m, "bs_position_m", kind="fiu", dtype=np.float64)
    va = as_array(va_position_m, "va_position_m", kind="fiu", dtype=np.float64)
    d = bs - va
    nrm = np.linalg.norm(d, axis=-1, keepdims=True)
    if (nrm == 0).any():
        raise ValueError(
            "va_position_m coincides with bs_position_m: the facade is undefined (need a "
            "nonzero distance)"
        )
    return 0.5 * (bs + va), d / nrm


@dataclass(frozen=True)
class Scene:
    """Axis-aligned box buildings on z = 0, base stations and a UAV trajectory.

    Each building has four vertical facades; a facade facing a BS has one virtual anchor
    (the BS mirrored over its plane), shared by coplanar facades.

    Parameters
    ----------
    buildings_m : array_like, shape (n_buildings, 5) [m]
        ``(cx, cy, wx, wy, height)`` per building: centre, widths along x and y, height.
    base_stations_m : array_like, shape (n_bs, 3) [m]
        BS positions.
    trajectory_m : array_like, shape (n_epochs, 3) [m]
        UAV positions per epoch.

    Attributes
    ----------
    facade_points_m : ndarray, shape (n_facades, 3) [m]
        Centre of each facade's base (at z = 0).
    facade_normals, facade_tangents : ndarray, shape (n_facades, 3)
        Outward unit normal and horizontal unit tangent of each facade.
    facade_half_widths_m, facade_heights_m : ndarray, shape (n_facades,) [m]
    facade_building_index : ndarray, shape (n_facades,), int
    box_lo_m, box_hi_m : ndarray, shape (n_buildings, 3) [m]
        Corners of the building boxes.

    Raises
    ------
    ValueError
        For empty inputs, non-positive sizes, or a BS or UAV position inside a building.

    Examples
    --------
    >>> from skysense.mapping import Scene
    >>> scene = Scene([(0.0, 30.0, 30.0, 10.0, 30.0)], [(0.0, 0.0, 15.0)],
    ...               [(0.0, 5.0, 30.0), (2.0, 5.0, 30.0)])
    >>> scene.n_facades, scene.n_epochs
    (4, 2)
    >>> vas, facade_va_index = scene.virtual_anchors(0)
    >>> vas  # only the south facade faces the BS
    array([[ 0., 50., 15.]])
    """

    buildings_m: FloatArray
    base_stations_m: FloatArray
    trajectory_m: FloatArray
    facade_points_m: FloatArray = field(init=False, repr=False)
    facade_normals: FloatArray = field(init=False, repr=False)
    facade_tangents: FloatArray = field(init=False, repr=False)
    facade_half_widths_m: FloatArray = field(init=False, repr=False)
    facade_heights_m: FloatArray = field(init=False, repr=False)
    facade_building_index: npt.NDArray[np.int64] = field(init=False, repr=False)
    box_lo_m: FloatArray = field(init=False, repr=False)
    box_hi_m: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from skysense.mapping._tracer_numba import inside_boxes

        b = as_array(self.buildings_m, "buildings_m", shape=(None, 5), kind="fiu", dtype=np.float64)
        bs = as_array(
            self.base_stations_m, "base_stations_m", shape=(None, 3), kind="fiu", dtype=np.float64
        )
        tr = as_array(
            self.trajectory_m, "trajectory_m", shape=(None, 3), kind="fiu", dtype=np.float64
        )
        if b.shape[0] == 0 or bs.shape[0] == 0 or tr.shape[0] == 0:
            raise ValueError(
                "buildings_m, base_stations_m and trajectory_m must be non-empty, got "
                f"{b.shape[0]}, {bs.shape[0]} and {tr.shape[0]} rows"
            )
        if (b[:, 2:] <= 0).any():
            raise ValueError(
                f"building widths and heights (buildings_m[:, 2:]) must be > 0, got min "
                f"{b[:, 2:].min()}"
            )
        lo = np.column_stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, np.zeros(len(b))])
        hi = np.column_stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 4]])
        inside = inside_boxes(bs, lo, hi)
        if inside.any():
            raise ValueError(
                f"base station {int(np.argmax(inside))} lies inside a building "
                "(base_stations_m must be outside every box)"
            )
        inside = inside_boxes(tr, lo, hi)
        if inside.any():
            raise ValueError(
                f"the UAV lies inside a building at epoch {int(np.argmax(inside))} "
                "(trajectory_m must be outside every box)"
            )
        pts, nrm, tan, hw, h, owner = [], [], [], [], [], []
        for i, (cx, cy, wx, wy, height) in enumerate(b):
            for n, a, t, half in (
                ((1, 0, 0), (cx + wx / 2, cy, 0), (0, 1, 0), wy / 2),
                ((-1, 0, 0), (cx - wx / 2, cy, 0), (0, 1, 0), wy / 2),
                ((0, 1, 0), (cx, cy + wy / 2, 0), (1, 0, 0), wx / 2),
                ((0, -1, 0), (cx, cy - wy / 2, 0), (1, 0, 0), wx / 2),
            ):
                pts.append(a)
                nrm.append(n)
                tan.append(t)
                hw.append(half)
                h.append(height)
                owner.append(i)
        for name, val in (
            ("buildings_m", b),
            ("base_stations_m", bs),
            ("trajectory_m", tr),
            ("facade_points_m", np.array(pts, float)),
            ("facade_normals", np.array(nrm, float)),
            ("facade_tangents", np.array(tan, float)),
            ("facade_half_widths_m", np.array(hw, float)),
            ("facade_heights_m", np.array(h, float)),
            ("facade_building_index", np.array(owner, np.int64)),
            ("box_lo_m", lo),
            ("box_hi_m", hi),
        ):
            object.__setattr__(self, name, val)

    @property
    def n_epochs(self) -> int:
        """Epochs of the trajectory."""
        return int(self.trajectory_m.shape[0])

    @property
    def n_bs(self) -> int:
        """Number of base stations."""
        return int(self.base_stations_m.shape[0])

    @property
    def n_facades(self) -> int:
        """Number of facades (four per building)."""
        return int(self.facade_points_m.shape[0])

    def virtual_anchors(self, bs_index: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Unique VAs of one BS (coplanar facades share one).

        Parameters
        ----------
        bs_index : int

        Returns
        -------
        va_positions_m : ndarray, shape (n_vas, 3) [m]
            VAs of the facades facing the BS, in facade order of first appearance.
        facade_va_index : ndarray, shape (n_facades,), int
            VA index of each facade, -1 if the facade faces away from the BS.
        """
        bs = self.base_stations_m[self._bs(bs_index)]
        vas: list[FloatArray] = []
        facade_va = np.full(self.n_facades, -1, np.int64)
        for f in range(self.n_facades):
            n, a = self.facade_normals[f], self.facade_points_m[f]
            if np.dot(n, bs - a) <= 0:
                continue
            v = virtual_anchor(bs, a, n)
            for j, w in enumerate(vas):
                if np.linalg.norm(v - w) < 1e-6:
                    facade_va[f] = j
                    break
            else:
                facade_va[f] = len(vas)
                vas.append(v)
        return np.array(vas, float).reshape(-1, 3), facade_va

    def _bs(self, bs_index: int) -> int:
        i = check_count(bs_index, "bs_index", minimum=0)
        if i >= self.n_bs:
            raise ValueError(f"bs_index must lie in [0, {self.n_bs - 1}], got {i}")
        return i


def default_scene(n_epochs: int = 300) -> Scene:
    """The default scene: five buildings, four BSs and a street trajectory.

    All three observability classes of the paper (Sec. V-A) occur: e.g. BS 0 sees two VAs
    on both links (class A), one on the bistatic link only (B) and one on the monostatic
    link only (C) (docs/mapping_model.md, section 1).

    Parameters
    ----------
    n_epochs : int
        Epochs of the trajectory (:func:`default_trajectory`).

    Returns
    -------
    Scene
        Buildings, BSs and the trajectory of ``n_epochs`` epochs.

    Examples
    --------
    >>> from skysense.mapping import default_scene, trace
    >>> scene = default_scene(300)
    >>> trace(scene, 0).classes().tolist()
    ['A', 'A', 'B', 'C']
    """
    return Scene(
        np.array(DEFAULT_BUILDINGS_M),
        np.array(DEFAULT_BASE_STATIONS_M),
        default_trajectory(n_epochs),
    )
