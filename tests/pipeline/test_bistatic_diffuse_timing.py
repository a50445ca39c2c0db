"""Diffuse facade clusters in the bistatic CSI, and the LoS-synchronised receiver."""

import math
from dataclasses import replace

import numpy as np
import pytest

from skysense import bistatic as bs
from skysense.bistatic.scenario import SPEED_OF_LIGHT
from skysense.mapping import Mapper, MappingParams, Scene, default_scene, trace
from skysense.pipeline import (
    BistaticChannel,
    CsiMapper,
    bistatic_paths,
    estimate_bistatic,
    simulate_bistatic_csi,
)

#: An odd numerology (5 x 7 ULAs, 41 subcarriers) next to the default one.
ODD = bs.Scenario(n_tx=5, n_rx=7, n_subcarriers=41, n_symbols=5)


def _specular_only_reference(scene, channel, seed, i):
    """The CSI of LoS and specular paths, built as the first version of the front end did:
    the BS's child generator draws the noise of every epoch, in order."""
    sc = channel.scenario
    gen = np.random.default_rng(seed).spawn(scene.n_bs)[i]
    out = []
    for paths in bistatic_paths(scene, i, channel):
        if paths is None:
            std = np.sqrt(channel.noise_var / sc.n_symbols / 2.0)
            out.append(
                std * (gen.standard_normal(sc.csi_shape) + 1j * gen.standard_normal(sc.csi_shape))
            )
            continue
        h = sc.channel(paths)
        snr = float(np.sum(np.abs(h) ** 2)) / (sc.n_subcarriers * sc.n_rx * channel.noise_var)
        m = bs.simulate(sc, paths.sorted(), 10.0 * math.log10(snr), rng=gen, pilots="orthogonal")
        out.append(m.csi[0])
    return np.stack(out)


@pytest.mark.parametrize("off", [{"diffuse_mean": 0.0}, {"diffuse_amplitude": 0.0}])
def test_without_diffuse_paths_the_csi_is_the_specular_link(off):
    scene = default_scene(12)
    ch = BistaticChannel(snr_db=10.0, **off)
    assert not ch.diffuse
    links = simulate_bistatic_csi(scene, ch, rng=7)
    for i, link in enumerate(links):
        np.testing.assert_array_equal(link.csi, _specular_only_reference(scene, ch, 7, i))
        assert not any(d.any() for d in link.diffuse)
        np.testing.assert_array_equal(link.n_paths, link.n_specular)


def _ula_sine(axis, direction):
    return direction @ axis / np.linalg.norm(direction, axis=-1)


