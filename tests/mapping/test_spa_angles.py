"""The angle-aided bistatic model (ours, docs/pipeline.md): C++ kernel against its NumPy twin
and against a direct NumPy/SciPy computation.

Tolerances, stated per quantity (float64 throughout):

* log-likelihood ratios, C++ against the twin: 1e-12 relative + 1e-9 absolute above -690 (the
  kernel forms the ratios in the linear domain; below -690 it underflows towards the -700
  floor); the twin against the direct SciPy computation (``scipy.stats`` densities and
  :func:`skysense.pipeline.va_angles`): 1e-9 relative + 1e-9 absolute;
* birth particles from the same random numbers: 1e-12 relative + 1e-9 m; their log weights
  1e-12 relative + 1e-9; the geometry rows the kernel keeps (range, sin AoA, sin AoD) against
  the positions: 1e-9.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense.mapping import (
    BistaticAngles,
    Link,
    Mapper,
    MappingParams,
    PmfState,
    default_scene,
    simulate,
    spa_update,
)
from skysense.mapping._spa_numpy import (
    LOG_FLOOR,
    Edge,
    PmfSet,
    add_new_pmf_edges,
    birth_log_weights,
    birth_proposal,
    draw_birth_randoms,
    iterate_messages,
    log_likelihood_ratio,
    place_new_pmf,
)
from skysense.pipeline import va_angles

stages = _core._spa_stages

RTOL = 1e-12
ATOL = 1e-9
SEED = 777

BS = np.array([0.0, 30.0, 15.0])
VA = np.array([-50.0, 30.0, 15.0])
UAV = np.array([3.0, 10.0, 35.0])
VERTICAL = MappingParams(birth_height_std_m=1.0, birth_height_m=15.0)


def _axis(rng, vertical=0.0):
    a = np.r_[rng.standard_normal(2), vertical]
    return a / np.linalg.norm(a)


def _link(rng, n_meas=3, diffuse=True, std=(0.01, 0.02), uav_axis=None):
    """A bistatic link with angles: the VA's specular path, then other paths."""
    ua = _axis(rng) if uav_axis is None else uav_axis
    ba = _axis(rng)
    aoa, aod = va_angles(VA, UAV, BS, uav_axis=ua, bs_axis=ba)
    h = np.linalg.norm(UAV - VA)
    ranges = np.r_[h + 0.2 * rng.standard_normal(), rng.uniform(20, 300, n_meas - 1)]
    aoas = np.r_[aoa, rng.uniform(-1.5, 1.5, n_meas - 1)]
    aods = np.r_[aod, rng.uniform(-1.5, 1.5, n_meas - 1)]
    angles = BistaticAngles(
        aoas, aods, np.full(n_meas, std[0]), np.full(n_meas, std[1]), ua, ba, BS
    )
    return Link("bistatic", ranges, UAV, diffuse=diffuse, angles=angles)


def _kernel_angles(link, params):
    rows = link.angles.kernel_rows(params.angle_spread_rad)
    geo = np.concatenate([link.angles.uav_axis, link.angles.bs_axis, link.angles.bs_position_m])
    return rows, geo[None]


def _stage_call(state, links, params, births=True):
    kc = params._kernel_constants()
    rows, geo = zip(*(_kernel_angles(link, params) for link in links), strict=True)
    return stages.ModuleCall(
        params=kc.as_dict(),
        positions_m=state.positions_m,
        log_weights=state.log_weights,
        logodds=state.existence_logodds,
        link_kinds=[0] * len(links),
        measurements=[link.measurements_m for link in links],
        sensors_m=np.array([link.sensor_position_m for link in links]),
        births=[births] * len(links),
        diffuse=[link.diffuse for link in links],
        visibility=[link.visibility for link in links],
        seed=SEED,
        angles=list(rows),
        angle_geometry=np.concatenate(geo),
    )


