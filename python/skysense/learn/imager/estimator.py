"""``OffGridImager``: CSI frames -> occupancy images through A^H y and a trained refiner."""

from __future__ import annotations

import os
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skysense._validation import as_array
from skysense.imaging import Scenario, SensingOperator
from skysense.learn._torch import torch_threads
from skysense.learn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from skysense.learn.imager.data import image_shape, network_input, scenario_from_dict, voxel_gain
from skysense.learn.imager.networks import ImagerNet
from skysense.learn.imager.train import _predict

__all__ = ["DEFAULT_WEIGHTS", "OffGridImager"]

#: The shipped model, in ``skysense/learn/weights/`` (``weights/README.md`` tells how it was
#: trained).
DEFAULT_WEIGHTS = "imager_2d.pt"

PathLike = str | os.PathLike[str]


class OffGridImager:
    """The learned physics-embedded off-grid imager (Model+DNN<A^H y>, imaging paper, Sec. IV).

    Parameters
    ----------
    model : ImagerNet
        A trained refiner taking Re/Im of ``A^H y`` (``in_channels == 2``).
    scenario : Scenario
        The scenario it was trained for (its grid must be the model's).

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense.imaging import simulate
    >>> imager = OffGridImager.load_default()
    >>> batch = simulate(imager.scenario, 2, 6, off_grid=True, rng=0)
    >>> imager.image(batch.measurements).shape
    (2, 40, 40)
    """

    def __init__(self, model: ImagerNet, scenario: Scenario) -> None:
        if not isinstance(model, ImagerNet):
            raise TypeError(f"model must be an ImagerNet, got {type(model).__name__}")
        if not isinstance(scenario, Scenario):
            raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
        if model.config.grid_shape != image_shape(scenario):
            raise ValueError(
                f"model grid {model.config.grid_shape} does not match the scenario grid "
                f"{image_shape(scenario)}"
            )
        if model.config.sample_shape != (2, *model.config.grid_shape):
            raise ValueError("OffGridImager needs a model on Re/Im of A^H y (2 channels, grid)")
        if model.config.voxel_gain:
            expected = voxel_gain(scenario)
            got = model.voxel_gain.detach().cpu().numpy()
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-6):
                raise ValueError("the model's voxel_gain was not computed for this scenario")
        self.model = model.eval()
        self.scenario = scenario
        self._operator: SensingOperator | None = None

    @property
    def operator(self) -> SensingOperator:
        """Matrix-free sensing operator of the scenario (built on first use)."""
        if self._operator is None:
            self._operator = SensingOperator(self.scenario)
        return self._operator

    @classmethod
    def from_checkpoint(
        cls, path: PathLike, *, device: str | torch.device = "cpu"
    ) -> OffGridImager:
        """Load a checkpoint written by :func:`~skysense.learn.train_imager` or :meth:`save`.

        Raises
        ------
        CheckpointError
            See :func:`~skysense.learn.load_checkpoint`; also a checkpoint of another model
            or one that records no scenario.
        """
        ckpt = load_checkpoint(path, map_location=device)
        if not isinstance(ckpt.model, ImagerNet):
            raise CheckpointError(
                f"{path} holds a {type(ckpt.model).__name__}, not an off-grid imager"
            )
        scenario = ckpt.metadata.get("scenario")
        if scenario is None:
            raise CheckpointError(f"{path} records no scenario; build OffGridImager directly")
        try:
            return cls(ckpt.model, scenario_from_dict(scenario))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: {exc}") from exc

    @classmethod
    def load_default(cls, *, device: str | torch.device = "cpu") -> OffGridImager:
        """The small pretrained model shipped with skysense for ``Scenario(n_antennas_side=5)``.

        resCNN ``16,32,16`` with k = 5 on ``voxel_gain``-scaled Re/Im of ``A^H y``, trained on
        40,000 frames of data seed 2026 (the last 4,000 validate) with RMSprop and a cosine
        schedule in three stages, each fine-tuning the previous one: OHEM-2 (eta = 5,
        alpha = 1), 4 epochs at lr 1e-3; the same plus 3 x the plain MSE over all voxels,
        1 epoch at lr 3e-4; the same with 30 x the MSE, 3 epochs (lr 3e-4, 3e-4, 1e-4).
        Stage 3 was selected on the validation frames. On the standard off-grid test set it
        beats SP on DR, FAR and OSPA (75.2 % / 17.4 % / 16.0 m against 45.0 % / 64.6 % /
        19.2 m). ``skysense/learn/weights/README.md`` records the commands, the validation
        metrics per run and the candidates that chose each stage.
        """
        ref = resources.files("skysense.learn") / "weights" / DEFAULT_WEIGHTS
        with resources.as_file(ref) as path:
            return cls.from_checkpoint(path, device=device)

    def save(self, path: PathLike) -> Path:
        """Write the weights, config and scenario (loadable with :meth:`from_checkpoint`)."""
        return save_checkpoint(path, self.model, metadata={"scenario": asdict(self.scenario)})

    def predict(
        self, inputs: Any, *, batch_size: int = 256, workers: int | None = None
    ) -> np.ndarray:
        """Occupancy images from network inputs.

        Parameters
        ----------
        inputs : array_like, shape (n_frames, 2, *grid), float32 or float64
            Re and Im of ``A^H y`` per frame.
        batch_size : int
            Frames per forward pass.
        workers : int, optional
            torch CPU threads of the call (``docs/conventions.md``).

        Returns
        -------
        ndarray, shape (n_frames, *grid), float32, in [0, 1]
        """
        grid = self.model.config.grid_shape
        x = as_array(inputs, "inputs", shape=(None, 2, *grid), kind="f", dtype=np.float32)
        with torch_threads(workers):
            return _predict(self.model, x, batch_size, None)

    def image(self, y: Any, *, batch_size: int = 256, workers: int | None = None) -> np.ndarray:
        """Occupancy images from CSI frames.

        Parameters
        ----------
        y : array_like, shape (n_frames, n_measurements) or (n_measurements,), complex
            CSI frames of :attr:`scenario` (rows ordered as the sensing matrix).
        batch_size : int
            Frames per forward pass.
        workers : int, optional
            torch CPU threads of the call (``docs/conventions.md``).

        Returns
        -------
        ndarray, shape (n_frames, *grid) (or ``grid`` for one frame), float32, in [0, 1]
        """
        m = self.scenario.n_measurements
        arr = as_array(y, "y", ndim=(1, 2), kind="c")
        single = arr.ndim == 1
        arr = arr[None] if single else arr
        if arr.shape[1] != m:
            raise ValueError(f"y must have {m} measurements per frame, got shape {arr.shape}")
        x = network_input("backprojection", self.scenario, arr, operator=self.operator)
        out = self.predict(x, batch_size=batch_size, workers=workers)
        return out[0] if single else out

    def export_onnx(self, path: PathLike, **kwargs: Any) -> Path:
        """Export the refiner to ONNX (see :func:`skysense.learn.export_onnx`)."""
        from skysense.learn.onnx import export_onnx

        return export_onnx(self.model, path, **kwargs)
