"""ONNX export of every learned model and inference through ONNX Runtime (``skysense[onnx]``).

One exporter and one session class for the off-grid imager and both IFFT-C2VNN networks:
the graph has one input ``"input"``, ``(batch, *model.sample_shape)`` float32, and one output
``"output"`` (occupancy ``(batch, *grid)`` or the regression targets ``(batch, 3 or 4)``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np

from skysense._validation import as_array
from skysense._workers import resolve_workers
from skysense.learn._torch import require, require_torch

__all__ = ["OPSET", "OnnxSession", "export_onnx"]

#: Opset of :func:`export_onnx` (ONNX Runtime >= 1.16 runs it).
OPSET = 17

PathLike = str | os.PathLike[str]


def export_onnx(
    model: Any, path: PathLike, *, opset: int = OPSET, dynamic_batch: bool = True
) -> Path:
    """Write a learned network as an ONNX graph (checked with ``onnx.checker``).

    Parameters
    ----------
    model : ImagerNet, C2vnnNet or C2vnn3dNet
        Exported in eval mode (BatchNorm folded to its running statistics); its training
        mode is restored afterwards.
    path : str or path-like
        Output file (its folder is created).
    opset : int
        ONNX opset version.
    dynamic_batch : bool
        Leave the batch axis symbolic (``"batch"``); otherwise it is 1.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Complex IFFT-C2VNN layers are real-pair convolutions and matrix products (bistatic
    paper, eqs. (22)-(24)), so the graph has no complex dtypes. The TorchScript exporter
    (``dynamo=False``) needs only ``onnx``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> torch = __import__("pytest").importorskip("torch")
    >>> _ = __import__("pytest").importorskip("onnxruntime")
    >>> from skysense.learn import ImagerConfig, build_imager_net
    >>> net = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(2,)), rng=0)
    >>> path = export_onnx(net, pathlib.Path(tempfile.mkdtemp()) / "net.onnx")
    >>> OnnxSession(path).run(np.zeros((3, 2, 6, 6), np.float32)).shape
    (3, 6, 6)
    """
    torch = require_torch()
    onnx = require("onnx")
    from skysense.learn.checkpoint import network_classes

    classes = tuple(network_classes().values())
    if not isinstance(model, classes):
        raise TypeError(
            f"model must be one of {[c.__name__ for c in classes]}, got {type(model).__name__}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    sample_shape = cast(tuple[int, ...], model.sample_shape)
    example = torch.zeros((2 if dynamic_batch else 1, *sample_shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            # The shape checks in forward() are constant for a traced batch; the TorchScript
            # exporter's deprecation notices (torch 2.13) are expected here.
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["input"],
                output_names=["output"],
                opset_version=opset,
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}
                if dynamic_batch
                else None,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    onnx.checker.check_model(onnx.load(str(path)))
    return path


class OnnxSession:
    """ONNX Runtime inference of a graph written by :func:`export_onnx`.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    workers : int, optional
        ONNX Runtime intra-op threads (``docs/conventions.md``: None is the current default,
        1 unless :func:`skysense.set_workers` says otherwise; -1 every CPU).
    providers : list of str, optional
        Execution providers (default ``["CPUExecutionProvider"]``).

    Attributes
    ----------
    sample_shape : tuple of int
        Shape of one input sample (the graph's input without its batch axis).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        workers: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        ort = require("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_workers(workers)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{path} is not a loadable ONNX model: {exc}") from exc
        inp = self._session.get_inputs()[0]
        self._input_name: str = inp.name
        batch = inp.shape[0]
        self._batch: int | None = batch if isinstance(batch, int) else None
        self.sample_shape: tuple[int, ...] = tuple(int(s) for s in inp.shape[1:])

    def run(self, inputs: Any) -> np.ndarray:
        """Network outputs of a batch.

        Parameters
        ----------
        inputs : array_like, shape (n, *sample_shape), float
            Cast to float32; NaN/Inf raise ValueError.

        Returns
        -------
        ndarray, float32
            ``(n, *grid)`` occupancy (imager) or ``(n, 3)`` / ``(n, 4)`` targets (IFFT-C2VNN).
        """
        x = as_array(
            inputs, "inputs", shape=(self._batch, *self.sample_shape), kind="f", dtype=np.float32
        )
        out: np.ndarray = self._session.run(None, {self._input_name: x})[0]
        return out
