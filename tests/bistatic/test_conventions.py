"""The library conventions on the bistatic side (docs/conventions.md): keyword-only ``rng``
and its types, ``workers`` and ``set_workers``, short result reprs, None for absent fields,
and kernel calls by name."""

import dataclasses

import numpy as np
import pytest

import skysense
from skysense import _blas, _core, cordic  # noqa: F401  (_blas first: the LAPACK of _core)
from skysense import bistatic as bs
from skysense._results import Result

SC = bs.Scenario()
ODD = bs.Scenario(n_tx=5, n_rx=7, n_subcarriers=31, n_symbols=7)


# -- rng ---------------------------------------------------------------------------------------
STOCHASTIC = {
    "random_paths": lambda rng: bs.random_paths(SC, rng=rng).toa_s,
    "simulate": lambda rng: bs.simulate(SC, _PATHS, 10.0, rng=rng).csi,
    "qam_symbols": lambda rng: bs.qam_symbols((3, 5), rng=rng),
}
_PATHS = bs.Paths([0.1, -0.2], [0.3, 0.0], [0.0, 60e-9], [1.0, 0.5j])


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_rng_types(name):
    """None, an int, a SeedSequence and a Generator are accepted; an int and a SeedSequence of
    the same entropy (and a fresh Generator seeded alike) give the same draws; a Generator's
    stream advances; anything else is a TypeError, a negative seed a ValueError."""
    draw = STOCHASTIC[name]
    a = draw(5)
    np.testing.assert_array_equal(a, draw(5))
    np.testing.assert_array_equal(a, draw(np.random.SeedSequence(5)))
    np.testing.assert_array_equal(a, draw(np.random.default_rng(5)))
    assert draw(None).shape == a.shape
    gen = np.random.default_rng(5)
    first, second = draw(gen), draw(gen)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # the caller's stream advanced
    with pytest.raises(TypeError, match="rng must be"):
        draw(np.random.RandomState(5))
    with pytest.raises(TypeError, match="rng must be"):
        draw(5.0)
    with pytest.raises(ValueError, match="non-negative"):
        draw(-1)


def test_rng_is_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        bs.random_paths(SC, 0)
    with pytest.raises(TypeError, match="positional"):
        bs.simulate(SC, _PATHS, 10.0, 0)
    with pytest.raises(TypeError, match="positional"):
        bs.simulate(SC, _PATHS, 10.0, None, 2)  # n_subframes is keyword-only too
    with pytest.raises(TypeError, match="positional"):
        bs.qam_symbols((2,), 16, 0)


def test_streams_unchanged():
    """The draws for an int seed are those of the releases before the keyword-only ``rng``
    (values recorded then; the streams did not have to change)."""
    p = bs.random_paths(SC, rng=123)
    np.testing.assert_array_equal(
        p.toa_s, [0.0, 1.7145399212004644e-08, 4.8345436027787088e-08, 7.3408318229962411e-08]
    )
    np.testing.assert_array_equal(
        p.aoa_rad,
        [-0.17453292519943295, -0.5062964678412545, 0.24270746966860557, 0.6081354338927119],
    )
    q = bs.qam_symbols((3, 4), rng=1)
    np.testing.assert_array_equal(
        q[0, :2],
        [-0.03829197905337418 - 0.5743796858006126j, 0.03829197905337418 + 0.8041315601208577j],
    )
    csi = bs.simulate(SC, p, 10.0, rng=4, pilots="orthogonal", dtype=np.complex64).csi
    np.testing.assert_array_equal(
        csi[0, 0, 0, :3],
        np.array(
            [-0.7104595 - 2.8729432j, -2.742336 - 1.5706657j, -2.0581005 - 2.0800436j], np.complex64
        ),
    )


