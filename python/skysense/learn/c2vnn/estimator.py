"""IFFT-C2VNN estimator: CSI -> ``Estimate`` (AoA, AoD, ToA, LS gains; Doppler over sub-frames).

The shipped 2-D model and its path-count classifier (``load_default``); its Doppler is the
lightweight variant (bistatic paper, Sec. III-D). A 3-D Doppler model (Conv3d over the
sub-frames) trained with ``python -m skysense.learn.c2vnn.train --subframes S`` loads with
``from_checkpoint``; none is shipped (``docs/bistatic.md``: it lost to the lightweight variant).
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import numpy as np
import torch

from skysense._validation import check_count
from skysense.bistatic._common import as_csi
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.ifft_windows import (
    _esprit_angles,
    _zf_toa_taps,
    delay_taps,
    ls_gains,
    normalize_windows,
    peak_windows,
)
from skysense.learn._torch import torch_threads
from skysense.learn.c2vnn.config import C2vnn3dConfig, C2vnnConfig
from skysense.learn.c2vnn.data import (
    EXTRA_CANDIDATES,
    MIN_DELAY_FRACTION,
    count_windows,
    csi_windows,
    csi_windows_3d,
)
from skysense.learn.c2vnn.networks import C2vnn3dNet, C2vnnCountNet, C2vnnNet
from skysense.learn.checkpoint import CheckpointError, load_checkpoint

__all__ = ["DEFAULT_COUNT_WEIGHTS", "DEFAULT_WEIGHTS", "IfftC2vnn"]

#: The shipped 2-D model, in ``skysense/learn/weights/``.
DEFAULT_WEIGHTS = "c2vnn.pt"
#: The shipped path-count classifier of the 2-D model, beside it.
DEFAULT_COUNT_WEIGHTS = "c2vnn_count.pt"

PathLike = str | os.PathLike[str]


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
    counter : C2vnnCountNet, optional
        Path-count classifier of the 2-D model (the paper's unresolvable-peak step, Sec.
        III-B1). With it, ``estimate`` classifies the ``n_paths + 2`` strongest delay peaks
        as holding 0, 1, 2 or 3+ paths, spreads the ``n_paths`` paths over them by the most
        probable counts, regresses single-path peaks with ``model`` and separates a merged
        peak's paths in the angle domain (2-D ESPRIT on its window, then each path's ToA from
        its zero-forced subcarrier response). Without it every path gets its own peak (the
        ``n_paths`` strongest), as the paper's resolvable-scatterer case.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense import bistatic
    >>> estimator = IfftC2vnn.load_default()
    >>> sc = estimator.config.scenario
    >>> paths = bistatic.random_paths(sc, rng=0)
    >>> csi = bistatic.simulate(sc, paths, 20.0, rng=0).csi[0]
    >>> estimator.estimate(csi, 4).toa_s.shape
    (4,)
    """

    def __init__(
        self,
        model: C2vnnNet | C2vnn3dNet,
        metadata: dict[str, Any] | None = None,
        *,
        counter: C2vnnCountNet | None = None,
    ) -> None:
        if not isinstance(model, C2vnnNet | C2vnn3dNet):
            raise TypeError(f"model must be a C2vnnNet or C2vnn3dNet, got {type(model).__name__}")
        if counter is not None:
            if not isinstance(counter, C2vnnCountNet):
                raise TypeError(f"counter must be a C2vnnCountNet, got {type(counter).__name__}")
            if isinstance(model, C2vnn3dNet):
                raise ValueError("counter: the path-count classifier serves the 2-D model only")
            if counter.config.scenario != model.config.scenario:
                raise ValueError(
                    "counter was trained for another scenario than the model: "
                    f"{counter.config.scenario} against {model.config.scenario}"
                )
            counter = counter.eval()
        self.model = model.eval()
        self.counter = counter
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
    def from_checkpoint(
        cls, path: PathLike, *, expected_config: C2vnnConfig | None = None
    ) -> IfftC2vnn:
        """Load a validated checkpoint (see :func:`~skysense.learn.load_checkpoint`).

        Raises
        ------
        CheckpointError
            See :func:`~skysense.learn.load_checkpoint`; also a checkpoint of another model.
        """
        ckpt = load_checkpoint(path, expected_config=expected_config)
        if not isinstance(ckpt.model, C2vnnNet | C2vnn3dNet):
            raise CheckpointError(f"{path} holds a {type(ckpt.model).__name__}, not an IFFT-C2VNN")
        return cls(ckpt.model, ckpt.metadata)

    @classmethod
    def load_default(cls, *, count_paths: bool = True) -> IfftC2vnn:
        """The pretrained model shipped for the default ``Scenario()`` (W = 3, mixed SNR).

        Parameters
        ----------
        count_paths : bool
            Attach the shipped path-count classifier (``counter``, default), so merged delay
            peaks yield all their paths; False gives one path per delay peak.

        Returns
        -------
        IfftC2vnn
            The estimator.
        """
        est = cls._load_shipped(DEFAULT_WEIGHTS)
        if not count_paths:
            return est
        ref = resources.files("skysense.learn") / "weights" / DEFAULT_COUNT_WEIGHTS
        with resources.as_file(ref) as path:
            ckpt = load_checkpoint(path)
        assert isinstance(ckpt.model, C2vnnCountNet)
        assert isinstance(est.model, C2vnnNet)
        est = cls(est.model, est.metadata, counter=ckpt.model)
        est.metadata["counter"] = ckpt.metadata
        return est

    @classmethod
    def _load_shipped(cls, name: str) -> IfftC2vnn:
        ref = resources.files("skysense.learn") / "weights" / name
        with resources.as_file(ref) as path:
            return cls.from_checkpoint(path)

    def predict_windows(
        self, inputs: Any, *, batch_size: int = 8192, workers: int | None = None
    ) -> np.ndarray:
        """Raw network outputs of real-pair inputs.

        Parameters
        ----------
        inputs : array_like, float
            ``(n, 2W, n_tx, n_rx)``, or ``(n, 2W, S, n_tx, n_rx)`` for a 3-D model.
        batch_size : int
            Windows per forward pass.
        workers : int, optional
            torch CPU threads of the call (``docs/conventions.md``).

        Returns
        -------
        ndarray, shape (n, 3) or (n, 4), float32
            sin AoA, sin AoD, ToA offset [taps]; a 3-D model adds Doppler [cycles / sub-frame].
        """
        with torch_threads(workers):
            return self._predict_windows(inputs, batch_size)

    def _predict_windows(self, inputs: Any, batch_size: int) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float32)
        want = self.config.sample_shape
        if x.ndim != len(want) + 1 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, *{want}), got {x.shape}")
        bs = check_count(batch_size, "batch_size")
        out = np.empty((len(x), self.config.n_outputs), np.float32)
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                out[i : i + bs] = self.model(torch.from_numpy(x[i : i + bs])).numpy()
        return out

    def estimate(
        self,
        csi: Any,
        n_paths: int,
        *,
        subframes: bool = False,
        batch_size: int = 8192,
        workers: int | None = None,
    ) -> Estimate:
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
            Windows per network call.
        workers : int, optional
            torch CPU threads of the call (``docs/conventions.md``); results do not depend
            on it.

        Returns
        -------
        Estimate
            ``toa_s``, ``aoa_rad``/``aod_rad``, ``gain`` (eq. 21), sorted by ToA;
            ``doppler_hz`` with ``subframes=True``. float32/complex64 for complex64 CSI (the
            network itself always runs in float32), else float64/complex128.

        Raises
        ------
        ValueError
            CSI of another size than the model's scenario, NaN/Inf, all-zero CSI, fewer delay
            peaks than ``n_paths``; a 3-D model without ``subframes=True``.
        """
        with torch_threads(workers):
            if self.is_3d:
                if not subframes:
                    raise ValueError("the 3-D model takes sub-frame CSI: pass subframes=True")
                return self._estimate_3d(csi, n_paths, batch_size)
            return self._estimate_2d(csi, n_paths, subframes, batch_size)

    def _estimate_2d(self, csi: Any, n_paths: int, subframes: bool, batch_size: int) -> Estimate:
        sc = self.config.scenario
        arr = as_csi(csi, sc, min_ndim=4 if subframes else 3)
        q = check_count(n_paths, "n_paths")
        if subframes and arr.shape[-4] < 2:
            raise ValueError(f"Doppler estimation needs >= 2 sub-frames, got {arr.shape[-4]}")
        lead = arr.shape[:-3]
        flat = arr.reshape(-1, *sc.csi_shape)
        if self.counter is not None:
            toa, aoa, aod = self._counted_geometry(flat, q, batch_size)
        else:
            win = csi_windows(flat, q, self.config.window, sc)
            out = self._predict_windows(win.inputs.reshape(-1, *win.inputs.shape[2:]), batch_size)
            out = out.reshape(len(flat), q, 3).astype(np.float64)
            toa, aoa, aod = self._geometry(win.rows, out)
        order = np.argsort(toa, axis=-1)
        toa, aoa, aod = (
            np.take_along_axis(v, order, -1).reshape(*lead, q) for v in (toa, aoa, aod)
        )
        doppler = None
        if subframes:
            # Lightweight Doppler (bistatic paper, Sec. III-D): geometry as the mean over the
            # sub-frames (paths associated by ToA order), LS gains per sub-frame, then the
            # slope of their unwrapped phases over time (as PARAMING).
            toa, aoa, aod = (v.mean(axis=-2) for v in (toa, aoa, aod))
            n_sf = lead[-1]

            def rep(v: np.ndarray) -> np.ndarray:
                return np.broadcast_to(v[..., None, :], (*lead, q))

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

    def _counted_geometry(
        self, flat: np.ndarray, q: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ToA [s], AoA, AoD [rad] of q paths per CSI ``(B, n_tx, n_rx, N)`` with the counter."""
        assert self.counter is not None
        sc = self.config.scenario
        cc = self.counter.config
        n_cand = min(q + EXTRA_CANDIDATES, sc.n_subcarriers)
        cw = count_windows(flat, n_cand, cc)
        x = cw.inputs.reshape(-1, *cc.sample_shape)
        with torch.inference_mode():
            logits = np.concatenate(
                [
                    self.counter(torch.from_numpy(x[i : i + batch_size])).numpy()
                    for i in range(0, len(x), batch_size)
                ]
            )
        logits = logits.reshape(len(flat), n_cand, -1).astype(np.float64)
        logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        present = cw.rows >= 0
        logp[~present, 1:] = -np.inf
        logp[~present, 0] = 0.0
        counts = _allocate_counts(logp, q)
        b_idx, k_idx = np.nonzero(counts == 1)
        taps = delay_taps(flat, scenario=sc)
        rows = cw.rows.astype(np.float64)
        sin_aoa = np.empty((len(flat), q))
        sin_aod = np.empty((len(flat), q))
        toa_taps = np.empty((len(flat), q))
        slot = np.cumsum(counts, axis=1) - counts  # first path slot of each candidate
        if len(b_idx):
            win = normalize_windows(
                peak_windows(taps[b_idx], cw.rows[b_idx, k_idx][:, None], self.config.window)
            )[:, 0]
            x1 = np.concatenate([win.real, win.imag], axis=1).astype(np.float32)
            out = self._predict_windows(x1, batch_size).astype(np.float64)
            s = slot[b_idx, k_idx]
            sin_aoa[b_idx, s], sin_aod[b_idx, s] = out[:, 0], out[:, 1]
            toa_taps[b_idx, s] = rows[b_idx, k_idx] + out[:, 2]
        # Merged peaks: angles by 2-D ESPRIT on the window, then ToAs by zero forcing.
        for b in np.unique(np.nonzero(counts >= 2)[0]):
            merged: list[int] = []
            peak_rows: list[float] = []
            for k in np.flatnonzero(counts[b] >= 2):
                c, s0 = int(counts[b, k]), int(slot[b, k])
                w = peak_windows(taps[b], cw.rows[b, k : k + 1], 3)[0]
                sin_aoa[b, s0 : s0 + c], sin_aod[b, s0 : s0 + c] = _esprit_angles(w, c, sc)
                merged.extend(range(s0, s0 + c))
                peak_rows.extend([rows[b, k]] * c)
            others = np.setdiff1d(np.arange(q), merged)
            order = np.concatenate([merged, others]).astype(np.intp)
            toa_taps[b, merged] = _zf_toa_taps(
                flat[b],
                sin_aoa[b, order],
                sin_aod[b, order],
                np.asarray(peak_rows),
                sc,
                half_width=max(1.5, cc.reach_cells),
            )
        n = sc.n_subcarriers
        lo = MIN_DELAY_FRACTION * n
        toa = (np.mod(toa_taps - lo, n) + lo) * sc.toa_resolution_s
        return toa, np.arcsin(np.clip(sin_aoa, -1, 1)), np.arcsin(np.clip(sin_aod, -1, 1))

    def _geometry(
        self, rows: np.ndarray, out: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ToA [s] (wrapped into the reported delay range), AoA and AoD [rad] of the outputs."""
        sc = self.config.scenario
        n = sc.n_subcarriers
        lo = MIN_DELAY_FRACTION * n
        taps = np.mod(rows + out[..., 2] - lo, n) + lo
        toa = taps * sc.toa_resolution_s
        aoa = np.arcsin(np.clip(out[..., 0], -1.0, 1.0))
        aod = np.arcsin(np.clip(out[..., 1], -1.0, 1.0))
        return toa, aoa, aod

    def _estimate_3d(self, csi: Any, n_paths: int, batch_size: int) -> Estimate:
        """AoA, AoD, ToA, Doppler [Hz] and sub-frame-0 LS gains of CSI ``(..., S, nt, nr, N)``."""
        cfg = self.config
        assert isinstance(cfg, C2vnn3dConfig)
        sc = cfg.scenario
        arr = as_csi(csi, sc, min_ndim=4)
        lead = arr.shape[:-4]
        flat = arr.reshape(-1, *arr.shape[-4:])
        win = csi_windows_3d(flat, n_paths, cfg)
        q = win.rows.shape[1]
        out = self._predict_windows(win.inputs.reshape(-1, *win.inputs.shape[2:]), batch_size)
        out = out.reshape(len(flat), q, 4).astype(np.float64)
        toa, aoa, aod = self._geometry(win.rows, out)
        doppler = out[..., 3] / sc.subframe_s
        order = np.argsort(toa, axis=-1)
        toa, aoa, aod, doppler = (
            np.take_along_axis(v, order, -1) for v in (toa, aoa, aod, doppler)
        )
        gain = ls_gains(flat[:, 0], toa, aoa, aod, scenario=sc)
        shape = (*lead, q)
        return Estimate(
            toa_s=toa.reshape(shape),
            aoa_rad=aoa.reshape(shape),
            aod_rad=aod.reshape(shape),
            gain=gain.reshape(shape),
            n_paths=np.full(lead, q, np.int64),
            doppler_hz=doppler.reshape(shape),
        ).astype(flat.dtype)


def _allocate_counts(logp: np.ndarray, q: int) -> np.ndarray:
    """Paths per candidate peak, ``(B, K)``, summing to q, of the largest total log-probability.

    ``logp`` (B, K, C): log-probabilities of 0 ... C-1 paths per candidate (dynamic
    programming over the candidates).
    """
    b, k, c = logp.shape
    dp = np.full((b, q + 1), -np.inf)
    dp[:, 0] = 0.0
    choice = np.zeros((b, k, q + 1), np.int64)
    for i in range(k):
        new = np.full((b, q + 1), -np.inf)
        for j in range(min(c, q + 1)):
            cand = np.full((b, q + 1), -np.inf)
            cand[:, j:] = dp[:, : q + 1 - j] + logp[:, i, j, None]
            better = cand > new
            new = np.where(better, cand, new)
            choice[:, i][better] = j
        dp = new
    if not np.all(np.isfinite(dp[:, q])):
        i = int(np.flatnonzero(~np.isfinite(dp[:, q]))[0])
        raise ValueError(
            f"found too few delay peaks for n_paths = {q} in CSI {i} (flattened); lower "
            "n_paths or check the CSI"
        )
    counts = np.zeros((b, k), np.int64)
    left = np.full(b, q)
    for i in reversed(range(k)):
        counts[:, i] = choice[np.arange(b), i, left]
        left -= counts[:, i]
    return counts
