"""Monostatic front end: echo CSI of a mapping scene, the 3-D matrix pencil (C++ against a
NumPy reference), its CRB (against a finite-difference FIM) and its MSE against the CRB."""

import numpy as np
import pytest

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense.bistatic.scenario import SPEED_OF_LIGHT
from skysense.mapping import Mapper, MappingParams, Scene, default_scene, simulate, trace
from skysense.pipeline import (
    BistaticChannel,
    CsiMapper,
    MonostaticChannel,
    estimate_monostatic,
    mdl_order,
    monostatic_crb,
    monostatic_fisher_information,
    simulate_bistatic_csi,
    simulate_monostatic_csi,
    with_monostatic_measurements,
)
from skysense.pipeline.monostatic_front_end import _cosines, _panel_csi

C = SPEED_OF_LIGHT


# -- the kernel against a NumPy reference ----------------------------------------------------------


def _pencil_reference(h, q, mx, my, m):
    """3-D ESPRIT on the dense three-level Hankel matrix (the C++ kernel's pencil stage):
    frequencies (mu_x, mu_y, nu) of q atoms exp(-j 2 pi (mu_x x + mu_y y + nu n)), LS gains."""
    nx, ny, n = h.shape
    kx, ky, kc = nx - mx + 1, ny - my + 1, n - m
    rows = [(ax, am, ay) for ax in range(mx) for am in range(m) for ay in range(my)]
    cols = [(cx, cn, cy) for cx in range(kx) for cn in range(kc) for cy in range(ky)]
    x1 = np.array([[h[a + c, b + e, d + f] for (c, f, e) in cols] for (a, d, b) in rows])
    u = np.linalg.svd(x1)[0][:, :q]
    idx = np.arange(len(rows)).reshape(mx, m, my)
    phis = []
    for sl1, sl2 in (
        ((slice(0, -1), slice(None), slice(None)), (slice(1, None), slice(None), slice(None))),
        ((slice(None), slice(None), slice(0, -1)), (slice(None), slice(None), slice(1, None))),
        ((slice(None), slice(0, -1), slice(None)), (slice(None), slice(1, None), slice(None))),
    ):
        u1, u2 = u[idx[sl1].ravel()], u[idx[sl2].ravel()]
        phis.append(np.linalg.lstsq(u1, u2, rcond=None)[0])
    # the kernel's generic combination (with noise the three pencils share their eigenvectors
    # only approximately, so the paired frequencies depend on it at the noise level)
    w = np.linalg.eig(0.7548776662466927 * phis[0] + phis[1] + 0.5698402909980532 * phis[2])[1]
    winv = np.linalg.inv(w)
    freq = [-np.angle(np.diag(winv @ p @ w)) / (2 * np.pi) for p in phis]
    mu_x, mu_y = (f - np.floor(f + 0.5) for f in freq[:2])
    nu = freq[2] - np.floor(freq[2])
    atoms = np.einsum(
        "qx,qy,qn->xynq",
        np.exp(-2j * np.pi * mu_x[:, None] * np.arange(nx)),
        np.exp(-2j * np.pi * mu_y[:, None] * np.arange(ny)),
        np.exp(-2j * np.pi * nu[:, None] * np.arange(n)),
    ).reshape(-1, q)
    gain = np.linalg.lstsq(atoms, h.ravel(), rcond=None)[0]
    order = np.argsort(nu)
    return mu_x[order], mu_y[order], nu[order], gain[order]


def _kernel(csi, q, sub, *, refine, min_delay=0.0):
    batch = csi.shape[0]
    q = np.broadcast_to(np.asarray(q, np.int64), (batch,)).copy()
    width = 8 if (q < 0).any() else int(q.max())
    nu, mx, my = (np.full((batch, width), np.nan) for _ in range(3))
    gain = np.full((batch, width), np.nan, np.complex128)
    used, status, iters = (np.zeros(batch, np.int64) for _ in range(3))
    _core.echo_pencil(
        csi=csi, n_paths=q, subarray_x=sub[0], subarray_y=sub[1], subarray_subcarriers=sub[2],
        max_paths=width, min_delay_normalized=min_delay, refine=refine, max_iter=20,
        refine_rtol=1e-9, krylov_rtol=1e-12, krylov_noise_rtol=1e-3, krylov_max_steps=1000,
        nu=nu, mu_x=mx, mu_y=my, gain=gain, n_paths_used=used, status=status, iterations=iters,
        n_threads=1,
    )  # fmt: skip
    return mx, my, nu, gain, used, status


