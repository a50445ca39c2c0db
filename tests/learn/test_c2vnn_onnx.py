import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from skysense.bistatic import Scenario
from skysense.learn import (
    C2vnn3dConfig,
    C2vnnConfig,
    OnnxC2vnnSession,
    build_c2vnn,
    build_c2vnn3d,
    export_c2vnn_onnx,
)


def test_onnx_runtime_matches_torch(tmp_path, rng):
    cfg = C2vnnConfig(scenario=Scenario(n_tx=4, n_rx=5, n_subcarriers=16), window=3, n_filters=4)
    model = build_c2vnn(cfg, 7).eval()
    path = export_c2vnn_onnx(model, tmp_path / "c2vnn.onnx")
    session = OnnxC2vnnSession(path, cfg)
    x = rng.standard_normal((9, 6, 4, 5)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = session.run(x)
    assert got.shape == (9, 3)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(session.run(x[:1]), expected[:1], atol=1e-5)  # dynamic batch
    with pytest.raises(ValueError, match="inputs must have shape"):
        session.run(x[:, :4])


def test_onnx_3d_model(tmp_path, rng):
    cfg = C2vnn3dConfig(
        scenario=Scenario(n_tx=3, n_rx=4, n_subcarriers=16), window=3, n_filters=2, n_subframes=3
    )
    model = build_c2vnn3d(cfg, 1).eval()
    session = OnnxC2vnnSession(export_c2vnn_onnx(model, tmp_path / "m3d.onnx"), cfg)
    x = rng.standard_normal((5, 6, 3, 3, 4)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(x), expected, atol=1e-5)
