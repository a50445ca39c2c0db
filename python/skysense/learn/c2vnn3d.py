"""The 3-D IFFT-C2VNN for Doppler (Sec. III-D): sub-frames stacked, Conv3d, a fourth output.

Input per path: the W-row windows of every sub-frame at the common peak row, normalised by one
reference (sub-frame 0), so the phase progression across sub-frames is kept:
real pairs ``(batch, 2W, n_subframes, n_tx, n_rx)``. Output: ``(sin AoA, sin AoD, delta,
nu)`` with ``nu = f_D T_sf`` the Doppler in cycles per sub-frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from skysense._validation import check_count
from skysense.bistatic._common import as_csi
from skysense.bistatic.estimate import Estimate
from skysense.bistatic.geometry import random_paths
from skysense.bistatic.ifft_windows import (
    MIN_RELATIVE_PEAK_POWER,
    _peak_rows,
    delay_taps,
    ls_gains,
    normalize_windows,
    peak_windows,
)
from skysense.bistatic.simulate import simulate
from skysense.learn.c2vnn import C2vnnConfig
from skysense.learn.c2vnn_data import MAX_LABEL_OFFSET, MIN_DELAY_FRACTION, _signed_offset
from skysense.learn.complex_layers import ComplexConv3d, ComplexLinear, complex_relu

__all__ = ["C2vnn3dConfig", "C2vnn3dNet", "build_c2vnn3d", "csi_windows_3d", "estimate_3d"]

#: Outputs per window: sin(AoA), sin(AoD), ToA offset [taps], Doppler [cycles / sub-frame].
N_OUTPUTS_3D = 4


@dataclass(frozen=True)
class C2vnn3dConfig(C2vnnConfig):
    """:class:`C2vnnConfig` plus the number of stacked sub-frames S (temporal kernel 3)."""

    n_subframes: int = 4

    def __post_init__(self):
        super().__post_init__()
        check_count(self.n_subframes, "n_subframes", minimum=2)


class C2vnn3dNet(nn.Module):
    """[ComplexConv3d, CReLU] x 2, flatten, ComplexLinear, CReLU, ComplexLinear (4 outputs)."""

    def __init__(self, config: C2vnn3dConfig):
        super().__init__()
        self.config = config
        sc, f, k = config.scenario, config.n_filters, config.kernel_size
        pad = (1, k // 2, k // 2)
        self.conv1 = ComplexConv3d(config.window, f, (3, k, k), padding=pad)
        self.conv2 = ComplexConv3d(f, f, (3, k, k), padding=pad)
        self.fc1 = ComplexLinear(f * config.n_subframes * sc.n_tx * sc.n_rx, config.n_hidden)
        self.fc2 = ComplexLinear(config.n_hidden, N_OUTPUTS_3D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2W, S, n_tx, n_rx)`` -> ``(batch, 4)``."""
        x = complex_relu(self.conv1(x))
        x = complex_relu(self.conv2(x))
        x = complex_relu(self.fc1(x.flatten(1)))
        return self.fc2(x)[:, :N_OUTPUTS_3D]


def build_c2vnn3d(config: C2vnn3dConfig, seed=0) -> C2vnn3dNet:
    """A freshly initialised 3-D network (seeded, torch's global generator untouched)."""
    with torch.random.fork_rng(devices=[]):
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        torch.manual_seed(int(ss.generate_state(1)[0]))
        return C2vnn3dNet(config)


def _windows_3d(csi, q, window, scenario, *, strict=True):
    # csi (B, S, nt, nr, N) -> taps with sub-frames folded into the Tx axis for the PDP/windows.
    taps = delay_taps(csi, scenario=scenario)
    b, s, nt, nr, n = taps.shape
    folded = taps.reshape(b, s * nt, nr, n)
    rows, n_found = _peak_rows(folded, q, MIN_RELATIVE_PEAK_POWER)  # PDP summed over sub-frames
    if strict and np.any(n_found < q):
        i = int(np.flatnonzero(n_found < q)[0])
        raise ValueError(f"found {int(n_found[i])} delay peaks but n_paths = {q} for CSI {i}")
    ok = n_found >= q
    win = normalize_windows(peak_windows(folded[ok], rows[ok], window))  # (b', q, W, S nt, nr)
    win = win.reshape(*win.shape[:3], s, nt, nr)
    inputs = np.concatenate([win.real, win.imag], axis=2).astype(np.float32)
    return inputs, rows[ok], ok


