"""``OffGridImager``: CSI frames -> occupancy images through a physics front end (per-pair
back-projections or A^H y) and a trained network (a detector or the paper's refiner)."""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skysense._validation import as_array, as_batch, check_count
from skysense.imaging import Scenario, SensingOperator
from skysense.learn._torch import torch_threads
from skysense.learn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from skysense.learn.imager.data import image_shape, network_input, scenario_from_dict, voxel_gain
from skysense.learn.imager.detector import DetectorNet
from skysense.learn.imager.features import PairBackprojector
from skysense.learn.imager.networks import ImagerNet
from skysense.learn.imager.train import _predict

__all__ = ["DEFAULT_WEIGHTS", "DEFAULT_WEIGHTS_3D", "REFINER_WEIGHTS", "OffGridImager"]

#: The shipped 2-D model (Table III scenario), in ``skysense/learn/weights/``
#: (``weights/README.md`` tells how it was trained).
DEFAULT_WEIGHTS = "imager_2d.pt"
#: The shipped 3-D model (``Scenario.paper_3d()``).
DEFAULT_WEIGHTS_3D = "imager_3d.pt"
#: The paper's refiner (resCNN on A^H y) for the Table III scenario, shipped for comparison.
REFINER_WEIGHTS = "imager_2d_rescnn.pt"
#: Engines that run the network.
ENGINES = ("torch", "onnxruntime")
#: Scenario fields a model may be applied across: the inputs are scaled per frame, so only
#: the noise level relative to the signal changes with them.
POWER_FIELDS = ("sensing_power_dbm", "noise_power_dbm")

PathLike = str | os.PathLike[str]


def _same_geometry(a: Scenario, b: Scenario) -> bool:
    """Whether two scenarios differ at most in :data:`POWER_FIELDS`."""
    fields = {k: getattr(a, k) for k in POWER_FIELDS}
    return replace(b, **fields) == a


