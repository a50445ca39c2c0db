import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from skysense.learn import (
    ModelConfig,
    OnnxImagerSession,
    build_model,
    export_onnx,
    predict,
)


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(grid_shape=(12, 12), channels=(4, 6, 4), kernel_size=3),
        ModelConfig(arch="dn-rescnn", grid_shape=(6, 6, 4), channels=(3, 3), kernel_size=3),
        ModelConfig(grid_shape=(10, 10), in_channels=8, input_shape=(4, 4), channels=(3,)),
        ModelConfig(grid_shape=(8, 8), channels=(3, 3), kernel_size=3, voxel_gain=True),
    ],
)
def test_onnx_runtime_matches_torch(cfg, tmp_path, rng):
    model = build_model(cfg, seed=0)
    if cfg.voxel_gain:
        with torch.no_grad():
            model.voxel_gain.copy_(torch.linspace(0.1, 1.0, 64).reshape(8, 8))
    # non-trivial BN statistics: a few training-mode passes
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, cfg.in_channels, *cfg.input_shape))
    path = export_onnx(model, tmp_path / "m.onnx")
    assert model.training  # mode restored
    session = OnnxImagerSession(path, intra_op_threads=1)
    x = rng.standard_normal((5, cfg.in_channels, *cfg.input_shape)).astype(np.float32)
    np.testing.assert_allclose(session.predict(x), predict(model, x), rtol=0, atol=1e-5)
    # dynamic batch axis
    assert session.predict(x[:1]).shape == (1, *cfg.grid_shape)


def test_onnx_bad_input_and_file(tmp_path):
    model = build_model(ModelConfig(grid_shape=(6, 6), channels=(2,), kernel_size=3), seed=0)
    session = OnnxImagerSession(export_onnx(model, tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="inputs must have shape"):
        session.predict(np.zeros((1, 2, 6, 5), np.float32))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxImagerSession(bad)
    with pytest.raises(FileNotFoundError):
        OnnxImagerSession(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="ImagerNet"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
