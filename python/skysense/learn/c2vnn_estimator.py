"""IFFT-C2VNN estimator: CSI -> ``Estimate`` (AoA, AoD, ToA, LS gains; Doppler over sub-frames)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from skysense._validation import check_count
from skysense.bistatic.estimate import Estimate, as_csi
from skysense.bistatic.ifft_windows import ls_gains
from skysense.learn.c2vnn import C2vnnConfig, C2vnnNet
from skysense.learn.c2vnn_data import MIN_DELAY_FRACTION, csi_windows
from skysense.learn.c2vnn_train import load_c2vnn

__all__ = ["DEFAULT_MODEL", "IfftC2vnn"]

#: File name of the shipped default model inside ``skysense/learn/models``.
DEFAULT_MODEL = "c2vnn_default.pt"


class IfftC2vnn:
    """IFFT-C2VNN estimator around a trained :class:`~skysense.learn.C2vnnNet`.

    Parameters
    ----------
    model : C2vnnNet
        Trained network (put in eval mode; inference runs on CPU in float32).
    metadata : dict, optional
        Training record (from the checkpoint).
    """

    def __init__(self, model: C2vnnNet, metadata: dict | None = None):
        if not isinstance(model, C2vnnNet):
            raise TypeError(f"model must be a C2vnnNet, got {type(model).__name__}")
        self.model = model.eval()
        self.metadata = dict(metadata or {})

    @property
    def config(self) -> C2vnnConfig:
        """Architecture and scenario of the model."""
        return self.model.config

    @classmethod
    def from_checkpoint(cls, path) -> IfftC2vnn:
        """Load a validated checkpoint (see :func:`~skysense.learn.load_c2vnn`)."""
        model, meta = load_c2vnn(path)
        return cls(model, meta)

    @classmethod
    def load_default(cls) -> IfftC2vnn:
        """The pretrained model shipped for the default ``Scenario()`` (W = 3, mixed SNR)."""
        ref = resources.files("skysense.learn").joinpath("models", DEFAULT_MODEL)
        with resources.as_file(ref) as path:
            return cls.from_checkpoint(Path(path))

    def predict_windows(self, inputs, *, batch_size=8192) -> np.ndarray:
        """Raw network outputs ``(n, 3)`` (sin AoA, sin AoD, ToA offset [taps]) of real-pair inputs."""
        x = np.asarray(inputs, dtype=np.float32)
        cfg = self.config
        want = (2 * cfg.window, cfg.scenario.n_tx, cfg.scenario.n_rx)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, *{want}), got {x.shape}")
        bs = check_count(batch_size, "batch_size")
        out = np.empty((len(x), 3), np.float32)
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
            phases over time (as PARAMING). Needs >= 2 sub-frames.
        batch_size : int
            Windows per network call.

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
            peaks than ``n_paths``.
        """
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
        toa = taps * sc.delay_resolution_s
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
            gain_sf = ls_gains(arr, rep(toa), rep(aoa), rep(aod), sc)  # (..., S, q)
            t = np.arange(n_sf) * sc.subframe_s
            tc = t - t.mean()
            psi = np.unwrap(np.angle(gain_sf), axis=-2)
            doppler = np.einsum("s,...sq->...q", tc, psi) / np.sum(tc * tc) / (2 * np.pi)
            gain = gain_sf[..., 0, :]
            n_est = np.full(lead[:-1], q, np.int64)
        else:
            gain = ls_gains(arr, toa, aoa, aod, sc)
            n_est = np.full(lead, q, np.int64)
        est = Estimate(toa=toa, aoa=aoa, aod=aod, gain=gain, n_paths=n_est, doppler=doppler)
        return est.astype(arr.dtype)