def _random_csi(rng, shape, q, noise_std):
    nx, ny, n = shape
    mu_x = rng.uniform(-0.4, 0.4, q)
    mu_y = rng.uniform(-0.4, 0.4, q)
    nu = np.sort(rng.uniform(0.05, 0.95, q))
    nu[1:] = np.maximum(nu[1:], nu[:-1] + 2.0 / n)  # a resolution cell apart
    gain = rng.uniform(0.5, 1.5, q) * np.exp(2j * np.pi * rng.uniform(size=q))
    h = np.einsum(
        "q,qx,qy,qn->xyn",
        gain,
        np.exp(-2j * np.pi * mu_x[:, None] * np.arange(nx)),
        np.exp(-2j * np.pi * mu_y[:, None] * np.arange(ny)),
        np.exp(-2j * np.pi * nu[:, None] * np.arange(n)),
    )
    noise = noise_std * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    return h + noise, (mu_x, mu_y, nu, gain)


@pytest.mark.parametrize(
    ("shape", "sub", "q"),
    [((5, 7, 23), (3, 4, 12), 3), ((8, 8, 64), (4, 4, 32), 2), ((3, 2, 9), (2, 2, 5), 2)],
)
def test_pencil_matches_the_numpy_reference(rng, shape, sub, q):
    """Dense (small) and Krylov (8 x 8 x 64) subspace paths; fresh noisy inputs, odd sizes."""
    h, _ = _random_csi(rng, shape, q, 0.05)
    mx, my, nu, gain, used, status = _kernel(h[None], q, sub, refine=False)
    assert status[0] == 0 and used[0] == q
    ref = _pencil_reference(h, q, *sub)
    for got, want in zip((mx[0], my[0], nu[0]), ref[:3], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gain[0], ref[3], rtol=1e-8)


def test_noise_free_echoes_are_exact_and_refinement_keeps_them(rng):
    h, (mu_x, mu_y, nu, gain) = _random_csi(rng, (7, 5, 31), 3, 0.0)
    for refine in (False, True):
        mx, my, f, g, used, status = _kernel(h[None], 3, (4, 3, 16), refine=refine)
        assert status[0] == 0 and used[0] == 3
        np.testing.assert_allclose(mx[0], mu_x, atol=1e-10)
        np.testing.assert_allclose(my[0], mu_y, atol=1e-10)
        np.testing.assert_allclose(f[0], nu, atol=1e-10)
        np.testing.assert_allclose(g[0], gain, rtol=1e-9)


def test_complex64_input_matches_complex128(rng):
    h, _ = _random_csi(rng, (8, 8, 64), 3, 0.1)
    a = _kernel(h[None].astype(np.complex64), 3, (4, 4, 32), refine=True)
    b = _kernel(h[None].astype(np.complex64).astype(np.complex128), 3, (4, 4, 32), refine=True)
    for x, y in zip(a[:3], b[:3], strict=True):
        np.testing.assert_allclose(x, y, atol=1e-7)


def test_order_above_the_rank_is_lowered_and_zero_csi_gives_no_echo(rng):
    h, _ = _random_csi(rng, (5, 5, 21), 2, 0.0)
    csi = np.stack([h, np.zeros_like(h), h])
    _, _, nu, _, used, status = _kernel(csi, [4, 2, 0], (3, 3, 10), refine=True)
    assert used.tolist() == [2, 0, 0] and status.tolist() == [0, 1, 0]
    assert np.isnan(nu[0, 2:]).all() and np.isnan(nu[1:]).all()


def test_kernel_mdl_order_is_the_pipeline_mdl_order(rng):
    """MDL inside the kernel (n_paths = -1) against skysense.pipeline.mdl_order per CSI, on
    noise only and on 1-4 echoes at low to high SNR (odd sizes)."""
    csis = []
    for i in range(40):
        q = i % 5
        h, _ = _random_csi(rng, (5, 3, 27), max(q, 1), 10 ** rng.uniform(-1.5, 0.5))
        if q == 0:
            h = h - h.mean() + rng.standard_normal(h.shape)  # noise only
        csis.append(h)
    csi = np.array(csis)
    _, _, _, _, used, status = _kernel(csi, -np.ones(40, np.int64), (3, 2, 14), refine=False)
    want = [mdl_order(h, 8) for h in csi]
    got = np.where(status == 0, used, -1)
    assert got.tolist() == want