# -- workers -----------------------------------------------------------------------------------
def test_workers_follow_set_workers(rng):
    p = bs.random_paths(ODD, rng=rng, n_targets=2)
    csi = np.stack([bs.simulate(ODD, p, 10.0, rng=rng).csi[0] for _ in range(5)])
    z = rng.standard_normal(4097) + 1j * rng.standard_normal(4097)
    ref = bs.paraming(csi, 3, scenario=ODD, workers=1)
    ref_phase = cordic.phase(z, workers=1)
    with skysense.set_workers(3):
        assert skysense.get_workers() == 3
        inside = bs.paraming(csi, 3, scenario=ODD)
        inside_phase = cordic.phase(z)
    for w in (2, -1):
        out = bs.paraming(csi, 3, scenario=ODD, workers=w)
        np.testing.assert_array_equal(out.toa_s, ref.toa_s)
        np.testing.assert_array_equal(out.gain, ref.gain)
        np.testing.assert_array_equal(cordic.phase(z, workers=w), ref_phase)
    np.testing.assert_array_equal(inside.aoa_rad, ref.aoa_rad)
    np.testing.assert_array_equal(inside_phase, ref_phase)
    for bad, exc in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="workers"):
            bs.paraming(csi, 3, scenario=ODD, workers=bad)
        with pytest.raises(exc, match="workers"):
            cordic.phase(z, workers=bad)


# -- results -----------------------------------------------------------------------------------
def test_results_are_frozen_with_a_short_repr(rng):
    p = bs.random_paths(SC, rng=rng)
    m = bs.simulate(SC, p, 20.0, rng=rng)
    est = bs.paraming(m.csi[0], 4, scenario=SC, method="svd", return_singular_values=True)
    results = [
        est,
        p,
        m,
        bs.crb(SC, p, 20.0),
        bs.Grid.uniform(SC),
        bs.operation_counts(SC, 4),
        bs.root_music_2d(m.csi[0], 4, scenario=SC),
    ]
    for r in results:
        assert isinstance(r, Result)
        assert dataclasses.is_dataclass(r)
        lines = repr(r).splitlines()
        assert len(lines) == len(dataclasses.fields(r)) + 2  # one line per field
        assert max(map(len, lines)) < 120
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.__setattr__(dataclasses.fields(r)[0].name, None)
    assert "float64[640]" in repr(est)  # 640 singular values in one line


def test_absent_fields_are_none(rng):
    p = bs.random_paths(SC, rng=rng)
    m = bs.simulate(SC, p, 20.0, rng=rng, n_subframes=2)
    est = bs.paraming(m.csi[0], 4, scenario=SC)
    assert est.doppler_hz is None and est.singular_values is None
    assert bs.paraming(m.csi, 4, scenario=SC, subframes=True).doppler_hz.shape == (4,)
    rm = bs.root_music_2d(m.csi[0], 4, scenario=SC)
    assert rm.toa_s is None and rm.gain is None
    assert rm.astype(np.complex64).toa_s is None


@pytest.mark.parametrize(("method", "n_singular"), [("krylov", 3), ("gram", 3), ("svd", 180)])
def test_singular_values_are_opt_in_and_only_the_computed_ones(rng, method, n_singular):
    h = ODD.channel(bs.random_paths(ODD, rng=rng, n_targets=2))
    batch = np.stack([h, 2 * h])
    est = bs.paraming(batch, 3, scenario=ODD, method=method, return_singular_values=True)
    assert est.singular_values.shape == (2, n_singular)
    assert np.all(np.isfinite(est.singular_values))
    np.testing.assert_allclose(est.singular_values[1], 2 * est.singular_values[0], rtol=1e-9)
    full = bs.paraming(h, "mdl", scenario=ODD, method=method, return_singular_values=True)
    assert full.singular_values.shape == (min(bs.hankel_shape(ODD)),)


