"""IFFT-C2VNN per-CSI latency against PARAMING (default scenario, q = 4, one thread each),
and batched throughput; the FLOP count of one forward pass is printed beside the timings.
Doppler: per CSI of S = 10 sub-frames, the lightweight variant (2-D model per sub-frame, LS
gains, phase slope) against the 3-D model (Conv3d over the sub-frames) in the architecture of
the retired ``c2vnn3d.pt`` (F = 4, 32 hidden; freshly initialised: no 3-D weights are
shipped, and the cost does not depend on them).

The network part is the shipped default model (``IfftC2vnn.load_default()``); the latency
covers the whole estimator: IDFT, peak rows, windows, the network and the LS gains (eq. 21),
and with the path-count classifier (the default) the classifier on q + 2 candidate peaks and
the merged-peak step (ESPRIT, zero-forced ToAs); "without path count" is
``load_default(count_paths=False)`` (the q strongest peaks, one path each).
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from skysense import bistatic as bs

torch = pytest.importorskip("torch")

from skysense.learn import C2vnn3dConfig, IfftC2vnn, build_c2vnn, count_flops

N_BATCH = 64
N_PATHS = 4
N_SUBFRAMES = 10


@pytest.fixture(scope="module")
def setup():
    sc = bs.Scenario()
    rng = np.random.default_rng(20260106)
    csi = np.stack(
        [
            bs.simulate(sc, bs.random_paths(sc, rng=rng), 20.0, rng=rng).csi[0]
            for _ in range(N_BATCH)
        ]
    )
    return {
        "sc": sc,
        "csi": csi,
        "est": IfftC2vnn.load_default(),
        "plain": IfftC2vnn.load_default(count_paths=False),
    }


@pytest.fixture(autouse=True)
def _single_blas():
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize(
    "impl",
    ["paraming", "ifft_c2vnn", "ifft_c2vnn without path count", "ifft_c2vnn network only"],
)
def test_c2vnn_vs_paraming_per_csi(benchmark, ratios, setup, impl):
    sc, csi, est, plain = setup["sc"], setup["csi"][0], setup["est"], setup["plain"]
    windows = np.zeros((N_PATHS, 2 * est.config.window, sc.n_tx, sc.n_rx), np.float32)
    fn = {
        "paraming": lambda: bs.paraming(csi, N_PATHS, scenario=sc, workers=1),
        "ifft_c2vnn": lambda: est.estimate(csi, N_PATHS, workers=1),
        "ifft_c2vnn without path count": lambda: plain.estimate(csi, N_PATHS, workers=1),
        "ifft_c2vnn network only": lambda: est.predict_windows(windows, workers=1),
    }[impl]
    benchmark.pedantic(fn, rounds=20, warmup_rounds=2)
    flops = count_flops(est.config) * N_PATHS
    ratios.record(
        benchmark,
        "IFFT-C2VNN vs PARAMING per CSI, q=4, 1 thread",
        impl,
        reference=None if impl == "paraming" else "paraming",
        flops=bs.operation_counts(sc, N_PATHS).paraming
        if impl == "paraming"
        else flops,  # the network's count; ifft_c2vnn also does the IDFT and LS gains
    )


@pytest.mark.parametrize("impl", ["paraming", "ifft_c2vnn", "ifft_c2vnn without path count"])
def test_c2vnn_vs_paraming_batch(benchmark, ratios, setup, impl):
    sc, csi, est, plain = setup["sc"], setup["csi"], setup["est"], setup["plain"]
    fn = {
        "paraming": lambda: bs.paraming(csi, N_PATHS, scenario=sc, workers=1),
        "ifft_c2vnn": lambda: est.estimate(csi, N_PATHS, workers=1),
        "ifft_c2vnn without path count": lambda: plain.estimate(csi, N_PATHS, workers=1),
    }[impl]
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    ratios.record(
        benchmark,
        f"IFFT-C2VNN vs PARAMING, batch of {N_BATCH} CSIs, 1 thread",
        impl,
        reference=None if impl == "paraming" else "paraming",
    )


@pytest.fixture(scope="module")
def doppler_setup():
    sc = bs.Scenario()
    rng = np.random.default_rng(20260107)
    paths = bs.random_paths(sc, rng=rng, max_speed_mps=30.0)
    csi = bs.simulate(sc, paths, 20.0, rng=rng, n_subframes=N_SUBFRAMES).csi
    net3d = build_c2vnn(C2vnn3dConfig(n_subframes=N_SUBFRAMES, n_filters=4, n_hidden=32), rng=0)
    return {"csi": csi, "est": IfftC2vnn.load_default(), "est3d": IfftC2vnn(net3d)}


@pytest.mark.parametrize(
    "impl", ["paraming", "ifft_c2vnn lightweight", "ifft_c2vnn_3d", "ifft_c2vnn_3d network only"]
)
def test_c2vnn_doppler_per_csi(benchmark, ratios, doppler_setup, impl):
    csi, est, est3d = doppler_setup["csi"], doppler_setup["est"], doppler_setup["est3d"]
    cfg = est3d.config
    sc = cfg.scenario
    windows = np.zeros((N_PATHS, 2 * cfg.window, N_SUBFRAMES, sc.n_tx, sc.n_rx), np.float32)
    fn = {
        "paraming": lambda: bs.paraming(csi, N_PATHS, scenario=sc, subframes=True, workers=1),
        "ifft_c2vnn lightweight": lambda: est.estimate(csi, N_PATHS, subframes=True, workers=1),
        "ifft_c2vnn_3d": lambda: est3d.estimate(csi, N_PATHS, subframes=True, workers=1),
        "ifft_c2vnn_3d network only": lambda: est3d.predict_windows(windows, workers=1),
    }[impl]
    benchmark.pedantic(fn, rounds=10, warmup_rounds=1)
    flops = {  # the networks' counts (q windows per sub-frame or per stack)
        "paraming": None,
        "ifft_c2vnn lightweight": count_flops(est.config) * N_PATHS * N_SUBFRAMES,
    }.get(impl, count_flops(cfg) * N_PATHS)
    ratios.record(
        benchmark,
        f"IFFT-C2VNN Doppler per CSI of {N_SUBFRAMES} sub-frames, q=4, 1 thread",
        impl,
        reference=None if impl == "ifft_c2vnn lightweight" else "ifft_c2vnn lightweight",
        flops=flops,
    )