class OffGridImager:
    """The learned off-grid imager: CSI frames -> occupancy images of the voxel grid.

    Parameters
    ----------
    model : DetectorNet or ImagerNet
        A trained network. ``DetectorNet`` (the shipped models): per-pair back-projections
        -> UAV-centre heat map -> one voxel per detected UAV (``docs/learned_imager.md``).
        ``ImagerNet``: the paper's Model+DNN<A^H y> refiner (Re/Im of ``A^H y``, 2 channels).
    scenario : Scenario
        The scenario of the CSI frames: the model's own or one that differs from it only in
        ``sensing_power_dbm`` / ``noise_power_dbm`` (its grid and BS pairs must be the model's).

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense.imaging import simulate
    >>> imager = OffGridImager.load_default()
    >>> batch = simulate(imager.scenario, 2, 6, off_grid=True, rng=0)
    >>> imager.image(batch.measurements).shape
    (2, 40, 40)
    >>> [p.shape[1] for p in imager.detect(batch.measurements)]
    [3, 3]
    """

    def __init__(self, model: DetectorNet | ImagerNet, scenario: Scenario) -> None:
        if not isinstance(model, DetectorNet | ImagerNet):
            raise TypeError(
                f"model must be a DetectorNet or an ImagerNet, got {type(model).__name__}"
            )
        if not isinstance(scenario, Scenario):
            raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
        if model.config.grid_shape != image_shape(scenario):
            raise ValueError(
                f"model grid {model.config.grid_shape} does not match the scenario grid "
                f"{image_shape(scenario)}"
            )
        if isinstance(model, DetectorNet):
            if model.config.n_pairs != len(scenario.pairs()):
                raise ValueError(
                    f"model has {model.config.n_pairs} BS pairs, the scenario "
                    f"{len(scenario.pairs())} (sensing mode {scenario.mode!r})"
                )
        else:
            if model.config.sample_shape != (2, *model.config.grid_shape):
                raise ValueError(
                    "OffGridImager needs a refiner on Re/Im of A^H y (2 channels, grid)"
                )
            if model.config.voxel_gain:
                expected = voxel_gain(scenario)
                got = model.voxel_gain.detach().cpu().numpy()
                if not np.allclose(got, expected, rtol=1e-4, atol=1e-6):
                    raise ValueError("the model's voxel_gain was not computed for this scenario")
        self.model = model.eval()
        self.scenario = scenario
        self._front_end: PairBackprojector | SensingOperator | None = None
        self._sessions: dict[int, Any] = {}

    @property
    def is_detector(self) -> bool:
        """Whether the model is a :class:`DetectorNet` (else the paper's refiner)."""
        return isinstance(self.model, DetectorNet)

    @property
    def front_end(self) -> PairBackprojector | SensingOperator:
        """The physics step (built on first use): a complex64 :class:`PairBackprojector` for
        a detector, the matrix-free :class:`~skysense.imaging.SensingOperator` (``A^H y``)
        for the refiner."""
        if self._front_end is None:
            if self.is_detector:
                self._front_end = PairBackprojector(self.scenario)
            else:
                self._front_end = SensingOperator(self.scenario)
        return self._front_end

    @property
    def operator(self) -> SensingOperator:
        """Matrix-free sensing operator of the scenario (the refiner's front end)."""
        if self.is_detector:
            return SensingOperator(self.scenario)
        front = self.front_end
        assert isinstance(front, SensingOperator)
        return front

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike,
        *,
        scenario: Scenario | None = None,
        device: str | torch.device = "cpu",
    ) -> OffGridImager:
        """Load a checkpoint written by :func:`~skysense.learn.train_imager` or :meth:`save`.

        Parameters
        ----------
        path : str or path-like
        scenario : Scenario, optional
            Apply the model to this scenario instead of its own; it may differ only in
            ``sensing_power_dbm`` and ``noise_power_dbm``.
        device : str or torch.device

        Raises
        ------
        CheckpointError
            See :func:`~skysense.learn.load_checkpoint`; also a checkpoint of another model
            or one that records no scenario.
        ValueError
            ``scenario`` differs from the model's in more than the powers.
        """
        ckpt = load_checkpoint(path, map_location=device)
        if not isinstance(ckpt.model, DetectorNet | ImagerNet):
            raise CheckpointError(
                f"{path} holds a {type(ckpt.model).__name__}, not an off-grid imager"
            )
        recorded = ckpt.metadata.get("scenario")
        if recorded is None:
            raise CheckpointError(f"{path} records no scenario; build OffGridImager directly")
        try:
            own = scenario_from_dict(recorded)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: {exc}") from exc
        if scenario is not None and not _same_geometry(own, scenario):
            raise ValueError(
                f"scenario differs from the model's {own} in more than {POWER_FIELDS}; "
                "train a model for it"
            )
        try:
            return cls(ckpt.model, own if scenario is None else scenario)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: {exc}") from exc

    @classmethod
    def load_default(
        cls,
        *,
        scenario: Scenario | None = None,
        device: str | torch.device = "cpu",
    ) -> OffGridImager:
        """The shipped 2-D detector for ``Scenario(n_antennas_side=5)`` (Table III).

        A U-Net on the per-pair back-projections (``docs/learned_imager.md``), trained on
        1-10 off-grid UAVs per frame at 10-40 dBm; ``skysense/learn/weights/README.md``
        records the training commands, the selection rule and its validation scores.

        Parameters
        ----------
        scenario : Scenario, optional
            The Table III scenario at another ``sensing_power_dbm`` / ``noise_power_dbm``.
        device : str or torch.device
        """
        return cls._load_shipped(DEFAULT_WEIGHTS, scenario, device)

    @classmethod
    def load_default_3d(
        cls,
        *,
        scenario: Scenario | None = None,
        device: str | torch.device = "cpu",
    ) -> OffGridImager:
        """The shipped 3-D detector for ``Scenario.paper_3d()`` (20 x 20 x 16 voxels).

        See :meth:`load_default`. ``imager_3d.pt``: a U-Net ``8,16,32`` (Conv3d) on the 10
        per-pair back-projections, 91,481 parameters, read-out threshold 0.25; trained on
        120k frame passes of 1-20 UAVs (``docs/learned_imager.md``, "The 3-D detector").
        """
        return cls._load_shipped(DEFAULT_WEIGHTS_3D, scenario, device)

    @classmethod
    def load_refiner(
        cls,
        *,
        scenario: Scenario | None = None,
        device: str | torch.device = "cpu",
    ) -> OffGridImager:
        """The paper's Model+DNN<A^H y> refiner for ``Scenario(n_antennas_side=5)``, shipped
        for comparison: resCNN ``16,32,16``, k = 5, on ``voxel_gain``-scaled Re/Im of
        ``A^H y`` (117,027 parameters; the training is in ``weights/README.md``).
        """
        return cls._load_shipped(REFINER_WEIGHTS, scenario, device)

    @classmethod
    def _load_shipped(
        cls, name: str, scenario: Scenario | None, device: str | torch.device
    ) -> OffGridImager:
        ref = resources.files("skysense.learn") / "weights" / name
        if not ref.is_file():
            raise FileNotFoundError(
                f"no shipped model {name!r} in skysense/learn/weights (not trained yet, see its "
                "README.md); load a checkpoint of your own with OffGridImager.from_checkpoint"
            )
        with resources.as_file(ref) as path:
            return cls.from_checkpoint(path, scenario=scenario, device=device)

    def save(self, path: PathLike) -> Path:
        """Write the weights, config and scenario (loadable with :meth:`from_checkpoint`)."""
        return save_checkpoint(path, self.model, metadata={"scenario": asdict(self.scenario)})

    def inputs(self, y: Any) -> np.ndarray:
        """Network inputs of CSI frames: the front end's output.

        Parameters
        ----------
        y : array_like, shape (n_frames, n_measurements), complex

        Returns
        -------
        ndarray, shape (n_frames, *model.sample_shape), float32
            Re/Im of the per-pair back-projections (detector) or of ``A^H y`` (refiner).
        """
        m = self.scenario.n_measurements
        arr = as_array(y, "y", shape=(None, m), kind="c")
        if self.is_detector:
            return network_input("pairs", self.scenario, arr, operator=self.front_end)
        return network_input("backprojection", self.scenario, arr, operator=self.front_end)

    def predict(
        self,
        inputs: Any,
        *,
        batch_size: int = 256,
        workers: int | None = None,
        engine: str = "torch",
    ) -> np.ndarray:
        """Raw network outputs of network inputs (:meth:`inputs`).

        Parameters
        ----------
        inputs : array_like, shape (n_frames, *model.sample_shape), float32 or float64
            Re/Im of the per-pair back-projections (detector, ``2 * n_pairs`` channels) or of
            ``A^H y`` (refiner, 2 channels).
        batch_size : int
            Frames per forward pass.
        workers : int, optional
            CPU threads of the call (``docs/conventions.md``).
        engine : {"torch", "onnxruntime"}
            Run the network in torch or through ONNX Runtime (``skysense[onnx]``; the graph
            of :meth:`export_onnx`, exported on first use; outputs equal torch's to 1e-5).

        Returns
        -------
        ndarray, shape (n_frames, *grid), float32, in [0, 1]
            The detector's UAV-centre heat map, or the refiner's occupancy image.
        """
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        batch_size = check_count(batch_size, "batch_size")  # both engines slice by it
        shape = self.model.config.sample_shape
        x = as_array(inputs, "inputs", shape=(None, *shape), kind="f", dtype=np.float32)
        if engine == "onnxruntime":
            session = self._onnx_session(workers)
            parts = [session.run(x[lo : lo + batch_size]) for lo in range(0, len(x), batch_size)]
            if not parts:
                return np.empty((0, *self.model.config.grid_shape), np.float32)
            return np.concatenate(parts)
        with torch_threads(workers):
            return _predict(self.model, x, batch_size, None)

    def _onnx_session(self, workers: int | None) -> Any:
        """An ONNX Runtime session of the model (exported once, kept per thread count)."""
        import tempfile

        from skysense._workers import resolve_workers
        from skysense.learn.onnx import OnnxSession, export_onnx

        n = resolve_workers(workers)
        if n not in self._sessions:
            with tempfile.TemporaryDirectory(prefix="skysense-onnx-") as tmp:
                path = export_onnx(self.model, Path(tmp) / "model.onnx")
                self._sessions[n] = OnnxSession(path, workers=n)
        return self._sessions[n]

    def _frames(self, y: Any) -> tuple[np.ndarray, bool]:
        hint = ": measurements per frame of the imager's scenario"
        return as_batch(y, self.scenario.n_measurements, "y", hint=hint)

    def image(
        self,
        y: Any,
        *,
        batch_size: int = 256,
        workers: int | None = None,
        engine: str = "torch",
    ) -> np.ndarray:
        """Occupancy images from CSI frames.

        Parameters
        ----------
        y : array_like, shape (n_frames, n_measurements) or (n_measurements,), complex
            CSI frames of :attr:`scenario` (rows ordered as the sensing matrix).
        batch_size : int
            Frames per forward pass.
        workers : int, optional
            CPU threads of the network (``docs/conventions.md``).
        engine : {"torch", "onnxruntime"}
            See :meth:`predict`.

        Returns
        -------
        ndarray, shape (n_frames, *grid) (or ``grid`` for one frame), float32, in [0, 1]
            Detector: 1 on the voxel of each detected UAV (the local maxima of the heat map
            above the model's threshold), 0 elsewhere. Refiner: its occupancy image.
        """
        arr, single = self._frames(y)
        out = self.predict(self.inputs(arr), batch_size=batch_size, workers=workers, engine=engine)
        if isinstance(self.model, DetectorNet):
            out = self.model.render(torch.from_numpy(out)).numpy()
        return out[0] if single else out

    def detect(
        self,
        y: Any,
        *,
        batch_size: int = 256,
        workers: int | None = None,
        engine: str = "torch",
    ) -> list[np.ndarray]:
        """Estimated UAV positions of CSI frames.

        Parameters
        ----------
        y : array_like, shape (n_frames, n_measurements) or (n_measurements,), complex
        batch_size : int
        workers : int, optional
            CPU threads of the network.
        engine : {"torch", "onnxruntime"}
            See :meth:`predict`.

        Returns
        -------
        list of ndarray, length n_frames, each shape (n_detected, 3), float64, [m]
            Centres of the detected voxels (detector) or centroids of the blobs above 0.1
            (refiner), in C order of the grid.
        """
        from skysense.metrics import positions_from_image

        arr, _ = self._frames(y)
        images = self.image(arr, batch_size=batch_size, workers=workers, engine=engine)
        return positions_from_image(images, self.scenario, threshold=0.1)

    def export_onnx(self, path: PathLike, **kwargs: Any) -> Path:
        """Export the network to ONNX (see :func:`skysense.learn.export_onnx`); its output is
        :meth:`predict`'s (the detector's heat map)."""
        from skysense.learn.onnx import export_onnx

        return export_onnx(self.model, path, **kwargs)
