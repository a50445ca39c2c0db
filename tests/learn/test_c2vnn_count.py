"""The IFFT-C2VNN path-count classifier and the merged-peak step (bistatic paper, Sec. III-B1)."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense import bistatic as bs
from skysense.bistatic.ifft_windows import _esprit_angles, _zf_toa_taps
from skysense.experiments.bistatic._common import matched_errors
from skysense.learn import (
    C2vnnConfig,
    C2vnnCountConfig,
    C2vnnTrainConfig,
    IfftC2vnn,
    build_c2vnn,
    load_checkpoint,
    save_checkpoint,
    train_c2vnn,
)
from skysense.learn.c2vnn.data import count_windows, make_count_training_set, path_counts
from skysense.learn.c2vnn.estimator import _allocate_counts

SMALL = bs.Scenario(n_tx=4, n_rx=4, n_subcarriers=32)


def test_count_windows_keep_relative_power():
    sc = SMALL
    res = sc.toa_resolution_s
    paths = bs.Paths([0.1, -0.5], [0.2, 0.4], [2 * res, 9 * res], [1.0, 0.1])
    w = count_windows(sc.channel(paths)[None], 2, C2vnnCountConfig(scenario=sc))
    assert w.rows.tolist() == [[2, 9]]
    rms = np.sqrt(np.mean(w.inputs[0] ** 2, axis=(1, 2, 3)) * 2)
    np.testing.assert_allclose(rms[1] / rms[0], 0.1, rtol=1e-5)  # 20 dB below the strongest
    # each window's phase is referenced to its centre entry of Tx 0, Rx 0
    centre = 5 // 2
    assert w.inputs[0, :, 5 + centre, 0, 0] == pytest.approx([0.0, 0.0], abs=1e-6)
    # a noise-free CSI has few local maxima: missing candidates have row -1 and zero windows
    w = count_windows(sc.channel(paths)[None], 8, C2vnnCountConfig(scenario=sc))
    assert np.sum(w.rows >= 0) < 8 and np.all(w.inputs[0][w.rows[0] < 0] == 0)
    with pytest.raises(ValueError, match="csi must have shape"):
        count_windows(sc.channel(paths), 2, C2vnnCountConfig(scenario=sc))


def test_path_counts_label_merged_peaks():
    toa = np.array([[0.0, 4.2, 4.9, 20.0]])
    rows = np.array([[0, 5, 12, 20, -1]])
    np.testing.assert_array_equal(path_counts(toa, rows, 32, 3), [[1, 2, 0, 1, 0]])
    # a path 2.4 taps from its nearest candidate counts only with a wider reach
    toa = np.array([[0.0, 1.3, 2.4, 9.0]])
    rows = np.array([[0, 9, 20]])
    np.testing.assert_array_equal(path_counts(toa, rows, 32, 3), [[2, 1, 0]])
    np.testing.assert_array_equal(path_counts(toa, rows, 32, 3, reach=2.5), [[3, 1, 0]])
    # circular delays: 31.6 taps lies 0.4 taps from row 0; clipped to max_count
    np.testing.assert_array_equal(
        path_counts(np.array([[31.6, 0.0, 0.3]]), np.array([[0, 9]]), 32, 2), [[2, 0]]
    )


def test_make_count_training_set():
    cfg = C2vnnCountConfig(scenario=SMALL, n_filters=2, n_hidden=8)
    x, y = make_count_training_set(cfg, 30, n_targets=2, rng=4)
    assert x.dtype == np.float32 and x.shape[1:] == cfg.sample_shape
    assert y.dtype == np.int64 and len(x) == len(y) and 140 <= len(x) <= 30 * 5  # <= q + 2 per draw
    assert set(np.unique(y)) <= {0, 1, 2, 3} and {0, 1} <= set(np.unique(y))
    x2, y2 = make_count_training_set(cfg, 30, n_targets=2, rng=4)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_allocate_counts_is_the_best_allocation(rng):
    """The dynamic programme against brute force over every allocation."""
    for _ in range(20):
        k, c, q = 4, 4, int(rng.integers(1, 6))
        logp = np.log(rng.dirichlet(np.ones(c), size=(1, k)))
        got = _allocate_counts(logp, q)[0]
        best = max(
            (a for a in itertools.product(range(c), repeat=k) if sum(a) == q),
            key=lambda a: sum(logp[0, i, a[i]] for i in range(k)),
        )
        assert got.sum() == q
        assert sum(logp[0, i, got[i]] for i in range(k)) == pytest.approx(
            sum(logp[0, i, best[i]] for i in range(k)), abs=1e-12
        )
    logp = np.full((1, 2, 4), np.log(0.25))
    logp[0, :, 1:] = -np.inf
    with pytest.raises(ValueError, match="too few delay peaks"):
        _allocate_counts(logp, 1)


@pytest.mark.parametrize("sep_taps", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_merged_peak_angles_and_toas_noise_free(sep_taps, dtype):
    """Two paths in one delay peak (equal or 0.3-tap apart delays), distinct angles: ESPRIT on
    the window gives the angles, zero forcing the ToAs (odd sizes, both precisions)."""
    sc = bs.Scenario(n_tx=7, n_rx=9, n_subcarriers=48)
    res = sc.toa_resolution_s
    toa = np.array([6.2, 6.2 + sep_taps, 14.0]) * res
    paths = bs.Paths([0.3, -0.4, 0.0], [-0.2, 0.5, 0.1], toa, [1.0, 0.7j, 1.0])
    csi = sc.channel(paths).astype(dtype)
    taps = bs.delay_taps(csi, scenario=sc)
    sin_aoa, sin_aod = _esprit_angles(bs.peak_windows(taps, np.array([6]), 3)[0], 2, sc)
    order = np.argsort(sin_aoa)[::-1]
    tol = 1e-4 if dtype == np.complex64 else 1e-8
    np.testing.assert_allclose(sin_aoa[order], np.sin(paths.aoa_rad[:2]), atol=tol)
    np.testing.assert_allclose(sin_aod[order], np.sin(paths.aod_rad[:2]), atol=tol)
    all_aoa = np.append(sin_aoa[order], np.sin(0.0))
    all_aod = np.append(sin_aod[order], np.sin(0.1))
    got = _zf_toa_taps(csi, all_aoa, all_aod, np.array([6.0, 6.0]), sc)
    np.testing.assert_allclose(got, toa[:2] / res, atol=10 * tol + 1e-3)


@pytest.fixture(scope="module")
def default():
    return IfftC2vnn.load_default()


def test_shipped_counter_fixes_merged_peaks(default):
    """Default geometry (most draws hold two paths < 2 taps apart), 20 dB: outliers (|ToA
    error| > 1 cell) of the counted estimator against the plain one on the same draws."""
    sc = bs.Scenario()
    assert default.counter is not None and default.counter.config.scenario == sc
    plain = IfftC2vnn.load_default(count_paths=False)
    assert plain.counter is None
    rng = np.random.default_rng(11)
    draws = [bs.random_paths(sc, rng=rng) for _ in range(40)]
    csi = np.stack([bs.simulate(sc, p, 20.0, rng=rng).csi[0] for p in draws])
    out = {}
    for name, est in (("counted", default), ("plain", plain)):
        e = est.estimate(csi, 4)
        toa = np.concatenate(
            [
                matched_errors(
                    bs.Estimate(e.toa_s[i], e.aoa_rad[i], e.aod_rad[i], e.gain[i], 4), p, sc
                )["toa"]
                for i, p in enumerate(draws)
            ]
        )
        out[name] = np.mean(np.abs(toa) > 1)
    assert out["counted"] <= 0.03
    assert out["plain"] > 0.1


def test_counter_checks(default):
    plain = IfftC2vnn.load_default(count_paths=False)
    other = build_c2vnn(C2vnnCountConfig(scenario=SMALL, n_filters=2, n_hidden=8), rng=0)
    with pytest.raises(ValueError, match="another scenario"):
        IfftC2vnn(plain.model, counter=other)
    with pytest.raises(TypeError, match="counter must be a C2vnnCountNet"):
        IfftC2vnn(plain.model, counter=plain.model)
    sc = bs.Scenario()
    paths = bs.random_paths(sc, rng=1, max_speed_mps=20.0)
    csi = bs.simulate(sc, paths, 20.0, rng=1, n_subframes=4).csi
    e = default.estimate(csi, 4, subframes=True)  # the lightweight Doppler variant counts too
    assert e.doppler_hz.shape == (4,)


def test_count_training_and_checkpoint(tmp_path):
    cfg = C2vnnCountConfig(scenario=SMALL, n_filters=2, n_hidden=8)
    result = train_c2vnn(cfg, C2vnnTrainConfig(n_draws=40, epochs=2, n_targets=2), rng=5)
    assert result.train_loss.shape == (2,)
    assert 0.0 <= result.history[-1]["validation_accuracy"] <= 1.0
    save_checkpoint(tmp_path / "c.pt", result.model)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt.model.config == cfg
    x = torch.randn(3, *cfg.sample_shape)
    torch.testing.assert_close(ckpt.model(x), result.model.eval()(x))
    with pytest.raises(ValueError, match="max_count must be >= 2"):
        C2vnnCountConfig(max_count=1)
    with pytest.raises(ValueError, match="reach_cells"):
        C2vnnCountConfig(reach_cells=0.0)
    with pytest.raises(ValueError, match="n_tx >= 3 and n_rx >= 3"):
        C2vnnCountConfig(scenario=bs.Scenario(n_tx=2, n_rx=4))
    assert C2vnnCountConfig().n_outputs == 4 and C2vnnConfig().n_outputs == 3
