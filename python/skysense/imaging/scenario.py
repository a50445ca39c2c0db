"""Geometry and radio parameters of a cooperative-ISAC imaging scenario.

Conventions (imaging paper, Huang et al., IEEE TWC 2026, Secs. II-III and V-A; see also
``docs/conventions.md``):

* Voxels are ordered C-order over the grid axes ``(x, y, z)``: z fastest, then y, then x.
  Voxel centres sit at ``roi_center_m + (i - (n - 1) / 2) * voxel_size_m`` per axis.
* BSs sit on a regular polygon of side ``bs_spacing_m`` at height ``bs_height_m``; for
  four BSs that is the square (-70, 70), (70, 70), (70, -70), (-70, -70) of the
  authors' code.  Each carries a vertical ``N0 x N0`` UPA whose broadside faces the
  ROI centre; antenna index = ``vertical * N0 + horizontal`` (horizontal fastest).
* Rows of the sensing matrix are ordered ``(subcarrier, pair, rx antenna, tx antenna)``
  with the tx antenna fastest; pairs are ``(tx BS, rx BS)`` with ``tx <= rx`` (mode A),
  ``tx < rx`` (mode B, bistatic) or ``tx == rx`` (mode C, monostatic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array, check_count, check_finite_scalar, check_positive

__all__ = ["SPEED_OF_LIGHT", "Scenario"]

#: Speed of light used throughout [m/s] (the authors' code uses 3e8).
SPEED_OF_LIGHT = 3e8

_MODES = ("A", "B", "C")
#: Physically meaningful ranges (every quantity of the model stays finite and nonzero in
#: float64 inside them): lengths [m], radio frequencies [Hz] (the ITU's radio waves,
#: 3 Hz to 3 THz), powers [dBm] and the linear antenna gain (+-300 dB).
_MAX_LENGTH_M = 1e6
_FREQUENCY_RANGE_HZ = (3.0, 3e12)
_POWER_RANGE_DBM = (-300.0, 300.0)
_GAIN_RANGE = (1e-30, 1e30)
#: Largest voxel grid (the kernels index voxels with 32-bit integers).
_MAX_VOXELS = 2**31 - 1
_GRIDS = ("centered", "edges")


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _check_range(value: Any, name: str, bounds: tuple[float, float], unit: str) -> float:
    """``value`` as a float in ``[lo, hi]``; else an error naming ``name`` and the range."""
    value = check_finite_scalar(value, name)
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}] {unit}, got {value:g}")
    return value


def dbm_to_watt(p_dbm: float) -> float:
    """Convert a power in dBm to watts."""
    return 10.0 ** ((p_dbm - 30.0) / 10.0)


@dataclass(frozen=True)
class Scenario:
    """A cooperative-ISAC imaging scenario (defaults: the paper's 2D setting).

    Parameters
    ----------
    roi_size_m : tuple of 3 float
        ROI extent along x, y, z [m]. A zero z-extent gives a single layer (2D ROI).
    roi_center_m : tuple of 3 float
        ROI centre [m].
    voxel_size_m : float
        Voxel edge d0 [m]; each axis holds ``round(size / d0)`` voxels.
    n_bs : int
        Number of base stations N_b.
    bs_spacing_m : float
        Side length of the regular BS polygon [m] (the paper's "BS distance").
    bs_height_m : float
        BS (array centre) height [m].
    bs_positions_m : tuple of (x, y, z) tuples, optional
        Explicit BS positions [m]; overrides ``n_bs``, ``bs_spacing_m`` and ``bs_height_m``.
        :meth:`bs_centers_m` gives the positions in use either way.
    n_antennas_side : int
        UPA side N0 (N0 x N0 antennas per BS).
    spacing_factor : float
        Antenna spacing scale xi; element spacing is ``xi * lambda0 / 2``.
    carrier_frequency_hz : float
        Centre carrier f0 [Hz].
    n_subcarriers : int
        Number of subcarriers N_f.
    bandwidth_hz : float
        Total bandwidth B [Hz] (unused when ``n_subcarriers == 1``).
    subcarrier_grid : {"centered", "edges"}
        ``"centered"``: ``f0 + (n - (N_f - 1) / 2) B / N_f``; ``"edges"``: N_f points
        spanning ``f0 +- B / 2``.
    antenna_gain : float
        Combined tx/rx antenna gain G_s (linear).
    sensing_power_dbm : float
        Sensing power P_s [dBm]; each subcarrier gets ``P_s / N_f``.
    noise_power_dbm : float
        Noise power P_n per measurement entry [dBm].
    mode : {"A", "B", "C"}
        A: all ``N_b (N_b + 1) / 2`` pairs, B: bistatic pairs, C: monostatic pairs.
    legacy_rotation : bool
        Reproduce the authors' MATLAB UPA-rotation bug (skewed horizontal offsets).

    Examples
    --------
    >>> from skysense.imaging import Scenario
    >>> s = Scenario()
    >>> s.grid_shape, s.shape
    ((40, 40, 1), (2560, 1600))
    >>> Scenario.paper_3d().grid_shape
    (20, 20, 16)
    """

    roi_size_m: tuple[float, float, float] = (120.0, 120.0, 0.0)
    roi_center_m: tuple[float, float, float] = (0.0, 0.0, 40.0)
    voxel_size_m: float = 3.0
    n_bs: int = 4
    bs_spacing_m: float = 140.0
    bs_height_m: float = 20.0
    bs_positions_m: tuple[tuple[float, float, float], ...] | None = None
    n_antennas_side: int = 4
    spacing_factor: float = 1.0
    carrier_frequency_hz: float = 2.6e9
    n_subcarriers: int = 1
    bandwidth_hz: float = 40e6
    subcarrier_grid: str = "centered"
    antenna_gain: float = 4.0
    sensing_power_dbm: float = 40.0
    noise_power_dbm: float = -110.0
    mode: str = "A"
    legacy_rotation: bool = False

    def __post_init__(self) -> None:
        for name in ("roi_size_m", "roi_center_m"):
            vec = getattr(self, name)
            if len(vec) != 3:
                raise ValueError(f"{name} must have 3 entries (x, y, z), got {len(vec)}")
            for i, v in enumerate(vec):
                check_finite_scalar(v, f"{name}[{i}]")
            object.__setattr__(self, name, tuple(float(v) for v in vec))
        for i, size in enumerate(self.roi_size_m):
            check_positive(size, f"roi_size_m[{i}]", strict=False)
        if self.roi_size_m[0] == 0 or self.roi_size_m[1] == 0:
            raise ValueError(f"roi_size_m must be > 0 along x and y, got {self.roi_size_m}")
        d0 = check_positive(self.voxel_size_m, "voxel_size_m")
        for i, size in enumerate(self.roi_size_m):
            if size > 0 and d0 > size:
                raise ValueError(
                    f"voxel_size_m={d0} is larger than the ROI extent roi_size_m[{i}]={size}"
                )
        voxels = math.prod(max(1.0, s / d0) for s in self.roi_size_m)
        if not voxels <= _MAX_VOXELS:
            raise ValueError(
                f"voxel_size_m={d0} gives about {voxels:.3g} voxels, more than {_MAX_VOXELS}"
            )
        check_count(self.n_antennas_side, "n_antennas_side")
        check_count(self.n_subcarriers, "n_subcarriers")
        for name in ("spacing_factor", "carrier_frequency_hz", "antenna_gain"):
            check_positive(getattr(self, name), name)
        check_positive(self.bandwidth_hz, "bandwidth_hz", strict=False)
        for name in ("sensing_power_dbm", "noise_power_dbm"):
            _check_range(getattr(self, name), name, _POWER_RANGE_DBM, "dBm")
        _check_range(self.carrier_frequency_hz, "carrier_frequency_hz", _FREQUENCY_RANGE_HZ, "Hz")
        _check_range(self.antenna_gain, "antenna_gain", _GAIN_RANGE, "(linear)")
        check_finite_scalar(self.bs_height_m, "bs_height_m")
        lengths = {
            "voxel_size_m": self.voxel_size_m,
            "bs_spacing_m": self.bs_spacing_m,
            "bs_height_m": self.bs_height_m,
            **{f"roi_size_m[{i}]": v for i, v in enumerate(self.roi_size_m)},
            **{f"roi_center_m[{i}]": v for i, v in enumerate(self.roi_center_m)},
        }
        for name, value in lengths.items():
            _check_range(abs(float(value)), name, (0.0, _MAX_LENGTH_M), "m (in magnitude)")
        if self.n_subcarriers > 1 and self.bandwidth_hz == 0:
            raise ValueError("bandwidth_hz must be > 0 when n_subcarriers > 1")
        if self.n_subcarriers > 1 and self.bandwidth_hz / 2 >= self.carrier_frequency_hz:
            raise ValueError("bandwidth_hz must be smaller than 2 * carrier_frequency_hz")
        if self.subcarrier_grid not in _GRIDS:
            raise ValueError(
                f"subcarrier_grid must be one of {_GRIDS}, got {self.subcarrier_grid!r}"
            )
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.bs_positions_m is not None:
            pos = np.asarray(self.bs_positions_m, dtype=float)
            if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 1:
                raise ValueError(
                    f"bs_positions_m must be a sequence of (x, y, z) triples, got shape {pos.shape}"
                )
            if not np.isfinite(pos).all():
                raise ValueError("bs_positions_m contains NaN or Inf")
            if np.abs(pos).max() > _MAX_LENGTH_M:
                raise ValueError(
                    f"bs_positions_m must lie within +-{_MAX_LENGTH_M:g} m, got a coordinate of "
                    f"{np.abs(pos).max():.3g} m"
                )
            object.__setattr__(self, "bs_positions_m", tuple(map(tuple, pos.tolist())))
            object.__setattr__(self, "n_bs", pos.shape[0])
        else:
            check_count(self.n_bs, "n_bs")
            check_positive(self.bs_spacing_m, "bs_spacing_m")
        aperture = self.spacing_factor * self.wavelength_m / 2.0 * self.n_antennas_side
        if not aperture <= _MAX_LENGTH_M:
            raise ValueError(
                f"spacing_factor={self.spacing_factor:g} gives a {aperture:.3g} m array "
                f"(spacing_factor * wavelength / 2 * n_antennas_side must be <= "
                f"{_MAX_LENGTH_M:g} m)"
            )
        if self.mode == "B" and self.n_bs < 2:
            raise ValueError(f"mode 'B' (bistatic) needs n_bs >= 2, got {self.n_bs}")
        self._check_bs_outside_roi()

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def paper_3d(cls, **overrides: Any) -> Scenario:
        """The paper's 3D ROI: 100 x 100 x 80 m centred at 80 m, d0 = 5 m (20 x 20 x 16),
        2 x 2 UPAs, N_f = 6 over B = 40 MHz, P_s = 40 dBm (Sec. V-B3).

        Parameters
        ----------
        **overrides
            Fields to change from these values (e.g. ``voxel_size_m=10.0``).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario.paper_3d(voxel_size_m=10.0).grid_shape
        (10, 10, 8)
        """
        base: dict[str, Any] = {
            "roi_size_m": (100.0, 100.0, 80.0),
            "roi_center_m": (0.0, 0.0, 80.0),
            "voxel_size_m": 5.0,
            "n_antennas_side": 2,
            "n_subcarriers": 6,
            "bandwidth_hz": 40e6,
        }
        base.update(overrides)
        return cls(**base)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario().replace(mode="C").n_pairs
        4
        """
        return replace(self, **changes)

    # -- grid ------------------------------------------------------------------------------
    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """Voxels per axis ``(n_x, n_y, n_z)``."""
        d0 = self.voxel_size_m
        nx, ny, nz = (max(1, round(s / d0)) if s > 0 else 1 for s in self.roi_size_m)
        return (nx, ny, nz)

    @property
    def n_voxels(self) -> int:
        """Number of voxels N_v."""
        return math.prod(self.grid_shape)

    def axis_centers_m(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Voxel-centre coordinates along x, y and z [m]: arrays of shape (n_x,), (n_y,), (n_z,).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> x, y, z = Scenario(roi_size_m=(9.0, 6.0, 0.0)).axis_centers_m()
        >>> x.tolist(), y.tolist(), z.tolist()
        ([-3.0, 0.0, 3.0], [-1.5, 1.5], [40.0])
        """
        d0 = self.voxel_size_m
        cx, cy, cz = (
            np.asarray(c + (np.arange(n) - (n - 1) / 2.0) * d0, dtype=np.float64)
            for c, n in zip(self.roi_center_m, self.grid_shape, strict=True)
        )
        return (cx, cy, cz)

    def voxel_centers_m(self) -> FloatArray:
        """Voxel centres, shape ``(n_voxels, 3)``, float64 [m], C-order over (x, y, z).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario(roi_size_m=(9.0, 6.0, 0.0)).voxel_centers_m()[:2].tolist()
        [[-3.0, -1.5, 40.0], [-3.0, 1.5, 40.0]]
        """
        gx, gy, gz = np.meshgrid(*self.axis_centers_m(), indexing="ij")
        return np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)

    def roi_bounds_m(self) -> FloatArray:
        """Lower and upper ROI corners, shape ``(2, 3)`` [m] (grid edges, half a voxel out).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario(roi_size_m=(9.0, 6.0, 0.0)).roi_bounds_m().tolist()
        [[-4.5, -3.0, 40.0], [4.5, 3.0, 40.0]]
        """
        half = np.asarray(self.grid_shape) * self.voxel_size_m / 2.0
        half[2] = half[2] if self.roi_size_m[2] > 0 else 0.0
        c = np.asarray(self.roi_center_m)
        return np.stack([c - half, c + half])

    def voxel_index(self, points_m: npt.ArrayLike) -> IntArray:
        """Linear index of the voxel containing each point; -1 outside the ROI.

        Parameters
        ----------
        points_m : array_like, shape (..., 3), [m]
            Finite positions (NaN/Inf raise).

        Returns
        -------
        ndarray, shape (...,), int64
            0-d for one point of shape (3,).

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario().voxel_index([[0.5, 0.5, 40.0], [500.0, 0.0, 40.0]]).tolist()
        [820, -1]
        """
        points = as_array(points_m, "points_m", kind="fiu", dtype=np.float64)
        if points.ndim < 1 or points.shape[-1] != 3:
            raise ValueError(f"points_m must have shape (..., 3), got {points.shape}")
        n = np.asarray(self.grid_shape)
        lo = np.asarray(self.roi_center_m) - n * self.voxel_size_m / 2.0
        idx = np.floor((points - lo) / self.voxel_size_m)  # float: no int overflow far out
        if self.roi_size_m[2] == 0:  # single layer: z is not quantised
            idx[..., 2] = 0
        inside = np.all((idx >= 0) & (idx < n), axis=-1)
        idx = np.where(inside[..., None], idx, 0).astype(np.int64)
        lin = (idx[..., 0] * n[1] + idx[..., 1]) * n[2] + idx[..., 2]
        return np.asarray(np.where(inside, lin, -1), dtype=np.int64)

    # -- base stations and arrays ------------------------------------------------------------
    @property
    def wavelength_m(self) -> float:
        """Centre wavelength lambda0 [m]."""
        return SPEED_OF_LIGHT / self.carrier_frequency_hz

    def bs_centers_m(self) -> FloatArray:
        """BS (array centre) positions in use, shape ``(n_bs, 3)``, float64 [m].

        ``bs_positions_m`` when given, else the regular polygon of ``bs_spacing_m``.

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario().bs_centers_m().round(6).tolist()[0]
        [-70.0, 70.0, 20.0]
        """
        if self.bs_positions_m is not None:
            return np.asarray(self.bs_positions_m, dtype=float)
        n = self.n_bs
        if n == 1:
            radius, angles = 0.0, np.zeros(1)
        else:
            radius = self.bs_spacing_m / (2.0 * math.sin(math.pi / n))
            angles = 3 * math.pi / 4 - 2 * math.pi * np.arange(n) / n  # clockwise from (-, +)
        cx, cy, _ = self.roi_center_m
        return np.stack(
            [
                cx + radius * np.cos(angles),
                cy + radius * np.sin(angles),
                np.full(n, self.bs_height_m),
            ],
            axis=1,
        )

    def antenna_positions_m(self) -> FloatArray:
        """Antenna positions, shape ``(n_bs, N0**2, 3)``, float64 [m].

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario(n_antennas_side=3).antenna_positions_m().shape
        (4, 9, 3)
        """
        n0 = self.n_antennas_side
        spacing = self.spacing_factor * self.wavelength_m / 2.0
        offsets = (np.arange(n0) - (n0 - 1) / 2.0) * spacing
        horiz = np.tile(offsets, n0)  # horizontal index fastest
        vert = np.repeat(offsets, n0)
        bs = self.bs_centers_m()
        out = np.empty((bs.shape[0], n0 * n0, 3))
        for b, p in enumerate(bs):
            to_center = np.asarray(self.roi_center_m[:2]) - p[:2]
            norm = np.hypot(*to_center)
            normal = to_center / norm if norm > 0 else np.array([1.0, 0.0])
            # In-plane horizontal axis (sin a, cos a), a taken modulo pi as in the authors' code.
            a = math.atan2(-normal[1], normal[0]) % math.pi
            if self.legacy_rotation:
                # get_antenna_pos.m overwrites x before computing y.
                hx = horiz * math.sin(a)
                hy = -hx * math.sin(a) + horiz * math.cos(a)
            else:
                hx, hy = horiz * math.sin(a), horiz * math.cos(a)
            out[b, :, 0] = p[0] + hx
            out[b, :, 1] = p[1] + hy
            out[b, :, 2] = p[2] + vert
        return out

    def pairs(self) -> IntArray:
        """BS pairs ``(tx, rx)`` of the sensing mode, shape ``(n_pairs, 2)``, int64.

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario(n_bs=3, mode="B").pairs().tolist()
        [[0, 1], [0, 2], [1, 2]]
        """
        n = self.n_bs
        keep = {"A": lambda t, r: t <= r, "B": lambda t, r: t < r, "C": lambda t, r: t == r}
        sel = keep[self.mode]
        pairs = [(t, r) for t in range(n) for r in range(n) if sel(t, r)]
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)

    # -- radio ------------------------------------------------------------------------------
    def subcarrier_frequencies_hz(self) -> FloatArray:
        """Subcarrier frequencies, shape ``(n_subcarriers,)``, float64 [Hz].

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> (Scenario(n_subcarriers=2).subcarrier_frequencies_hz() - 2.6e9).tolist()
        [-10000000.0, 10000000.0]
        """
        nf, f0, bw = self.n_subcarriers, self.carrier_frequency_hz, self.bandwidth_hz
        if nf == 1:
            return np.array([f0])
        if self.subcarrier_grid == "centered":
            return f0 + (np.arange(nf) - (nf - 1) / 2.0) * bw / nf
        return f0 - bw / 2.0 + np.arange(nf) * bw / (nf - 1)

    def wavenumbers_rad_per_m(self) -> FloatArray:
        """Wavenumbers ``2 pi f / c``, shape ``(n_subcarriers,)``, float64 [rad/m].

        Examples
        --------
        >>> from skysense.imaging import Scenario
        >>> Scenario().wavenumbers_rad_per_m().round(3).tolist()
        [54.454]
        """
        return 2.0 * math.pi * self.subcarrier_frequencies_hz() / SPEED_OF_LIGHT

    @property
    def amplitude(self) -> float:
        """Real factor g of every entry of A [sqrt(W)]: ``sqrt(P_s / N_f) sqrt(G_s) lambda0 /
        sqrt(4 pi)`` (eq. (10) with the per-subcarrier transmit amplitude)."""
        power_w = dbm_to_watt(self.sensing_power_dbm) / self.n_subcarriers
        return (
            math.sqrt(power_w)
            * math.sqrt(self.antenna_gain)
            * self.wavelength_m
            / math.sqrt(4.0 * math.pi)
        )

    @property
    def noise_power_w(self) -> float:
        """Noise power per measurement entry [W]."""
        return dbm_to_watt(self.noise_power_dbm)

    @property
    def n_antennas(self) -> int:
        """Antennas per BS, N0**2."""
        return self.n_antennas_side**2

    @property
    def n_pairs(self) -> int:
        """Number of BS pairs of the mode."""
        n = self.n_bs
        return {"A": n * (n + 1) // 2, "B": n * (n - 1) // 2, "C": n}[self.mode]

    @property
    def n_measurements(self) -> int:
        """Rows of A: ``N_f * n_pairs * N0**4``."""
        return self.n_subcarriers * self.n_pairs * self.n_antennas**2

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the sensing matrix, ``(n_measurements, n_voxels)``."""
        return (self.n_measurements, self.n_voxels)

    def _check_bs_outside_roi(self) -> None:
        lo, hi = self.roi_bounds_m()
        for b, p in enumerate(self.bs_centers_m()):
            if np.all(p >= lo) and np.all(p <= hi):
                raise ValueError(
                    f"BS {b} at {tuple(np.round(p, 3))} m lies inside the ROI "
                    f"{tuple(lo)}..{tuple(hi)} m (bs_positions_m / bs_height_m / roi_center_m)"
                )
