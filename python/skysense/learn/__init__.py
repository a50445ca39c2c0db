"""Learned stages (torch optional, imported lazily): the off-grid imager (imaging paper, Secs.
III-C and IV) and IFFT-C2VNN (bistatic paper, Sec. III), on one shared core.

``import skysense.learn`` imports nothing heavy. Each name loads its module on first access;
the names marked NumPy work without torch, every other one imports torch and raises
ImportError with the install command if it is missing.

Layout: a shared core (``checkpoint``: one file format with atomic writes and validated
loads; ``onnx``: one exporter and one ONNX Runtime session; ``training``: one training loop
with timed checkpoints and exact resume) under two stacks, ``imager/`` and ``c2vnn/``. The
shipped weights are in ``weights/`` (``weights/README.md`` tells how they were trained).

Shared core

============================  ================================================================
``save_checkpoint``           write a model, its config and metadata atomically
``load_checkpoint``           validated weights-only load -> ``Checkpoint``
``Checkpoint``                loaded ``model``, ``metadata``, ``training_state``
``CheckpointError``           corrupted, foreign or mismatched checkpoint (a ValueError)
``export_onnx``               ONNX export of any learned network (``skysense[onnx]``)
``OnnxSession``               ONNX Runtime inference of an exported network
``TrainResult``               trained model and validation history of both trainers
============================  ================================================================

Off-grid imager

============================  ================================================================
``generate_dataset``          NumPy: off-grid frames -> ``.npz`` shards + ``meta.json`` (Dask)
``DatasetReader``             NumPy: validated shard access (SHA-256, dtypes, shapes, values)
``DatasetError``              NumPy: damaged or foreign dataset folder (a ValueError)
``network_input``             NumPy: A^H y / SP / y / per-pair frames -> network input channels
``INPUT_KINDS``               NumPy: the network inputs of ``network_input``
``PairBackprojector``         NumPy: per-BS-pair back-projections (the detector's front end)
``pair_backprojection``       NumPy: one-off ``PairBackprojector``
``image_metrics``             NumPy: MSE, SSIM, OSPA, DR, FAR of images -> ``ImageMetrics``
``ImageMetrics``              NumPy: the scores of ``image_metrics``
``normalize_images``          NumPy: ``|x| / max |x|`` with a relative threshold
``OffGridDataset``            torch ``Dataset`` over a dataset folder
``split_frames``              train / validation frame indices
``ImagerConfig``              architecture: resCNN, CNN, Dn-resCNN, Dn-CNN; 2-D or 3-D
``ImagerNet``                 the refiner network
``build_imager_net``          a freshly initialised ``ImagerNet`` (``rng``)
``DetectorConfig``            architecture + read-out of the off-grid detector (U-Net)
``DetectorNet``               per-pair back-projections -> UAV-centre heat map
``build_detector_net``        a freshly initialised ``DetectorNet`` (``rng``)
``ARCHITECTURES``             the architectures of ``ImagerConfig``
``PAPER_CHANNELS``            the paper's resCNN channel list
``ImagingLoss``               MSE / OHEM-1 / OHEM-2 plus the sparsity term (eqs. (21)-(22)),
                              or the detector's focal loss
``LOSSES``                    the loss kinds of ``ImagingLoss``
``ImagerTrainConfig``         RMSprop, plateau or cosine schedule, clipping, early stop
``train_imager``              training with timed checkpoints and resume -> ``TrainResult``
``predict``                   batched eval-mode inference of an ``ImagerNet``
``OffGridImager``             CSI -> occupancy images / positions; ``load_default()``,
                              ``load_default_3d()`` (shipped detectors)
============================  ================================================================

IFFT-C2VNN

============================  ================================================================
``C2vnnConfig``               NumPy: 2-D architecture + the scenario it was trained for
``C2vnn3dConfig``             NumPy: 3-D (Conv3d over S sub-frames) Doppler architecture
``C2vnnCountConfig``          NumPy: path-count classifier (paths per delay peak)
``csi_windows``               NumPy: delay taps, peak rows, normalised windows -> ``C2vnnWindows``
``C2vnnWindows``              NumPy: network inputs and peak rows of a CSI batch
``make_training_set``         NumPy: labelled windows from ``bistatic.simulate`` (mixed SNR)
``count_windows``             NumPy: candidate-peak windows at relative power (the classifier's)
``make_count_training_set``   NumPy: count-labelled candidate windows
``C2vnnNet``, ``C2vnn3dNet``  two complex convolutions + two complex linear layers
``C2vnnCountNet``             the same layers, logits of 0, 1, 2, 3+ paths per peak
``build_c2vnn``               a freshly initialised 2-D or 3-D network (``rng``)
``count_flops``               real FLOPs of one forward pass
``C2vnnTrainConfig``          Adam, batch 128, MSE, mixed-SNR data settings
``train_c2vnn``               simulate + train -> ``TrainResult``
``IfftC2vnn``                 CSI -> ``bistatic.Estimate``; ``load_default()``,
                              ``load_default_3d()``
============================  ================================================================

Examples
--------
>>> import skysense.learn as learn
>>> learn.C2vnnConfig().window
3
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from skysense.learn.c2vnn.config import C2vnn3dConfig, C2vnnConfig, C2vnnCountConfig
    from skysense.learn.c2vnn.data import (
        C2vnnWindows,
        count_windows,
        csi_windows,
        make_count_training_set,
        make_training_set,
    )
    from skysense.learn.c2vnn.estimator import IfftC2vnn
    from skysense.learn.c2vnn.networks import (
        C2vnn3dNet,
        C2vnnCountNet,
        C2vnnNet,
        build_c2vnn,
        count_flops,
    )
    from skysense.learn.c2vnn.train import C2vnnTrainConfig, train_c2vnn
    from skysense.learn.checkpoint import (
        Checkpoint,
        CheckpointError,
        load_checkpoint,
        save_checkpoint,
    )
    from skysense.learn.imager.data import (
        INPUT_KINDS,
        DatasetError,
        DatasetReader,
        generate_dataset,
        network_input,
    )
    from skysense.learn.imager.dataset import OffGridDataset, split_frames
    from skysense.learn.imager.detector import DetectorConfig, DetectorNet, build_detector_net
    from skysense.learn.imager.estimator import OffGridImager
    from skysense.learn.imager.evaluate import ImageMetrics, image_metrics, normalize_images
    from skysense.learn.imager.features import PairBackprojector, pair_backprojection
    from skysense.learn.imager.losses import LOSSES, ImagingLoss
    from skysense.learn.imager.networks import (
        ARCHITECTURES,
        PAPER_CHANNELS,
        ImagerConfig,
        ImagerNet,
        build_imager_net,
    )
    from skysense.learn.imager.train import ImagerTrainConfig, predict, train_imager
    from skysense.learn.onnx import OnnxSession, export_onnx
    from skysense.learn.training import TrainResult

#: Names that need only NumPy -> their module.
_NUMPY = {
    "INPUT_KINDS": "imager.data",
    "DatasetReader": "imager.data",
    "DatasetError": "imager.data",
    "generate_dataset": "imager.data",
    "network_input": "imager.data",
    "PairBackprojector": "imager.features",
    "pair_backprojection": "imager.features",
    "ImageMetrics": "imager.evaluate",
    "image_metrics": "imager.evaluate",
    "normalize_images": "imager.evaluate",
    "C2vnnConfig": "c2vnn.config",
    "C2vnn3dConfig": "c2vnn.config",
    "C2vnnCountConfig": "c2vnn.config",
    "C2vnnWindows": "c2vnn.data",
    "count_windows": "c2vnn.data",
    "csi_windows": "c2vnn.data",
    "make_count_training_set": "c2vnn.data",
    "make_training_set": "c2vnn.data",
}
#: Names that need torch -> their module.
_TORCH = {
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "OnnxSession": "onnx",
    "export_onnx": "onnx",
    "TrainResult": "training",
    "OffGridDataset": "imager.dataset",
    "split_frames": "imager.dataset",
    "ARCHITECTURES": "imager.networks",
    "PAPER_CHANNELS": "imager.networks",
    "ImagerConfig": "imager.networks",
    "ImagerNet": "imager.networks",
    "build_imager_net": "imager.networks",
    "DetectorConfig": "imager.detector",
    "DetectorNet": "imager.detector",
    "build_detector_net": "imager.detector",
    "LOSSES": "imager.losses",
    "ImagingLoss": "imager.losses",
    "ImagerTrainConfig": "imager.train",
    "predict": "imager.train",
    "train_imager": "imager.train",
    "OffGridImager": "imager.estimator",
    "C2vnnNet": "c2vnn.networks",
    "C2vnn3dNet": "c2vnn.networks",
    "C2vnnCountNet": "c2vnn.networks",
    "build_c2vnn": "c2vnn.networks",
    "count_flops": "c2vnn.networks",
    "C2vnnTrainConfig": "c2vnn.train",
    "train_c2vnn": "c2vnn.train",
    "IfftC2vnn": "c2vnn.estimator",
}

__all__ = [
    "ARCHITECTURES",
    "INPUT_KINDS",
    "LOSSES",
    "PAPER_CHANNELS",
    "C2vnn3dConfig",
    "C2vnn3dNet",
    "C2vnnConfig",
    "C2vnnCountConfig",
    "C2vnnCountNet",
    "C2vnnNet",
    "C2vnnTrainConfig",
    "C2vnnWindows",
    "Checkpoint",
    "CheckpointError",
    "DatasetError",
    "DatasetReader",
    "DetectorConfig",
    "DetectorNet",
    "IfftC2vnn",
    "ImageMetrics",
    "ImagerConfig",
    "ImagerNet",
    "ImagerTrainConfig",
    "ImagingLoss",
    "OffGridDataset",
    "OffGridImager",
    "OnnxSession",
    "PairBackprojector",
    "TrainResult",
    "build_c2vnn",
    "build_detector_net",
    "build_imager_net",
    "count_flops",
    "count_windows",
    "csi_windows",
    "export_onnx",
    "generate_dataset",
    "image_metrics",
    "load_checkpoint",
    "make_count_training_set",
    "make_training_set",
    "network_input",
    "normalize_images",
    "pair_backprojection",
    "predict",
    "save_checkpoint",
    "split_frames",
    "train_c2vnn",
    "train_imager",
]


def __getattr__(name: str) -> Any:
    module = _NUMPY.get(name)
    if module is None:
        module = _TORCH.get(name)
        if module is None:
            raise AttributeError(f"module 'skysense.learn' has no attribute {name!r}")
        from skysense.learn._torch import require_torch

        require_torch()
    value = getattr(import_module(f"skysense.learn.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