@pytest.mark.parametrize("scenario", [bs.Scenario(), ODD], ids=["8x10x64", "5x7x41"])
def test_diffuse_paths_are_the_scatterers_paths(scenario):
    """NumPy reference: the CSI with diffuse clusters minus the specular-only CSI (same noise
    draws) is the sum of the scatterers' paths, each with the delay ``(|q - b| + |u - q|) / c``,
    AoD of ``q - b`` at the BS's ULA, AoA of ``q - u`` at the UAV's, amplitude
    ``reflection * diffuse_amplitude * reference / length``; every scatterer on its facade
    within the patch around the reflection point."""
    scene = default_scene(30)
    rough = BistaticChannel(scenario=scenario, snr_db=10.0)
    smooth = replace(rough, diffuse_mean=0.0)
    vis = trace(scene, 0)
    (a,) = simulate_bistatic_csi(scene, rough, rng=3, bs_indices=[0])
    (b,) = simulate_bistatic_csi(scene, smooth, rng=3, bs_indices=[0])
    bs_m = scene.base_stations_m[0]
    ua, ba = np.asarray(rough.uav_axis), np.asarray(rough.bs_axis)
    n_diffuse = 0
    for e in range(scene.n_epochs):
        d = a.diffuse[e]
        assert d.shape == a.scatterers_m[e].shape[:1]
        if not d.any():
            np.testing.assert_allclose(a.csi[e], b.csi[e], rtol=0, atol=1e-12)
            continue
        q = a.scatterers_m[e][d]
        u = scene.trajectory_m[e]
        length = np.linalg.norm(q - bs_m, axis=1) + np.linalg.norm(u - q, axis=1)
        p = a.paths[e]
        np.testing.assert_allclose(p.toa_s[d] * SPEED_OF_LIGHT, length, rtol=1e-12)
        np.testing.assert_allclose(np.sin(p.aod_rad[d]), _ula_sine(ba, q - bs_m), atol=1e-12)
        np.testing.assert_allclose(np.sin(p.aoa_rad[d]), _ula_sine(ua, q - u), atol=1e-12)
        want = rough.reflection_amplitude * rough.diffuse_amplitude * 100.0 / length
        np.testing.assert_allclose(np.abs(p.gain[d]), want, rtol=1e-12)
        # the model CSI of the diffuse paths (bistatic paper eq. (15)), formed here directly
        kt, kr, n = np.arange(scenario.n_tx), np.arange(scenario.n_rx)[None], np.arange(41)
        n = np.arange(scenario.n_subcarriers)
        at = np.exp(-1j * np.pi * np.sin(p.aod_rad[d])[:, None] * kt)
        ar = np.exp(-1j * np.pi * np.sin(p.aoa_rad[d])[:, None] * kr[0])
        c = np.exp(-2j * np.pi * scenario.subcarrier_spacing_hz * p.toa_s[d][:, None] * n)
        model = np.einsum("q,qt,qr,qn->trn", p.gain[d], at, ar, c)
        np.testing.assert_allclose(a.csi[e] - b.csi[e], model, rtol=0, atol=1e-9)
        # on a facade whose VA the BS sees, within +-w of the reflection point
        for point in q:
            on_plane = np.abs(
                np.einsum("fi,fi->f", point - scene.facade_points_m, scene.facade_normals)
            )
            ok = []
            for f in np.flatnonzero((on_plane < 1e-9) & vis.bistatic_visible[e]):
                centre, t = vis.bistatic_points_m[e, f], scene.facade_tangents[f]
                ok.append(
                    abs((point - centre) @ t) <= 8.0 + 1e-9
                    and abs(point[2] - centre[2]) <= 8.0 + 1e-9
                    and abs((point - scene.facade_points_m[f]) @ t)
                    <= scene.facade_half_widths_m[f] + 1e-9
                    and 0.0 <= point[2] <= scene.facade_heights_m[f]
                )
            assert any(ok), point
        n_diffuse += int(d.sum())
    assert n_diffuse > 20


def test_diffuse_count_is_poisson_with_the_channel_mean():
    """A patch far smaller than the facades: hardly a scatterer is clipped, so the diffuse
    paths per specular facade path average ``diffuse_mean`` (Poisson: std sqrt(mean / n))."""
    scene = default_scene(200)
    ch = BistaticChannel(diffuse_mean=2.0, diffuse_half_width_m=0.25)
    (link,) = simulate_bistatic_csi(scene, ch, rng=11, bs_indices=[0])
    vis = trace(scene, 0)
    facade_paths = int(np.sum(link.n_specular) - np.sum(vis.los_visible))
    per_path = np.sum(link.n_paths - link.n_specular) / facade_paths
    assert facade_paths > 150
    assert abs(per_path - 2.0) < 4 * np.sqrt(2.0 / facade_paths) + 0.05


def test_clock_offsets_are_drawn_per_epoch_from_their_own_stream():
    scene = default_scene(400)
    ch = BistaticChannel(timing_offset_s=50e-9, timing_offset_std_s=80e-9, diffuse_mean=0.0)
    (link,) = simulate_bistatic_csi(scene, ch, rng=5, bs_indices=[1])
    off = link.timing_offset_s
    assert off.shape == (400,)
    assert abs(off.mean() - 50e-9) < 4 * 80e-9 / np.sqrt(400)
    assert abs(off.std() / 80e-9 - 1) < 0.15
    (known,) = simulate_bistatic_csi(
        scene, replace(ch, timing_offset_std_s=0.0), rng=5, bs_indices=[1]
    )
    np.testing.assert_array_equal(known.timing_offset_s, np.full(400, 50e-9))
    # the paths' ToAs carry the epoch's offset, modulo the CSI's period 1/df
    period = 1 / ch.scenario.subcarrier_spacing_hz
    for e in range(0, 400, 37):
        shift = np.mod(link.paths[e].toa_s - known.paths[e].toa_s - off[e] + 50e-9, period)
        np.testing.assert_allclose(np.minimum(shift, period - shift), 0.0, atol=1e-15)


