import importlib

import _reference as ref
import numpy as np
import pytest

from skysense import bistatic as bs
from skysense import cordic

ODD = bs.Scenario(n_tx=5, n_rx=7, n_subcarriers=31, n_symbols=7)
METHODS = ["krylov", "gram", "svd"]
#: method="krylov" against "svd" / "gram" (complex128): absolute on ToA df and angles [rad],
#: relative and absolute on the gains.
KRYLOV_TOL = 1e-9


def _draw(rng, scenario, q, max_delay=0.8):
    """Random off-grid paths: angles in +-80 deg, delays in [0, max_delay / df), separated."""
    df = scenario.subcarrier_spacing_hz
    while True:
        tau = rng.uniform(0, max_delay / df, q)
        if q == 1 or np.min(np.diff(np.sort(tau))) > 0.2 * scenario.toa_resolution_s:
            break
    aoa, aod = np.deg2rad(rng.uniform(-80, 80, (2, q)))
    gain = rng.uniform(0.3, 1.0, q) * np.exp(2j * np.pi * rng.uniform(size=q))
    return bs.Paths(aoa, aod, tau, gain).sorted()


def _errors(est, paths, scenario):
    return (
        np.max(np.abs(est.toa_s - paths.toa_s)) * scenario.subcarrier_spacing_hz,
        np.max(np.abs(est.aoa_rad - paths.aoa_rad)),
        np.max(np.abs(est.aod_rad - paths.aod_rad)),
        np.max(np.abs(est.gain - paths.gain)),
    )


def test_noise_free_recovery_default_size(rng):
    sc = bs.Scenario()
    draws = [_draw(rng, sc, 4) for _ in range(6)]
    csi = np.stack([sc.channel(p) for p in draws])
    est = bs.paraming(csi, 4, scenario=sc, workers=2)
    assert est.toa_s.shape == (6, 4) and est.gain.dtype == np.complex128
    for i, p in enumerate(draws):
        one = bs.Estimate(est.toa_s[i], est.aoa_rad[i], est.aod_rad[i], est.gain[i], est.n_paths[i])
        assert max(_errors(one, p, sc)) <= 1e-8