def csi_windows_3d(csi, n_paths, config: C2vnn3dConfig):
    """Inputs ``(batch, q, 2W, S, n_tx, n_rx)`` and peak rows ``(batch, q)`` of CSI ``(batch, S, nt, nr, N)``."""
    arr = as_csi(csi, config.scenario, min_ndim=5)
    if arr.ndim != 5 or arr.shape[1] != config.n_subframes:
        raise ValueError(
            f"csi must have shape (batch, {config.n_subframes}, *{config.scenario.csi_shape}), "
            f"got {arr.shape}"
        )
    inputs, rows, _ = _windows_3d(
        arr, check_count(n_paths, "n_paths"), config.window, config.scenario
    )
    return inputs, rows


def make_training_set_3d(
    config: C2vnn3dConfig, n_draws, *, snr_db=(0.0, 30.0), seed=0, n_targets=3, max_speed_mps=100.0
):
    """Labelled 3-D windows ``(n, 2W, S, nt, nr)`` and targets ``(n, 4)`` from ``simulate``."""
    sc = config.scenario
    q = n_targets + 1
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    csi = np.empty((n_draws, config.n_subframes, *sc.csi_shape), np.complex64)
    labels = np.empty((n_draws, q, 4))
    for i, ss in enumerate(root.spawn(check_count(n_draws, "n_draws"))):
        rng = np.random.default_rng(ss)
        paths = random_paths(sc, rng=rng, n_targets=n_targets, max_speed_mps=max_speed_mps)
        meas = simulate(
            sc,
            paths,
            rng.uniform(*snr_db),
            rng=rng,
            n_subframes=config.n_subframes,
            dtype=np.complex64,
        )
        csi[i] = meas.csi
        labels[i] = np.stack(
            [
                np.sin(paths.aoa_rad),
                np.sin(paths.aod_rad),
                paths.toa_s / sc.toa_resolution_s,
                paths.doppler_hz * sc.subframe_s,
            ],
            -1,
        )
    inputs, rows, ok = _windows_3d(csi, q, config.window, sc, strict=False)
    labels = labels[ok]
    off = _signed_offset(labels[:, None, :, 2], rows[:, :, None], sc.n_subcarriers)
    nearest = np.argmin(np.abs(off), axis=-1)
    best = np.take_along_axis(off, nearest[..., None], -1)[..., 0]
    keep = np.abs(best) <= MAX_LABEL_OFFSET
    lab = labels[np.arange(len(labels))[:, None], nearest]
    lab[..., 2] = best
    return inputs[keep], lab[keep].astype(np.float32)


def estimate_3d(model: C2vnn3dNet, csi, n_paths) -> Estimate:
    """AoA, AoD, ToA, Doppler [Hz] and sub-frame-0 LS gains from CSI ``(..., S, nt, nr, N)``."""
    cfg = model.config
    sc = cfg.scenario
    arr = as_csi(csi, sc, min_ndim=4)
    lead = arr.shape[:-4]
    flat = arr.reshape(-1, *arr.shape[-4:])
    inputs, rows = csi_windows_3d(flat, n_paths, cfg)
    q = rows.shape[1]
    with torch.inference_mode():
        out = model.eval()(torch.from_numpy(inputs.reshape(-1, *inputs.shape[2:]))).numpy()
    out = out.reshape(len(flat), q, 4).astype(np.float64)
    n = sc.n_subcarriers
    lo = MIN_DELAY_FRACTION * n
    taps = np.mod(rows + out[..., 2] - lo, n) + lo
    toa = taps * sc.toa_resolution_s
    aoa = np.arcsin(np.clip(out[..., 0], -1, 1))
    aod = np.arcsin(np.clip(out[..., 1], -1, 1))
    doppler = out[..., 3] / sc.subframe_s
    order = np.argsort(toa, axis=-1)
    toa, aoa, aod, doppler = (np.take_along_axis(v, order, -1) for v in (toa, aoa, aod, doppler))
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
