"""Angles of the bistatic BS -> UAV paths at the two ULAs, from the scene geometry.

A ULA measures only the cosine of the angle between a direction and its axis: with the
bistatic paper's steering vector ``a(angle)[k] = exp(-j 2 pi d k sin(angle))`` (eq. (5)),
``sin(angle) = axis . direction``, where ``direction`` is the unit vector from the array
towards the departing (AoD, at the BS) or arriving (AoA, at the UAV) wave's far end. Every
direction on the cone about the axis gives the same angle (the cone ambiguity of a ULA).

For a specular path over a facade with virtual anchor ``v`` (the BS mirrored over the facade
plane, mapping paper Sec. II-A) the wave arrives at the UAV ``u`` from the direction of ``v``,
and it leaves the BS ``b`` in the direction ``M (u - v)``, ``M = I - 2 n n^T`` the mirror of the
facade plane, ``n = (b - v) / |b - v|``. Both angles, like the range ``|u - v|`` (eq. (9)), are
functions of the VA alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array

__all__ = ["los_angles", "unit_axis", "va_angles"]

FloatArray = npt.NDArray[np.float64]


def unit_axis(axis: npt.ArrayLike, name: str) -> FloatArray:
    """Validate a ULA axis ``(3,)`` (any nonzero length) and return it normalised.

    Examples
    --------
    >>> from skysense.pipeline.geometry import unit_axis
    >>> unit_axis([0.0, 3.0, 4.0], "bs_axis")
    array([0. , 0.6, 0.8])
    """
    a = as_array(axis, name, shape=(3,), kind="fiu", dtype=np.float64)
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        raise ValueError(f"{name} must be a nonzero vector (the ULA axis), got {a.tolist()}")
    return a / norm


def _ula_angle(axis: FloatArray, direction: FloatArray) -> FloatArray:
    """``arcsin(axis . direction)``, direction (..., 3) not necessarily unit [rad]."""
    norm = np.linalg.norm(direction, axis=-1)
    s = np.einsum("...i,i->...", direction, axis) / norm
    out: FloatArray = np.arcsin(np.clip(s, -1.0, 1.0))
    return out


def va_angles(
    va_positions_m: npt.ArrayLike,
    uav_position_m: npt.ArrayLike,
    bs_position_m: npt.ArrayLike,
    *,
    uav_axis: npt.ArrayLike,
    bs_axis: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """AoA at the UAV and AoD at the BS of the specular paths of virtual anchors.

    Parameters
    ----------
    va_positions_m : array_like, shape (..., 3) [m]
        Virtual anchors (or VA particles).
    uav_position_m, bs_position_m : array_like, shape (3,) [m]
        Positions of the UAV (receiver) and of the BS (transmitter).
    uav_axis, bs_axis : array_like, shape (3,)
        Axes of the UAV's (receive) and the BS's (transmit) ULA, element 0 to element 1.

    Returns
    -------
    aoa_rad, aod_rad : ndarray, shape (...) [rad]
        In [-pi/2, pi/2].

    Examples
    --------
    >>> from skysense.pipeline import va_angles
    >>> aoa, aod = va_angles([-50.0, 30.0, 15.0], [0.0, 10.0, 15.0], [0.0, 30.0, 15.0],
    ...                      uav_axis=[1.0, 0.0, 0.0], bs_axis=[1.0, 0.0, 0.0])
    >>> round(float(aoa), 4), round(float(aod), 4)  # arrives from -x, leaves towards -x
    (-1.1903, -1.1903)
    """
    v = np.asarray(va_positions_m, float)
    u = np.asarray(uav_position_m, float)
    b = np.asarray(bs_position_m, float)
    ua, ba = unit_axis(uav_axis, "uav_axis"), unit_axis(bs_axis, "bs_axis")
    aoa = _ula_angle(ua, v - u)
    n = b - v
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    d = u - v
    departure = d - 2.0 * np.einsum("...i,...i->...", d, n)[..., None] * n  # M (u - v)
    return aoa, _ula_angle(ba, departure)


def los_angles(
    uav_position_m: npt.ArrayLike,
    bs_position_m: npt.ArrayLike,
    *,
    uav_axis: npt.ArrayLike,
    bs_axis: npt.ArrayLike,
) -> tuple[float, float]:
    """AoA at the UAV and AoD at the BS of the direct path.

    Parameters
    ----------
    uav_position_m, bs_position_m : array_like, shape (3,) [m]
        Positions of the UAV (receiver) and of the BS (transmitter).
    uav_axis, bs_axis : array_like, shape (3,)
        Axes of the UAV's and the BS's ULA.

    Returns
    -------
    aoa_rad, aod_rad : float
        In [-pi/2, pi/2] [rad].

    Examples
    --------
    >>> from skysense.pipeline import los_angles
    >>> los_angles([10.0, 0.0, 15.0], [0.0, 0.0, 15.0], uav_axis=[1, 0, 0], bs_axis=[1, 0, 0])
    (-1.5707963267948966, 1.5707963267948966)
    """
    u = np.asarray(uav_position_m, float)
    b = np.asarray(bs_position_m, float)
    ua, ba = unit_axis(uav_axis, "uav_axis"), unit_axis(bs_axis, "bs_axis")
    return float(_ula_angle(ua, b - u)), float(_ula_angle(ba, u - b))


def _check_bs_off_facades(scene: Any, i: int, why: str) -> None:
    """Raise ValueError if base station ``i`` of ``scene`` lies on a facade of a building.

    The :class:`~skysense.mapping.Scene` already rejects a BS strictly inside a building; on a
    facade its mirror image (the VA) is the BS itself. ``why`` completes the message with
    what that breaks for the caller's link.
    """
    bs = scene.base_stations_m[i]
    on_box = np.all((scene.box_lo_m - 1e-9 <= bs) & (bs <= scene.box_hi_m + 1e-9), axis=1)
    if on_box.any():
        raise ValueError(
            f"base station {i} at {bs.tolist()} lies on a facade of building "
            f"{int(np.argmax(on_box))} (scene.base_stations_m must be off every facade: {why})"
        )


def _simulate_per_bs(
    scene: Any,
    channel: Any,
    channel_type: type,
    rng: Any,
    bs_indices: Any,
    tracer: Any,
    simulate_bs: Any,
) -> tuple[Any, ...]:
    """The per-BS driver of both CSI simulators: check ``scene``, ``channel`` (default
    ``channel_type()``) and ``tracer`` (default :func:`skysense.mapping.trace`), give BS ``i``
    the ``i``-th of ``scene.n_bs`` children of ``rng`` (so its CSI does not depend on which
    other BSs are simulated), and return ``simulate_bs(scene, i, channel, generator, tracer)``
    for each BS of ``bs_indices`` (default: all)."""
    from skysense._rng import as_generator
    from skysense.mapping.scene import Scene
    from skysense.mapping.simulate import trace

    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a mapping Scene, got {type(scene).__name__}")
    channel = channel_type() if channel is None else channel
    if not isinstance(channel, channel_type):
        raise TypeError(f"channel must be a {channel_type.__name__}, got {type(channel).__name__}")
    children = as_generator(rng).spawn(scene.n_bs)
    indices = range(scene.n_bs) if bs_indices is None else [scene._bs(i) for i in bs_indices]
    tracer = trace if tracer is None else tracer
    if not callable(tracer):
        raise TypeError(f"tracer must be callable, got {type(tracer).__name__}")
    return tuple(simulate_bs(scene, i, channel, children[i], tracer) for i in indices)