def test_channel_matches_loop_reference(rng):
    p = _draw(rng, ODD, 3)
    want = ref.bistatic_csi(
        p.aoa_rad, p.aod_rad, p.toa_s, p.gain, 5, 7, 31, ODD.subcarrier_spacing_hz
    )
    np.testing.assert_allclose(ODD.channel(p), want, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:.*unreliable:RuntimeWarning")  # an unwrap failure, flagged
@pytest.mark.parametrize("subarrays", [None, (2, 3, 11), (5, 1, 20)])
def test_matches_numpy_reference_odd_sizes(rng, subarrays):
    """Noisy CSI (fresh random draw), odd sizes: same numbers as the plain-NumPy pipeline."""
    p = _draw(rng, ODD, 3)
    csi = bs.simulate(ODD, p, 15.0, rng=rng).csi[0]
    mt, mr, m = subarrays or bs.default_subarrays(ODD)
    est = bs.paraming(
        csi,
        3,
        subarrays,
        scenario=ODD,
        phase_fit="unwrap",
        method="svd",
        refine=False,
        return_singular_values=True,
    )
    tau, aoa, aod, gain, s = ref.paraming(csi, 3, ODD.subcarrier_spacing_hz, mt, mr, m)
    np.testing.assert_allclose(est.singular_values, s, rtol=1e-10)
    np.testing.assert_allclose(
        est.toa_s * ODD.subcarrier_spacing_hz, tau * ODD.subcarrier_spacing_hz, atol=1e-10
    )
    np.testing.assert_allclose(est.aoa_rad, aoa, atol=1e-10)
    np.testing.assert_allclose(est.aod_rad, aod, atol=1e-10)
    np.testing.assert_allclose(est.gain, gain, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_noise_free_odd_sizes_both_precisions(rng, method):
    p = _draw(rng, ODD, 3)
    h = ODD.channel(p)
    assert max(_errors(bs.paraming(h, 3, scenario=ODD, method=method), p, ODD)) <= 1e-8
    est = bs.paraming(
        h.astype(np.complex64), 3, scenario=ODD, method=method, return_singular_values=True
    )
    assert est.toa_s.dtype == np.float32 and est.gain.dtype == np.complex64
    assert est.singular_values.dtype == np.float32
    assert est.singular_values.shape == ((min(bs.hankel_shape(ODD)),) if method == "svd" else (3,))
    assert max(_errors(est, p, ODD)) <= 2e-3


@pytest.mark.parametrize("phase_fit", ["demodulate", "unwrap"])
def test_phase_fits_agree_noise_free_near_endfire(rng, phase_fit):
    sc = bs.Scenario()
    p = bs.Paths(
        np.deg2rad([85.0, -88.0, 10.0]),
        np.deg2rad([-87.0, 89.0, 80.0]),
        [10e-9, 80e-9, 150e-9],
        [1.0, 0.5j, -0.7],
    )
    est = bs.paraming(sc.channel(p), 3, scenario=sc, phase_fit=phase_fit)
    assert max(_errors(est, p, sc)) <= 1e-8


def test_demodulated_fit_robust_near_endfire(rng):
    """Near endfire the per-element phase step is close to pi: the unwrap then breaks at
    moderate SNR (degree-size outliers), the demodulated fit does not."""
    sc = bs.Scenario()
    p = bs.Paths(np.deg2rad([20.0, -30.0]), np.deg2rad([76.0, 72.0]), [20e-9, 60e-9], [1.0, 1j])
    csi = np.stack([bs.simulate(sc, p, 10.0, rng=s).csi[0] for s in range(4)])
    good = bs.paraming(csi, 2, scenario=sc, phase_fit="demodulate", refine=False)
    with pytest.warns(RuntimeWarning, match="unreliable"):  # some broken unwraps are flagged
        bad = bs.paraming(csi, 2, scenario=sc, phase_fit="unwrap", refine=False)
    assert np.abs(good.aod_rad - p.aod_rad).max() < np.deg2rad(1.5) and good.reliable.all()
    assert np.abs(bad.aod_rad - p.aod_rad).max() > np.deg2rad(10.0)
    # the ML refinement restarts from the angle-domain estimate where the unwrap failed
    refined = bs.paraming(csi, 2, scenario=sc, phase_fit="unwrap")
    assert refined.refined.all()
    assert np.abs(refined.aod_rad - p.aod_rad).max() < np.deg2rad(1.5)


def test_gram_matches_svd_on_noisy_csi(rng):
    p = _draw(rng, ODD, 3)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=s).csi[0] for s in range(3)])
    a = bs.paraming(csi, 3, scenario=ODD, method="gram", return_singular_values=True)
    b = bs.paraming(csi, 3, scenario=ODD, method="svd", return_singular_values=True)
    np.testing.assert_allclose(
        a.toa_s * ODD.subcarrier_spacing_hz, b.toa_s * ODD.subcarrier_spacing_hz, atol=1e-9
    )
    np.testing.assert_allclose(a.aoa_rad, b.aoa_rad, atol=1e-9)
    np.testing.assert_allclose(a.gain, b.gain, atol=1e-9)
    np.testing.assert_allclose(a.singular_values, b.singular_values[:, :3], rtol=1e-9)
    assert a.singular_values.shape == (3, 3)  # only the q computed ones
    c = bs.paraming(csi, "mdl", scenario=ODD, method="gram", return_singular_values=True)
    np.testing.assert_allclose(
        c.singular_values, b.singular_values, rtol=1e-6, atol=1e-7 * b.singular_values.max()
    )


