"""Baseline "fusion without diffuse modelling" ([23]-style; docs/mapping_model.md, section 8).

Monostatic points initialise PMFs at the specular VAs ``2 z~ - p_B`` (first epoch); bistatic
pseudo-ranges then update them with the classic one-to-one (probabilistic) data association
and a specular-only Gaussian likelihood (mapping paper eq. (18)), with one potential new PMF
per measurement. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import as_array, check_count, check_positive
from skysense.mapping._spa_numpy import systematic_resample
from skysense.mapping.params import MappingParams
from skysense.mapping.state import PmfState

__all__ = ["OneToOneMessages", "associate_one_to_one", "one_to_one_init", "one_to_one_update"]

_LOG2PI = np.log(2 * np.pi)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class OneToOneMessages(Result):
    """Messages of :func:`associate_one_to_one`.

    Attributes
    ----------
    measurement_to_pmf : ndarray, shape (n_measurements, n_pmfs)
        Messages nu from each measurement to each PMF.
    pmf_to_measurement : ndarray, shape (n_measurements, n_pmfs)
        Messages zeta from each PMF to each measurement.
    n_iterations : int
        Iterations run.

    Examples
    --------
    >>> from skysense.mapping.one_to_one import associate_one_to_one
    >>> msg = associate_one_to_one([0.5, 0.5], [[4.0, 0.1], [0.1, 4.0]], [1.0, 1.0])
    >>> msg.measurement_to_pmf.shape, msg.n_iterations > 0
    ((2, 2), True)
    """

    measurement_to_pmf: FloatArray
    pmf_to_measurement: FloatArray
    n_iterations: int


def associate_one_to_one(
    missed_weights: npt.ArrayLike,
    association_weights: npt.ArrayLike,
    clutter_weights: npt.ArrayLike,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> OneToOneMessages:
    """Loopy belief propagation for one-to-one data association (Williams & Lau).

    Parameters
    ----------
    missed_weights : array_like, shape (n_pmfs,)
        Weight of "PMF k is missed or does not exist".
    association_weights : array_like, shape (n_measurements, n_pmfs)
        Weight of "measurement m comes from PMF k".
    clutter_weights : array_like, shape (n_measurements,)
        Weight of "measurement m is clutter or a new feature".
    max_iter : int
        Largest number of iterations.
    tol : float
        Stop when the largest change of a log message is below this.

    Returns
    -------
    OneToOneMessages

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.mapping.one_to_one import associate_one_to_one
    >>> msg = associate_one_to_one([1.0], [[9.0]], [1.0])
    >>> float(msg.measurement_to_pmf[0, 0])  # one PMF, one measurement: nu = 1 / xi
    1.0
    """
    beta0 = as_array(missed_weights, "missed_weights", ndim=1, dtype=np.float64, kind="fiu")
    beta = as_array(
        association_weights, "association_weights", ndim=2, dtype=np.float64, kind="fiu"
    )
    xi = as_array(clutter_weights, "clutter_weights", ndim=1, dtype=np.float64, kind="fiu")
    max_iter = check_count(max_iter, "max_iter")
    tol = check_positive(tol, "tol")
    m, k = beta.shape
    if beta0.shape != (k,) or xi.shape != (m,):
        raise ValueError(
            f"missed_weights must have shape ({k},) and clutter_weights ({m},) for "
            f"association_weights of shape {beta.shape}, got {beta0.shape} and {xi.shape}"
        )
    nu = np.ones((m, k))
    zeta = np.zeros((m, k))
    if m == 0 or k == 0:
        return OneToOneMessages(nu, zeta, 0)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007  (n_iter is reported)
        old = nu
        prod = nu * beta
        zeta = beta / (beta0[None, :] + prod.sum(0, keepdims=True) - prod)
        nu = 1.0 / (xi[:, None] + zeta.sum(1, keepdims=True) - zeta)
        if np.max(np.abs(np.log(nu / old))) < tol:
            break
    return OneToOneMessages(nu, zeta, n_iter)


def one_to_one_init(
    monostatic_positions_m: npt.ArrayLike,
    bs_position_m: npt.ArrayLike,
    params: MappingParams,
    *,
    rng: RngLike = None,
) -> PmfState:
    """PMFs at the specular VAs ``2 z~ - p_B`` of monostatic points (existence 0.5).

    Parameters
    ----------
    monostatic_positions_m : array_like, shape (n_measurements, 3) [m]
    bs_position_m : array_like, shape (3,) [m]
    params : MappingParams
        ``n_particles`` per PMF, spread ``4 position_std_m`` around the VA.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator

    Returns
    -------
    PmfState

    Examples
    --------
    >>> from skysense.mapping import MappingParams
    >>> from skysense.mapping.one_to_one import one_to_one_init
    >>> state = one_to_one_init([[-25.0, 30.0, 15.0]], [0.0, 30.0, 15.0],
    ...                         MappingParams(n_particles=200), rng=0)
    >>> state.mean_positions_m().round(0)  # the VA (-50, 30, 15)
    array([[-50.,  30.,  15.]])
    """
    gen = as_generator(rng)
    zm = as_array(
        monostatic_positions_m, "monostatic_positions_m", dtype=np.float64, kind="fiu"
    ).reshape(-1, 3)
    bs = as_array(bs_position_m, "bs_position_m", shape=(3,), dtype=np.float64, kind="fiu")
    n_p = params.n_particles
    x = (2 * zm - bs)[:, None, :] + 4 * params.position_std_m * gen.standard_normal(
        (zm.shape[0], n_p, 3)
    )
    return PmfState(x, np.zeros((zm.shape[0], n_p)), np.zeros(zm.shape[0]))


def one_to_one_update(
    state: PmfState,
    bistatic_ranges_m: npt.ArrayLike,
    uav_position_m: npt.ArrayLike,
    params: MappingParams,
    *,
    rng: RngLike = None,
) -> PmfState:
    """Prediction, one-to-one bistatic update and births; returns the resampled PMFs.

    Parameters
    ----------
    state : PmfState
        Legacy PMFs.
    bistatic_ranges_m : array_like, shape (n_measurements,) [m]
    uav_position_m : array_like, shape (3,) [m]
    params : MappingParams
        ``one_to_one_detection_probability``, ``undetected_mean``, the bistatic noise and
        clutter, survival and the birth pdf.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator

    Returns
    -------
    PmfState
        Legacy PMFs then one new PMF per measurement (unpruned).

    Examples
    --------
    >>> from skysense.mapping import MappingParams, PmfState
    >>> from skysense.mapping.one_to_one import one_to_one_update
    >>> out = one_to_one_update(PmfState.empty(100), [80.0, 95.0], [0.0, 0.0, 30.0],
    ...                         MappingParams(n_particles=100), rng=0)
    >>> out.n_pmfs
    2
    """
    gen = as_generator(rng)
    zb = as_array(bistatic_ranges_m, "bistatic_ranges_m", ndim=1, dtype=np.float64, kind="fiu")
    uav = as_array(uav_position_m, "uav_position_m", shape=(3,), dtype=np.float64, kind="fiu")
    n_p, pd = state.n_particles, params.one_to_one_detection_probability
    fa = params.clutter_mean_bistatic / params.range_max_m
    var = params.range_std_m**2
    ps = params.survival_probability
    p = ps * state.existence
    x = state.positions_m + params.process_std_m * gen.standard_normal(state.positions_m.shape)
    k, m = state.n_pmfs, zb.shape[0]
    h = np.linalg.norm(x - uav, axis=-1)  # (K, P)
    logf = -0.5 * (_LOG2PI + np.log(var) + (zb[:, None, None] - h[None]) ** 2 / var)  # (M,K,P)
    beta0 = p * (1 - pd) + (1 - p)
    beta = p[None, :] * pd * np.exp(logsumexp(logf, axis=2) - np.log(n_p)) / fa
    height_m, height_std_m = params.birth_height_m, params.birth_height_std_m
    if height_m is not None and height_std_m is not None:
        # vertical-facade birth pdf (MappingParams.birth_height_std_m): ring density
        dzc = height_m - params.roi_center_m[2]
        area = np.pi * (params.roi_radius_m**2 - dzc**2 - height_std_m**2)
        c = params.undetected_mean * pd * (2 * np.pi * zb / area) / fa
    else:
        roi_volume = 4.0 / 3.0 * np.pi * params.roi_radius_m**3
        c = params.undetected_mean * pd * (4 * np.pi * zb**2 / roi_volume) / fa
    msg = associate_one_to_one(beta0, beta.reshape(m, k), 1.0 + c)
    nu, zeta = msg.measurement_to_pmf, msg.pmf_to_measurement
    xs, etas = [], []
    for j in range(k):
        w = (1 - pd) + (pd / fa * np.exp(logf[:, j, :]) * nu[:, j][:, None]).sum(0)
        alive, dead = p[j] * w.mean(), 1 - p[j]
        idx = systematic_resample(w / w.sum(), gen.uniform())
        xs.append(x[j, idx] + params.jitter_std_m * gen.standard_normal((n_p, 3)))
        etas.append(np.log(alive) - np.log(dead))
    nu_new = 1.0 / (1.0 + zeta.sum(1)) if k else np.ones(m)
    for i in range(m):
        r = zb[i] + params.range_std_m * gen.standard_normal(n_p)
        if height_m is not None and height_std_m is not None:
            z = height_m + height_std_m * gen.standard_normal(n_p)
            rho = np.sqrt(np.maximum(r * r - (z - uav[2]) ** 2, 0.0))
            ph = gen.uniform(0, 2 * np.pi, n_p)
            xs.append(np.column_stack([uav[0] + rho * np.cos(ph), uav[1] + rho * np.sin(ph), z]))
        else:
            v = gen.standard_normal((n_p, 3))
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            xs.append(uav + r[:, None] * v)
        etas.append(np.log(nu_new[i] * c[i]))
    n = len(xs)
    return PmfState(np.array(xs).reshape(n, n_p, 3), np.zeros((n, n_p)), np.array(etas, float))
