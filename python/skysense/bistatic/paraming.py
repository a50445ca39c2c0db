"""PARAMING: ToA, AoA, AoD and gains from one CSI matrix by a Hankel-block matrix pencil."""

from __future__ import annotations

import numpy as np

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import check_count, check_finite_scalar, resolve_workers
from skysense.bistatic.estimate import Estimate, as_csi
from skysense.bistatic.scenario import Scenario

__all__ = ["default_subarrays", "hankel_shape", "paraming"]

_CRITERIA = {"mdl": 0, "aic": 1}
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
#: Default lower end of the reported ToA window, in units of 1/df.
_DEFAULT_MIN_DELAY = -0.125
_STATUS = {
    1: "the Hankel matrix is zero",
    2: "n_paths exceeds the numerical rank of the Hankel matrix X1 (fewer paths in the data)",
    3: "two estimated delays coincide (C^T conj(C) is singular); lower n_paths",
    4: "LAPACK (gesdd/geev) did not converge",
    5: (
        f"the Krylov iteration did not reach KRYLOV_RTOL = {KRYLOV_RTOL:g} in "
        f"KRYLOV_MAX_STEPS = {KRYLOV_MAX_STEPS} block steps (use method='gram' or 'svd')"
    ),
}


def default_subarrays(scenario: Scenario) -> tuple[int, int, int]:
    """(Mt, Mr, M) = half of each dimension, rounded up (the JSTSP code: 4, 5, 32)."""
    return ((scenario.n_tx + 1) // 2, (scenario.n_rx + 1) // 2, (scenario.n_subcarriers + 1) // 2)


def hankel_shape(scenario: Scenario, subarrays=None) -> tuple[int, int]:
    """Shape (L, P) of X1: ``L = Mt M Mr``, ``P = Kt (K_N - 1) Kr`` (640 x 960 by default)."""
    mt, mr, m = _subarrays(scenario, subarrays)
    kt, kr, kn = scenario.n_tx - mt + 1, scenario.n_rx - mr + 1, scenario.n_subcarriers - m + 1
    return mt * m * mr, kt * (kn - 1) * kr


def _subarrays(scenario, subarrays):
    if subarrays is None:
        return default_subarrays(scenario)
    try:
        mt, mr, m = subarrays
    except (TypeError, ValueError) as exc:
        raise TypeError(f"subarrays must be (Mt, Mr, M), got {subarrays!r}") from exc
    mt, mr, m = (check_count(v, name) for v, name in ((mt, "Mt"), (mr, "Mr"), (m, "M")))
    if mt > scenario.n_tx or mr > scenario.n_rx or m >= scenario.n_subcarriers:
        raise ValueError(
            f"subarrays (Mt, Mr, M) = {(mt, mr, m)} do not fit: need Mt <= n_tx = "
            f"{scenario.n_tx}, Mr <= n_rx = {scenario.n_rx}, M < n_subcarriers = "
            f"{scenario.n_subcarriers}"
        )
    return mt, mr, m


def paraming(
    csi,
    n_paths,
    subarrays=None,
    *,
    scenario=None,
    subframes=False,
    max_paths=None,
    cordic_iterations=DEFAULT_CORDIC_ITERATIONS,
    min_delay_s=None,
    phase_fit="demodulate",
    method="krylov",
    check_finite=True,
    workers=None,
) -> Estimate:
    """PARAMING estimate of q paths per CSI (C++ kernel, one call for the whole batch).

    Parameters
    ----------
    csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex64 or complex128
        LS CSI (eq. 11 is its reshape to ``(n_tx * n_rx, n_subcarriers)``); leading axes are a
        batch. With ``subframes=True`` the axis before ``n_tx`` indexes sub-frames.
    n_paths : int or {"mdl", "aic"}
        Model order q (count the LoS path too), or a criterion to estimate it per CSI from the
        singular values of X1 (its P columns taken as snapshots), capped by ``max_paths`` and
        the numerical rank.
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
        CORDIC iterations for the eigenvalue phases (eq. 35).
    min_delay_s : float, optional
        ToAs are unambiguous modulo 1/df and reported in ``[min_delay_s, min_delay_s + 1/df)``
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
        How the q dominant singular triplets of X1 are found. ``"svd"``: the full thin SVD
        (LAPACK gesdd) in the input precision, the reference. ``"gram"``: the q largest
        eigenpairs (zheevr) of ``X1 X1^H`` formed in double (zherk), with
        ``V_q = X1^H U_q S_q^-1``; its singular values are resolved down to about
        ``1e-8 s_1`` only. ``"krylov"`` (default): a block Golub-Kahan-Lanczos iteration
        (block size ``q + KRYLOV_OVERSAMPLING``, full reorthogonalisation, thick restarts) in
        double on X1 applied matrix-free (correlations along the Hankel levels, FFTs along
        subcarriers), stopped when every ``||X1^H u_i - s_i v_i||`` is at most
        ``max(KRYLOV_RTOL s_1, KRYLOV_NOISE_RTOL theta_{q+1})`` (``1e-12``, ``1e-3``;
        ``theta_{q+1} <= s_{q+1}`` is the (q+1)-th Ritz value, the noise level when q paths
        are present); ``numpy.linalg.LinAlgError`` after ``KRYLOV_MAX_STEPS`` block steps.
        Noise-free, its triplets are those of the full SVD to ~1e-12; on noisy data the error
        it leaves in the singular subspaces is < 1 % (typically 0.1 %) of the one the noise
        causes, and its estimates differ from the full SVD's by < 1 % of their own
        estimation error (tests); 3 block steps at 20 dB, about 1/200 of one full SVD at the
        default size. An X1 with ``min(L, P) < 11 (q + KRYLOV_OVERSAMPLING)`` gets a dense
        SVD in double instead. An ``n_paths`` above the number of paths in noisy data puts
        triplets in the noise bulk, whose small gaps take ~15 block steps (10x the time of
        the right ``n_paths``). With a
        criterion for ``n_paths`` the singular values beyond q come, as with ``"gram"``, from
        the Gram eigenvalues (same order estimate as ``"gram"``, and about its cost); the first
        q are the Krylov ones. With ``"gram"`` or ``"krylov"`` and an integer ``n_paths`` only the first
        ``n_paths`` singular values are computed (the rest of ``singular_values`` is NaN).
    check_finite : bool
        Reject NaN/Inf CSI (recommended: NaN would propagate into LAPACK).
    workers : int, optional
        Threads over CSIs; ``None`` uses every available CPU. Results do not depend on it.

    Returns
    -------
    Estimate
        float64/complex128 fields for complex128 input, float32/complex64 for complex64
        (whose SVD runs in single precision with ``method="svd"``, in double otherwise).
        ``singular_values`` has shape ``(..., min(L, P))``.

    Raises
    ------
    ValueError
        Wrong shape, NaN/Inf, all-zero CSI (or all-zero X1), sub-arrays that do not fit,
        ``n_paths`` above ``min(L, P, N)`` or above the numerical rank of X1 (more paths
        requested than present; the rank tolerance is ``max(L, P) eps s_1`` for ``"svd"`` and
        ``"krylov"``, about ``1e-8 s_1`` for ``"gram"``), or coinciding delay estimates.
    numpy.linalg.LinAlgError
        LAPACK did not converge, or the Krylov iteration hit ``KRYLOV_MAX_STEPS``.

    Notes
    -----
    With the three-level Hankel matrix X (eqs. 26-28) and its column sets J1, J2 = J1 + Kr
    (one subcarrier later), :math:`X_1 = U \\Sigma V^H` (see ``method``) and

    .. math::

        \\Psi = \\Sigma_q^{-1} U_q^H X_2 V_q, \\quad \\mathrm{eig}(\\Psi) = e^{-j2\\pi\\Delta f\\tau_i},
        \\quad \\hat G = \\hat H (\\hat C^T)^{\\dagger},

    the ToAs from the eigenvalue phases (CORDIC), ``|gamma_i| = ||g_i|| / sqrt(Nt Nr)``, and
    AoA/AoD/phase from a LS plane fit to the continuous phases of ``g_i`` on
    ``[nr, nt, 1]`` (eq. 41; the stacked 1-D unwrap of the authors' code fails in 234/500
    noise-free draws, either ``phase_fit`` here in none). Paths are sorted by ToA.

    References
    ----------
    A. Bazzi, S. Naoumi, R. Bomfin, M. Chafii, "High-resolution sensing in
    communication-centric ISAC: deep learning and parametric methods", IEEE JSAC, 2025.
    """
    scenario = Scenario() if scenario is None else scenario
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic Scenario, got {type(scenario).__name__}")
    if scenario.n_tx < 2 or scenario.n_rx < 2:
        raise ValueError("PARAMING needs n_tx >= 2 and n_rx >= 2 (the phase-slope fit)")
    arr = as_csi(csi, scenario, min_ndim=4 if subframes else 3, check_finite=check_finite)
    mt, mr, m = _subarrays(scenario, subarrays)
    rows, cols = hankel_shape(scenario, (mt, mr, m))
    bound = min(rows, cols, scenario.n_subcarriers)
    if isinstance(n_paths, str):
        if n_paths not in _CRITERIA:
            raise ValueError(
                f"n_paths must be an int or one of {tuple(_CRITERIA)}, got {n_paths!r}"
            )
        if subframes:
            raise ValueError("Doppler estimation (subframes=True) needs an integer n_paths")
        q, criterion = 0, _CRITERIA[n_paths]
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
        raise ValueError(f"cordic_iterations must be <= 64, got {iterations}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {tuple(_METHODS)}, got {method!r}")
    if phase_fit not in _PHASE_FITS:
        raise ValueError(f"phase_fit must be one of {tuple(_PHASE_FITS)}, got {phase_fit!r}")
    if min_delay_s is None:
        min_delay = _DEFAULT_MIN_DELAY
    else:
        min_delay = check_finite_scalar(min_delay_s, "min_delay_s") * scenario.subcarrier_spacing_hz
    if subframes and arr.shape[-4] < 2:
        raise ValueError(f"Doppler estimation needs >= 2 sub-frames, got {arr.shape[-4]}")

    lead = arr.shape[:-3]
    h = np.ascontiguousarray(arr.reshape((-1, *scenario.csi_shape)))
    b = h.shape[0]
    k = min(rows, cols)
    toa, aoa, aod = (np.empty((b, width)) for _ in range(3))
    gain = np.empty((b, width), np.complex128)
    sv = np.empty((b, k))
    n_est = np.empty(b, np.int64)
    status = np.empty(b, np.int64)
    _core.paraming(
        h,
        mt,
        mr,
        m,
        q,
        width,
        criterion,
        scenario.subcarrier_spacing_hz,
        scenario.spacing_tx,
        scenario.spacing_rx,
        iterations,
        min_delay,
        _PHASE_FITS[phase_fit],
        _METHODS[method],
        KRYLOV_RTOL,
        KRYLOV_NOISE_RTOL,
        KRYLOV_MAX_STEPS,
        KRYLOV_OVERSAMPLING,
        toa,
        aoa,
        aod,
        gain,
        sv,
        n_est,
        status,
        resolve_workers(workers),
    )
    bad = np.flatnonzero(status)
    if bad.size:
        i = int(bad[0])
        msg = f"PARAMING failed for batch index {i} (flattened): {_STATUS[int(status[i])]}"
        if status[i] in (4, 5):
            raise np.linalg.LinAlgError(msg)
        raise ValueError(msg)

    real = np.float32 if arr.dtype == np.complex64 else np.float64
    cplx = np.complex64 if arr.dtype == np.complex64 else np.complex128
    shape = (*lead, width)
    toa, aoa, aod = (x.reshape(shape) for x in (toa, aoa, aod))
    gain = gain.reshape(shape)
    n_est = n_est.reshape(lead)
    sv = sv.reshape((*lead, k))
    doppler = None
    if subframes:
        n_sf = lead[-1]
        t = np.arange(n_sf) * scenario.subframe_s
        psi = np.unwrap(np.angle(gain), axis=-2)  # (..., S, q)
        tc = t - t.mean()
        slope = np.einsum("s,...sq->...q", tc, psi) / np.sum(tc * tc)
        doppler = (slope / (2 * np.pi)).astype(real)
        toa, aoa, aod = (x.mean(axis=-2) for x in (toa, aoa, aod))
        gain = gain[..., 0, :]
        n_est = n_est[..., 0]
    return Estimate(
        toa=toa.astype(real),
        aoa=aoa.astype(real),
        aod=aod.astype(real),
        gain=gain.astype(cplx),
        n_paths=n_est,
        doppler=doppler,
        singular_values=sv.astype(real),
    )


def _hankel_svd(csi, n_paths, subarrays=None, *, scenario=None, noise_rtol=KRYLOV_NOISE_RTOL):
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
    scenario = Scenario() if scenario is None else scenario
    arr = as_csi(csi, scenario, min_ndim=3)
    if arr.ndim != 3:
        raise ValueError(f"csi must be one CSI of shape {scenario.csi_shape}, got {arr.shape}")
    h = np.ascontiguousarray(arr, dtype=np.complex128)
    mt, mr, m = _subarrays(scenario, subarrays)
    rows, cols = hankel_shape(scenario, (mt, mr, m))
    q = check_count(n_paths, "n_paths")
    u = np.empty((q, rows), np.complex128)
    s = np.empty(q)
    v = np.empty((q, cols), np.complex128)
    steps, restarts, converged, residual = _core.hankel_svd(
        h,
        mt,
        mr,
        m,
        q,
        KRYLOV_OVERSAMPLING,
        KRYLOV_RTOL,
        noise_rtol,
        KRYLOV_MAX_STEPS,
        u,
        s,
        v,
    )
    info = {"steps": steps, "restarts": restarts, "converged": converged, "residual": residual}
    return u.T, s, v.T, info
