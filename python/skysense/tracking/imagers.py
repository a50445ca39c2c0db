"""Per-frame imagers for tracking: CSI frames in, non-negative images on the voxel grid out.

Both return ``(n_frames, n_x, n_y, n_z)`` float64 images scaled to [0, 1] per frame, so that
one :class:`~skysense.tracking.BlobDetector` works on either.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from skysense._validation import as_batch, check_count, check_positive
from skysense._workers import resolve_workers
from skysense.tracking import _imaging_adapter as adapter

if TYPE_CHECKING:
    from skysense.imaging import Scenario
    from skysense.learn import OffGridImager

__all__ = ["LearnedImager", "PursuitImager"]


class _Imager(abc.ABC):
    scenario: Scenario
    name: str

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return self.scenario.grid_shape

    @property
    def n_measurements(self) -> int:
        return int(self.scenario.n_measurements)

    def _frames(self, csi: npt.ArrayLike) -> tuple[np.ndarray, bool]:
        frames, single = as_batch(csi, self.n_measurements, "csi")
        if frames.dtype.kind != "c":
            raise TypeError(f"csi must be complex, got dtype {frames.dtype}")
        return frames, single

    def image(self, csi: npt.ArrayLike) -> np.ndarray:
        """Images of one CSI frame ``(n_measurements,)`` or a batch ``(n_frames, n_measurements)``.

        Returns
        -------
        ndarray, shape (n_frames, n_x, n_y, n_z) or (n_x, n_y, n_z), float64, in [0, 1]
        """
        frames, single = self._frames(csi)
        out = self._image(frames).reshape(frames.shape[0], *self.grid_shape)
        return out[0] if single else out

    @abc.abstractmethod
    def _image(self, frames: np.ndarray) -> np.ndarray:
        """Images of a validated complex batch, shape (n_frames, n_voxels), in [0, 1]."""


class PursuitImager(_Imager):
    """Subspace pursuit on the Gram form (imaging paper, Algorithm 1), ``|x| / max |x|``.

    Parameters
    ----------
    scenario : skysense.imaging.Scenario
        Imaging geometry, arrays and numerology of the CSI frames.
    sparsity : int
        SP's prior sparsity M°.
    threshold : float
        Entries below ``threshold * max |x|`` are zeroed (the authors' 1/5).
    dtype : {complex64, complex128}
        Working precision of SP (complex64 halves the Gram matrix of a 3-D ROI).
    workers : int, optional
        Threads of each SP call (``docs/conventions.md``); images do not depend on it.
    """

    name = "sp"

    def __init__(
        self,
        scenario: Scenario,
        sparsity: int = 10,
        *,
        threshold: float = 0.2,
        dtype: npt.DTypeLike = np.complex128,
        workers: int | None = None,
    ) -> None:
        self.scenario = adapter.check_scenario(scenario)
        self.workers = workers
        resolve_workers(workers)  # validated now, read at each call
        self.sparsity = check_count(sparsity, "sparsity")
        self.threshold = check_positive(threshold, "threshold", strict=False)
        self.dtype = np.dtype(dtype)
        self._state: adapter.PursuitState | None = None

    def _image(self, frames: np.ndarray) -> np.ndarray:
        if self._state is None:
            self._state = adapter.pursuit_state(self.scenario, self.dtype)
        mag = adapter.pursuit_images(
            self._state,
            frames.astype(self.dtype, copy=False),
            sparsity=self.sparsity,
            threshold=self.threshold,
            workers=self.workers,
        )
        peak = mag.max(axis=1, keepdims=True)
        return np.divide(mag, peak, out=np.zeros_like(mag), where=peak > 0).astype(np.float64)


class LearnedImager(_Imager):
    """The learned off-grid imager: the shipped detector's UAV-centre heat map (needs torch).

    The image is the heat map before the detector's own peak read-out: a
    :class:`~skysense.tracking.BlobDetector` with ``rule="peaks"`` and ``threshold`` =
    :attr:`threshold` finds exactly the detector's detections, and keeps each one's heat
    (its intensity) and the neighbouring values (for the off-grid refinement).

    Parameters
    ----------
    imager : skysense.learn.OffGridImager
        A trained imager; :meth:`default` loads the shipped detector. The paper's refiner
        (``OffGridImager.load_refiner()``) also works: its image is the occupancy probability.
    workers : int, optional
        torch CPU threads of each call (``docs/conventions.md``).

    Attributes
    ----------
    threshold : float
        Detection level of the image: the detector's threshold (0.1 for the refiner).
    """

    name = "dnn"

    def __init__(self, imager: OffGridImager, *, workers: int | None = None) -> None:
        self.imager = imager
        self.workers = workers
        resolve_workers(workers)
        self.scenario = adapter.check_scenario(adapter.learned_scenario(imager))
        self.threshold = adapter.learned_threshold(imager)

    @classmethod
    def default(cls, *, workers: int | None = None) -> LearnedImager:
        """The shipped 2-D detector (``OffGridImager.load_default()``: 40 x 40 voxels, N0 = 5).

        Parameters
        ----------
        workers : int, optional
            torch CPU threads of each call.

        Returns
        -------
        LearnedImager
        """
        return cls(adapter.load_learned_imager(), workers=workers)

    @classmethod
    def default_3d(cls, *, workers: int | None = None) -> LearnedImager:
        """The shipped 3-D detector for ``Scenario.paper_3d()`` (``OffGridImager.load_default_3d()``:
        20 x 20 x 16 voxels of 5 m).

        Parameters
        ----------
        workers : int, optional
            torch CPU threads of each call.

        Returns
        -------
        LearnedImager
        """
        return cls(adapter.load_learned_imager(three_d=True), workers=workers)

    def _image(self, frames: np.ndarray) -> np.ndarray:
        out = adapter.learned_images(self.imager, frames, workers=self.workers)
        return np.clip(out.reshape(frames.shape[0], -1), 0.0, 1.0)
