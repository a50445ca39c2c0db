"""Checkpoints of every learned model: one file format, atomic writes, validated weights-only loads.

A checkpoint is a ``torch.save`` file holding plain types and tensors only, so it loads with
``torch.load(weights_only=True)`` (no code runs while reading it):

==================  ===============================================================
``format``          ``"skysense-learn"``
``version``         1
``model``           ``"imager"``, ``"imager-detector"``, ``"c2vnn"`` or ``"c2vnn3d"``
                    (see :data:`MODELS`)
``config``          the network's configuration, ``config.to_dict()``
``state_dict``      weights and buffers
``metadata``        plain-type record (scenario, training settings, losses, ...)
``training_state``  optional: what a resumed training run needs (optimiser, schedule,
                    shuffling generator, history), written by the training loop
``sha256``          hex SHA-256 of every tensor above (name, dtype, shape and bytes), so
                    that a damaged file is refused instead of loading wrong weights
==================  ===============================================================

A checkpoint is refused at save and at load when a floating tensor holds NaN or Inf.

Importing this module imports torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from skysense._results import Result

__all__ = [
    "FORMAT",
    "MODELS",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "network_classes",
    "save_checkpoint",
    "tensor_digest",
]

#: Format tag and version of a checkpoint file.
FORMAT = "skysense-learn"
VERSION = 2  # 2: the SHA-256 of the tensors is stored and verified
#: Model name stored in a checkpoint -> (module, class) of its network. Each class has a
#: ``checkpoint_name`` equal to its key and a ``config_type`` with ``to_dict``/``from_dict``.
MODELS: dict[str, tuple[str, str]] = {
    "imager": ("skysense.learn.imager.networks", "ImagerNet"),
    "imager-detector": ("skysense.learn.imager.detector", "DetectorNet"),
    "c2vnn": ("skysense.learn.c2vnn.networks", "C2vnnNet"),
    "c2vnn3d": ("skysense.learn.c2vnn.networks", "C2vnn3dNet"),
    "c2vnn-count": ("skysense.learn.c2vnn.networks", "C2vnnCountNet"),
}

PathLike = str | os.PathLike[str]


class CheckpointError(ValueError):
    """A checkpoint file is corrupted, of another format, or does not fit the request."""


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Checkpoint(Result):
    """A loaded checkpoint (:func:`load_checkpoint`).

    Attributes
    ----------
    model : torch.nn.Module
        The network (``ImagerNet``, ``C2vnnNet`` or ``C2vnn3dNet``), in eval mode.
    metadata : dict
        The plain-type record saved with the weights.
    training_state : dict or None
        What :func:`~skysense.learn.training.fit` needs to resume; None for a finished model.
    """

    model: nn.Module
    metadata: dict[str, Any]
    training_state: dict[str, Any] | None


def network_classes() -> dict[str, type[nn.Module]]:
    """The network class of each name in :data:`MODELS` (imports their modules)."""
    return {
        name: getattr(importlib.import_module(module), cls)
        for name, (module, cls) in MODELS.items()
    }


def _tensors(value: Any, where: str) -> Iterable[tuple[str, torch.Tensor]]:
    """Every tensor under ``value`` (nested dicts, lists, tuples) with its path, in a fixed order."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, Mapping):
        for key in sorted(value, key=repr):
            yield from _tensors(value[key], f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{where}[{i}]")


def tensor_digest(*parts: tuple[str, Any]) -> str:
    """Hex SHA-256 of the tensors under each ``(name, value)``: paths, dtypes, shapes and bytes.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> a = tensor_digest(("w", {"x": torch.zeros(3)}))
    >>> a == tensor_digest(("w", {"x": torch.zeros(3)})), a == tensor_digest(("w", {"x": torch.ones(3)}))
    (True, False)
    """
    h = hashlib.sha256()
    for name, value in parts:
        for where, t in _tensors(value, name):
            t = t.detach().cpu().contiguous()
            h.update(f"{where}|{t.dtype}|{tuple(t.shape)}|".encode())
            # bytes through an integer view of the same width (bfloat16 has no NumPy dtype)
            flat = t.reshape(-1)
            if flat.dtype in (torch.bfloat16, torch.float16):
                flat = flat.view(torch.int16)
            h.update(np.ascontiguousarray(flat.numpy()).view(np.uint8).tobytes())
    return h.hexdigest()


def _check_weights_only(value: Any, part: str) -> None:
    """Raise TypeError unless ``value`` loads back with ``torch.load(weights_only=True)``.

    A ``str`` or ``float`` subclass (``torch.__version__``, ``numpy.float64``) passes an
    ``isinstance`` test but is pickled as its class, which the weights-only loader refuses:
    without this check such a file is written and then cannot be read.
    """
    buf = io.BytesIO()
    torch.save(value, buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = found.group(1) if found else "a non-plain object"
        raise TypeError(
            f"{part} must hold plain types only (int, float, str, bool, None, lists, dicts, "
            f"tensors), got {what}; convert it first (e.g. str(torch.__version__), float(x))"
        ) from None


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    *,
    metadata: Mapping[str, Any] | None = None,
    training_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and configuration atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    path : str or path-like
        Destination; its folder is created. A reader never sees a half-written file.
    model : ImagerNet, C2vnnNet or C2vnn3dNet
        The network; its ``config`` is stored beside the weights.
    metadata : mapping, optional
        Plain types only (numbers, strings, lists, dicts, tensors): what
        ``torch.load(weights_only=True)`` accepts.
    training_state : mapping, optional
        Resumable training state (written by the training loop).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        A floating tensor of the weights or of ``training_state`` holds NaN or Inf (a
        diverged run is not saved as if it were a model).
    TypeError
        ``metadata`` holds an object that ``torch.load(weights_only=True)`` refuses (a
        ``numpy.float64``, ``torch.__version__``): the file would not load back.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense.learn import ImagerConfig, build_imager_net, load_checkpoint
    >>> net = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(2,)), rng=0)
    >>> path = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "m.pt", net)
    >>> load_checkpoint(path).model.config == net.config
    True
    """
    classes = network_classes()
    name = getattr(type(model), "checkpoint_name", None)
    if name not in classes or not isinstance(model, classes[name]):
        raise TypeError(
            f"model must be one of {sorted(c.__name__ for c in classes.values())}, "
            f"got {type(model).__name__}"
        )
    path = Path(path)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "config": cast(Any, model).config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    if training_state is not None:
        doc["training_state"] = dict(training_state)
    _check_weights_only(doc["metadata"], "metadata")
    for part in ("state_dict", "training_state"):
        bad = _non_finite(doc.get(part), part)
        if bad is not None:
            raise ValueError(f"refusing to save {path}: {bad} contains NaN or Inf")
    doc["sha256"] = tensor_digest(
        ("state_dict", doc["state_dict"]), ("training_state", doc.get("training_state"))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _non_finite(value: Any, where: str) -> str | None:
    """Name of the first floating tensor under ``value`` with NaN or Inf, else None."""
    if isinstance(value, torch.Tensor):
        if (value.is_floating_point() or value.is_complex()) and not bool(
            torch.isfinite(value).all()
        ):
            return where
        return None
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{where}[{key!r}]")
        if found is not None:
            return found
    return None


def load_checkpoint(
    path: PathLike,
    *,
    expected_config: Any = None,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint safely: weights only; format, configuration, shapes and values checked.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_checkpoint`.
    expected_config : ImagerConfig, C2vnnConfig or C2vnn3dConfig, optional
        Required configuration; a checkpoint of another model raises :class:`CheckpointError`.
    map_location : str or torch.device
        Device of the returned model.

    Returns
    -------
    Checkpoint
        ``model`` (eval mode, on ``map_location``), ``metadata`` and ``training_state``.

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError
        An unreadable file (truncated, not a zip, or holding objects other than plain types
        and tensors), another format or version, an unknown model, an invalid configuration
        or one other than ``expected_config``, weights of the wrong names or shapes, or any
        tensor (weights, buffers, training state) holding NaN or Inf, or tensors whose
        SHA-256 differs from the one stored at save (a damaged file).

    Examples
    --------
    >>> from importlib import resources
    >>> _ = __import__("pytest").importorskip("torch")
    >>> weights = resources.files("skysense.learn") / "weights" / "c2vnn.pt"
    >>> with resources.as_file(weights) as path:
    ...     ckpt = load_checkpoint(path)
    >>> type(ckpt.model).__name__, ckpt.metadata["train_config"]["batch_size"]
    ('C2vnnNet', 128)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip, EOF and torch errors of a damaged file
        raise CheckpointError(f"{path} is not a readable skysense checkpoint: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint")
    if doc.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {doc.get('version')!r}, expected {VERSION}"
        )
    classes = network_classes()
    name = doc.get("model")
    if name not in classes:
        raise CheckpointError(
            f"{path} holds an unknown model {name!r}; known models are {sorted(classes)}"
        )
    net_cls: Any = classes[name]
    try:
        config = net_cls.config_type.from_dict(doc["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} holds an invalid {name} config: {exc}") from exc
    if expected_config is not None and config != expected_config:
        raise CheckpointError(
            f"{path} holds a {name} model for {config}, not the expected {expected_config}"
        )
    model = net_cls(config)
    state = doc.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    for key, want in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(
                f"{path}: {key} has shape {shape}, the config needs {tuple(want.shape)}"
            )
    metadata = doc.get("metadata", {})
    training_state = doc.get("training_state")
    if not isinstance(metadata, dict) or not isinstance(training_state, dict | None):
        raise CheckpointError(f"{path}: metadata and training_state must be dicts")
    for part, value in (("state_dict", state), ("training_state", training_state)):
        bad = _non_finite(value, part)
        if bad is not None:
            raise CheckpointError(f"{path}: {bad} contains NaN or Inf")
    stored = doc.get("sha256")
    if not isinstance(stored, str):
        raise CheckpointError(f"{path} stores no SHA-256 of its tensors")
    if tensor_digest(("state_dict", state), ("training_state", training_state)) != stored:
        raise CheckpointError(
            f"{path} is damaged: the SHA-256 of its tensors differs from the one stored at save"
        )
    model.load_state_dict(state)
    model.to(map_location).eval()
    return Checkpoint(model=model, metadata=metadata, training_state=training_state)
