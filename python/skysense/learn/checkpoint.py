"""Checkpoints of the learned imager: weights plus plain-type metadata, loaded weights-only."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from skysense.learn.networks import ImagerNet, ModelConfig

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "skysense-offgrid-imager"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is corrupted, of another format, or does not fit the request."""


def save_checkpoint(path, model: ImagerNet, *, scenario=None, **extra) -> Path:
    """Write ``model``'s weights and config (plus ``extra`` plain-type fields) atomically.

    Parameters
    ----------
    path : str or Path
    model : ImagerNet
    scenario : dict, optional
        ``dataclasses.asdict(Scenario)`` the model was trained for.
    **extra
        Tensors, state dicts, numbers, strings, lists or dicts (e.g. optimizer state,
        epoch, history); anything ``torch.load(weights_only=True)`` accepts.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "scenario": scenario,
        "state_dict": state,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(doc, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, *, grid_shape=None, map_location="cpu"):
    """Load a checkpoint safely: weights only, format, config and tensor shapes checked.

    Parameters
    ----------
    path : str or Path
    grid_shape : tuple of int, optional
        Required output grid; a checkpoint for another grid raises :class:`CheckpointError`.
    map_location : str or torch.device

    Returns
    -------
    model : ImagerNet
        In eval mode, on ``map_location``.
    doc : dict
        The whole checkpoint (``model_config``, ``scenario`` and any extra fields).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        doc = torch.load(path, map_location=map_location, weights_only=True)
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
    ) as exc:
        raise CheckpointError(f"{path} is not a readable skysense checkpoint: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint")
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {doc.get('version')!r}")
    try:
        config = ModelConfig.from_dict(doc["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid model config: {exc}") from exc
    if grid_shape is not None and tuple(config.grid_shape) != tuple(grid_shape):
        raise CheckpointError(
            f"{path} holds a model for the grid {tuple(config.grid_shape)}, not {tuple(grid_shape)}"
        )
    model = ImagerNet(config)
    state = doc.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    for k, v in expected.items():
        if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape:
            got = getattr(state[k], "shape", type(state[k]).__name__)
            raise CheckpointError(f"{path}: {k} has shape {got}, config needs {tuple(v.shape)}")
        if state[k].is_floating_point() and not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{path}: {k} contains NaN or Inf")
    model.load_state_dict(state)
    model.to(map_location).eval()
    return model, doc
