"""Learned estimators (torch optional, imported lazily).

NumPy-only names (``make_training_set``, ``csi_windows``) import without torch; every other name
imports torch on first access and raises ImportError with the install command if it is missing.

==========================  ==========================================================
``csi_windows``             IFFT-C2VNN inputs: delay taps, peak rows, normalised windows
``make_training_set``       labelled windows from ``bistatic.simulate`` (mixed SNR)
``C2vnnConfig``             IFFT-C2VNN architecture + the scenario it was trained for
``C2vnnNet``, ``build_c2vnn``  two complex conv + two complex linear layers (eqs. 22-24)
``count_flops``             real FLOPs of one IFFT-C2VNN forward pass
``ComplexConv2d``, ``ComplexConv3d``, ``ComplexLinear``, ``complex_relu``  real-pair layers
``C2vnnTrainConfig``        Adam, batch 128, MSE, mixed-SNR data settings
``train_c2vnn``             simulate + train -> ``C2vnnTrainResult``
``save_c2vnn``, ``load_c2vnn``  weights-only, config-checked checkpoints
``C2vnnCheckpointError``    corrupted or mismatched checkpoint (a ValueError)
``IfftC2vnn``               CSI -> ``bistatic.Estimate``; ``load_default()`` (shipped model)
``C2vnn3dConfig``, ``C2vnn3dNet``, ``build_c2vnn3d``  3-D (Conv3d over sub-frames) Doppler model
``estimate_3d``             sub-frame CSI -> ``Estimate`` with ``doppler`` (3-D model)
``export_c2vnn_onnx``       ONNX export (``skysense[onnx]``)
``OnnxC2vnnSession``        ONNX Runtime inference of an exported model
==========================  ==========================================================
"""

from importlib import import_module

from skysense.learn.c2vnn_data import csi_windows, make_training_set

_LAZY = {
    "C2vnnConfig": "c2vnn",
    "C2vnnNet": "c2vnn",
    "build_c2vnn": "c2vnn",
    "count_flops": "c2vnn",
    "ComplexConv2d": "complex_layers",
    "ComplexConv3d": "complex_layers",
    "ComplexLinear": "complex_layers",
    "complex_relu": "complex_layers",
    "C2vnnTrainConfig": "c2vnn_train",
    "C2vnnTrainResult": "c2vnn_train",
    "C2vnnCheckpointError": "c2vnn_train",
    "train_c2vnn": "c2vnn_train",
    "save_c2vnn": "c2vnn_train",
    "load_c2vnn": "c2vnn_train",
    "IfftC2vnn": "c2vnn_estimator",
    "C2vnn3dConfig": "c2vnn3d",
    "C2vnn3dNet": "c2vnn3d",
    "build_c2vnn3d": "c2vnn3d",
    "estimate_3d": "c2vnn3d",
    "export_c2vnn_onnx": "c2vnn_onnx",
    "OnnxC2vnnSession": "c2vnn_onnx",
}

__all__ = [
    "C2vnn3dConfig",
    "C2vnn3dNet",
    "C2vnnCheckpointError",
    "C2vnnConfig",
    "C2vnnNet",
    "C2vnnTrainConfig",
    "C2vnnTrainResult",
    "ComplexConv2d",
    "ComplexConv3d",
    "ComplexLinear",
    "IfftC2vnn",
    "OnnxC2vnnSession",
    "build_c2vnn",
    "build_c2vnn3d",
    "complex_relu",
    "count_flops",
    "csi_windows",
    "estimate_3d",
    "export_c2vnn_onnx",
    "load_c2vnn",
    "make_training_set",
    "save_c2vnn",
    "train_c2vnn",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skysense.learn' has no attribute {name!r}")
    from skysense.learn._torch import require_torch

    require_torch()
    value = getattr(import_module(f"skysense.learn.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