def test_batch_axes_and_workers(rng):
    p = _draw(rng, ODD, 2)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=s).csi for s in range(6)]).reshape(
        2, 3, *ODD.csi_shape
    )
    est = bs.paraming(csi, 2, scenario=ODD, workers=1, return_singular_values=True)
    assert est.toa_s.shape == (2, 3, 2) and est.n_paths.shape == (2, 3)
    assert est.singular_values.shape == (2, 3, 2)
    est3 = bs.paraming(csi, 2, scenario=ODD, workers=3)
    np.testing.assert_array_equal(est.aoa_rad, est3.aoa_rad)
    single = bs.paraming(csi[1, 2], 2, scenario=ODD)
    np.testing.assert_array_equal(single.toa_s, est.toa_s[1, 2])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("criterion", ["mdl", "aic"])
def test_model_order_noise_free(rng, criterion, method):
    p = _draw(rng, ODD, 3)
    est = bs.paraming(ODD.channel(p), criterion, scenario=ODD, max_paths=6, method=method)
    assert est.n_paths == 3
    assert est.toa_s.shape == (6,) and np.all(np.isnan(est.toa_s[3:]))
    assert (
        max(
            _errors(
                bs.Estimate(est.toa_s[:3], est.aoa_rad[:3], est.aod_rad[:3], est.gain[:3], 3),
                p,
                ODD,
            )
        )
        < 1e-8
    )


def test_mdl_order_at_moderate_snr(rng):
    sc = bs.Scenario()
    p = bs.random_paths(sc, rng=rng)
    csi = bs.simulate(sc, p, 10.0, rng=rng).csi[0]
    assert bs.paraming(csi, "mdl", scenario=sc).n_paths == p.n_paths


def test_timing_offset_shifts_toa_only(rng):
    sc = bs.Scenario()
    p = bs.random_paths(sc, rng=rng)
    eps = 0.3 * sc.toa_resolution_s
    csi = bs.simulate(sc, p, 200.0, rng=rng, timing_offset_s=eps).csi[0]
    est = bs.paraming(csi, p.n_paths, scenario=sc)
    np.testing.assert_allclose(est.toa_s, p.toa_s + eps, atol=1e-6 * sc.toa_resolution_s)
    np.testing.assert_allclose(est.aoa_rad, p.aoa_rad, atol=1e-6)
    np.testing.assert_allclose(est.aod_rad, p.aod_rad, atol=1e-6)


def test_doppler_piecewise_constant_exact(rng):
    sc = bs.Scenario()
    p = bs.random_paths(sc, rng=rng)
    fd = np.array([0.0, 1500.0, -2300.0, 600.0])
    t = np.arange(6) * sc.subframe_s
    csi = np.stack([sc.channel(p, p.gain * np.exp(2j * np.pi * fd * ts)) for ts in t])
    est = bs.paraming(csi, 4, scenario=sc, subframes=True)
    np.testing.assert_allclose(est.doppler_hz, fd, atol=1e-6)
    np.testing.assert_allclose(est.toa_s, p.toa_s, atol=1e-9 * sc.toa_resolution_s)


def test_doppler_from_simulated_subframes(rng):
    """Per-symbol rotation + random pilots: a small bias, but the shifts come out."""
    sc = bs.Scenario()
    p0 = bs.random_paths(sc, rng=rng)
    fd = np.array([0.0, 1500.0, -2300.0, 600.0])
    p = bs.Paths(p0.aoa_rad, p0.aod_rad, p0.toa_s, p0.gain, fd)
    est = bs.paraming(
        bs.simulate(sc, p, 40.0, rng=rng, n_subframes=8).csi, 4, scenario=sc, subframes=True
    )
    np.testing.assert_allclose(est.doppler_hz, fd, atol=40.0)


