"""PARAMING: ToA, AoA, AoD and gains from one CSI matrix by a Hankel-block matrix pencil."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import check_count, check_finite_scalar
from skysense._workers import resolve_workers
from skysense.bistatic._common import as_csi, as_scenario
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.hankel import hankel_shape, resolve_subarrays
from skysense.bistatic.scenario import Scenario

__all__ = [
    "DEFAULT_CORDIC_ITERATIONS",
    "DEFAULT_FALSE_ALARM_PROBABILITY",
    "DEFAULT_MAX_ITER",
    "DEFAULT_MAX_PATHS",
    "paraming",
]

_CRITERIA = {"mdl": 0, "aic": 1, "glrt": 2}
_PHASE_FITS = {"demodulate": 0, "unwrap": 1}
_METHODS = {"gram": 0, "svd": 1, "krylov": 2}
#: Default cap of an estimated model order.
DEFAULT_MAX_PATHS = 8
#: CORDIC iterations for the eigenvalue phases: 2^-47 rad, below the double rounding of tau df.
DEFAULT_CORDIC_ITERATIONS = 48
#: ``method="krylov"`` stops when every wanted residual ``||X1^H u_i - s_i v_i||`` is at most
#: ``max(KRYLOV_RTOL s_1, KRYLOV_NOISE_RTOL theta_{q+1})``, ``theta_{q+1}`` the (q+1)-th Ritz
#: value, a lower bound of ``s_{q+1}``, the noise level of X1 when q paths are present: the
#: error left in the singular subspaces stays 1000x below what the noise itself puts there,
#: and noise-free data are solved to ``KRYLOV_RTOL``.
KRYLOV_RTOL = 1e-12
KRYLOV_NOISE_RTOL = 1e-3
#: ``method="krylov"``: block steps (one product with X1 and one with X1^H each) before
#: giving up with :class:`numpy.linalg.LinAlgError`.
KRYLOV_MAX_STEPS = 1000
#: ``method="krylov"``: block size ``n_paths + KRYLOV_OVERSAMPLING``.
KRYLOV_OVERSAMPLING = 0
#: Default cap on the Gauss-Newton systems of the ML refinement (it converges in 1-3 from
#: PARAMING's estimate on resolvable paths).
DEFAULT_MAX_ITER = 20
_MAX_ITER_LIMIT = 10_000
#: The refinement stops when the Gauss-Newton model predicts a cost decrease below
#: ``REFINE_RTOL`` times the cost (the noise energy): the parameter error left is ~1e-4 of the
#: CRB's standard deviation.
REFINE_RTOL = 1e-9
#: Estimated ToAs closer than this many resolution cells 1/(N df) form a delay cluster, also
#: separated in the angle domain.
CLUSTER_CELLS = 1.0
#: A path of a delay cluster is reliable when the standard deviations of its ToA and angles
#: (Fisher information at the estimate) are at most this many cells 1/(N df) and 1/Nt, 1/Nr.
RESOLVE_STD = 0.25
#: Default false-alarm probability of each test of ``n_paths="glrt"``.
DEFAULT_FALSE_ALARM_PROBABILITY = 1e-3
#: Default lower end of the reported ToA window, in units of 1/df.
_DEFAULT_MIN_TOA_NORMALIZED = -0.125
_STATUS = {
    1: "the Hankel matrix is zero",
    2: "n_paths exceeds the numerical rank of the Hankel matrix X1 (fewer paths in the data)",
    3: (
        "two estimated ToAs coincide (C^T conj(C) is singular) and the angle domain does not "
        "separate them (it needs Tx and Rx sub-arrays of >= 2 elements); lower n_paths"
    ),
    4: "LAPACK (gesdd/geev) did not converge",
    5: (
        f"the Krylov iteration did not reach KRYLOV_RTOL = {KRYLOV_RTOL:g} in "
        f"KRYLOV_MAX_STEPS = {KRYLOV_MAX_STEPS} block steps (use method='gram' or 'svd')"
    ),
    6: "a gain estimate overflows float64 at the scale of csi (scale csi down)",
}


def paraming(
    csi: ArrayLike,
    n_paths: int | Literal["mdl", "aic", "glrt"],
    subarrays: Sequence[int] | None = None,
    *,
    scenario: Scenario | None = None,
    subframes: bool = False,
    max_paths: int | None = None,
    cordic_iterations: int = DEFAULT_CORDIC_ITERATIONS,
    min_toa_s: float | None = None,
    phase_fit: Literal["demodulate", "unwrap"] = "demodulate",
    method: Literal["krylov", "gram", "svd"] = "krylov",
    refine: bool = True,
    max_iter: int = DEFAULT_MAX_ITER,
    false_alarm_probability: float = DEFAULT_FALSE_ALARM_PROBABILITY,
    return_singular_values: bool = False,
    check_finite: bool = True,
    workers: int | None = None,
) -> Estimate:
    """PARAMING estimate of q paths per CSI (C++ kernel, one call for the whole batch).

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        LS CSI (eq. 11 is its reshape to ``(n_tx * n_rx, n_subcarriers)``); leading axes are a
        batch. With ``subframes=True`` the axis before ``n_tx`` indexes sub-frames.
    n_paths : int or {"mdl", "aic", "glrt"}
        Model order q (count the LoS path too), or a criterion to estimate it per CSI, capped
        by ``max_paths``: ``"mdl"`` and ``"aic"`` from the singular values of X1 (its P
        columns taken as snapshots; capped by the numerical rank too); ``"glrt"`` starts from
        MDL's order and adds paths by successive detection on the ML residual (see Notes),
        which finds paths far weaker than the strongest one that MDL misses.
    subarrays : tuple of int (Mt, Mr, M), optional
        Tx, Rx and subcarrier sub-array sizes; default half of each, rounded up.
    scenario : Scenario, optional
        Numerology and spacings (default ``Scenario()``); ``csi`` must match its sizes.
    subframes : bool
        Estimate per sub-frame and fit the Doppler across them (eq. 43; needs >= 2
        sub-frames and an integer ``n_paths``). ToA and angles are then the sub-frame means
        and ``gain`` that of sub-frame 0.
    max_paths : int, optional
        Width of the outputs when ``n_paths`` is a criterion (default 8).
    cordic_iterations : int
        CORDIC iterations for the eigenvalue phases (eq. 35), in [1, 64].
    min_toa_s : float, optional
        ToAs are unambiguous modulo 1/df and reported in ``[min_toa_s, min_toa_s + 1/df)``
        [s]; default ``-1/(8 df)``, so a LoS path at 0 and small negative timing offsets stay
        near 0.
    phase_fit : {"demodulate", "unwrap"}
        How the phases of eq. (41) are made continuous before the LS plane fit.
        ``"unwrap"``: the 2-D unwrap (along Rx in each Tx block, then along Tx).
        ``"demodulate"``: remove the lag-1 slopes ``arg sum b[k+1] conj(b[k])`` per axis and
        the mean phase first, then fit the (small) residual phases: the same fit where the
        unwrap is right, and robust near endfire, where a per-element step close to pi makes
        any unwrap fail at moderate SNR.
    method : {"krylov", "gram", "svd"}
        How the q dominant singular triplets of X1 are found (see Notes). ``"svd"``: the full
        thin SVD (LAPACK gesdd) in the input precision, the reference. ``"gram"``: the q
        largest eigenpairs of ``X1 X1^H`` in double. ``"krylov"`` (default): a block
        Golub-Kahan-Lanczos iteration in double on X1 applied matrix-free by FFTs, about 1/200
        of one full SVD at the default size.
    refine : bool
        Refine the estimate by maximum likelihood (see Notes): ToA, AoA and AoD then reach the
        CRB, for about 1.1x PARAMING's time. The estimate is PARAMING's own wherever the
        refinement does not converge or does not lower the ML cost (``refined`` of the result
        says which). ``n_paths="glrt"`` needs it.
    max_iter : int
        Gauss-Newton systems the refinement may solve per CSI, in [1, 10000].
    false_alarm_probability : float
        Probability, in (0, 1), that noise alone passes one detection test: adds a spurious
        path with ``n_paths="glrt"``, or passes as a significant path in ``reliable``.
    return_singular_values : bool
        Also return the singular values of X1 that the method computed (``singular_values``
        of the result): all ``min(L, P)`` with ``method="svd"`` or a criterion for
        ``n_paths``, else the first ``n_paths``.
    check_finite : bool
        Reject NaN/Inf CSI (recommended: NaN would propagate into LAPACK).
    workers : int, optional
        Threads over CSIs (``docs/conventions.md``: None is the current default, 1 unless
        :func:`skysense.set_workers` says otherwise; -1 every CPU). Results do not depend on it.

    Returns
    -------
    Estimate
        Fields of shape ``(..., max_paths)`` (``(..., n_paths)`` for an integer ``n_paths``;
        entries past a CSI's estimated order are NaN), float64/complex128 for complex128
        input, float32/complex64 for complex64 (whose SVD runs in single precision with
        ``method="svd"``, in double otherwise). ``doppler_hz`` only with ``subframes=True``;
        ``singular_values`` (shape ``(..., n_singular)``, per sub-frame with
        ``subframes=True``) only with ``return_singular_values=True``, else None.
        ``refined`` (shape ``(...)``; None with ``refine=False``) and ``reliable`` (shape
        ``(..., max_paths)``) as described in :class:`Estimate`; with ``subframes=True``
        ``refined`` is True when every sub-frame was refined, ``reliable`` when the path was
        reliable in every sub-frame.

    Raises
    ------
    ValueError
        Wrong shape, NaN/Inf, all-zero CSI (or all-zero X1), sub-arrays that do not fit,
        ``n_paths`` above ``min(L, P, N)`` or above the numerical rank of X1 (more paths
        requested than present; the rank tolerance is ``max(L, P) eps s_1`` for ``"svd"`` and
        ``"krylov"``, about ``1e-8 s_1`` for ``"gram"``), coinciding ToA estimates that
        neither the delay nor the angle domain separates, or a gain estimate beyond float64 at
        the scale of ``csi``.
    numpy.linalg.LinAlgError
        LAPACK did not converge, or the Krylov iteration hit ``KRYLOV_MAX_STEPS``.

    Warns
    -----
    RuntimeWarning
        When a path is unreliable (``reliable`` False, see :class:`Estimate`).

    Notes
    -----
    With the three-level Hankel matrix X (eqs. 26-28) and its column sets J1, J2 = J1 + Kr
    (one subcarrier later), :math:`X_1 = U \\Sigma V^H` (see ``method``) and

    .. math::

        \\Psi = \\Sigma_q^{-1} U_q^H X_2 V_q, \\quad \\mathrm{eig}(\\Psi) = e^{-j2\\pi\\Delta f\\tau_i},
        \\quad \\hat G = \\hat H (\\hat C^T)^{\\dagger},

    the ToAs from the eigenvalue phases (CORDIC, eq. 35), ``|gamma_i| = ||g_i|| / sqrt(Nt Nr)``,
    and AoA/AoD/phase from a LS plane fit to the continuous phases of ``g_i`` on
    ``[nr, nt, 1]`` (eq. 41; the stacked 1-D unwrap of the authors' code fails in 234/500
    noise-free draws, either ``phase_fit`` here in none). Paths are sorted by ToA.

    Methods. ``"gram"`` forms ``X1 X1^H`` in double (zherk), takes its q largest eigenpairs
    (zheevr) and ``V_q = X1^H U_q S_q^-1``; its singular values are resolved down to about
    ``1e-8 s_1`` only. ``"krylov"`` runs blocks of size ``q + KRYLOV_OVERSAMPLING`` with full
    reorthogonalisation and thick restarts on X1 applied matrix-free (correlations along the
    Hankel levels, FFTs along subcarriers), stopped when every ``||X1^H u_i - s_i v_i||`` is at
    most ``max(KRYLOV_RTOL s_1, KRYLOV_NOISE_RTOL theta_{q+1})`` (``1e-12``, ``1e-3``;
    ``theta_{q+1} <= s_{q+1}`` is the (q+1)-th Ritz value, the noise level when q paths are
    present). Noise-free, its triplets are those of the full SVD to ~1e-12; on noisy data the
    error it leaves in the singular subspaces is < 1 % (typically 0.1 %) of the one the noise
    causes, and its estimates differ from the full SVD's by < 1 % of their own estimation
    error (tests); 3 block steps at 20 dB. An X1 with ``min(L, P) < 11 (q +
    KRYLOV_OVERSAMPLING)`` gets a dense SVD in double instead. An ``n_paths`` above the
    number of paths in noisy data puts triplets in the noise bulk, whose small gaps take ~15
    block steps (10x the time of the right ``n_paths``). With a criterion for ``n_paths`` the
    singular values beyond q come, as with ``"gram"``, from the Gram eigenvalues (same order
    estimate as ``"gram"``, and about its cost).

    ML refinement (``refine=True``). PARAMING's ToA sits 2.5-3 dB above the CRB (its pencil
    uses sub-arrays); the refinement maximises the likelihood of all paths jointly (eq. 13,
    white noise on the CSI) by Levenberg-Marquardt from PARAMING's estimate, over the spatial
    and delay frequencies ``d_t sin(AoD)``, ``d_r sin(AoA)``, ``df ToA`` with the gains
    concentrated out (variable projection). The CSI model (eq. 15) is a sum of separable
    Tx x Rx x subcarrier atoms, so the Gauss-Newton matrix and every atom inner product are
    products of 1-D sums: one GEMM over the CSI per iteration, no Jacobian over its entries.
    It stops when the predicted cost decrease is below ``REFINE_RTOL`` of the cost; the gains
    are then the LS gains. Details and measurements: ``docs/bistatic.md``.

    Delay clusters. Estimated ToAs closer than one resolution cell ``1/(N df)`` form a cluster
    that the delay pencil cannot reliably separate (exactly equal delays make eq. 36
    singular). Each cluster is also separated in the angle domain: its eigenvectors of Psi
    span its columns of the left manifold (eq. 30), and shift invariance along the Tx, Rx and
    subcarrier sub-arrays inside that subspace (a 3-D ESPRIT) gives every member's angles and
    delay, paired. The candidate with the lower ML cost (after refinement) is returned.

    Reliability. ``reliable`` is False for a path that is not significant (dropping it, the
    others refitted, raises the ML cost by less than the detection threshold below: it may
    be noise, e.g. the second path requested of a pair that no estimator could separate) or
    that belongs to a delay cluster and whose ToA or angles have a standard deviation above a
    quarter cell 1/(N df) or beamwidth 1/Nt, 1/Nr (Fisher information at the estimate, noise
    variance from the residual); a RuntimeWarning is raised then.

    Successive detection (``n_paths="glrt"``). From the MDL order and the refined estimate,
    the largest peak of the 3-D periodogram of the residual (zero-padded FFTs) starts one more
    path, all are refined jointly, and the path is kept when the cost decrease in units of the
    residual noise variance exceeds ``L + 2 log L``, ``L = log(Nt Nr N / p)`` with ``p`` the
    ``false_alarm_probability`` (the generalised likelihood-ratio test of one more path against
    noise; on noise-only residuals it passes 0.55 % of the time for p = 1 % and 0.05-0.1 % for
    p = 0.1 %, 2,000 draws at two sizes); repeated up to ``max_paths``.

    Scale. Each CSI is scaled by a power of two (exact) before any step, so any finite scale
    of ``csi`` gives the same ToAs and angles, and gains scaled accordingly.

    References
    ----------
    A. Bazzi, S. Naoumi, R. Bomfin, M. Chafii, "High-resolution sensing in
    communication-centric ISAC: deep learning and parametric methods", IEEE JSAC, 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import bistatic as bs
    >>> sc = bs.Scenario()
    >>> paths = bs.random_paths(sc, rng=0)
    >>> m = bs.simulate(sc, paths, 20.0, rng=1, n_subframes=4)
    >>> est = bs.paraming(m.csi[0], paths.n_paths, scenario=sc)
    >>> est.toa_s.shape, est.doppler_hz
    ((4,), None)
    >>> bool(np.all(np.abs(est.aoa_rad - paths.aoa_rad) < 0.05))
    True
    >>> bs.paraming(m.csi, 4, scenario=sc, subframes=True).doppler_hz.shape
    (4,)
    >>> int(bs.paraming(m.csi[0], "mdl", scenario=sc).n_paths)
    4
    """
    scenario = as_scenario(scenario)
    if scenario.n_tx < 2 or scenario.n_rx < 2:
        raise ValueError(
            "PARAMING needs n_tx >= 2 and n_rx >= 2 (the phase-slope fit), got "
            f"n_tx = {scenario.n_tx}, n_rx = {scenario.n_rx}"
        )
    arr = as_csi(csi, scenario, min_ndim=4 if subframes else 3, check_finite=check_finite)
    mt, mr, m = resolve_subarrays(scenario, subarrays)
    rows, cols = hankel_shape(scenario, (mt, mr, m))
    bound = min(rows, cols, scenario.n_subcarriers)
    if isinstance(n_paths, str):
        if n_paths not in _CRITERIA:
            raise ValueError(
                f"n_paths must be an int or one of {tuple(_CRITERIA)}, got {n_paths!r}"
            )
        if subframes:
            raise ValueError(
                f"Doppler estimation (subframes=True) needs an integer n_paths, got {n_paths!r}"
            )
        q, criterion = 0, _CRITERIA[n_paths]
        if n_paths == "glrt" and not refine:
            raise ValueError("n_paths='glrt' needs refine=True (the detection is an ML step)")
        width = min(
            DEFAULT_MAX_PATHS if max_paths is None else check_count(max_paths, "max_paths"), bound
        )
    else:
        q, criterion = check_count(n_paths, "n_paths"), 0
        if q > bound:
            raise ValueError(
                f"n_paths = {q} is larger than the Hankel rank allows: min(L, P, N) = "
                f"min({rows}, {cols}, {scenario.n_subcarriers}) = {bound}"
            )
        width = q
    iterations = check_count(cordic_iterations, "cordic_iterations")
    if iterations > 64:
        raise ValueError(f"cordic_iterations must be in [1, 64], got {iterations}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {tuple(_METHODS)}, got {method!r}")
    if phase_fit not in _PHASE_FITS:
        raise ValueError(f"phase_fit must be one of {tuple(_PHASE_FITS)}, got {phase_fit!r}")
    if not isinstance(refine, bool | np.bool_):
        raise TypeError(f"refine must be a bool, got {type(refine).__name__}")
    max_iter = check_count(max_iter, "max_iter", maximum=_MAX_ITER_LIMIT)
    false_alarm = check_finite_scalar(false_alarm_probability, "false_alarm_probability")
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(
            f"false_alarm_probability must be in (0, 1), got {false_alarm_probability!r}"
        )
    if min_toa_s is None:
        min_toa = _DEFAULT_MIN_TOA_NORMALIZED
    else:
        min_toa = check_finite_scalar(min_toa_s, "min_toa_s") * scenario.subcarrier_spacing_hz
    if subframes and arr.shape[-4] < 2:
        raise ValueError(
            "csi: Doppler estimation (subframes=True) needs >= 2 sub-frames on the axis before "
            f"n_tx, got {arr.shape[-4]} (csi shape {arr.shape})"
        )
    n_threads = resolve_workers(workers)

    lead = arr.shape[:-3]
    h = np.ascontiguousarray(arr.reshape((-1, *scenario.csi_shape)))
    b = h.shape[0]
    k = min(rows, cols)
    toa, aoa, aod = (np.empty((b, width)) for _ in range(3))
    gain = np.empty((b, width), np.complex128)
    sv = np.empty((b, k))
    n_est = np.empty(b, np.int64)
    status = np.empty(b, np.int64)
    reliable = np.empty((b, width), bool)
    refined = np.empty(b, bool)
    lm_iterations = np.empty(b, np.int64)
    _core.paraming(
        csi=h,
        subarray_tx=mt,
        subarray_rx=mr,
        subarray_subcarriers=m,
        n_paths=q,
        max_paths=width,
        criterion=criterion,
        subcarrier_spacing_hz=scenario.subcarrier_spacing_hz,
        spacing_tx_wavelengths=scenario.spacing_tx_wavelengths,
        spacing_rx_wavelengths=scenario.spacing_rx_wavelengths,
        cordic_iterations=iterations,
        min_toa_normalized=min_toa,
        phase_fit=_PHASE_FITS[phase_fit],
        method=_METHODS[method],
        krylov_rtol=KRYLOV_RTOL,
        krylov_noise_rtol=KRYLOV_NOISE_RTOL,
        krylov_max_steps=KRYLOV_MAX_STEPS,
        krylov_oversampling=KRYLOV_OVERSAMPLING,
        refine=bool(refine),
        max_iter=max_iter,
        refine_rtol=REFINE_RTOL,
        cluster_cells=CLUSTER_CELLS,
        resolve_std=RESOLVE_STD,
        false_alarm=false_alarm,
        toa_s=toa,
        aoa_rad=aoa,
        aod_rad=aod,
        gain=gain,
        reliable=reliable,
        singular_values=sv,
        n_paths_estimated=n_est,
        status=status,
        refined=refined,
        iterations=lm_iterations,
        n_threads=n_threads,
    )
    bad = np.flatnonzero(status)
    if bad.size:
        i = int(bad[0])
        msg = f"PARAMING failed for batch index {i} (flattened): {_STATUS[int(status[i])]}"
        if status[i] == 6:
            raise ValueError(f"csi: {msg}")
        if status[i] in (4, 5):
            raise np.linalg.LinAlgError(msg)
        raise ValueError(msg)

    single = arr.dtype == np.complex64
    real: np.dtype[np.floating[Any]] = np.dtype(np.float32 if single else np.float64)
    cplx: np.dtype[np.complexfloating[Any, Any]] = np.dtype(
        np.complex64 if single else np.complex128
    )
    shape = (*lead, width)
    toa, aoa, aod = (x.reshape(shape) for x in (toa, aoa, aod))
    gain = gain.reshape(shape)
    n_out = n_est.reshape(lead)
    reliable_out: NDArray[np.bool_] = reliable.reshape(shape)
    refined_out: NDArray[np.bool_] | None = refined.reshape(lead) if refine else None
    if not reliable.all():
        warnings.warn(
            f"{int(np.sum(~reliable))} path(s) in {int(np.sum(~reliable.all(axis=1)))} CSI(s) "
            "are unreliable (reliable=False): not significant above the noise, or in a delay "
            "cluster whose members could not be separated",
            RuntimeWarning,
            stacklevel=2,
        )
    singular_values: NDArray[np.floating[Any]] | None = None
    if return_singular_values:
        # Only what the method computed: every value with "svd" or an order criterion (Gram
        # eigenvalues), else the first q; the kernel leaves the rest NaN.
        n_singular = k if (method == "svd" or q == 0) else q
        singular_values = sv[:, :n_singular].reshape((*lead, n_singular)).astype(real)
    doppler = None
    if subframes:
        n_sf = lead[-1]
        t = np.arange(n_sf) * scenario.subframe_s
        psi = np.unwrap(np.angle(gain), axis=-2)  # (..., S, q)
        tc = t - t.mean()
        slope = np.einsum("s,...sq->...q", tc, psi) / np.sum(tc * tc)
        doppler = (slope / (2 * np.pi)).astype(real)  # eq. (43)
        toa, aoa, aod = (x.mean(axis=-2) for x in (toa, aoa, aod))
        gain = gain[..., 0, :]
        n_out = n_out[..., 0]
        reliable_out = np.asarray(reliable_out.all(axis=-2))
        if refined_out is not None:
            refined_out = np.asarray(refined_out.all(axis=-1))
    return Estimate(
        toa_s=toa.astype(real),
        aoa_rad=aoa.astype(real),
        aod_rad=aod.astype(real),
        gain=gain.astype(cplx),
        n_paths=n_out,
        doppler_hz=doppler,
        singular_values=singular_values,
        refined=refined_out,
        reliable=reliable_out,
    )


def _hankel_svd(
    csi: ArrayLike,
    n_paths: int,
    subarrays: Sequence[int] | None = None,
    *,
    scenario: Scenario | None = None,
    noise_rtol: float = KRYLOV_NOISE_RTOL,
) -> tuple[NDArray[np.complex128], NDArray[np.float64], NDArray[np.complex128], dict[str, Any]]:
    """The ``n_paths`` dominant singular triplets of X1 by the block Krylov iteration alone.

    For tests and benchmarks of ``method="krylov"`` (the CSI is validated as in
    :func:`paraming` and taken to complex128); ``noise_rtol=0`` solves to ``KRYLOV_RTOL``.

    Returns
    -------
    u : ndarray, shape (L, n_paths), complex128
    s : ndarray, shape (n_paths,), float64, descending
    v : ndarray, shape (P, n_paths), complex128
        ``X1 v_i = s_i u_i`` and ``||X1^H u_i - s_i v_i|| <= max(KRYLOV_RTOL s_1,
        noise_rtol theta_{q+1})``.
    info : dict
        ``steps``, ``restarts``, ``converged`` and the final relative ``residual``.
    """
    scenario = as_scenario(scenario)
    arr = as_csi(csi, scenario, min_ndim=3)
    if arr.ndim != 3:
        raise ValueError(f"csi must be one CSI of shape {scenario.csi_shape}, got {arr.shape}")
    h = np.ascontiguousarray(arr, dtype=np.complex128)
    mt, mr, m = resolve_subarrays(scenario, subarrays)
    rows, cols = hankel_shape(scenario, (mt, mr, m))
    q = check_count(n_paths, "n_paths")
    u = np.empty((q, rows), np.complex128)
    s = np.empty(q)
    v = np.empty((q, cols), np.complex128)
    steps, restarts, converged, residual = _core.hankel_svd(
        csi=h,
        subarray_tx=mt,
        subarray_rx=mr,
        subarray_subcarriers=m,
        n_paths=q,
        oversampling=KRYLOV_OVERSAMPLING,
        rtol=KRYLOV_RTOL,
        noise_rtol=noise_rtol,
        max_steps=KRYLOV_MAX_STEPS,
        u=u,
        s=s,
        v=v,
    )
    info = {"steps": steps, "restarts": restarts, "converged": converged, "residual": residual}
    return u.T, s, v.T, info


def _ml_refine(
    csi: ArrayLike,
    eta: ArrayLike,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    rtol: float = REFINE_RTOL,
) -> tuple[NDArray[np.float64], NDArray[np.complex128], dict[str, Any]]:
    """The ML refinement alone, from frequencies ``eta`` (for tests and benchmarks).

    Parameters
    ----------
    csi : array_like, shape (n_tx, n_rx, n_subcarriers)
        One CSI (taken to complex128).
    eta : array_like, shape (3, n_paths)
        Start: ``d_t sin(AoD)``, ``d_r sin(AoA)`` and ``df ToA`` per path.

    Returns
    -------
    eta : ndarray, shape (3, n_paths), float64
        The refined frequencies.
    gain : ndarray, shape (n_paths,), complex128
        LS gains at ``eta``.
    info : dict
        ``iterations`` (Gauss-Newton systems solved), ``converged``, ``cost0`` and ``cost``
        (the concentrated ML cost at the start and at the end).
    """
    h = np.ascontiguousarray(np.asarray(csi), dtype=np.complex128)
    if h.ndim != 3:
        raise ValueError(f"csi must have shape (n_tx, n_rx, n_subcarriers), got {h.shape}")
    e = np.array(eta, dtype=np.float64, order="C")
    if e.ndim != 2 or e.shape[0] != 3 or e.shape[1] < 1:
        raise ValueError(f"eta must have shape (3, n_paths), got {e.shape}")
    flat = np.ascontiguousarray(e.ravel())
    gain = np.empty(e.shape[1], np.complex128)
    iterations, converged, cost0, cost = _core.paraming_refine(
        csi=h, eta=flat, gain=gain, max_iter=check_count(max_iter, "max_iter"), rtol=rtol
    )
    info = {"iterations": iterations, "converged": converged, "cost0": cost0, "cost": cost}
    return flat.reshape(3, -1), gain, info
