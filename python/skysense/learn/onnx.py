"""ONNX export of a refiner and inference through ONNX Runtime (optional ``skysense[onnx]``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from skysense._validation import as_array
from skysense.learn._torch import require, require_torch

__all__ = ["OnnxImagerSession", "export_onnx"]

#: Opset of :func:`export_onnx` (ONNX Runtime >= 1.16 runs it).
OPSET = 17


def export_onnx(model, path, *, opset=OPSET, dynamic_batch=True) -> Path:
    """Write ``model`` (an :class:`~skysense.learn.ImagerNet`) as an ONNX graph.

    Parameters
    ----------
    model : ImagerNet
    path : str or Path
    opset : int
        ONNX opset version.
    dynamic_batch : bool
        Leave the batch axis symbolic (``"batch"``).

    Returns
    -------
    Path

    Notes
    -----
    Exported in eval mode (BatchNorm folded to its running statistics) with the TorchScript
    exporter (``dynamo=False``), which needs only ``onnx``. Input ``"input"``,
    ``(batch, C, *input_shape)`` float32; output ``"occupancy"``, ``(batch, *grid)``.
    """
    torch = require_torch()
    require("onnx")
    from skysense.learn.networks import ImagerNet

    if not isinstance(model, ImagerNet):
        raise TypeError(f"model must be an ImagerNet, got {type(model).__name__}")
    cfg = model.config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    example = torch.zeros((1, cfg.in_channels, *cfg.input_shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            # The shape check in forward() is constant for a traced batch; the legacy
            # exporter's deprecation notice is expected here.
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["input"],
                output_names=["occupancy"],
                opset_version=opset,
                dynamic_axes={"input": {0: "batch"}, "occupancy": {0: "batch"}}
                if dynamic_batch
                else None,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    return path


class OnnxImagerSession:
    """ONNX Runtime inference of an exported refiner.

    Parameters
    ----------
    path : str or Path
        File written by :func:`export_onnx`.
    providers : list of str, optional
        ONNX Runtime execution providers (default: CPU).
    intra_op_threads : int, optional
        Threads per operator (ONNX Runtime's default if None).
    """

    def __init__(self, path, *, providers=None, intra_op_threads=None):
        ort = require("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}")
        options = ort.SessionOptions()
        if intra_op_threads is not None:
            options.intra_op_num_threads = int(intra_op_threads)
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{path} is not a loadable ONNX model: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(inp.shape[1:])

    def predict(self, inputs) -> np.ndarray:
        """``(n, C, *input_shape)`` float inputs -> ``(n, *grid)`` float32 occupancy."""
        x = as_array(inputs, "inputs", shape=(None, *self.input_shape), kind="f", dtype=np.float32)
        return self.session.run(None, {self.input_name: x})[0]
