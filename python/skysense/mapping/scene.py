"""Urban scene: box buildings (vertical facades), base stations, UAV trajectory; VAs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skysense._validation import as_array, check_count

__all__ = ["Scene", "default_scene", "default_trajectory", "reconstruct_facade", "virtual_anchor"]

#: Spec 6.3 buildings (cx, cy, wx, wy, height) [m] and BSs [m].
DEFAULT_BUILDINGS = (
    (-40.0, 30.0, 30.0, 30.0, 40.0),
    (40.0, 30.0, 30.0, 30.0, 50.0),
    (-40.0, -40.0, 30.0, 20.0, 35.0),
    (40.0, -40.0, 30.0, 20.0, 45.0),
    (0.0, 65.0, 30.0, 10.0, 17.0),
)
DEFAULT_BASE_STATIONS = (
    (0.0, 30.0, 15.0),
    (0.0, -40.0, 15.0),
    (-40.0, -5.0, 15.0),
    (40.0, -5.0, 15.0),
)


def default_trajectory(n_epochs: int = 300) -> np.ndarray:
    """UAV path of spec 6.3: N-S street, back to the crossing, E-W street; (n_epochs, 3) [m].

    The +-4 m wiggle is lateral on every leg (perpendicular to the street, a whole number of
    ~60 m periods per leg so that it vanishes at the turns) and the altitude is 35 +- 5 m
    (3 periods). Spec 6.3 asks for a *lateral* wiggle so that range-only (bistatic) data are
    not confined to a line; a wiggle along x, as in the spec's prototype, is along-track on
    the E-W street, where the bistatic-only facades of BS1/BS2 are seen, and leaves their VAs
    ambiguous up to a rotation about the street (mirror images across it).
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


def virtual_anchor(bs, point, normal) -> np.ndarray:
    """Mirror image of ``bs`` (3,) over the plane (``point``, unit ``normal``) [m]."""
    bs, point, normal = (np.asarray(v, float) for v in (bs, point, normal))
    return bs - 2 * np.dot(normal, bs - point) * normal


def reconstruct_facade(bs, va) -> tuple[np.ndarray, np.ndarray]:
    """Facade plane from a VA: the perpendicular bisector of BS and VA.

    Parameters
    ----------
    bs, va : array_like, shape (..., 3), [m]

    Returns
    -------
    point : ndarray, shape (..., 3), [m]
        Midpoint (the foot point of the BS on the plane).
    normal : ndarray, shape (..., 3)
        Unit normal pointing towards the BS.
    """
    bs = as_array(bs, "bs", kind="fiu", dtype=np.float64)
    va = as_array(va, "va", kind="fiu", dtype=np.float64)
    d = bs - va
    nrm = np.linalg.norm(d, axis=-1, keepdims=True)
    if (nrm == 0).any():
        raise ValueError("va coincides with bs: the facade is undefined")
    return 0.5 * (bs + va), d / nrm


@dataclass(frozen=True)
class Scene:
    """Axis-aligned box buildings on z = 0, base stations and a UAV trajectory.

    Parameters
    ----------
    buildings : array_like, shape (n_buildings, 5), [m]
        ``(cx, cy, wx, wy, height)`` per building.
    base_stations : array_like, shape (n_bs, 3), [m]
    trajectory : array_like, shape (n_epochs, 3), [m]
        UAV positions per epoch.

    Attributes
    ----------
    facade_point, facade_normal, facade_tangent : ndarray, shape (n_facades, 3)
        Centre (at z = 0), outward unit normal and horizontal unit tangent of each facade.
    facade_half_width, facade_height : ndarray, shape (n_facades,), [m]
    facade_building : ndarray, shape (n_facades,), int
    box_lo, box_hi : ndarray, shape (n_buildings, 3), [m]
    """

    buildings: np.ndarray
    base_stations: np.ndarray
    trajectory: np.ndarray
    facade_point: np.ndarray = field(init=False, repr=False)
    facade_normal: np.ndarray = field(init=False, repr=False)
    facade_tangent: np.ndarray = field(init=False, repr=False)
    facade_half_width: np.ndarray = field(init=False, repr=False)
    facade_height: np.ndarray = field(init=False, repr=False)
    facade_building: np.ndarray = field(init=False, repr=False)
    box_lo: np.ndarray = field(init=False, repr=False)
    box_hi: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        from skysense.mapping._tracer_numba import inside_boxes

        b = as_array(self.buildings, "buildings", shape=(None, 5), kind="fiu", dtype=np.float64)
        bs = as_array(
            self.base_stations, "base_stations", shape=(None, 3), kind="fiu", dtype=np.float64
        )
        tr = as_array(self.trajectory, "trajectory", shape=(None, 3), kind="fiu", dtype=np.float64)
        if b.shape[0] == 0 or bs.shape[0] == 0 or tr.shape[0] == 0:
            raise ValueError("buildings, base_stations and trajectory must be non-empty")
        if (b[:, 2:] <= 0).any():
            raise ValueError("building widths and heights must be > 0")
        lo = np.column_stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, np.zeros(len(b))])
        hi = np.column_stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 4]])
        if inside_boxes(bs, lo, hi).any():
            raise ValueError("a base station lies inside a building")
        inside = inside_boxes(tr, lo, hi)
        if inside.any():
            raise ValueError(f"the UAV lies inside a building at epoch {int(np.argmax(inside))}")
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
            ("buildings", b),
            ("base_stations", bs),
            ("trajectory", tr),
            ("facade_point", np.array(pts, float)),
            ("facade_normal", np.array(nrm, float)),
            ("facade_tangent", np.array(tan, float)),
            ("facade_half_width", np.array(hw, float)),
            ("facade_height", np.array(h, float)),
            ("facade_building", np.array(owner, np.int64)),
            ("box_lo", lo),
            ("box_hi", hi),
        ):
            object.__setattr__(self, name, val)

    @property
    def n_epochs(self) -> int:
        return self.trajectory.shape[0]

    @property
    def n_bs(self) -> int:
        return self.base_stations.shape[0]

    @property
    def n_facades(self) -> int:
        return self.facade_point.shape[0]

    def virtual_anchors(self, bs_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Unique VAs of one BS (coplanar facades share one).

        Returns
        -------
        vas : ndarray, shape (n_vas, 3), [m]
            VAs of the facades facing the BS, in facade order of first appearance.
        facade_va : ndarray, shape (n_facades,), int
            VA index of each facade, -1 if the facade faces away from the BS.
        """
        bs = self.base_stations[self._bs(bs_index)]
        vas: list[np.ndarray] = []
        facade_va = np.full(self.n_facades, -1, np.int64)
        for f in range(self.n_facades):
            n, a = self.facade_normal[f], self.facade_point[f]
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

    def _bs(self, bs_index) -> int:
        i = check_count(bs_index, "bs_index", minimum=0)
        if i >= self.n_bs:
            raise ValueError(f"bs_index must be < {self.n_bs}, got {i}")
        return i


def default_scene(n_epochs: int = 300) -> Scene:
    """The scene of spec 6.3: five buildings, four BSs, a 300-epoch street trajectory."""
    return Scene(DEFAULT_BUILDINGS, DEFAULT_BASE_STATIONS, default_trajectory(n_epochs))
