"""The IFFT-C2VNN networks (bistatic paper, Sec. III-B and III-D): two complex convolutions
and two complex linear layers, in 2-D (one window) and 3-D (S sub-frames stacked, Conv3d).

2-D input (one per path): the normalised W-row window of the delay taps around the path's peak
row, as W complex channels of an ``n_tx x n_rx`` image (real pairs: ``(batch, 2W, n_tx,
n_rx)``). Output: ``Re`` of three complex outputs, ``(sin AoA, sin AoD, delta)`` with
``delta = N df tau - p`` the fractional ToA offset around the peak row p (in taps).

3-D input: the windows of every sub-frame at the common peak row, normalised by one reference
(sub-frame 0) so the phase progression across sub-frames is kept, real pairs ``(batch, 2W, S,
n_tx, n_rx)``; a fourth output ``nu = f_D T_sf``, the Doppler in cycles per sub-frame.

Importing this module imports torch.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from skysense._rng import RngLike
from skysense.learn._torch import torch_seed
from skysense.learn.c2vnn.config import (
    N_OUTPUTS,
    N_OUTPUTS_3D,
    C2vnn3dConfig,
    C2vnnConfig,
    C2vnnCountConfig,
)
from skysense.learn.c2vnn.layers import ComplexConv2d, ComplexConv3d, ComplexLinear, complex_relu

__all__ = ["C2vnn3dNet", "C2vnnCountNet", "C2vnnNet", "build_c2vnn", "count_flops"]


class C2vnnNet(nn.Module):
    """Complex CNN: [ComplexConv2d, CReLU] x 2, flatten, ComplexLinear, CReLU, ComplexLinear.

    Parameters
    ----------
    config : C2vnnConfig
        Architecture and the scenario the model serves.

    Notes
    -----
    Input ``(batch, 2 W, n_tx, n_rx)`` float32 real pairs; output ``(batch, 3)`` float32:
    ``Re`` of the last layer's complex outputs (sin AoA, sin AoD, ToA offset [taps]).

    Examples
    --------
    >>> C2vnnNet(C2vnnConfig()).sample_shape
    (6, 8, 10)
    """

    #: Model name in checkpoints, and the configuration class it stores.
    checkpoint_name: ClassVar[str] = "c2vnn"
    config_type: ClassVar[type[C2vnnConfig]] = C2vnnConfig

    def __init__(self, config: C2vnnConfig) -> None:
        super().__init__()
        if type(config) is not C2vnnConfig:
            raise TypeError(f"config must be a C2vnnConfig, got {type(config).__name__}")
        self.config = config
        nt, nr = config.scenario.n_tx, config.scenario.n_rx
        pad = config.kernel_size // 2
        f = config.n_filters
        self.conv1 = ComplexConv2d(config.window, f, config.kernel_size, padding=pad)
        self.conv2 = ComplexConv2d(f, f, config.kernel_size, padding=pad)
        self.fc1 = ComplexLinear(f * nt * nr, config.n_hidden)
        self.fc2 = ComplexLinear(config.n_hidden, N_OUTPUTS)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, ``(2 W, n_tx, n_rx)``."""
        return self.config.sample_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2W, n_tx, n_rx)`` -> ``(batch, 3)``."""
        x = complex_relu(self.conv1(x))
        x = complex_relu(self.conv2(x))
        # (batch, 2F, nt, nr) flattens to all real parts, then all imaginary parts: real pairs.
        x = x.flatten(1)
        x = complex_relu(self.fc1(x))
        out: torch.Tensor = self.fc2(x)[:, :N_OUTPUTS]
        return out


class C2vnn3dNet(nn.Module):
    """[ComplexConv3d, CReLU] x 2, flatten, ComplexLinear, CReLU, ComplexLinear (4 outputs).

    Parameters
    ----------
    config : C2vnn3dConfig
        Architecture, sub-frame count S and the scenario the model serves.

    Notes
    -----
    Kernels ``3 x k x k`` over (sub-frame, tx, rx); input ``(batch, 2 W, S, n_tx, n_rx)``
    float32 real pairs, output ``(batch, 4)``: sin AoA, sin AoD, ToA offset [taps] and Doppler
    [cycles / sub-frame].

    Examples
    --------
    >>> C2vnn3dNet(C2vnn3dConfig(n_subframes=10)).sample_shape
    (6, 10, 8, 10)
    """

    checkpoint_name: ClassVar[str] = "c2vnn3d"
    config_type: ClassVar[type[C2vnn3dConfig]] = C2vnn3dConfig

    def __init__(self, config: C2vnn3dConfig) -> None:
        super().__init__()
        if not isinstance(config, C2vnn3dConfig):
            raise TypeError(f"config must be a C2vnn3dConfig, got {type(config).__name__}")
        self.config = config
        sc, f, k = config.scenario, config.n_filters, config.kernel_size
        pad = (1, k // 2, k // 2)
        self.conv1 = ComplexConv3d(config.window, f, (3, k, k), padding=pad)
        self.conv2 = ComplexConv3d(f, f, (3, k, k), padding=pad)
        self.fc1 = ComplexLinear(f * config.n_subframes * sc.n_tx * sc.n_rx, config.n_hidden)
        self.fc2 = ComplexLinear(config.n_hidden, N_OUTPUTS_3D)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, ``(2 W, S, n_tx, n_rx)``."""
        return self.config.sample_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2W, S, n_tx, n_rx)`` -> ``(batch, 4)``."""
        x = complex_relu(self.conv1(x))
        x = complex_relu(self.conv2(x))
        x = complex_relu(self.fc1(x.flatten(1)))
        out: torch.Tensor = self.fc2(x)[:, :N_OUTPUTS_3D]
        return out


class C2vnnCountNet(nn.Module):
    """Path-count classifier: the layers of :class:`C2vnnNet`, ``max_count + 1`` logits.

    Parameters
    ----------
    config : C2vnnCountConfig
        Architecture and the scenario the model serves.

    Notes
    -----
    Input ``(batch, 2 W, n_tx, n_rx)`` float32 real pairs (:func:`~skysense.learn.c2vnn.data.
    count_windows`); output ``(batch, max_count + 1)`` float32: ``Re`` of the last layer's
    complex outputs, the logits of 0, 1, ..., ``max_count`` (or more) paths in the window.

    Examples
    --------
    >>> C2vnnCountNet(C2vnnCountConfig()).sample_shape
    (10, 8, 10)
    """

    checkpoint_name: ClassVar[str] = "c2vnn-count"
    config_type: ClassVar[type[C2vnnCountConfig]] = C2vnnCountConfig

    def __init__(self, config: C2vnnCountConfig) -> None:
        super().__init__()
        if not isinstance(config, C2vnnCountConfig):
            raise TypeError(f"config must be a C2vnnCountConfig, got {type(config).__name__}")
        self.config = config
        nt, nr = config.scenario.n_tx, config.scenario.n_rx
        pad = config.kernel_size // 2
        f = config.n_filters
        self.conv1 = ComplexConv2d(config.window, f, config.kernel_size, padding=pad)
        self.conv2 = ComplexConv2d(f, f, config.kernel_size, padding=pad)
        self.fc1 = ComplexLinear(f * nt * nr, config.n_hidden)
        self.fc2 = ComplexLinear(config.n_hidden, config.n_outputs)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, ``(2 W, n_tx, n_rx)``."""
        return self.config.sample_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2W, n_tx, n_rx)`` -> logits ``(batch, max_count + 1)``."""
        x = complex_relu(self.conv1(x))
        x = complex_relu(self.conv2(x))
        x = complex_relu(self.fc1(x.flatten(1)))
        out: torch.Tensor = self.fc2(x)[:, : self.config.n_outputs]
        return out


def build_c2vnn(
    config: C2vnnConfig, *, rng: RngLike = None
) -> C2vnnNet | C2vnn3dNet | C2vnnCountNet:
    """A freshly initialised IFFT-C2VNN: a :class:`C2vnn3dNet` for a ``C2vnn3dConfig``.

    Parameters
    ----------
    config : C2vnnConfig, C2vnn3dConfig or C2vnnCountConfig
        Architecture (a ``C2vnn3dConfig`` gives the 3-D model, a ``C2vnnCountConfig`` the
        path-count classifier).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seeds the initial weights (one torch seed drawn from it, applied inside
        ``torch.random.fork_rng``: torch's global generator is left untouched).

    Returns
    -------
    C2vnnNet, C2vnn3dNet or C2vnnCountNet
        In training mode.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> from skysense.learn import C2vnnConfig
    >>> net = build_c2vnn(C2vnnConfig(), rng=0)
    >>> net(torch.zeros(2, *net.sample_shape)).shape
    torch.Size([2, 3])
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(rng))
        if isinstance(config, C2vnn3dConfig):
            return C2vnn3dNet(config)
        if isinstance(config, C2vnnCountConfig):
            return C2vnnCountNet(config)
        return C2vnnNet(config)