def test_min_delay_window(rng):
    sc = bs.Scenario()
    p = bs.Paths([0.1], [0.2], [0.0], [1.0])
    est = bs.paraming(sc.channel(p), 1, scenario=sc)
    assert abs(est.toa_s[0]) < 1e-15
    late = bs.paraming(sc.channel(p), 1, scenario=sc, min_toa_s=0.5 / sc.subcarrier_spacing_hz)
    np.testing.assert_allclose(late.toa_s, 1.0 / sc.subcarrier_spacing_hz, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((ODD.csi_shape, 100), {}, ValueError, "larger than the Hankel rank"),
        ((ODD.csi_shape, 2, (6, 3, 10)), {}, ValueError, "do not fit"),
        ((ODD.csi_shape, 2, (2, 3, 31)), {}, ValueError, "do not fit"),
        ((ODD.csi_shape, 2, (2, 3)), {}, TypeError, "subarrays"),
        (((5, 7, 30), 2), {}, ValueError, "n_subcarriers"),
        (((35, 31), 2), {}, ValueError, "shape"),
        ((ODD.csi_shape, "bic"), {}, ValueError, "n_paths"),
        ((ODD.csi_shape, 0), {}, ValueError, "n_paths"),
        ((ODD.csi_shape, 2), {"subframes": True}, ValueError, "shape"),
        (((1, *ODD.csi_shape), 2), {"subframes": True}, ValueError, "sub-frames"),
        (((2, *ODD.csi_shape), "mdl"), {"subframes": True}, ValueError, "integer n_paths"),
        ((ODD.csi_shape, 2), {"cordic_iterations": 65}, ValueError, "cordic"),
        ((ODD.csi_shape, 2), {"phase_fit": "1d"}, ValueError, "phase_fit"),
        ((ODD.csi_shape, 2), {"method": "eig"}, ValueError, "method"),
    ],
)
def test_bad_arguments(rng, args, kwargs, exc, match):
    shape, *rest = args
    csi = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    with pytest.raises(exc, match=match):
        bs.paraming(csi, *rest, scenario=ODD, **kwargs)


@pytest.mark.parametrize("method", METHODS)
def test_nan_zero_and_rank_deficient_csi(rng, method):
    p = _draw(rng, ODD, 2)
    h = ODD.channel(p)
    bad = h.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bs.paraming(bad, 2, scenario=ODD)
    with pytest.raises(ValueError, match="all zero for batch index 1"):
        bs.paraming(np.stack([h, np.zeros_like(h)]), 2, scenario=ODD, method=method)
    with pytest.raises(ValueError, match="numerical rank"):
        bs.paraming(h, 5, scenario=ODD, method=method)
    same = bs.Paths([0.1, -0.4], [0.3, 0.2], [50e-9, 50e-9], [1.0, 0.5j])
    # equal delays: the angle domain needs Tx and Rx sub-arrays of >= 2 elements
    with pytest.raises(ValueError, match="coincide"):
        bs.paraming(ODD.channel(same), 2, (1, 4, 16), scenario=ODD, method=method)
    with pytest.raises(TypeError, match="bistatic Scenario"):
        bs.paraming(h, 2, scenario=object())
    with pytest.raises(ValueError, match="n_tx >= 2"):
        bs.paraming(np.ones((1, 7, 31)), 1, scenario=bs.Scenario(n_tx=1, n_rx=7, n_subcarriers=31))


