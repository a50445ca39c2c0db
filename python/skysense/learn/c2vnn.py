"""The IFFT-C2VNN network: two complex convolutions and two complex linear layers (Sec. III-B).

Input (one per path): the normalised W-row window of the delay taps around the path's peak row,
as W complex channels of an ``n_tx x n_rx`` image (real pairs: ``(batch, 2W, n_tx, n_rx)``).
Output: ``Re`` of three complex outputs, ``(sin AoA, sin AoD, delta)`` with
``delta = N df tau - p`` the fractional ToA offset around the peak row p (in taps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from skysense._validation import check_count
from skysense.bistatic.scenario import Scenario
from skysense.learn.complex_layers import ComplexConv2d, ComplexLinear, complex_relu

__all__ = ["C2vnnConfig", "C2vnnNet", "build_c2vnn", "count_flops", "windows_to_input"]

#: Regression targets per window: sin(AoA), sin(AoD), fractional ToA offset [taps].
N_OUTPUTS = 3
#: bistatic.Scenario fields under their names before the unit-suffix renames (the shipped
#: checkpoints store these).
_RENAMED_SCENARIO_FIELDS = {
    "cp_fraction": "cyclic_prefix_fraction",
    "spacing_tx": "spacing_tx_wavelengths",
    "spacing_rx": "spacing_rx_wavelengths",
}


@dataclass(frozen=True)
class C2vnnConfig:
    """Architecture and the scenario a model was trained for.

    Parameters
    ----------
    scenario : Scenario
        Sizes and numerology of the CSI the model accepts.
    window : int
        Odd window size W (rows of the delay taps per path).
    n_filters : int
        Complex filters F of each convolution.
    kernel_size : int
        Odd square kernel of both convolutions ("same" padding).
    n_hidden : int
        Complex width of the first linear layer.
    """

    scenario: Scenario = dataclasses.field(default_factory=Scenario)
    window: int = 3
    n_filters: int = 8
    kernel_size: int = 3
    n_hidden: int = 64

    def __post_init__(self):
        if not isinstance(self.scenario, Scenario):
            raise TypeError(f"scenario must be a bistatic Scenario, got {type(self.scenario)}")
        for name in ("window", "kernel_size"):
            value = check_count(getattr(self, name), name)
            if value % 2 == 0:
                raise ValueError(f"{name} must be odd, got {value}")
        check_count(self.n_filters, "n_filters")
        check_count(self.n_hidden, "n_hidden")
        if self.window > self.scenario.n_subcarriers:
            raise ValueError("window must not exceed n_subcarriers")

    def to_dict(self) -> dict:
        """JSON-able form (stored in checkpoints)."""
        d = dataclasses.asdict(self)
        d["scenario"] = dataclasses.asdict(self.scenario)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> C2vnnConfig:
        """Inverse of :meth:`to_dict` (also reads the scenario field names of older files)."""
        d = dict(d)
        fields = {_RENAMED_SCENARIO_FIELDS.get(k, k): v for k, v in d["scenario"].items()}
        d["scenario"] = Scenario(**fields)
        return cls(**d)


class C2vnnNet(nn.Module):
    """Complex CNN: [ComplexConv2d, CReLU] x 2, flatten, ComplexLinear, CReLU, ComplexLinear.

    Input ``(batch, 2 W, n_tx, n_rx)`` float32 real pairs; output ``(batch, 3)`` float32:
    ``Re`` of the last layer's complex outputs (sin AoA, sin AoD, ToA offset [taps]).
    """

    def __init__(self, config: C2vnnConfig):
        super().__init__()
        self.config = config
        nt, nr = config.scenario.n_tx, config.scenario.n_rx
        pad = config.kernel_size // 2
        f = config.n_filters
        self.conv1 = ComplexConv2d(config.window, f, config.kernel_size, padding=pad)
        self.conv2 = ComplexConv2d(f, f, config.kernel_size, padding=pad)
        self.fc1 = ComplexLinear(f * nt * nr, config.n_hidden)
        self.fc2 = ComplexLinear(config.n_hidden, N_OUTPUTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2W, n_tx, n_rx)`` -> ``(batch, 3)``."""
        x = complex_relu(self.conv1(x))
        x = complex_relu(self.conv2(x))
        # (batch, 2F, nt, nr) flattens to all real parts, then all imaginary parts: real pairs.
        x = x.flatten(1)
        x = complex_relu(self.fc1(x))
        return self.fc2(x)[:, :N_OUTPUTS]


def build_c2vnn(config: C2vnnConfig, seed=0) -> C2vnnNet:
    """A freshly initialised network, seeded without touching torch's global generator."""
    with torch.random.fork_rng(devices=[]):
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        torch.manual_seed(int(ss.generate_state(1)[0]))
        return C2vnnNet(config)


def windows_to_input(windows) -> np.ndarray:
    """Normalised complex windows ``(batch, W, n_tx, n_rx)`` -> float32 real pairs ``(batch, 2W, n_tx, n_rx)``."""
    w = np.asarray(windows)
    return np.ascontiguousarray(np.concatenate([w.real, w.imag], axis=1), dtype=np.float32)


def count_flops(config: C2vnnConfig) -> int:
    """Real floating-point operations of one forward pass (one window), multiply + add = 2.

    Eq. (48) with c = 4 real multiplies per complex multiply: every complex MAC is 4 real
    multiplies and 4 real additions; biases and ReLUs add one operation per real output. A
    :class:`~skysense.learn.C2vnn3dConfig` counts the 3-D model: kernels ``3 x k x k`` over S
    sub-frames (the feature maps and the first linear layer's input grow by S) and 4 outputs.
    """
    # 3-D model (C2vnn3dConfig, not imported here: it subclasses this module's config).
    n_sf = getattr(config, "n_subframes", None)
    depth, n_out = (3, N_OUTPUTS + 1) if n_sf else (1, N_OUTPUTS)
    pixels = (n_sf or 1) * config.scenario.n_tx * config.scenario.n_rx
    k3 = depth * config.kernel_size**2
    f, w, h = config.n_filters, config.window, config.n_hidden
    macs = f * w * k3 * pixels + f * f * k3 * pixels + h * f * pixels + n_out * h
    outputs = 2 * (2 * f * pixels + h + n_out)
    return 8 * macs + 2 * outputs