# -- the CRB ---------------------------------------------------------------------------------------


def _numeric_fim(ch, tau, az, el, g, ap, noise_var):
    q = tau.shape[0]
    theta = np.concatenate([tau, az, el, g.real, g.imag])
    steps = np.concatenate(
        [np.full(q, 1e-12), np.full(q, 1e-7), np.full(q, 1e-7), np.full(2 * q, 1e-7)]
    )

    def model(t):
        ux, uy = _cosines(t[q : 2 * q], t[2 * q : 3 * q], ap)
        return _panel_csi(ch, t[:q], ux, uy, t[3 * q : 4 * q] + 1j * t[4 * q :]).ravel()

    jac = np.empty((model(theta).size, 5 * q), complex)
    for i in range(5 * q):
        d = np.zeros(5 * q)
        d[i] = steps[i]
        jac[:, i] = (model(theta + d) - model(theta - d)) / (2 * steps[i])
    return 2.0 / noise_var * (jac.conj().T @ jac).real


def test_fisher_information_matches_finite_differences(rng):
    ch = MonostaticChannel(n_horizontal=5, n_vertical=3, n_subcarriers=17)
    tau = np.array([1.6e-7, 2.9e-7])
    az = np.array([0.3, -0.5]) + 1.0
    el = np.array([0.1, -0.2])
    g = np.array([1.0 + 0.5j, -0.3 + 0.8j])
    fim = monostatic_fisher_information(ch, tau, az, el, g, panel_azimuth_rad=1.0, noise_var=0.1)
    ref = _numeric_fim(ch, tau, az, el, g, 1.0, 0.1)
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    np.testing.assert_allclose(fim / scale, ref / scale, atol=1e-5)


CRB_CASES = [
    # (n_horizontal, n_vertical, n_subcarriers), per-entry SNR of the echoes [dB]
    ((5, 7, 31), -5.0),
    ((9, 5, 33), 0.0),
]


@pytest.mark.parametrize(("size", "snr_db"), CRB_CASES)
def test_estimator_mse_attains_the_crb(rng, size, snr_db):
    """Two echoes a few resolution cells apart in delay and angle, one panel, 300 trials:
    the refined estimate's MSE is within [0.7, 1.45] of the CRB on delay, azimuth and
    elevation; the pencil alone within 3x."""
    ch = MonostaticChannel(
        n_horizontal=size[0], n_vertical=size[1], n_subcarriers=size[2], panel_azimuths_rad=(0.4,)
    )
    tau = np.array([0.2, 0.2 + 3.0 / size[2]]) / ch.subcarrier_spacing_hz  # 3 cells apart
    az = 0.4 + np.array([-0.35, 0.3])
    el = np.array([0.15, -0.25])
    g = np.array([1.0, 0.8j])
    noise_var = 10 ** (-snr_db / 10)
    ux, uy = _cosines(az, el, 0.4)
    h0 = _panel_csi(ch, tau, ux, uy, g)
    trials = 300
    noise = np.sqrt(noise_var / 2) * (
        rng.standard_normal((trials, *h0.shape)) + 1j * rng.standard_normal((trials, *h0.shape))
    )
    csi = (h0 + noise)[:, None]
    crb = monostatic_crb(ch, tau, az, el, g, panel_azimuth_rad=0.4, noise_var=noise_var)
    bound = np.array([[crb[i, k, k] for k in range(3)] for i in range(2)])  # (path, param)
    for refine, lo, hi in ((True, 0.7, 1.45), (False, 0.7, 3.0)):
        err = np.zeros((trials, 2, 3))
        for t in range(trials):
            m = estimate_monostatic(csi[t], [0.0, 0.0, 0.0], ch, n_paths=2, refine=refine)
            assert m.n_measurements[0] == 2
            err[t, :, 0] = m.delay_s[0] - tau
            err[t, :, 1] = np.angle(np.exp(1j * (m.azimuth_rad[0] - az)))
            err[t, :, 2] = m.elevation_rad[0] - el
        ratio = np.mean(err**2, axis=0) / bound
        assert np.all(ratio > lo) and np.all(ratio < hi), (refine, ratio)


# -- the echo CSI of a scene and the measurements the mapper takes ------------------------------


