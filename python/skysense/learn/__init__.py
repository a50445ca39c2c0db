"""Learned stages (torch optional, imported lazily): the off-grid imager (Huang et al., IEEE
TWC 2026, Secs. III-C, IV) and IFFT-C2VNN (bistatic AoA/AoD/ToA estimation).

NumPy-only names (dataset generation and reading, ``image_metrics``, ``csi_windows``,
``make_training_set``) import without torch; every other name imports torch on first access
and raises ImportError with the install command if it is missing.

==========================  ==========================================================
``generate_dataset``        off-grid frames -> ``.npz`` shards + ``meta.json`` (Dask)
``DatasetReader``           validated shard access (NumPy)
``network_input``           A^H y / SP / y frames -> network input channels
``image_metrics``           MSE, SSIM, OSPA, DR, FAR of images against labels
``normalize_images``        ``|x| / max |x|`` with a relative threshold (SP, A^H y rows)
``OffGridDataset``          torch ``Dataset`` over a dataset folder
``ShardSampler``            shard-local random order (one shard in memory)
``split_frames``            train / validation frame indices
``ModelConfig``             architecture: resCNN, CNN, Dn-resCNN, Dn-CNN; 2-D or 3-D
``ImagerNet``, ``build_model``  the refiner network
``ImagingLoss``             MSE / OHEM-1 / OHEM-2 plus alpha sparsity (eqs. 21-22)
``ohem1_loss``, ``ohem2_loss``  the OHEM reductions of a per-voxel loss
``TrainConfig``             RMSprop, ReduceLROnPlateau, clipping, seed, early stop
``train_imager``            training with checkpoint/resume -> ``TrainResult``
``predict``                 batched eval-mode inference of a model
``save_checkpoint``, ``load_checkpoint``  weights-only, config-checked checkpoints
``CheckpointError``         corrupted or mismatched checkpoint (a ValueError)
``OffGridImager``           CSI -> occupancy; ``load_default()`` (shipped model)
``export_onnx``             ONNX export (``skysense[onnx]``)
``OnnxImagerSession``       ONNX Runtime inference
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
``IfftC2vnn``               CSI -> ``bistatic.Estimate``; ``load_default()``, ``load_default_3d()``
``C2vnn3dConfig``, ``C2vnn3dNet``, ``build_c2vnn3d``  3-D (Conv3d over sub-frames) Doppler model
``estimate_3d``             sub-frame CSI -> ``Estimate`` with ``doppler`` (3-D model)
``export_c2vnn_onnx``       ONNX export (``skysense[onnx]``)
``OnnxC2vnnSession``        ONNX Runtime inference of an exported model
==========================  ==========================================================
"""

from importlib import import_module

from skysense.learn.c2vnn_data import csi_windows, make_training_set
from skysense.learn.data import (
    INPUT_KINDS,
    DatasetReader,
    generate_dataset,
    network_input,
)
from skysense.learn.evaluate import image_metrics, normalize_images

_LAZY = {
    "OffGridDataset": "dataset",
    "ShardSampler": "dataset",
    "split_frames": "dataset",
    "ARCHITECTURES": "networks",
    "PAPER_CHANNELS": "networks",
    "ModelConfig": "networks",
    "ImagerNet": "networks",
    "build_model": "networks",
    "LOSSES": "losses",
    "ImagingLoss": "losses",
    "ohem1_loss": "losses",
    "ohem2_loss": "losses",
    "TrainConfig": "train",
    "TrainResult": "train",
    "train_imager": "train",
    "predict": "train",
    "CheckpointError": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "OffGridImager": "imager",
    "export_onnx": "onnx",
    "OnnxImagerSession": "onnx",
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
    "ARCHITECTURES",
    "INPUT_KINDS",
    "LOSSES",
    "PAPER_CHANNELS",
    "C2vnn3dConfig",
    "C2vnn3dNet",
    "C2vnnCheckpointError",
    "C2vnnConfig",
    "C2vnnNet",
    "C2vnnTrainConfig",
    "C2vnnTrainResult",
    "CheckpointError",
    "ComplexConv2d",
    "ComplexConv3d",
    "ComplexLinear",
    "DatasetReader",
    "IfftC2vnn",
    "ImagerNet",
    "ImagingLoss",
    "ModelConfig",
    "OffGridDataset",
    "OffGridImager",
    "OnnxC2vnnSession",
    "OnnxImagerSession",
    "ShardSampler",
    "TrainConfig",
    "TrainResult",
    "build_c2vnn",
    "build_c2vnn3d",
    "build_model",
    "complex_relu",
    "count_flops",
    "csi_windows",
    "estimate_3d",
    "export_c2vnn_onnx",
    "export_onnx",
    "generate_dataset",
    "image_metrics",
    "load_c2vnn",
    "load_checkpoint",
    "make_training_set",
    "network_input",
    "normalize_images",
    "ohem1_loss",
    "ohem2_loss",
    "predict",
    "save_c2vnn",
    "save_checkpoint",
    "split_frames",
    "train_c2vnn",
    "train_imager",
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