def _x1(csi, subarrays):
    """X1 of eqs. (26)-(32), built explicitly (the J1 columns of the Hankel matrix)."""
    _, mr, m = subarrays
    x = bs.hankel_matrix(csi, subarrays)
    kr, kn = csi.shape[1] - mr + 1, csi.shape[2] - m + 1
    return x[:, (np.arange(x.shape[1]) // kr) % kn != kn - 1]


KRYLOV_CASES = [(bs.Scenario(), None), (ODD, None), (ODD, (2, 3, 11)), (ODD, (5, 1, 20))]


@pytest.fixture
def exact_krylov(monkeypatch):
    """method="krylov" with the noise-relative stopping term off: solved to KRYLOV_RTOL."""
    monkeypatch.setattr(
        importlib.import_module("skysense.bistatic.paraming"), "KRYLOV_NOISE_RTOL", 0.0
    )


def _p(u):
    return u @ u.conj().T


@pytest.mark.parametrize("snr_db", [None, 10.0])
@pytest.mark.parametrize(("scenario", "subarrays"), KRYLOV_CASES)
def test_krylov_matches_svd_and_gram(rng, scenario, subarrays, snr_db, exact_krylov):
    """Fresh random draws, odd sizes: solved to KRYLOV_RTOL, the Krylov estimates are the
    full-SVD / Gram ones."""
    q = 4 if scenario.n_tx == 8 else 3
    p = _draw(rng, scenario, q)
    if snr_db is None:
        csi = scenario.channel(p)
    else:
        csi = np.stack([bs.simulate(scenario, p, snr_db, rng=rng).csi[0] for _ in range(2)])
    est = {
        m: bs.paraming(csi, q, subarrays, scenario=scenario, method=m, return_singular_values=True)
        for m in METHODS
    }
    df = scenario.subcarrier_spacing_hz
    a = est["krylov"]
    for b in (est["svd"], est["gram"]):
        np.testing.assert_allclose(a.toa_s * df, b.toa_s * df, rtol=0, atol=KRYLOV_TOL)
        np.testing.assert_allclose(a.aoa_rad, b.aoa_rad, rtol=0, atol=KRYLOV_TOL)
        np.testing.assert_allclose(a.aod_rad, b.aod_rad, rtol=0, atol=KRYLOV_TOL)
        np.testing.assert_allclose(a.gain, b.gain, rtol=KRYLOV_TOL, atol=KRYLOV_TOL)
    sv = est["svd"].singular_values
    np.testing.assert_allclose(a.singular_values, sv[..., :q], rtol=1e-12)
    assert a.singular_values.shape[-1] == q
    if snr_db is None:
        assert max(_errors(a, p, scenario)) <= 1e-8


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
@pytest.mark.parametrize(("scenario", "subarrays"), KRYLOV_CASES)
def test_krylov_default_stop_is_far_below_the_noise(rng, scenario, subarrays, snr_db):
    """The default (noise-relative) stop: the Krylov estimates differ from the full-SVD ones
    by < 1 % of the full-SVD estimates' own error against the truth (ToA df and angles [rad]
    together, gains); singular values to 1e-6."""
    q = 4 if scenario.n_tx == 8 else 3
    p = _draw(rng, scenario, q)
    csi = bs.simulate(scenario, p, snr_db, rng=rng).csi[0]
    a = bs.paraming(csi, q, subarrays, scenario=scenario, return_singular_values=True)
    b = bs.paraming(csi, q, subarrays, scenario=scenario, method="svd", return_singular_values=True)
    df = scenario.subcarrier_spacing_hz
    stat = max(_errors(b, p, scenario)[:3])
    diff = max(
        np.max(np.abs(a.toa_s - b.toa_s)) * df,
        np.max(np.abs(a.aoa_rad - b.aoa_rad)),
        np.max(np.abs(a.aod_rad - b.aod_rad)),
    )
    assert diff <= 1e-2 * stat
    assert np.max(np.abs(a.gain - b.gain)) <= 1e-2 * _errors(b, p, scenario)[3]
    np.testing.assert_allclose(a.singular_values[:q], b.singular_values[:q], rtol=1e-6)


@pytest.mark.parametrize(
    ("snr_db", "exact"), [(None, True), (10.0, True), (0.0, True), (10.0, False), (0.0, False)]
)
@pytest.mark.parametrize(("scenario", "subarrays"), KRYLOV_CASES)
def test_krylov_subspace_matches_numpy_svd(rng, scenario, subarrays, snr_db, exact):
    """Triplets against numpy.linalg.svd of the explicit X1.  Solved to KRYLOV_RTOL
    (``exact``) or on noise-free data: singular values to 1e-13 (relative), sin of the
    largest principal angle between the left subspaces <= 1e-10, both residuals <= 1e-12 s_1
    with the explicit matrix.  Default (noise-relative) stop on noisy data: residual
    <= KRYLOV_NOISE_RTOL s_{q+1}, and the subspace error < 1 % of the one the noise causes
    (noisy against noise-free X1)."""
    from skysense.bistatic.paraming import KRYLOV_NOISE_RTOL, KRYLOV_RTOL, _hankel_svd

    q = 4 if scenario.n_tx == 8 else 3
    p = _draw(rng, scenario, q)
    csi = (
        scenario.channel(p) if snr_db is None else bs.simulate(scenario, p, snr_db, rng=rng).csi[0]
    )
    subs = subarrays or bs.default_subarrays(scenario)
    x1 = _x1(csi, subs)
    noise_rtol = 0.0 if exact else KRYLOV_NOISE_RTOL
    u, s, v, info = _hankel_svd(csi, q, subarrays, scenario=scenario, noise_rtol=noise_rtol)
    assert u.shape == (x1.shape[0], q) and v.shape == (x1.shape[1], q)
    big_u, big_s, _ = np.linalg.svd(x1, full_matrices=False)
    tol = max(KRYLOV_RTOL * big_s[0], noise_rtol * big_s[q])  # theta_{q+1} <= s_{q+1}
    assert info["converged"] and info["residual"] * s[0] <= tol * (1 + 1e-9)
    np.testing.assert_allclose(u.conj().T @ u, np.eye(q), atol=1e-13)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(q), atol=1e-13)
    assert np.linalg.norm(x1 @ v - u * s, axis=0).max() <= 1e-12 * big_s[0]
    assert np.linalg.norm(x1.conj().T @ u - v * s, axis=0).max() <= tol + 1e-12 * big_s[0]
    uq = big_u[:, :q]
    if exact or snr_db is None:
        np.testing.assert_allclose(s, big_s[:q], rtol=1e-13)
        assert np.linalg.norm(_p(u) - _p(uq), 2) <= 1e-10
    else:
        np.testing.assert_allclose(s, big_s[:q], rtol=1e-6)
        clean_u = np.linalg.svd(_x1(scenario.channel(p), subs), full_matrices=False)[0][:, :q]
        noise_err = np.linalg.norm(_p(clean_u) - _p(uq), 2)
        assert np.linalg.norm(_p(u) - _p(uq), 2) <= 1e-2 * noise_err


def test_krylov_complex64(rng):
    """complex64 CSI: float32 outputs, the Gram path's numbers (both run in double on the
    same complex64 input) to float32 rounding."""
    p = _draw(rng, ODD, 3)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=rng).csi[0] for _ in range(2)]).astype(
        np.complex64
    )
    a = bs.paraming(csi, 3, scenario=ODD, method="krylov", return_singular_values=True)
    b = bs.paraming(csi, 3, scenario=ODD, method="gram", return_singular_values=True)
    assert a.toa_s.dtype == np.float32 and a.gain.dtype == np.complex64
    assert a.singular_values.dtype == np.float32
    for x, y in (
        (a.toa_s, b.toa_s),
        (a.aoa_rad, b.aoa_rad),
        (a.aod_rad, b.aod_rad),
        (a.gain, b.gain),
    ):
        np.testing.assert_allclose(x, y, rtol=3e-7, atol=1e-7 * np.abs(y).max())
    np.testing.assert_allclose(a.singular_values, b.singular_values, rtol=3e-7)


