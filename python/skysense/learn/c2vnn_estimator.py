"""IFFT-C2VNN estimator: CSI -> ``Estimate`` (AoA, AoD, ToA, LS gains; Doppler over sub-frames).

Two shipped models: the 2-D default (``load_default``; its Doppler is the lightweight variant)
and the 3-D Doppler model (``load_default_3d``; Conv3d over S = 10 sub-frames, Sec. III-D).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from skysense._validation import check_count
from skysense.bistatic._common import as_csi
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.ifft_windows import ls_gains
from skysense.learn.c2vnn import C2vnnConfig, C2vnnNet
from skysense.learn.c2vnn3d import C2vnn3dNet, estimate_3d
from skysense.learn.c2vnn_data import MIN_DELAY_FRACTION, csi_windows
from skysense.learn.c2vnn_train import load_c2vnn

__all__ = ["DEFAULT_MODEL", "DEFAULT_MODEL_3D", "IfftC2vnn"]

#: File name of the shipped default model inside ``skysense/learn/models``.
DEFAULT_MODEL = "c2vnn_default.pt"
#: File name of the shipped 3-D Doppler model (S = 10 sub-frames) beside it.
DEFAULT_MODEL_3D = "c2vnn3d_default.pt"


class IfftC2vnn:
    """IFFT-C2VNN estimator around a trained :class:`~skysense.learn.C2vnnNet` or
    :class:`~skysense.learn.C2vnn3dNet`.

    Parameters
    ----------
    model : C2vnnNet or C2vnn3dNet
        Trained network (put in eval mode; inference runs on CPU in float32). A 3-D model
        takes sub-frame CSI only (``estimate(..., subframes=True)``) and regresses Doppler.
    metadata : dict, optional
        Training record (from the checkpoint).
    """

    def __init__(self, model: C2vnnNet | C2vnn3dNet, metadata: dict | None = None):
        if not isinstance(model, C2vnnNet | C2vnn3dNet):
            raise TypeError(f"model must be a C2vnnNet or C2vnn3dNet, got {type(model).__name__}")
        self.model = model.eval()
        self.metadata = dict(metadata or {})

    @property
    def config(self) -> C2vnnConfig:
        """Architecture and scenario of the model (a ``C2vnn3dConfig`` for a 3-D model)."""
        return self.model.config

    @property
    def is_3d(self) -> bool:
        """Whether the model is the 3-D (Conv3d over sub-frames) Doppler network."""
        return isinstance(self.model, C2vnn3dNet)

    @classmethod
    def from_checkpoint(cls, path) -> IfftC2vnn:
        """Load a validated checkpoint (see :func:`~skysense.learn.load_c2vnn`)."""
        model, meta = load_c2vnn(path)
        return cls(model, meta)

    @classmethod
    def load_default(cls) -> IfftC2vnn:
        """The pretrained model shipped for the default ``Scenario()`` (W = 3, mixed SNR)."""
        return cls._load_shipped(DEFAULT_MODEL)

    @classmethod
    def load_default_3d(cls) -> IfftC2vnn:
        """The pretrained 3-D Doppler model for ``Scenario()`` and S = 10 sub-frames (W = 3)."""
        return cls._load_shipped(DEFAULT_MODEL_3D)

    @classmethod
    def _load_shipped(cls, name) -> IfftC2vnn:
        ref = resources.files("skysense.learn").joinpath("models", name)
        with resources.as_file(ref) as path:
            return cls.from_checkpoint(Path(path))

    def predict_windows(self, inputs, *, batch_size=8192) -> np.ndarray:
        """Raw network outputs of real-pair inputs.

        ``(n, 2W, n_tx, n_rx) -> (n, 3)`` (sin AoA, sin AoD, ToA offset [taps]); a 3-D model
        takes ``(n, 2W, S, n_tx, n_rx)`` and adds Doppler [cycles / sub-frame] as a 4th output.
        """
        x = np.asarray(inputs, dtype=np.float32)
        cfg = self.config
        sc = cfg.scenario
        frames = (cfg.n_subframes,) if self.is_3d else ()
        want = (2 * cfg.window, *frames, sc.n_tx, sc.n_rx)
        if x.ndim != len(want) + 1 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, *{want}), got {x.shape}")
        bs = check_count(batch_size, "batch_size")
        out = np.empty((len(x), 4 if self.is_3d else 3), np.float32)
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                out[i : i + bs] = self.model(torch.from_numpy(x[i : i + bs])).numpy()
        return out

    def estimate(self, csi, n_paths, *, subframes=False, batch_size=8192) -> Estimate:
        """Estimate q paths per CSI.

        Parameters
        ----------
        csi : array_like, shape (..., n_tx, n_rx, n_subcarriers), complex
            LS CSI of the scenario the model was trained for; leading axes are a batch. With
            ``subframes=True`` the axis before ``n_tx`` indexes sub-frames.
        n_paths : int
            Paths q (one delay peak each; count the LoS path).
        subframes : bool
            Lightweight Doppler variant (Sec. III-D): the 2-D model per sub-frame, LS gains per
            sub-frame at the sub-frame-mean geometry, then the slope of the unwrapped gain
            phases over time (as PARAMING). Needs >= 2 sub-frames. A 3-D model needs it,
            exactly ``config.n_subframes`` sub-frames, and regresses Doppler directly.
        batch_size : int
            Windows per network call (2-D model; the 3-D model takes all windows in one call).

        Returns
        -------
        Estimate
            ``toa`` [s], ``aoa``/``aod`` [rad], ``gain`` (eq. 21), sorted by ToA; ``doppler``
            [Hz] with ``subframes=True``. float32/complex64 for complex64 CSI (the network
            itself always runs in float32), else float64/complex128.

        Raises
        ------
        ValueError
            CSI of another size than the model's scenario, NaN/Inf, all-zero CSI, fewer delay
            peaks than ``n_paths``; a 3-D model without ``subframes=True``.
        """
        if self.is_3d:
            if not subframes:
                raise ValueError("the 3-D model takes sub-frame CSI: pass subframes=True")
            return estimate_3d(self.model, csi, n_paths)
        sc = self.config.scenario
        arr = as_csi(csi, sc, min_ndim=4 if subframes else 3)
        q = check_count(n_paths, "n_paths")
        if subframes and arr.shape[-4] < 2:
            raise ValueError(f"Doppler estimation needs >= 2 sub-frames, got {arr.shape[-4]}")
        lead = arr.shape[:-3]
        flat = arr.reshape(-1, *sc.csi_shape)
        win = csi_windows(flat, q, self.config.window, sc)
        out = self.predict_windows(
            win.inputs.reshape(-1, *win.inputs.shape[2:]), batch_size=batch_size
        )
        out = out.reshape(len(flat), q, 3).astype(np.float64)
        n = sc.n_subcarriers
        taps = win.rows + out[..., 2]
        taps = np.mod(taps - MIN_DELAY_FRACTION * n, n) + MIN_DELAY_FRACTION * n
        toa = taps * sc.toa_resolution_s
        aoa = np.arcsin(np.clip(out[..., 0], -1.0, 1.0))
        aod = np.arcsin(np.clip(out[..., 1], -1.0, 1.0))
        order = np.argsort(toa, axis=-1)
        toa, aoa, aod = (np.take_along_axis(v, order, -1) for v in (toa, aoa, aod))
        toa, aoa, aod = (v.reshape(*lead, q) for v in (toa, aoa, aod))
        doppler = None
        if subframes:
            # Geometry: mean over sub-frames (paths associated by ToA order).
            toa, aoa, aod = (v.mean(axis=-2) for v in (toa, aoa, aod))
            n_sf = lead[-1]
            rep = lambda v: np.broadcast_to(v[..., None, :], (*lead, q))
            gain_sf = ls_gains(arr, rep(toa), rep(aoa), rep(aod), scenario=sc)  # (..., S, q)
            t = np.arange(n_sf) * sc.subframe_s
            tc = t - t.mean()
            psi = np.unwrap(np.angle(gain_sf), axis=-2)
            doppler = np.einsum("s,...sq->...q", tc, psi) / np.sum(tc * tc) / (2 * np.pi)
            gain = gain_sf[..., 0, :]
            n_est = np.full(lead[:-1], q, np.int64)
        else:
            gain = ls_gains(arr, toa, aoa, aod, scenario=sc)
            n_est = np.full(lead, q, np.int64)
        est = Estimate(
            toa_s=toa, aoa_rad=aoa, aod_rad=aod, gain=gain, n_paths=n_est, doppler_hz=doppler
        )
        return est.astype(arr.dtype)