def _direct_log_ratio(link, m, x, params):
    """log L by SciPy densities and va_angles, independent of the twin's formulas."""
    h = np.linalg.norm(x - link.sensor_position_m, axis=1)
    z = link.measurements_m[m]
    sig, lam = params.range_std_m, 1 / params.excess_mean_m
    f = params.specular_mpc_mean * stats.norm.pdf(z, loc=h, scale=sig)
    if link.diffuse:
        f = f + params.diffuse_mpc_mean * stats.exponnorm.pdf(z, 1 / (sig * lam), loc=h, scale=sig)
    clutter = params.clutter_mean_bistatic / params.range_max_m
    ang = link.angles
    aoa, aod = va_angles(x, UAV, ang.bs_position_m, uav_axis=ang.uav_axis, bs_axis=ang.bs_axis)
    rows = ang.kernel_rows(params.angle_spread_rad)
    g = stats.norm.pdf(rows[m, 0], loc=np.sin(aoa), scale=rows[m, 1]) * stats.norm.pdf(
        rows[m, 2], loc=np.sin(aod), scale=rows[m, 3]
    )
    return np.log(f / clutter) + np.log(g / 0.25)  # angle clutter: uniform on [-1, 1]^2


@pytest.mark.parametrize("diffuse", [True, False])
@pytest.mark.parametrize("n_p", [1, 37, 501])
def test_angle_likelihood_cpp_twin_and_direct(rng, diffuse, n_p):
    params = MappingParams()
    link = _link(rng, diffuse=diffuse)
    # PMF 0 close to the VA (its edge is kept), PMF 1 spread (ratios down to the floor)
    x = VA + np.array([0.05, 2.0])[:, None, None] * rng.standard_normal((2, n_p, 3))
    state = PmfState(x, np.zeros((2, n_p)), np.zeros(2))
    call = _stage_call(state, [link], params, births=False)
    call.predict_legacy_pmfs(predict=False)
    call.add_legacy_edges()
    e = call.edges()
    kc = params._kernel_constants()
    assert 0 in e["pmf"]
    for k, m, row in zip(e["pmf"], e["measurement"], e["log_ratios"], strict=True):
        twin = log_likelihood_ratio(link, int(m), x[k], kc)
        np.testing.assert_allclose(
            np.maximum(row, -690.0), np.maximum(twin, -690.0), rtol=RTOL, atol=ATOL
        )
        direct = _direct_log_ratio(link, int(m), x[k], params)
        ok = direct > -600  # SciPy's densities underflow first
        np.testing.assert_allclose(twin[ok], direct[ok], rtol=1e-9, atol=1e-9)
    # the angles tell apart what the range cannot: a point of the same range, rotated about
    # the UAV by 0.3 rad, is as likely as the VA on range alone, far less with the angles
    c, s_ = np.cos(0.3), np.sin(0.3)
    turned = UAV + np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]]) @ (VA - UAV)
    pts = np.vstack([VA, turned])
    ll = log_likelihood_ratio(link, 0, pts, kc)
    ll_range = log_likelihood_ratio(Link("bistatic", link.measurements_m, UAV), 0, pts, kc)
    assert abs(ll_range[0] - ll_range[1]) < 1e-9
    assert ll[0] - ll[1] > 20


