"""One link's measurement set for one module call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_finite_scalar
from skysense.mapping.params import MappingParams

__all__ = ["LINK_KINDS", "Link"]

#: Link kinds: bistatic pseudo-ranges (BS -> facade -> UAV) and monostatic pseudo-positions.
LINK_KINDS = ("bistatic", "monostatic")


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