# -- kernel calls by name ----------------------------------------------------------------------
def _kernel_args(h):
    b, width, k = h.shape[0], 2, min(bs.hankel_shape(ODD))
    return {
        "csi": h,
        "subarray_tx": 3,
        "subarray_rx": 4,
        "subarray_subcarriers": 16,
        "n_paths": 2,
        "max_paths": width,
        "criterion": 0,
        "subcarrier_spacing_hz": ODD.subcarrier_spacing_hz,
        "spacing_tx_wavelengths": 0.5,
        "spacing_rx_wavelengths": 0.5,
        "cordic_iterations": 48,
        "min_toa_normalized": -0.125,
        "phase_fit": 0,
        "method": 1,
        "krylov_rtol": 1e-12,
        "krylov_noise_rtol": 1e-3,
        "krylov_max_steps": 100,
        "krylov_oversampling": 0,
        "refine": True,
        "max_iter": 20,
        "refine_rtol": 1e-9,
        "cluster_cells": 1.0,
        "resolve_std": 0.25,
        "false_alarm": 1e-3,
        "toa_s": np.empty((b, width)),
        "aoa_rad": np.empty((b, width)),
        "aod_rad": np.empty((b, width)),
        "gain": np.empty((b, width), complex),
        "reliable": np.empty((b, width), bool),
        "singular_values": np.empty((b, k)),
        "n_paths_estimated": np.empty(b, np.int64),
        "status": np.empty(b, np.int64),
        "refined": np.empty(b, bool),
        "iterations": np.empty(b, np.int64),
        "n_threads": 1,
    }


def test_bindings_take_keywords_only(rng):
    h = ODD.channel(bs.random_paths(ODD, rng=rng, n_targets=1))[None]
    kw = _kernel_args(h)
    _core.paraming(**kw)
    assert kw["status"][0] == 0
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _core.paraming(*kw.values())  # every argument positional
    renamed = dict(kw)
    renamed["spacing_tx"] = renamed.pop("spacing_tx_wavelengths")
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _core.paraming(**renamed)
    y = np.ones(3)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _core.cordic_atan2(y, y, np.empty(3), 10, 0, 0, 1)
    u, s, v = np.empty((1, 192), complex), np.empty(1), np.empty((1, 180), complex)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _core.hankel_svd(h[0], 3, 4, 16, 1, 0, 1e-12, 1e-3, 10, u, s, v)


@pytest.mark.parametrize("spacings", [(0.4, 0.5), (0.5, 0.35)])
def test_tx_and_rx_spacings_reach_their_axes(rng, spacings):
    """Unequal Tx and Rx spacings: every estimator recovers AoA (Rx) and AoD (Tx), so a swap
    anywhere between the Scenario and the kernels would show."""
    sc = bs.Scenario(
        n_tx=5,
        n_rx=7,
        n_subcarriers=31,
        spacing_tx_wavelengths=spacings[0],
        spacing_rx_wavelengths=spacings[1],
    )
    p = bs.Paths([0.35, -0.5], [-0.25, 0.6], [0.0, 5 * sc.toa_resolution_s], [1.0, 0.6j])
    h = sc.channel(p)
    for est in (bs.paraming(h, 2, scenario=sc), bs.root_music_2d(h, 2, scenario=sc)):
        order = np.argsort(est.aoa_rad)
        np.testing.assert_allclose(est.aoa_rad[order], np.sort(p.aoa_rad), atol=1e-6)
        np.testing.assert_allclose(est.aod_rad[order], p.aod_rad[np.argsort(p.aoa_rad)], atol=1e-6)
    one = bs.Paths(p.aoa_rad[:1], p.aod_rad[:1], p.toa_s[:1], [1.0])
    steps = 0.02 * np.arange(-10, 11)  # the truth in the middle of a local grid
    grid = bs.Grid(one.aoa_rad + steps, one.aod_rad + steps, one.toa_s)
    est = bs.bartlett(sc.channel(one), 1, scenario=sc, grid=grid)
    np.testing.assert_array_equal(est.aoa_rad, one.aoa_rad)
    np.testing.assert_array_equal(est.aod_rad, one.aod_rad)