def test_echo_csi_holds_the_traced_foot_points_and_the_link_noise(rng):
    scene = default_scene(4)
    ch = MonostaticChannel(diffuse_mean=0.0, snr_db=10.0)
    (echo,) = simulate_monostatic_csi(scene, ch, rng=rng, bs_indices=[0])
    vis = trace(scene, 0)
    feet = vis.monostatic_points_m[vis.monostatic_visible]
    bs = scene.base_stations_m[0]
    want = np.sort(2 * np.linalg.norm(feet - bs, axis=1) / C)
    np.testing.assert_allclose(echo.delay_s[0], want, rtol=1e-12)
    # the CSI minus its echoes is the noise, of the link's variance per entry
    resid = []
    for p in range(ch.n_panels):
        sel = echo.panel[0] == p
        ux, uy = _cosines(
            echo.azimuth_rad[0][sel], echo.elevation_rad[0][sel], ch.panel_azimuths_rad[p]
        )
        resid.append(
            echo.csi[0, p] - _panel_csi(ch, echo.delay_s[0][sel], ux, uy, echo.gain[0][sel])
        )
    assert np.var(np.array(resid)) == pytest.approx(ch.noise_var, rel=0.05)


def test_echo_csi_is_seeded_and_per_bs_independent():
    scene = default_scene(3)
    a = simulate_monostatic_csi(scene, rng=7)
    (b,) = simulate_monostatic_csi(scene, rng=7, bs_indices=[2])
    np.testing.assert_array_equal(a[2].csi, b.csi)
    assert not np.array_equal(
        a[0].csi, simulate_monostatic_csi(scene, rng=8, bs_indices=[0])[0].csi
    )


def test_pseudo_positions_lie_on_the_facades_with_their_covariance(rng):
    """With diffuse clusters and MDL orders, every estimate near a visible facade plane lies
    within a few cm of it; the specular foot points are found to a few mm, and their errors
    are consistent with the propagated CRB."""
    scene = default_scene(30)
    ch = MonostaticChannel()
    (echo,) = simulate_monostatic_csi(scene, ch, rng=rng, bs_indices=[0])
    bs = scene.base_stations_m[0]
    meas = estimate_monostatic(echo.csi, bs, ch)
    vis = trace(scene, 0)
    faces = np.flatnonzero(vis.monostatic_visible)
    pts = np.concatenate(meas.positions_m)
    dist = np.min(
        [np.abs((pts - scene.facade_points_m[f]) @ scene.facade_normals[f]) for f in faces], axis=0
    )
    # unresolved diffuse echoes pull an estimate off the plane by up to a few decimetres
    assert np.median(dist) < 0.05 and np.mean(dist < 0.25) > 0.9 and dist.max() < 1.0
    # specular only: the foot points, and a chi-square check of the covariance
    ch0 = MonostaticChannel(diffuse_mean=0.0)
    (echo0,) = simulate_monostatic_csi(scene, ch0, rng=rng, bs_indices=[0])
    m0 = estimate_monostatic(echo0.csi, bs, ch0, n_paths=echo0.n_paths)
    feet = vis.monostatic_points_m[faces]
    d2 = []
    for e in range(scene.n_epochs):
        for z, cov in zip(m0.positions_m[e], m0.position_covariance_m2[e], strict=True):
            err = z - feet[np.argmin(np.linalg.norm(feet - z, axis=1))]
            assert np.linalg.norm(err) < 0.02
            d2.append(err @ np.linalg.solve(cov, err))
    assert 1.5 < np.mean(d2) < 6.0  # chi-square with 3 degrees of freedom: mean 3


def test_measurements_feed_the_mapper(rng):
    scene = default_scene(40)
    (data,) = simulate(scene, rng=1, bs_indices=[0])
    (echo,) = simulate_monostatic_csi(scene, rng=1, bs_indices=[0])
    meas = estimate_monostatic(echo.csi, scene.base_stations_m[0])
    data = with_monostatic_measurements(data, meas)
    res = Mapper("monostatic", MappingParams(n_particles=300)).run(data, rng=0)
    vas = trace(scene, 0).va_positions_m
    found = res.estimates_m[-1]
    assert found.shape[0] >= 2
    err = np.linalg.norm(found[:, None, :] - vas[None], axis=2).min(axis=1)
    assert np.median(err) < 1.0


