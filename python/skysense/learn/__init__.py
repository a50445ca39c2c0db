"""The learned physics-embedded off-grid imager (Huang et al., IEEE TWC 2026, Secs. III-C, IV).

torch is optional: dataset generation and reading (``generate_dataset``,
``DatasetReader``, ``image_metrics``) need NumPy only; every other name imports torch on
first access and raises ImportError with the install command if it is missing.

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
==========================  ==========================================================
"""

from importlib import import_module

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
}

__all__ = [
    "ARCHITECTURES",
    "INPUT_KINDS",
    "LOSSES",
    "PAPER_CHANNELS",
    "CheckpointError",
    "DatasetReader",
    "ImagerNet",
    "ImagingLoss",
    "ModelConfig",
    "OffGridDataset",
    "OffGridImager",
    "OnnxImagerSession",
    "ShardSampler",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "export_onnx",
    "generate_dataset",
    "image_metrics",
    "load_checkpoint",
    "network_input",
    "normalize_images",
    "ohem1_loss",
    "ohem2_loss",
    "predict",
    "save_checkpoint",
    "split_frames",
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
