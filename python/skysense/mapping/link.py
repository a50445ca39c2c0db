"""One link's measurement set for one module call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skysense._validation import as_array, check_finite_scalar

__all__ = ["LINK_KINDS", "Link"]

#: Link kinds: bistatic pseudo-ranges (BS -> facade -> UAV) and monostatic pseudo-positions.
LINK_KINDS = ("bistatic", "monostatic")


@dataclass(frozen=True)
class Link:
    """Measurements of one link at one epoch and how the module treats them.

    Parameters
    ----------
    kind : {"bistatic", "monostatic"}
    z : ndarray, shape (n_meas,) [m] (bistatic pseudo-ranges) or (n_meas, 3) [m]
        (monostatic pseudo-positions). May be empty.
    sensor : ndarray, shape (3,), [m]
        UAV position (bistatic: ranges are VA-to-UAV) or BS position (monostatic).
    births : bool
        Whether the link creates new PMFs (one per measurement).
    diffuse : bool
        Bistatic only: specular + diffuse likelihood (True) or specular only.
    visibility : float
        p_v of a legacy PMF on this link, in (0, 1] (spec 3.7).
    """

    kind: str
    z: np.ndarray
    sensor: np.ndarray
    births: bool = True
    diffuse: bool = True
    visibility: float = 1.0

    def __post_init__(self):
        if self.kind not in LINK_KINDS:
            raise ValueError(f"kind must be one of {LINK_KINDS}, got {self.kind!r}")
        shape = (None,) if self.kind == "bistatic" else (None, 3)
        z = as_array(self.z, "z", shape=shape, dtype=np.float64, kind="fiu")
        if self.kind == "bistatic" and (z < 0).any():
            raise ValueError("bistatic pseudo-ranges must be >= 0")
        sensor = as_array(self.sensor, "sensor", shape=(3,), dtype=np.float64, kind="fiu")
        v = check_finite_scalar(self.visibility, "visibility")
        if not 0 < v <= 1:
            raise ValueError(f"visibility must lie in (0, 1], got {v}")
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "sensor", sensor)

    @property
    def n_meas(self) -> int:
        return self.z.shape[0]

    def check_region(self, params) -> None:
        """Raise ``ValueError`` if a measurement lies outside the clutter region of ``params``."""
        if self.kind == "bistatic":
            if (self.z > params.range_max_m).any():
                raise ValueError(f"bistatic pseudo-range above range_max_m={params.range_max_m}")
            return
        box = np.asarray(params.clutter_box_m)
        if ((self.z < box[:3]) | (self.z > box[3:])).any():
            raise ValueError("monostatic pseudo-position outside clutter_box_m")
