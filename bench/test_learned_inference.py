"""(f) Learned off-grid imager: per-frame CPU inference of the shipped 40 x 40 model.

Groups: single frame and a 256-frame batch (per-frame time = median / 256), torch against
ONNX Runtime, next to the paper-size resCNN ([64,128,128,128,64,32], k = 5, 5.3 M
parameters; the paper reports 13.35 ms per frame on an A100) and the A^H y front end. torch
and ONNX Runtime run single-threaded so numbers are comparable across machines with
colleagues' jobs. Skipped without torch (ONNX rows without onnxruntime).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.learn import (
    PAPER_CHANNELS,
    ImagerConfig,
    OffGridImager,
    build_imager_net,
    network_input,
    predict,
)

N_BATCH = 256


@pytest.fixture(scope="module")
def setup():
    from skysense.imaging import simulate

    imager = OffGridImager.load_default()
    batch = simulate(imager.scenario, N_BATCH, 6, off_grid=True, rng=20260101)
    x = network_input(
        "backprojection", imager.scenario, batch.measurements, operator=imager.operator
    )
    paper = build_imager_net(ImagerConfig(channels=PAPER_CHANNELS, kernel_size=5), rng=0).eval()
    return {"imager": imager, "y": batch.measurements, "x": x, "paper": paper}


def _onnx_session(model, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from skysense.learn import OnnxSession, export_onnx

    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx")
    return OnnxSession(path, workers=1)


@pytest.mark.parametrize("impl", ["torch", "onnxruntime", "torch paper resCNN"])
def test_single_frame(benchmark, ratios, setup, impl, tmp_path_factory):
    x = setup["x"][:1]
    model = setup["paper"] if impl == "torch paper resCNN" else setup["imager"].model
    if impl == "onnxruntime":
        fn = _onnx_session(model, tmp_path_factory).run
    else:
        fn = lambda v: predict(model, v, workers=1)
    out = benchmark.pedantic(fn, args=(x,), rounds=20, warmup_rounds=2)
    assert out.shape == (1, 40, 40)
    ratios.record(
        benchmark,
        "refiner 1 fr CPU",
        impl,
        reference=None if impl == "torch" else "torch",
        note="default model, 1 thread" if impl == "torch" else "",
    )


@pytest.mark.parametrize("impl", ["torch", "onnxruntime"])
def test_batch(benchmark, ratios, setup, impl, tmp_path_factory):
    x = setup["x"]
    model = setup["imager"].model
    if impl == "onnxruntime":
        fn = _onnx_session(model, tmp_path_factory).run
    else:
        fn = lambda v: predict(model, v, batch_size=N_BATCH, workers=1)
    out = benchmark.pedantic(fn, args=(x,), rounds=5, warmup_rounds=1)
    np.testing.assert_allclose(out, predict(model, x), atol=1e-5)
    ratios.record(
        benchmark,
        f"refiner {N_BATCH} fr CPU",
        impl,
        reference=None if impl == "torch" else "torch",
        note=f"divide by {N_BATCH} for per-frame" if impl == "torch" else "",
    )


def test_end_to_end_single_frame(benchmark, ratios, setup):
    """CSI -> A^H y (matrix-free) -> refiner, one frame."""
    imager, y = setup["imager"], setup["y"][:1]
    out = benchmark.pedantic(imager.image, args=(y,), rounds=20, warmup_rounds=2)
    assert out.shape == (1, 40, 40)
    ratios.record(benchmark, "imager 1 fr CPU", "A^H y + refiner", note="OffGridImager.image")