@pytest.mark.parametrize("scenario", [bs.Scenario(), ODD], ids=["8x10x64", "5x7x41"])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_los_synchronised_ranges_match_the_synchronised_receiver(scenario, dtype):
    """Same noise draws, with and without an unknown clock offset: after the receiver removes
    the offset it estimated on the LoS, every range matches the synchronised receiver's within
    five CRB stds of the two (PARAMING's variance is 1-2.3x the bound), and the offset
    estimate is within five CRB stds of the LoS delay."""
    scene = default_scene(40)
    sync = BistaticChannel(scenario=scenario, snr_db=10.0, diffuse_mean=0.0)
    clock = replace(sync, timing_offset_std_s=150e-9)
    (a,) = simulate_bistatic_csi(scene, sync, rng=2, bs_indices=[2])
    (b,) = simulate_bistatic_csi(scene, clock, rng=2, bs_indices=[2])
    ref = estimate_bistatic(a.csi, sync, n_paths=a.n_specular)
    got = estimate_bistatic(
        b.csi.astype(dtype),
        clock,
        n_paths=b.n_specular,
        bs_position_m=scene.base_stations_m[2],
        uav_positions_m=scene.trajectory_m,
    )
    vis = trace(scene, 2)
    np.testing.assert_array_equal(got.synchronised, vis.los_visible)
    period = 1 / scenario.subcarrier_spacing_hz
    n_checked = 0
    for e in np.flatnonzero(vis.los_visible):
        assert got.ranges_m[e].dtype == np.float64
        if got.n_measurements[e] != ref.n_measurements[e]:
            continue  # an unreliable path dropped in one run only
        var = got.covariance[e][:, 0, 0] + ref.covariance[e][:, 0, 0]
        assert np.all(np.abs(got.ranges_m[e] - ref.ranges_m[e]) <= 5 * np.sqrt(var) + 1e-6)
        los = np.argmin(
            np.abs(
                ref.ranges_m[e] - np.linalg.norm(scene.trajectory_m[e] - scene.base_stations_m[2])
            )
        )
        diff = got.timing_offset_s[e] - b.timing_offset_s[e]
        diff -= period * np.round(diff / period)
        assert abs(diff) <= 5 * np.sqrt(ref.covariance[e][los, 0, 0]) / SPEED_OF_LIGHT + 1e-12
        # the LoS itself: its length, known, with zero range variance
        assert (
            np.min(
                np.abs(
                    got.ranges_m[e]
                    - np.linalg.norm(scene.trajectory_m[e] - scene.base_stations_m[2])
                )
            )
            < 1e-6
        )
        n_checked += 1
    assert n_checked >= 30


def _scene_with_hidden_los():
    """Epoch 0: the LoS and a facade path; epoch 1: the building hides the BS, a facade of a
    second building still reflects to the UAV."""
    return Scene(
        [(0.0, 0.0, 20.0, 20.0, 40.0), (40.0, 0.0, 10.0, 80.0, 40.0)],
        [(0.0, -30.0, 15.0)],
        [(30.0, 25.0, 20.0), (0.0, 30.0, 20.0)],
    )


def test_missing_los_is_flagged_or_raised_never_a_wrong_offset():
    scene = _scene_with_hidden_los()
    ch = BistaticChannel(timing_offset_std_s=100e-9, diffuse_mean=0.0)
    vis = trace(scene, 0)
    assert vis.los_visible.tolist() == [True, False] and vis.bistatic_visible[1].any()
    (link,) = simulate_bistatic_csi(scene, ch, rng=0)
    kw = {"bs_position_m": scene.base_stations_m[0], "uav_positions_m": scene.trajectory_m}
    meas = estimate_bistatic(link.csi, ch, n_paths=link.n_specular, **kw)
    assert meas.synchronised.tolist() == [True, False]
    assert np.isnan(meas.timing_offset_s[1]) and meas.n_measurements[1] == 0
    assert meas.covariance[1].shape == (0, 3, 3)
    with pytest.raises(ValueError, match=r"epoch 1: no estimated path matches the LoS"):
        estimate_bistatic(link.csi, ch, n_paths=link.n_specular, missing_los="raise", **kw)
    # noise only (no path at all) cannot be synchronised either
    with pytest.raises(ValueError, match=r"epoch 0: no estimated path matches the LoS"):
        estimate_bistatic(
            np.zeros((1, 8, 10, 64), complex),
            ch,
            missing_los="raise",
            bs_position_m=kw["bs_position_m"],
            uav_positions_m=scene.trajectory_m[:1],
        )