def count_flops(config: C2vnnConfig) -> int:
    """Real floating-point operations of one forward pass (one window), multiply + add = 2.

    Bistatic paper, eq. (48) with c = 4 real multiplies per complex multiply: every complex
    MAC is 4 real multiplies and 4 real additions; biases and ReLUs add one operation per real
    output. A :class:`~skysense.learn.C2vnn3dConfig` counts the 3-D model: kernels
    ``3 x k x k`` over S sub-frames (the feature maps and the first linear layer's input grow
    by S) and 4 outputs.

    Parameters
    ----------
    config : C2vnnConfig or C2vnn3dConfig
        Architecture of the model.

    Returns
    -------
    int
        Real flops of one forward pass.

    Examples
    --------
    >>> from skysense.learn import C2vnnConfig
    >>> count_flops(C2vnnConfig())
    841484
    """
    n_sf = config.n_subframes if isinstance(config, C2vnn3dConfig) else None
    depth = 3 if n_sf else 1
    pixels = (n_sf or 1) * config.scenario.n_tx * config.scenario.n_rx
    k3 = depth * config.kernel_size**2
    f, w, h, n_out = config.n_filters, config.window, config.n_hidden, config.n_outputs
    macs = f * w * k3 * pixels + f * f * k3 * pixels + h * f * pixels + n_out * h
    outputs = 2 * (2 * f * pixels + h + n_out)
    return 8 * macs + 2 * outputs
