"""One exporter and one ONNX Runtime session for every learned network (outputs match torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from skysense.bistatic import Scenario as BistaticScenario
from skysense.learn import (
    C2vnn3dConfig,
    C2vnnConfig,
    ImagerConfig,
    OnnxSession,
    build_c2vnn,
    build_imager_net,
    export_onnx,
    predict,
)


@pytest.mark.parametrize(
    "cfg",
    [
        ImagerConfig(grid_shape=(12, 12), channels=(4, 6, 4), kernel_size=3),
        ImagerConfig(arch="dn-rescnn", grid_shape=(6, 6, 4), channels=(3, 3), kernel_size=3),
        ImagerConfig(grid_shape=(10, 10), in_channels=8, input_shape=(4, 4), channels=(3,)),
        ImagerConfig(grid_shape=(8, 8), channels=(3, 3), kernel_size=3, voxel_gain=True),
    ],
)
def test_imager_onnx_runtime_matches_torch(cfg, tmp_path, rng):
    model = build_imager_net(cfg, rng=0)
    if cfg.voxel_gain:
        with torch.no_grad():
            model.voxel_gain.copy_(torch.linspace(0.1, 1.0, 64).reshape(8, 8))
    # non-trivial BN statistics: a few training-mode passes
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, *cfg.sample_shape))
    path = export_onnx(model, tmp_path / "m.onnx")
    assert model.training  # mode restored
    session = OnnxSession(path, workers=1)
    assert session.sample_shape == cfg.sample_shape
    x = rng.standard_normal((5, *cfg.sample_shape)).astype(np.float32)
    np.testing.assert_allclose(session.run(x), predict(model, x), rtol=0, atol=1e-5)
    # dynamic batch axis
    assert session.run(x[:1]).shape == (1, *cfg.grid_shape)


@pytest.mark.parametrize(
    "cfg",
    [
        C2vnnConfig(scenario=BistaticScenario(n_tx=4, n_rx=5, n_subcarriers=16), n_filters=4),
        C2vnn3dConfig(
            scenario=BistaticScenario(n_tx=3, n_rx=4, n_subcarriers=16),
            n_filters=2,
            n_subframes=3,
        ),
    ],
    ids=["2d", "3d"],
)
def test_c2vnn_onnx_runtime_matches_torch(cfg, tmp_path, rng):
    model = build_c2vnn(cfg, rng=7).eval()
    session = OnnxSession(export_onnx(model, tmp_path / "c2vnn.onnx"))
    x = rng.standard_normal((9, *cfg.sample_shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = session.run(x)
    assert got.shape == (9, cfg.n_outputs)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(session.run(x[:1]), expected[:1], atol=1e-5)  # dynamic batch
    # float64 input is cast; a wrong shape or NaN names the parameter
    np.testing.assert_allclose(session.run(x.astype(np.float64)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="inputs must have shape"):
        session.run(x[:, :4])
    with pytest.raises(ValueError, match="inputs contains NaN"):
        session.run(np.full_like(x, np.nan))


def test_fixed_batch_export(tmp_path):
    cfg = ImagerConfig(grid_shape=(6, 6), channels=(2,), kernel_size=3)
    session = OnnxSession(export_onnx(build_imager_net(cfg, rng=0), tmp_path / "m.onnx",
                                      dynamic_batch=False))  # fmt: skip
    assert session.run(np.zeros((1, 2, 6, 6), np.float32)).shape == (1, 6, 6)
    with pytest.raises(ValueError, match=r"inputs must have shape \(1, 2, 6, 6\)"):
        session.run(np.zeros((2, 2, 6, 6), np.float32))


def test_onnx_bad_input_and_file(tmp_path):
    model = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(2,), kernel_size=3), rng=0)
    session = OnnxSession(export_onnx(model, tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="inputs must have shape"):
        session.run(np.zeros((1, 2, 6, 5), np.float32))
    with pytest.raises(TypeError, match="inputs has dtype complex"):
        session.run(np.zeros((1, 2, 6, 6), np.complex64))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxSession(bad)
    with pytest.raises(FileNotFoundError):
        OnnxSession(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="model must be one of"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        OnnxSession(tmp_path / "m.onnx", workers=0)
