"""One link's measurement set for one module call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_finite_scalar, check_positive
from skysense.mapping.params import MappingParams

__all__ = ["LINK_KINDS", "BistaticAngles", "Link"]

#: Link kinds: bistatic pseudo-ranges (BS -> facade -> UAV) and monostatic pseudo-positions.
LINK_KINDS = ("bistatic", "monostatic")


def _unit(v: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    a = as_array(v, name, shape=(3,), dtype=np.float64, kind="fiu")
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        raise ValueError(f"{name} must be a nonzero vector (a ULA axis), got {a.tolist()}")
    return a / norm


@dataclass(frozen=True)
class BistaticAngles:
    """AoA and AoD of the bistatic measurements of one epoch, for the angle-aided likelihood.

    Not in the mapping paper (docs/pipeline.md, "Angle-aided bistatic mapping"): a ULA
    measures ``sin(angle) = axis . direction``, the AoA towards the VA at the UAV's array and
    the AoD towards the UAV's mirror image in the facade at the BS's array.

    Parameters
    ----------
    aoa_rad, aod_rad : array_like, shape (n_measurements,) [rad]
        Angles in [-pi/2, pi/2] (one per bistatic pseudo-range, same order).
    aoa_std_rad, aod_std_rad : array_like, shape (n_measurements,) [rad]
        Their standard deviations (e.g. the CRB), > 0.
    uav_axis, bs_axis : array_like, shape (3,)
        Axes of the UAV's (receive) and the BS's (transmit) ULA (normalised here).
    bs_position_m : array_like, shape (3,) [m]
        BS position.

    Examples
    --------
    >>> from skysense.mapping import BistaticAngles
    >>> ang = BistaticAngles([0.1], [-0.3], [0.01], [0.01], [0, 2.0, 0], [1, 0, 0], [0, 0, 15])
    >>> ang.uav_axis, ang.n_measurements
    (array([0., 1., 0.]), 1)
    """

    aoa_rad: npt.NDArray[np.float64]
    aod_rad: npt.NDArray[np.float64]
    aoa_std_rad: npt.NDArray[np.float64]
    aod_std_rad: npt.NDArray[np.float64]
    uav_axis: npt.NDArray[np.float64]
    bs_axis: npt.NDArray[np.float64]
    bs_position_m: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("aoa_rad", "aod_rad", "aoa_std_rad", "aod_std_rad"):
            arrays[name] = as_array(
                getattr(self, name), name, shape=(None,), dtype=np.float64, kind="fiu"
            )
        n = arrays["aoa_rad"].shape[0]
        for name, a in arrays.items():
            if a.shape[0] != n:
                raise ValueError(f"{name} must have shape ({n},) like aoa_rad, got {a.shape}")
        for name in ("aoa_rad", "aod_rad"):
            if (np.abs(arrays[name]) > np.pi / 2 + 1e-12).any():
                raise ValueError(f"{name} must lie in [-pi/2, pi/2]")
        for name in ("aoa_std_rad", "aod_std_rad"):
            if (arrays[name] <= 0).any():
                raise ValueError(f"{name} must be > 0, got min {arrays[name].min()}")
        for name, a in arrays.items():
            object.__setattr__(self, name, a)
        object.__setattr__(self, "uav_axis", _unit(self.uav_axis, "uav_axis"))
        object.__setattr__(self, "bs_axis", _unit(self.bs_axis, "bs_axis"))
        bs = as_array(self.bs_position_m, "bs_position_m", shape=(3,), dtype=np.float64, kind="fiu")
        object.__setattr__(self, "bs_position_m", bs)

    @property
    def n_measurements(self) -> int:
        """Number of measurements."""
        return int(self.aoa_rad.shape[0])

    def select(self, mask: npt.ArrayLike) -> BistaticAngles:
        """The angles of a subset of the measurements.

        Parameters
        ----------
        mask : array_like of bool, shape (n_measurements,)
            The measurements to keep.

        Returns
        -------
        BistaticAngles
            Same axes and BS.
        """
        keep = np.asarray(mask, bool)
        return BistaticAngles(
            self.aoa_rad[keep],
            self.aod_rad[keep],
            self.aoa_std_rad[keep],
            self.aod_std_rad[keep],
            self.uav_axis,
            self.bs_axis,
            self.bs_position_m,
        )

    def kernel_rows(self, spread_rad: float = 0.0) -> npt.NDArray[np.float64]:
        """The kernel's measurement rows: each angle's sine and the std of that sine.

        The likelihood is Gaussian in the sine of each angle (what the ULA measures): the std
        of ``sin(theta)`` for ``theta ~ N(theta_hat, s^2)``, ``s^2 = std^2 + spread_rad^2``, to
        second order: ``sqrt(cos^2 s^2 + sin^2 s^4 / 2)`` (positive at endfire too).

        Parameters
        ----------
        spread_rad : float
            Std added in quadrature to each angle's own std, >= 0 [rad].

        Returns
        -------
        ndarray, shape (n_measurements, 4), float64
            ``(sin AoA, std, sin AoD, std)`` per measurement.
        """
        spread = check_positive(spread_rad, "spread_rad", strict=False)
        out = np.empty((self.n_measurements, 4))
        for col, theta, std in (
            (0, self.aoa_rad, self.aoa_std_rad),
            (2, self.aod_rad, self.aod_std_rad),
        ):
            var = std * std + spread * spread
            s, c = np.sin(theta), np.cos(theta)
            out[:, col] = s
            out[:, col + 1] = np.sqrt(c * c * var + 0.5 * s * s * var * var)
        return out


@dataclass(frozen=True)
class Link:
    """Measurements of one link at one epoch and how the module treats them.

    Parameters
    ----------
    kind : {"bistatic", "monostatic"}
        Bistatic pseudo-ranges (mapping paper eq. (3)) or monostatic pseudo-positions
        (eq. (7)).
    measurements_m : array_like, shape (n_measurements,) or (n_measurements, 3) [m]
        Bistatic pseudo-ranges, or monostatic pseudo-positions. May be empty.
    sensor_position_m : array_like, shape (3,) [m]
        UAV position (bistatic: ranges are VA-to-UAV distances, eq. (9)) or BS position
        (monostatic).
    births : bool
        Whether the link creates new PMFs (one per measurement, eq. (21)).
    diffuse : bool
        Bistatic only: specular + diffuse likelihood (eqs. (18)-(19)) or specular only.
    visibility : float
        Probability that a legacy PMF is visible on this link, in (0, 1] (1: the paper's
        model; docs/mapping_model.md, section 3.4).
    angles : BistaticAngles or None
        Bistatic only: the AoA and AoD of each measurement; with them the likelihood and the
        birth proposal are angle-aided (ours, not the paper's; docs/pipeline.md). ``None``:
        range only (the paper's model).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping import Link
    >>> link = Link("bistatic", [80.2, 95.0], sensor_position_m=[0.0, 0.0, 30.0])
    >>> link.n_measurements
    2
    """

    kind: str
    measurements_m: npt.NDArray[np.float64]
    sensor_position_m: npt.NDArray[np.float64]
    births: bool = True
    diffuse: bool = True
    visibility: float = 1.0
    angles: BistaticAngles | None = None

    def __post_init__(self) -> None:
        if self.kind not in LINK_KINDS:
            raise ValueError(f"kind must be one of {LINK_KINDS}, got {self.kind!r}")
        shape = (None,) if self.kind == "bistatic" else (None, 3)
        z = as_array(
            self.measurements_m, "measurements_m", shape=shape, dtype=np.float64, kind="fiu"
        )
        if self.kind == "bistatic" and (z < 0).any():
            raise ValueError(
                f"bistatic pseudo-ranges (measurements_m) must be >= 0, got min {z.min()}"
            )
        sensor = as_array(
            self.sensor_position_m, "sensor_position_m", shape=(3,), dtype=np.float64, kind="fiu"
        )
        v = check_finite_scalar(self.visibility, "visibility")
        if not 0 < v <= 1:
            raise ValueError(f"visibility must lie in (0, 1], got {v}")
        object.__setattr__(self, "measurements_m", z)
        object.__setattr__(self, "sensor_position_m", sensor)
        if self.angles is not None:
            if not isinstance(self.angles, BistaticAngles):
                raise TypeError(
                    f"angles must be a BistaticAngles or None, got {type(self.angles).__name__}"
                )
            if self.kind != "bistatic":
                raise ValueError("angles: only a bistatic link carries angles")
            if self.angles.n_measurements != z.shape[0]:
                raise ValueError(
                    f"angles must have one entry per measurement ({z.shape[0]}), got "
                    f"{self.angles.n_measurements}"
                )

    @property
    def n_measurements(self) -> int:
        """Number of measurements of the link."""
        return int(self.measurements_m.shape[0])

    def check_region(self, params: MappingParams) -> None:
        """Raise ``ValueError`` if a measurement lies outside the clutter region of ``params``.

        Bistatic ranges must lie in ``[0, params.range_max_m]``, monostatic points in
        ``params.clutter_box_m`` (the clutter densities of eq. (24) are uniform there).
        """
        if self.kind == "bistatic":
            if (self.measurements_m > params.range_max_m).any():
                raise ValueError(
                    f"bistatic pseudo-ranges must be <= range_max_m={params.range_max_m}, "
                    f"got max {self.measurements_m.max()}"
                )
            return
        box = np.asarray(params.clutter_box_m)
        outside = (self.measurements_m < box[:3]) | (self.measurements_m > box[3:])
        if outside.any():
            row = int(np.flatnonzero(outside.any(axis=1))[0])
            raise ValueError(
                f"monostatic pseudo-positions must lie in clutter_box_m={params.clutter_box_m},"
                f" got {self.measurements_m[row].tolist()} (row {row})"
            )