def test_csi_mapper_takes_the_echo_csi():
    scene = default_scene(4)
    (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    (echo,) = simulate_monostatic_csi(scene, rng=0, bs_indices=[0])
    bs = scene.base_stations_m[0]
    make = lambda: CsiMapper(
        bs, Mapper("fusion3", MappingParams(n_particles=200)), BistaticChannel(), rng=3
    )
    a, b = make(), make()
    for e in range(scene.n_epochs):
        ua = a.update(link.csi[e], scene.trajectory_m[e], monostatic_csi=echo.csi[e])
        pos = estimate_monostatic(echo.csi[e], bs).positions_m[0]
        ub = b.update(link.csi[e], scene.trajectory_m[e], pos)
        np.testing.assert_array_equal(ua.estimates_m, ub.estimates_m)
        assert ua.monostatic is not None and ua.monostatic.n_epochs == 1
    with pytest.raises(ValueError, match="not both"):
        a.update(link.csi[0], scene.trajectory_m[0], pos, monostatic_csi=echo.csi[0])
    with pytest.raises(ValueError, match="monostatic_csi must be one epoch"):
        a.update(link.csi[0], scene.trajectory_m[0], monostatic_csi=echo.csi[:2])


def test_epoch_without_echoes_is_a_valid_epoch():
    ch = MonostaticChannel()
    zero = np.zeros((2, *ch.csi_shape), complex)
    meas = estimate_monostatic(zero, [0.0, 0.0, 10.0], ch)
    assert meas.n_measurements.tolist() == [0, 0]
    assert meas.positions_m[0].shape == (0, 3) and meas.covariance[0].shape == (0, 3, 3)
    noise = np.random.default_rng(0).standard_normal(zero.shape) + 0j
    assert estimate_monostatic(noise, [0.0, 0.0, 10.0], ch, n_paths=0).n_measurements.tolist() == [
        0,
        0,
    ]


def test_bad_input_names_the_parameter():
    ch = MonostaticChannel()
    good = np.zeros(ch.csi_shape, complex)
    with pytest.raises(ValueError, match="csi must have shape"):
        estimate_monostatic(np.zeros((4, 8, 8, 63), complex), [0.0, 0.0, 0.0], ch)
    with pytest.raises(ValueError, match="csi contains NaN or Inf"):
        estimate_monostatic(np.where(np.arange(64) == 3, np.nan, good), [0.0, 0.0, 0.0], ch)
    with pytest.raises(ValueError, match=r"n_paths must have shape \(1, 4\)"):
        estimate_monostatic(good, [0.0, 0.0, 0.0], ch, n_paths=[1, 2])
    with pytest.raises(ValueError, match="bs_position_m"):
        estimate_monostatic(good, [0.0, 0.0], ch)
    with pytest.raises(ValueError, match="spacing_wavelengths must lie in"):
        MonostaticChannel(spacing_wavelengths=0.7)
    with pytest.raises(ValueError, match="subarray_subcarriers"):
        MonostaticChannel(subarray_subcarriers=64)
    with pytest.raises(ValueError, match="lies on a facade"):
        simulate_monostatic_csi(
            Scene([(0.0, 0.0, 20.0, 20.0, 40.0)], [(10.0, 0.0, 15.0)], [(30.0, 0.0, 20.0)])
        )
    far = Scene([(0.0, 0.0, 10.0, 10.0, 10.0)], [(-200.0, 0.0, 5.0)], [(200.0, 30.0, 20.0)])
    with pytest.raises(ValueError, match="exceeds channel.max_range_m"):
        simulate_monostatic_csi(far)


def test_threads_and_concurrent_calls_give_identical_results():
    """workers=2 splits the batch (epochs x panels) across threads; two Python threads call
    the kernel at once (it releases the GIL): the results are those of one thread."""
    from concurrent.futures import ThreadPoolExecutor

    scene = default_scene(6)
    (echo,) = simulate_monostatic_csi(scene, rng=5, bs_indices=[0])
    bs = scene.base_stations_m[0]
    one = estimate_monostatic(echo.csi, bs, workers=1)
    two = estimate_monostatic(echo.csi, bs, workers=2)
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: estimate_monostatic(echo.csi, bs), range(2)))
    for other in (two, *both):
        for a, b in zip(one.positions_m, other.positions_m, strict=True):
            np.testing.assert_array_equal(a, b)
