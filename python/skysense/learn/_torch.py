"""Lazy access to the optional learning dependencies (torch, onnx, onnxruntime)."""

from __future__ import annotations

import importlib

__all__ = ["require", "require_torch"]

_INSTALL = {
    "torch": 'pip install "skysense[learned]"  (or a torch build for your CUDA/ROCm version)',
    "onnx": 'pip install "skysense[onnx]"',
    "onnxruntime": 'pip install "skysense[onnx]"',
}


def require(module: str):
    """Import ``module`` or raise ImportError naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _INSTALL.get(module, f"pip install {module}")
        raise ImportError(
            f"skysense.learn needs the optional dependency {module!r}; install it with: {hint}"
        ) from exc


def require_torch():
    """The ``torch`` module (ImportError with the install command if it is missing)."""
    return require("torch")