def test_krylov_batch_equals_loop(rng):
    p = _draw(rng, ODD, 3)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=rng).csi[0] for _ in range(5)])
    kw = {"scenario": ODD, "method": "krylov", "return_singular_values": True}
    batch = bs.paraming(csi, 3, workers=2, **kw)
    for i, h in enumerate(csi):
        one = bs.paraming(h, 3, workers=1, **kw)
        for name in ("toa_s", "aoa_rad", "aod_rad", "gain", "singular_values"):
            np.testing.assert_array_equal(getattr(one, name), getattr(batch, name)[i])


def test_krylov_more_paths_than_present(rng):
    """Noisy CSI with q above the number of paths: no error (the extra paths fit noise), the
    same q estimates as the full SVD; noise-free, q above the rank of X1 raises (as "svd")."""
    p = _draw(rng, ODD, 2)
    csi = bs.simulate(ODD, p, 20.0, rng=rng).csi[0]
    with pytest.MonkeyPatch.context() as mp:  # solved to KRYLOV_RTOL (see exact_krylov)
        mp.setattr(importlib.import_module("skysense.bistatic.paraming"), "KRYLOV_NOISE_RTOL", 0.0)
        with pytest.warns(RuntimeWarning, match="2 path.*unreliable"):  # the two noise paths
            a = bs.paraming(csi, 4, scenario=ODD, method="krylov", refine=False)
    with pytest.warns(RuntimeWarning, match="unreliable"):
        b = bs.paraming(csi, 4, scenario=ODD, method="svd", refine=False)
    assert np.sum(~a.reliable) == np.sum(~b.reliable) == 2
    df = ODD.subcarrier_spacing_hz
    np.testing.assert_allclose(a.toa_s * df, b.toa_s * df, rtol=0, atol=1e-7)
    assert a.n_paths == 4 and np.all(np.isfinite(a.toa_s))
    for method in METHODS:
        with pytest.raises(ValueError, match="numerical rank"):
            bs.paraming(ODD.channel(p), 3, scenario=ODD, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_zero_hankel_matrix(method):
    """A CSI whose only non-zero subcarrier is the last one has X1 = 0."""
    h = np.zeros(ODD.csi_shape, np.complex128)
    h[..., -1] = 1.0
    with pytest.raises(ValueError, match="Hankel matrix is zero"):
        bs.paraming(h, 2, scenario=ODD, method=method)


def test_krylov_step_cap_raises(rng, monkeypatch):
    module = importlib.import_module("skysense.bistatic.paraming")
    monkeypatch.setattr(module, "KRYLOV_MAX_STEPS", 1)
    csi = bs.simulate(ODD, _draw(rng, ODD, 3), 10.0, rng=rng).csi[0]
    with pytest.raises(np.linalg.LinAlgError, match="Krylov"):
        bs.paraming(csi, 3, scenario=ODD, method="krylov")


@pytest.mark.parametrize("iterations", [6, 12, 20])
def test_toa_phase_goes_through_cordic(rng, iterations):
    """The eigenvalue phases come from the CORDIC kernel: the ToA error follows its bound."""
    p = _draw(rng, ODD, 2)
    est = bs.paraming(ODD.channel(p), 2, scenario=ODD, cordic_iterations=iterations, refine=False)
    err = np.abs(est.toa_s - p.toa_s) * ODD.subcarrier_spacing_hz  # in turns of the phase
    bound = np.arctan(2.0 ** -(iterations - 1)) / (2 * np.pi)
    assert err.max() <= bound + 1e-12
    assert err.max() > 1e-4 * bound  # not the exact phase


def test_concurrent_calls_match_serial(rng):
    """Calls from several Python threads at once (the GIL is released) give the serial
    results bit for bit, whatever ``workers``."""
    from concurrent.futures import ThreadPoolExecutor

    p = _draw(rng, ODD, 2)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=s).csi[0] for s in range(3)])
    z = rng.standard_normal(1001) + 1j * rng.standard_normal(1001)
    serial = bs.paraming(csi, 2, scenario=ODD, workers=1)
    phase = cordic.phase(z, workers=1)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda w: bs.paraming(csi, 2, scenario=ODD, workers=w), [1, 2] * 3))
        phases = list(pool.map(lambda w: cordic.phase(z, workers=w), [1, 2] * 3))
    for out in outs:
        np.testing.assert_array_equal(out.toa_s, serial.toa_s)
        np.testing.assert_array_equal(out.gain, serial.gain)
    for out in phases:
        np.testing.assert_array_equal(out, phase)
