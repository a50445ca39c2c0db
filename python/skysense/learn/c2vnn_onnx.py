"""ONNX export of IFFT-C2VNN (complex layers as real pairs) and ONNX Runtime inference."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from skysense.learn._torch import require
from skysense.learn.c2vnn import C2vnnConfig, C2vnnNet
from skysense.learn.c2vnn3d import C2vnn3dConfig, C2vnn3dNet

__all__ = ["OnnxC2vnnSession", "export_c2vnn_onnx"]

#: ONNX opset of the export.
OPSET = 17


def _input_shape(cfg: C2vnnConfig) -> tuple[int, ...]:
    sc = cfg.scenario
    if isinstance(cfg, C2vnn3dConfig):
        return (2 * cfg.window, cfg.n_subframes, sc.n_tx, sc.n_rx)
    return (2 * cfg.window, sc.n_tx, sc.n_rx)


def export_c2vnn_onnx(model, path) -> Path:
    """Write ``model`` as ONNX: input ``windows`` float32, output ``params``.

    ``windows`` is ``(n, 2W, n_tx, n_rx)`` (2-D model, 3 outputs) or ``(n, 2W, S, n_tx, n_rx)``
    (3-D model, 4 outputs); the batch axis is dynamic. Needs ``pip install "skysense[onnx]"``.
    """
    if not isinstance(model, C2vnnNet | C2vnn3dNet):
        raise TypeError(f"model must be a C2vnnNet or C2vnn3dNet, got {type(model).__name__}")
    require("onnx")
    example = torch.zeros(2, *_input_shape(model.config))
    path = Path(path)
    model = model.eval()
    # The TorchScript exporter needs no onnxscript; its deprecation notice is expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript", DeprecationWarning
        )
        # Emitted inside torch's TorchScript exporter (torch 2.13), not by this call.
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        _export(model, example, path)
    onnx = require("onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    return path


def _export(model, example, path):
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["windows"],
        output_names=["params"],
        dynamic_axes={"windows": {0: "n"}, "params": {0: "n"}},
        opset_version=OPSET,
        dynamo=False,
    )


class OnnxC2vnnSession:
    """ONNX Runtime inference of an exported IFFT-C2VNN (CPU, single thread by default).

    Parameters
    ----------
    path : path-like
        File written by :func:`export_c2vnn_onnx`.
    config : C2vnnConfig
        The model's config (input shape check).
    intra_op_threads : int
        ONNX Runtime intra-op threads.
    """

    def __init__(self, path, config: C2vnnConfig, *, intra_op_threads=1):
        ort = require("onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        self.config = config
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def run(self, inputs) -> np.ndarray:
        """Network outputs ``(n, 3 or 4)`` float32 for real-pair windows (see the export)."""
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        want = _input_shape(self.config)
        if x.ndim != len(want) + 1 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, *{want}), got {x.shape}")
        return self._session.run(["params"], {"windows": x})[0]
