"""Multipath between BS arrays as a list of rays, and the CSI they produce on an imaging scenario.

A :class:`PairPaths` holds, for every BS pair of an imaging :class:`~skysense.imaging.Scenario`,
the rays from the tx BS to the rx BS (complex gain, delay, departure and arrival directions),
from whatever source: a ray tracer (:mod:`skysense.scenes.sionna`) or hand-made rays.
:func:`background_csi` turns them into measurements in the row order and units of A, so that
``y = A sigma + ratio * background + noise`` (eq. (14) of the imaging paper plus a background
term) is the CSI of the UAVs seen through a residual of the static background (buildings,
ground).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._validation import as_array, complex_dtype
from skysense.imaging import Scenario
from skysense.imaging.scenario import SPEED_OF_LIGHT

__all__ = ["PairPaths", "background_csi"]


@dataclass(frozen=True, repr=False, eq=False)
class PairPaths(Result):
    """Rays between the BSs of each pair, padded to a common count (validated on creation).

    The result of a ray tracer (:func:`skysense.scenes.sionna.trace_pairs`) or made by hand.

    Attributes
    ----------
    pairs : ndarray, shape (n_pairs, 2), int64
        ``(tx BS, rx BS)`` in the order of ``Scenario.pairs()``.
    gain : ndarray, shape (n_pairs, n_paths), complex128
        Complex amplitude gain of each ray between isotropic antennas at the array centres,
        without the propagation phase (e.g. ``Gamma * lambda / (4 pi L)``); 0 pads.
    delay_s : ndarray, shape (n_pairs, n_paths), float64
        Propagation delay [s].
    departure_direction : ndarray, shape (n_pairs, n_paths, 3), float64
        Unit vector of departure at the tx BS.
    arrival_direction : ndarray, shape (n_pairs, n_paths, 3), float64
        Unit vector from the rx BS towards where the ray arrives from.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.imaging import Scenario
    >>> from skysense.scenes import PairPaths
    >>> s = Scenario(mode="C", n_antennas_side=2)  # 4 monostatic pairs
    >>> up = np.tile([0.0, 0.0, 1.0], (4, 1, 1))   # one ray per pair, straight up and back
    >>> paths = PairPaths(s.pairs(), np.full((4, 1), 1e-3), np.full((4, 1), 1e-7), up, up)
    >>> paths.n_paths
    1
    """

    pairs: npt.NDArray[np.int64]
    gain: npt.NDArray[np.complexfloating]
    delay_s: npt.NDArray[np.float64]
    departure_direction: npt.NDArray[np.float64]
    arrival_direction: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        n_pairs = np.asarray(self.pairs).shape[0]
        gain = as_array(self.gain, "gain", ndim=2, kind="fc")
        n_paths = gain.shape[1]
        for name, shape in (
            ("pairs", (n_pairs, 2)),
            ("delay_s", (n_pairs, n_paths)),
            ("departure_direction", (n_pairs, n_paths, 3)),
            ("arrival_direction", (n_pairs, n_paths, 3)),
        ):
            arr = np.asarray(getattr(self, name))
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if gain.shape[0] != n_pairs:
            raise ValueError(f"gain must have shape ({n_pairs}, n_paths), got {gain.shape}")
        delay = as_array(self.delay_s, "delay_s", kind="f")
        if (delay < 0).any():
            raise ValueError("delay_s must be >= 0")
        for name in ("departure_direction", "arrival_direction"):
            vec = as_array(getattr(self, name), name, kind="f")
            norms = np.linalg.norm(vec, axis=-1)
            if not np.allclose(norms[gain != 0], 1.0, atol=1e-5):
                raise ValueError(f"{name} must hold unit vectors for every non-zero gain")

    @property
    def n_paths(self) -> int:
        """Rays per pair (after padding)."""
        return int(np.asarray(self.gain).shape[1])


def background_csi(
    scenario: Scenario, paths: PairPaths, *, dtype: npt.DTypeLike = np.complex128
) -> npt.NDArray[np.complexfloating]:
    """CSI of the rays at every (subcarrier, pair, rx antenna, tx antenna), in A's units.

    Far-field (plane-wave) array model around each BS centre:
    ``h[f, q, i, j] = c sum_p gain_p exp(-j 2 pi f tau_p) exp(j k_f u_r . dr_i)
    exp(j k_f u_t . dt_j)`` with ``c = sqrt(P_s / N_f) sqrt(G_s)`` (the transmit amplitude
    and antenna gain that A carries too), ``dr_i`` / ``dt_j`` antenna offsets from the array
    centres and ``f`` the absolute subcarrier frequencies.

    Parameters
    ----------
    scenario : Scenario
        Imaging scenario whose BS pairs ``paths.pairs`` must equal ``scenario.pairs()``.
    paths : PairPaths
        Rays between the BSs of each pair (delays, gains, directions at both ends).
    dtype : {complex64, complex128}
        Precision of the output.

    Returns
    -------
    ndarray, shape (n_measurements,), complex64 or complex128
        Rows ordered as A (subcarrier, pair, rx antenna, tx antenna; tx fastest).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.imaging import Scenario
    >>> from skysense.scenes import PairPaths, background_csi
    >>> s = Scenario(mode="C", n_antennas_side=2)
    >>> up = np.tile([0.0, 0.0, 1.0], (4, 1, 1))
    >>> paths = PairPaths(s.pairs(), np.full((4, 1), 1e-3), np.full((4, 1), 1e-7), up, up)
    >>> background_csi(s, paths).shape
    (64,)
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if not isinstance(paths, PairPaths):
        raise TypeError(f"paths must be a PairPaths, got {type(paths).__name__}")
    if not np.array_equal(paths.pairs, scenario.pairs()):
        raise ValueError("paths.pairs must equal scenario.pairs() (same mode and BS count)")
    dt = complex_dtype(dtype)
    freqs = scenario.subcarrier_frequencies_hz()
    k = 2.0 * np.pi * freqs / SPEED_OF_LIGHT  # (N_f,)
    antennas = scenario.antenna_positions_m()
    offsets = antennas - scenario.bs_centers_m()[:, None, :]  # (N_b, N0^2, 3)
    tx, rx = paths.pairs[:, 0], paths.pairs[:, 1]
    # Projections of the antenna offsets on the ray directions [m]: (n_pairs, n_paths, N0^2).
    proj_t = np.einsum("qpc,qjc->qpj", paths.departure_direction, offsets[tx])
    proj_r = np.einsum("qpc,qic->qpi", paths.arrival_direction, offsets[rx])
    out = np.empty(
        (freqs.size, len(paths.pairs), scenario.n_antennas, scenario.n_antennas), np.complex128
    )
    for f, (freq, kf) in enumerate(zip(freqs, k, strict=True)):
        ray = paths.gain * np.exp(-2j * np.pi * freq * paths.delay_s)  # (q, p)
        steer_t = np.exp(1j * kf * proj_t)  # (q, p, j)
        steer_r = np.exp(1j * kf * proj_r)  # (q, p, i)
        out[f] = np.einsum("qp,qpi,qpj->qij", ray, steer_r, steer_t)
    amplitude = scenario.amplitude * np.sqrt(4.0 * np.pi) / scenario.wavelength_m
    out *= amplitude  # sqrt(P_s / N_f) sqrt(G_s)
    return out.reshape(-1).astype(dt, copy=False)