@pytest.mark.parametrize("vertical_ula", [False, True])
@pytest.mark.parametrize("params", [VERTICAL, MappingParams()], ids=["vertical", "ball"])
@pytest.mark.parametrize("n", [1, 7, 333])
def test_place_angle_pmf_on_fresh_draws(rng, params, vertical_ula, n):
    link = _link(rng, uav_axis=_axis(rng, vertical=20.0 if vertical_ula else 0.3))
    kc = params._kernel_constants()
    proposal = birth_proposal(link, kc)
    height = params.birth_height_std_m is not None and not vertical_ula
    assert proposal == ("angle_cone_height" if height else "angle_cone")
    rows = {"angle_cone": "NNU", "angle_cone_height": "NNN"}[proposal]
    draws = np.stack(
        [rng.standard_normal(n) * 2 if r == "N" else rng.uniform(size=n) for r in rows]
    )
    if n >= 7:  # far-out normals (folded range, |sin| > 1, no root), uniforms at the ends
        draws[:, :2] = [(-40.0, 40.0), (-60.0, 60.0), (-40.0, 40.0) if height else (0.0, 1.0)]
    ang, geo = _kernel_angles(link, params)
    for m in range(link.n_measurements):
        x, lw, g, n_ok = stages.place_new_pmf(
            params=kc.as_dict(),
            link_kind=0,
            measurements=link.measurements_m,
            sensor_m=UAV,
            diffuse=True,
            measurement_index=m,
            draws=draws,
            angles=ang,
            angle_geometry=geo,
        )
        x_t, lw_t, n_ok_t = place_new_pmf(link, m, draws, kc)
        np.testing.assert_allclose(x, x_t, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(lw, lw_t, rtol=RTOL, atol=ATOL)
        assert n_ok == n_ok_t
        ok = lw_t > LOG_FLOOR
        # the geometry rows: range, sin AoA, sin AoD of the positions
        aoa, aod = va_angles(
            x[ok], UAV, BS, uav_axis=link.angles.uav_axis, bs_axis=link.angles.bs_axis
        )
        np.testing.assert_allclose(g[0, ok], np.linalg.norm(x[ok] - UAV, axis=1), atol=1e-9)
        np.testing.assert_allclose(g[1, ok], np.sin(aoa), atol=1e-9)
        np.testing.assert_allclose(g[2, ok], np.sin(aod), atol=1e-9)
        # the log weights from the positions alone (another derivation of the density)
        np.testing.assert_allclose(birth_log_weights(link, m, x_t[ok], kc), lw_t[ok], atol=1e-9)


@pytest.mark.parametrize("params", [VERTICAL, MappingParams()], ids=["vertical", "ball"])
def test_angle_birth_weights_are_unbiased(rng, params):
    # E_q[w 1{x in B}] = integral of the birth pdf over a ball B that the proposal covers: a
    # wrong Jacobian (r^2, |sin phi|, the root pair) biases it
    std = 0.03
    link = _link(rng, n_meas=1, std=(std, std))
    link = Link("bistatic", [np.linalg.norm(UAV - VA)], UAV, angles=link.angles)
    kc = params._kernel_constants()
    radius, n = (1.0 if params.birth_height_std_m else 2.0), 400_000
    x, lw, _ = place_new_pmf(link, 0, draw_birth_randoms(birth_proposal(link, kc), n, rng), kc)
    inside = np.linalg.norm(x - VA, axis=1) <= radius
    w = np.where(inside & (lw > LOG_FLOOR), np.exp(lw), 0.0)
    estimate, stderr = w.mean(), w.std() / np.sqrt(n)
    r_roi = params.roi_radius_m
    if params.birth_height_std_m is None:
        exact = (4 / 3 * np.pi * radius**3) / (4 / 3 * np.pi * r_roi**3)
    else:  # f_B = N(z; z_B, 1) / A, z_B = the VA height
        area = np.pi * (r_roi**2 - (15.0 - 20.0) ** 2 - 1.0)
        disc = integrate.quad(lambda z: stats.norm.pdf(z) * np.pi * (radius**2 - z * z), -1, 1)
        exact = disc[0] / area
    assert stderr < 0.1 * exact
    assert abs(estimate - exact) < 4 * stderr


def test_angle_new_pmf_edges_and_messages_match_twin(rng):
    # the draw, edges and messages of new PMFs on an angle-aided link, C++ stage by stage
    params = MappingParams(birth_height_std_m=1.0, birth_height_m=15.0, n_iterations=3)
    link = _link(rng, n_meas=4)
    link = Link("bistatic", link.measurements_m, UAV, angles=link.angles)
    x = VA + 0.5 * rng.standard_normal((1, 97, 3))
    state = PmfState(x, 0.3 * rng.standard_normal((1, 97)), np.array([2.0]))
    call = _stage_call(state, [link], params)
    for stage in ("add_legacy_edges", "censor_new_pmfs", "draw_new_pmfs", "add_new_pmf_edges"):
        if stage == "add_legacy_edges":
            call.predict_legacy_pmfs(predict=False)
        getattr(call, stage)()
    kc = params._kernel_constants()
    p = call.pmfs()
    pmfs = PmfSet(
        p["positions_m"],
        p["log_weights"],
        p["prior_logodds"],
        p["birth_link"],
        p["first_measurement"],
        p["alive"],
        p["n_used"],
    )
    e = call.edges()
    legacy = [
        Edge(int(k), 0, int(m), False, row[: p["n_used"][k]])
        for k, m, f, row in zip(
            e["pmf"], e["measurement"], e["first"], e["log_ratios"], strict=True
        )
        if k < 1
    ]
    twin = add_new_pmf_edges(pmfs, legacy, [link], kc)
    assert [(t.pmf, t.measurement, t.first) for t in twin] == list(
        zip(e["pmf"], e["measurement"], e["first"], strict=True)
    )
    for row, t in zip(e["log_ratios"], twin, strict=True):
        n = t.log_ratios.shape[0]
        np.testing.assert_allclose(
            np.maximum(row[:n], -690.0), np.maximum(t.log_ratios, -690.0), rtol=RTOL, atol=ATOL
        )
    call.iterate_messages()
    log_kappa, log_rho = iterate_messages(pmfs, twin, [link], kc)
    got = call.edges()
    np.testing.assert_allclose(got["log_kappa"], log_kappa, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got["log_rho"], log_rho, rtol=RTOL, atol=ATOL)


def test_angle_aided_update_finds_the_va_in_one_epoch(rng):
    # one birth epoch: the angle-aided new PMF of the VA's range sits on the VA (the range-only
    # one is spread over a circle of radius ~50 m), both engines
    link = _link(rng, n_meas=2, diffuse=False)  # (the diffuse excess spreads it along the ray)
    params = MappingParams(n_particles=2000, birth_height_std_m=1.0, birth_height_m=15.0)
    for engine in ("cpp", "numpy"):
        res = spa_update(PmfState.empty(2000), [link], params, rng=1, engine=engine)
        assert np.linalg.norm(res.estimates_m[0] - VA) < 1.5
    plain = Link("bistatic", link.measurements_m, UAV, diffuse=False)
    res = spa_update(PmfState.empty(2000), [plain], params, rng=1)
    spread = np.linalg.norm(res.state.positions_m[0] - VA, axis=1)
    assert np.median(spread) > 10


def test_mapper_range_only_ignores_angles_and_angles_need_data():
    scene = default_scene(4)
    (data,) = simulate(scene, rng=0, bs_indices=[0])
    with pytest.raises(ValueError, match="bistatic_angles"):
        Mapper("bistatic", MappingParams(n_particles=50, bistatic_angles=True)).run(data, rng=0)
    params = MappingParams(n_particles=50)
    mapper = Mapper("bistatic", params)
    state = PmfState.empty(50)
    z = data.bistatic_ranges_m[1]
    junk = BistaticAngles(
        np.zeros(z.size),
        np.zeros(z.size),
        np.ones(z.size),
        np.ones(z.size),
        [1, 0, 0],
        [1, 0, 0],
        BS,
    )
    a = mapper.step(
        state, z, data.monostatic_positions_m[1], data.uav_positions_m[1], data.bs_position_m, rng=3
    )
    b = mapper.step(
        state,
        z,
        data.monostatic_positions_m[1],
        data.uav_positions_m[1],
        data.bs_position_m,
        rng=3,
        bistatic_angles=junk,
    )
    np.testing.assert_array_equal(a[0].positions_m, b[0].positions_m)


def test_bistatic_angles_bad_input():
    ok = {
        "aoa_rad": [0.1],
        "aod_rad": [0.2],
        "aoa_std_rad": [0.01],
        "aod_std_rad": [0.01],
        "uav_axis": [1, 0, 0],
        "bs_axis": [0, 1, 0],
        "bs_position_m": BS,
    }
    for key, bad, match in [
        ("aoa_rad", [2.0], "aoa_rad must lie in"),
        ("aod_std_rad", [0.0], "aod_std_rad must be > 0"),
        ("aod_rad", [0.1, 0.2], "aod_rad must have shape"),
        ("uav_axis", [0, 0, 0], "uav_axis must be a nonzero"),
        ("aoa_rad", [np.nan], "aoa_rad"),
    ]:
        with pytest.raises(ValueError, match=match):
            BistaticAngles(**{**ok, key: bad})
    angles = BistaticAngles(**ok)
    with pytest.raises(ValueError, match="one entry per measurement"):
        Link("bistatic", [10.0, 20.0], UAV, angles=angles)
    with pytest.raises(ValueError, match="only a bistatic link"):
        Link("monostatic", [[1.0, 2.0, 3.0]], BS, angles=angles)
    with pytest.raises(TypeError, match="BistaticAngles"):
        Link("bistatic", [10.0], UAV, angles=np.zeros((1, 4)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="angle_spread_rad"):
        MappingParams(angle_spread_rad=-1.0)
    with pytest.raises(TypeError, match="bistatic_angles"):
        MappingParams(bistatic_angles=1)  # type: ignore[arg-type]
    # the binding checks the kernel rows too
    params = MappingParams()
    kc = params._kernel_constants()
    with pytest.raises(ValueError, match="angles\\[l\\]"):
        stages.place_new_pmf(
            params=kc.as_dict(),
            link_kind=0,
            measurements=np.array([10.0]),
            sensor_m=UAV,
            diffuse=True,
            measurement_index=0,
            draws=np.zeros((3, 4)),
            angles=np.zeros((1, 4)),
            angle_geometry=np.zeros((1, 9)),
        )


def test_simulate_with_ula_axes_adds_angles_and_keeps_the_ranges():
    scene = default_scene(30)
    axes = ([0.0, 1.0, 0.0], [1.0, 1.0, 0.0])
    params = MappingParams(range_std_m=1e-6)
    (plain,) = simulate(scene, params, rng=4, bs_indices=[0])
    (data,) = simulate(scene, params, rng=4, bs_indices=[0], ula_axes=axes, angle_std_rad=1e-9)
    assert plain.bistatic_angles is None and data.bistatic_angles is not None
    vis = data.visibility
    checked = 0
    for e in range(scene.n_epochs):
        np.testing.assert_array_equal(data.bistatic_ranges_m[e], plain.bistatic_ranges_m[e])
        np.testing.assert_array_equal(
            data.monostatic_positions_m[e], plain.monostatic_positions_m[e]
        )
        ang = data.bistatic_angles[e]
        assert ang.n_measurements == data.bistatic_ranges_m[e].shape[0]
        # a specular range (within 1 mm of a VA's path length) carries that VA's angles
        u = scene.trajectory_m[e]
        for m, z in enumerate(data.bistatic_ranges_m[e]):
            h = np.linalg.norm(vis.va_positions_m - u, axis=1)
            j = int(np.argmin(np.abs(h - z)))
            if abs(h[j] - z) < 1e-3 and np.sort(np.abs(h - z))[1] > 5:
                aoa, aod = va_angles(
                    vis.va_positions_m[j], u, data.bs_position_m, uav_axis=axes[0], bs_axis=axes[1]
                )
                assert abs(ang.aoa_rad[m] - aoa) < 1e-6 and abs(ang.aod_rad[m] - aod) < 1e-6
                checked += 1
    assert checked > 10
    with pytest.raises(ValueError, match="angle_std_rad"):
        simulate(scene, rng=4, bs_indices=[0], ula_axes=axes, angle_std_rad=0.0)