def test_default_scene_no_epoch_without_los_is_synchronised():
    """On the default scene (BS4: 28 of 300 epochs without LoS; diffuse clusters on) the LoS
    gate finds the LoS in every epoch that has one and in no other."""
    scene = default_scene(300)
    ch = BistaticChannel(timing_offset_std_s=100e-9)
    (link,) = simulate_bistatic_csi(scene, ch, rng=1, bs_indices=[3])
    meas = estimate_bistatic(
        link.csi, ch, bs_position_m=scene.base_stations_m[3], uav_positions_m=scene.trajectory_m
    )
    los = trace(scene, 3).los_visible
    assert (~los).sum() > 20
    np.testing.assert_array_equal(meas.synchronised, los)
    period = 1 / ch.scenario.subcarrier_spacing_hz
    diff = (meas.timing_offset_s - link.timing_offset_s)[los]
    assert np.max(np.abs(diff - period * np.round(diff / period))) < 1e-9


def test_stream_synchronises_on_the_los_like_the_batch_front_end():
    scene = default_scene(6)
    ch = BistaticChannel(timing_offset_std_s=100e-9)
    (link,) = simulate_bistatic_csi(scene, ch, rng=4, bs_indices=[0])
    batch = estimate_bistatic(
        link.csi, ch, bs_position_m=scene.base_stations_m[0], uav_positions_m=scene.trajectory_m
    )
    stream = CsiMapper(
        scene.base_stations_m[0], Mapper("bistatic", MappingParams(n_particles=100)), ch, rng=0
    )
    for e in range(6):
        up = stream.update(link.csi[e], scene.trajectory_m[e])
        np.testing.assert_array_equal(up.measurements.ranges_m[0], batch.ranges_m[e])
        np.testing.assert_equal(up.measurements.timing_offset_s[0], batch.timing_offset_s[e])


def test_unknown_offset_needs_the_positions():
    ch = BistaticChannel(timing_offset_std_s=100e-9)
    csi = np.ones((2, 8, 10, 64), complex)
    with pytest.raises(ValueError, match="bs_position_m and uav_positions_m are needed"):
        estimate_bistatic(csi, ch)
    with pytest.raises(ValueError, match=r"uav_positions_m must have shape \(2, 3\)"):
        estimate_bistatic(csi, ch, bs_position_m=[0, 0, 15], uav_positions_m=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="missing_los must be 'drop' or 'raise'"):
        estimate_bistatic(csi, ch, missing_los="ignore")  # type: ignore[arg-type]
    for bad, match in (
        ({"diffuse_mean": -1.0}, "diffuse_mean must be >= 0"),
        ({"diffuse_amplitude": 1.5}, r"diffuse_amplitude must lie in \[0, 1\]"),
        ({"diffuse_half_width_m": np.nan}, "diffuse_half_width_m"),
        ({"timing_offset_std_s": -1e-9}, "timing_offset_std_s must be >= 0"),
    ):
        with pytest.raises(ValueError, match=match):
            BistaticChannel(**bad)


def test_cluster_censoring_matches_a_loop_reference(rng):
    from skysense.pipeline.bistatic_front_end import _uncensored

    sc = bs.Scenario()
    cell = SPEED_OF_LIGHT / (sc.n_subcarriers * sc.subcarrier_spacing_hz)
    for n in (1, 2, 7, 13):
        r = rng.uniform(0, 4 * cell, n)
        g = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        for db in (0.0, 3.0, 6.0):
            want = [
                not any(
                    j != k and abs(r[j] - r[k]) < cell and abs(g[j]) > 10 ** (db / 20) * abs(g[k])
                    for j in range(n)
                )
                for k in range(n)
            ]
            np.testing.assert_array_equal(_uncensored(r, g, db, sc), want)
        assert _uncensored(r, g, None, sc).all()


def test_cluster_censoring_drops_resolved_diffuse_paths_only():
    """On the default scene, censoring at 6 dB removes most estimates that match no LoS or
    specular path (the resolved diffuse paths), and keeps a subset of the estimates."""
    from skysense.experiments.mapping.csi import _front_end_diagnostics

    scene = default_scene(60)
    ch = BistaticChannel()
    (link,) = simulate_bistatic_csi(scene, ch, rng=8, bs_indices=[2])
    every = estimate_bistatic(link.csi, ch)
    censored = estimate_bistatic(link.csi, ch, cluster_db=6.0)
    for e in range(60):
        assert np.isin(censored.ranges_m[e], every.ranges_m[e]).all()
    a = _front_end_diagnostics(link, every, ch)
    b = _front_end_diagnostics(link, censored, ch)
    assert a["unmatched"] > 0.2
    assert b["unmatched"] < 0.4 * a["unmatched"]
    assert b["measurements"] - b["unmatched"] > 0.9 * (a["measurements"] - a["unmatched"])
    with pytest.raises(ValueError, match="cluster_db must be >= 0"):
        estimate_bistatic(link.csi[:1], ch, cluster_db=-3.0)
