"""Line-of-sight BS-user channels, optionally with the paths scattered by UAVs in the ROI."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from skysense._validation import as_array
from skysense.imaging.scenario import _MAX_LENGTH_M, SPEED_OF_LIGHT, Scenario

__all__ = ["los_user_channels"]


def _links(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    frequencies_hz: npt.NDArray[np.float64],
    what: str,
) -> npt.NDArray[np.complex128]:
    """Eq. (11) between point sets: ``exp(-j 2 pi d / lambda_f) / (sqrt(4 pi) d)``.

    a : (..., n_a, 3), b : (..., n_b, 3) -> (..., n_a, n_b, n_f), complex128.
    """
    d = np.linalg.norm(a[..., :, None, :] - b[..., None, :, :], axis=-1)
    if np.any(d == 0):
        raise ValueError(f"zero distance between {what}: move the users or the scatterers")
    turns = np.mod(d[..., None] * (frequencies_hz / SPEED_OF_LIGHT), 1.0)
    return np.exp(-2j * math.pi * turns) / (math.sqrt(4.0 * math.pi) * d[..., None])


def _check_extent(points: npt.NDArray[np.float64], name: str) -> None:
    """Positions within the scenario's physical range (+-1e6 m), else a named error."""
    if points.size and np.abs(points).max() > _MAX_LENGTH_M:
        raise ValueError(
            f"{name} must lie within +-{_MAX_LENGTH_M:g} m, got a coordinate of "
            f"{np.abs(points).max():.3g} m"
        )


def los_user_channels(
    scenario: Scenario,
    user_positions_m: npt.ArrayLike,
    *,
    scatterer_positions_m: npt.ArrayLike | None = None,
    scattering_coefficients: npt.ArrayLike | None = None,
) -> npt.NDArray[np.complex128]:
    """Channels ``h_{k, n_f}`` from every BS antenna to single-antenna users.

    Parameters
    ----------
    scenario : Scenario
        Gives the BS arrays, the subcarriers and the antenna gain ``G_s``.
    user_positions_m : array_like, shape (n_users, 3), [m]
        User positions (the paper's Fig. 10 user sits at the origin).
    scatterer_positions_m : array_like, shape (n_scatterers, 3) or (n_frames, n_scatterers, 3), [m], optional
        UAVs in the ROI whose BS-UAV-user paths add to the LoS path ("BS-ROI-user
        interference paths" of Sec. II-B).
    scattering_coefficients : array_like, shape (n_scatterers,) or (n_frames, n_scatterers), optional
        Their scattering coefficients (``sqrt(RCS)`` [m], e.g. ``ImagingBatch.coefficients``);
        required with the positions.

    Returns
    -------
    ndarray, shape ([n_frames,] n_users, n_subcarriers, n_bs * N0**2), complex128
        Stacked channels, BS-major as ``Scenario.antenna_positions``; user k receives
        ``h^H x`` [sqrt(W) per sqrt(W) transmitted].

    Notes
    -----
    The same link model as the sensing matrix (eqs. 10-11), with the gain
    ``g = sqrt(G_s) lambda_0 / sqrt(4 pi)`` of ``Scenario.amplitude`` but without its power
    factor (powers enter the SINR separately):

    .. math::

        h_{k,n_f}[t]^* = g \\, h(t, u_k, f) + g \\sum_m h(t, p_m, f) \\, \\sigma_m \\, h(p_m, u_k, f),
        \\qquad h(a, b, f) = \\frac{e^{-j 2 \\pi |a - b| f / c}}{\\sqrt{4 \\pi} |a - b|}.

    The direct term is Friis' free-space amplitude ``sqrt(G_s) lambda_0 / (4 pi d)`` and the
    scattered term the bistatic radar equation with ``RCS = sigma^2``, so the user link and
    the imaging model share one scale. ``G_s`` is reused as the BS-user gain and, as in the
    imaging model, the amplitude uses ``lambda_0`` on every subcarrier (phases use
    ``lambda_f``). The paper writes the channel as the row ``h^H``; hence the conjugate.

    Examples
    --------
    >>> from skysense.comms import los_user_channels
    >>> from skysense.imaging import Scenario
    >>> s = Scenario(n_antennas_side=2, n_subcarriers=3)
    >>> los_user_channels(s, [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]).shape
    (2, 3, 16)
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    users = as_array(
        user_positions_m, "user_positions_m", shape=(None, 3), kind="fiu", dtype=np.float64
    )
    if users.shape[0] < 1:
        raise ValueError("user_positions_m must hold at least one user, got shape (0, 3)")
    _check_extent(users, "user_positions_m")
    if (scatterer_positions_m is None) != (scattering_coefficients is None):
        raise ValueError(
            "pass scatterer_positions_m and scattering_coefficients together, or neither"
        )
    ant = scenario.antenna_positions_m().reshape(-1, 3)
    freqs = scenario.subcarrier_frequencies_hz()
    gain = math.sqrt(scenario.antenna_gain) * scenario.wavelength_m / math.sqrt(4.0 * math.pi)
    rows = gain * _links(users, ant, freqs, "a user and a BS antenna")  # (K, N_t, N_f)
    if scatterer_positions_m is not None and scattering_coefficients is not None:
        pts = as_array(
            scatterer_positions_m,
            "scatterer_positions_m",
            ndim=(2, 3),
            kind="fiu",
            dtype=np.float64,
        )
        if pts.shape[-1] != 3:
            raise ValueError(
                f"scatterer_positions_m must have shape ([n_frames,] n_scatterers, 3), "
                f"got {pts.shape}"
            )
        _check_extent(pts, "scatterer_positions_m")
        coef = as_array(scattering_coefficients, "scattering_coefficients", kind="fciu")
        if coef.shape != pts.shape[:-1]:
            raise ValueError(
                f"scattering_coefficients must have shape {pts.shape[:-1]} to match "
                f"scatterer_positions_m {pts.shape}, got {coef.shape}"
            )
        to_ant = _links(pts, ant, freqs, "a scatterer and a BS antenna")  # (..., M, N_t, N_f)
        to_user = _links(pts, users, freqs, "a scatterer and a user")  # (..., M, K, N_f)
        scattered = np.einsum("...mtf,...m,...mkf->...ktf", to_ant, coef.astype(complex), to_user)
        rows = rows + gain * scattered
    return np.ascontiguousarray(np.conj(np.swapaxes(rows, -1, -2)))  # (..., K, N_f, N_t)
