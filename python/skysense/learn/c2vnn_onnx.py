"""ONNX export of IFFT-C2VNN (complex layers as real pairs) and ONNX Runtime inference."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from skysense.learn._torch import require
from skysense.learn.c2vnn import C2vnnConfig, C2vnnNet

__all__ = ["OnnxC2vnnSession", "export_c2vnn_onnx"]

#: ONNX opset of the export.
OPSET = 17


def export_c2vnn_onnx(model: C2vnnNet, path) -> Path:
    """Write ``model`` as ONNX: input ``windows`` (n, 2W, n_tx, n_rx) float32, output ``params`` (n, 3).

    The batch axis is dynamic. Needs ``onnx`` (``pip install "skysense[onnx]"``).
    """
    if not isinstance(model, C2vnnNet):
        raise TypeError(f"model must be a C2vnnNet, got {type(model).__name__}")
    require("onnx")
    cfg = model.config
    example = torch.zeros(2, 2 * cfg.window, cfg.scenario.n_tx, cfg.scenario.n_rx)
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
        """Network outputs ``(n, 3)`` float32 for real-pair windows ``(n, 2W, n_tx, n_rx)``."""
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        cfg = self.config
        want = (2 * cfg.window, cfg.scenario.n_tx, cfg.scenario.n_rx)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, *{want}), got {x.shape}")
        return self._session.run(["params"], {"windows": x})[0]
