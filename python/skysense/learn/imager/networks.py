"""The refiner networks of the learned off-grid imager (imaging paper, Sec. IV-B): resCNN,
plain CNN and the denoising Dn-* variants.

Importing this module imports torch; ``skysense.learn`` imports it on first use.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, cast

import torch
from torch import nn
from torch.nn import functional as F

from skysense._rng import RngLike
from skysense.learn._torch import torch_seed

__all__ = ["ARCHITECTURES", "PAPER_CHANNELS", "ImagerConfig", "ImagerNet", "build_imager_net"]

#: ``"rescnn"``: residual blocks (the authors' ``resCNN``); ``"cnn"``: the same depth without
#: shortcuts (Net-4); ``"dn-rescnn"`` / ``"dn-cnn"``: denoising variants that predict the
#: residual ``sigma_pri - sigma`` and subtract it from the normalised input magnitude.
ARCHITECTURES = ("rescnn", "cnn", "dn-rescnn", "dn-cnn")
#: Channel list of the paper's resCNN (stem + 5 blocks; 5,283,555 parameters at k = 5).
PAPER_CHANNELS = (64, 128, 128, 128, 64, 32)
#: Floor of the per-frame input scale, so an all-zero frame maps to zeros, not NaN.
_SCALE_FLOOR = 1e-30


@dataclass(frozen=True)
class ImagerConfig:
    """Architecture of an :class:`ImagerNet` (stored in checkpoints and checked on load).

    Parameters
    ----------
    arch : {"rescnn", "cnn", "dn-rescnn", "dn-cnn"}
        See :data:`ARCHITECTURES`.
    grid_shape : tuple of 2 or 3 int
        Output image shape ``(n_x, n_y)`` or volume ``(n_x, n_y, n_z)`` (Conv3d).
    in_channels : int
        Input channels (2: Re and Im of ``A^H y``).
    input_shape : tuple of int, optional
        Spatial shape of the input when it differs from ``grid_shape`` (the DNN<y> baseline
        feeds measurement maps, bilinearly resized to the grid); default ``grid_shape``.
    channels : tuple of int
        Widths of the stem and of each block (the paper's list is :data:`PAPER_CHANNELS`).
    kernel_size : int
        Odd k of every k x k (x k) convolution (5 in the authors' code).
    output_prior : float or None
        Initial head bias ``logit(prior)`` on the final BN (RetinaNet's prior init), so
        training starts from a sparse output instead of sigmoid(0) = 0.5 everywhere; with
        6 UAVs in 1600 voxels it saves the first hundreds of steps. ``None``: PyTorch's
        default bias 0, as the authors' code.
    magnitude : bool
        Append ``sqrt(Re^2 + Im^2)`` of the first two input channels as one more stem input
        (not in the paper; it spares a small net from learning the modulus).
    voxel_gain : bool
        Multiply the input per voxel by a fixed map, the buffer ``voxel_gain`` of shape
        ``grid_shape`` (stored in checkpoints), before the per-frame scaling. The trainer sets
        it to :func:`skysense.learn.imager.data.voxel_gain` of the dataset's scenario,
        ``(min ||a_v|| / ||a_v||)^2``, which puts every target's ``A^H y`` peak on the same
        scale (not in the paper; the shipped model uses it, see ``weights/README.md``).

    Examples
    --------
    >>> ImagerConfig(grid_shape=(40, 40), channels=(16, 32, 16)).ndim
    2
    """

    arch: str = "rescnn"
    grid_shape: tuple[int, ...] = (40, 40)
    in_channels: int = 2
    input_shape: tuple[int, ...] | None = None
    channels: tuple[int, ...] = PAPER_CHANNELS
    kernel_size: int = 5
    output_prior: float | None = 0.01
    magnitude: bool = False
    voxel_gain: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        for name in ("grid_shape", "channels"):
            value = tuple(getattr(self, name))
            if not value or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
            ):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value}")
            object.__setattr__(self, name, value)
        if len(self.grid_shape) not in (2, 3):
            raise ValueError(f"grid_shape must have 2 or 3 entries, got {self.grid_shape}")
        shape = self.grid_shape if self.input_shape is None else tuple(self.input_shape)
        if len(shape) != len(self.grid_shape) or any(s < 1 for s in shape):
            raise ValueError(
                f"input_shape must have {len(self.grid_shape)} positive entries, got {shape}"
            )
        object.__setattr__(self, "input_shape", shape)
        if self.voxel_gain and shape != self.grid_shape:
            raise ValueError("voxel_gain needs an input on the grid (input_shape == grid_shape)")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {self.kernel_size}")
        if self.output_prior is not None and not 0 < self.output_prior < 1:
            raise ValueError(f"output_prior must be in (0, 1) or None, got {self.output_prior}")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")
        if (self.arch.startswith("dn-") or self.magnitude) and self.in_channels < 2:
            raise ValueError("magnitude=True needs in_channels >= 2 (Re and Im first)")
        if self.arch.startswith("dn-") and self.in_channels != 2:
            raise ValueError("the Dn-* architectures need in_channels=2 (Re and Im of sigma_pri)")

    @property
    def ndim(self) -> int:
        """Spatial dimensions (2: Conv2d, 3: Conv3d)."""
        return len(self.grid_shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one network input, ``(in_channels, *input_shape)``."""
        shape = self.grid_shape if self.input_shape is None else self.input_shape
        return (self.in_channels, *shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (JSON and ``torch.load(weights_only=True)`` safe)."""
        out = asdict(self)
        for key in ("grid_shape", "input_shape", "channels"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImagerConfig:
        """Inverse of :meth:`to_dict` (raises ValueError on unknown or bad fields)."""
        if not isinstance(data, dict):
            raise TypeError(f"model config must be a dict, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}")
        kwargs = dict(data)
        for key in ("grid_shape", "input_shape", "channels"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


def _layers(ndim: int) -> tuple[Any, Any]:
    return (nn.Conv2d, nn.BatchNorm2d) if ndim == 2 else (nn.Conv3d, nn.BatchNorm3d)


class _Block(nn.Module):
    """Three k-convs with BN (conv-BN-ReLU, conv-BN-ReLU, conv-BN), then + shortcut and ReLU.

    ``residual=True``: the shortcut is a k-conv + BN projection, always (the authors'
    ``BasicBlock``); ``residual=False``: no shortcut, a plain three-conv stage.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, ndim: int, residual: bool) -> None:
        super().__init__()
        conv, bn = _layers(ndim)
        pad = kernel_size // 2
        self.body = nn.Sequential(
            conv(c_in, c_out, kernel_size, padding=pad),
            bn(c_out),
            nn.ReLU(inplace=True),
            conv(c_out, c_out, kernel_size, padding=pad),
            bn(c_out),
            nn.ReLU(inplace=True),
            conv(c_out, c_out, kernel_size, padding=pad),
            bn(c_out),
        )
        self.shortcut = (
            nn.Sequential(conv(c_in, c_out, kernel_size, padding=pad), bn(c_out))
            if residual
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class ImagerNet(nn.Module):
    """Refiner network: ``(batch, in_channels, *input_shape)`` -> ``(batch, *grid_shape)``.

    Parameters
    ----------
    config : ImagerConfig
        Architecture: input shape and channels, voxel grid, channel list and output head.

    Notes
    -----
    Stem Conv(in -> c0) + BN + ReLU, one block per consecutive pair of ``channels``, head
    Conv(c_last -> 1) + BN(1). resCNN/CNN end in a sigmoid (occupancy probability); the Dn-*
    variants output ``clamp(|x| - r, 0, 1)`` with ``r`` the predicted residual
    ``sigma_pri - sigma`` and ``|x|`` the input magnitude.

    With ``config.voxel_gain`` the input is first multiplied by the fixed per-voxel map
    ``voxel_gain`` (a buffer). Every frame is then divided by its largest input magnitude
    ``max_v sqrt(Re^2 + Im^2)``. The authors feed raw ``A^H y`` and let the first BN absorb its scale (about 1e-8 here);
    the per-frame scale makes a net independent of P_s and of float32 underflow, and the
    Dn-* residual lives on the same [0, 1] scale as the labels.

    Examples
    --------
    >>> ImagerNet(ImagerConfig(grid_shape=(8, 8), channels=(4, 4))).sample_shape
    (2, 8, 8)
    """

    #: Model name in checkpoints, and the configuration class it stores.
    checkpoint_name: ClassVar[str] = "imager"
    config_type: ClassVar[type[ImagerConfig]] = ImagerConfig
    voxel_gain: torch.Tensor

    def __init__(self, config: ImagerConfig) -> None:
        super().__init__()
        if not isinstance(config, ImagerConfig):
            raise TypeError(f"config must be an ImagerConfig, got {type(config).__name__}")
        self.config = config
        conv, bn = _layers(config.ndim)
        k, ch = config.kernel_size, config.channels
        residual = config.arch in ("rescnn", "dn-rescnn")
        c_in = config.in_channels + int(config.magnitude)
        self.stem = nn.Sequential(
            conv(c_in, ch[0], k, padding=k // 2), bn(ch[0]), nn.ReLU(inplace=True)
        )
        self.blocks = nn.Sequential(
            *(_Block(a, b, k, config.ndim, residual) for a, b in itertools.pairwise(ch))
        )
        self.head = nn.Sequential(conv(ch[-1], 1, k, padding=k // 2), bn(1))
        self.denoise = config.arch.startswith("dn-")
        if config.voxel_gain:
            self.register_buffer("voxel_gain", torch.ones(config.grid_shape))
        if config.output_prior is not None and not self.denoise:
            p = config.output_prior
            head_bn: nn.Module = self.head[1]
            nn.init.constant_(cast(torch.Tensor, head_bn.bias), math.log(p / (1.0 - p)))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, ``(in_channels, *input_shape)``."""
        return self.config.sample_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *input_shape)`` -> ``(batch, *grid_shape)`` in [0, 1]."""
        cfg = self.config
        expected = cfg.sample_shape
        if x.ndim != cfg.ndim + 2 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"input must have shape (batch, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}"
            )
        if cfg.voxel_gain:
            x = x * self.voxel_gain
        dims = tuple(range(1, x.ndim))
        scale = x.abs().amax(dim=dims, keepdim=True).clamp_min(_SCALE_FLOOR)
        if self.denoise:
            modulus = torch.sqrt(x[:, 0:1] ** 2 + x[:, 1:2] ** 2)
            scale = modulus.amax(dim=dims, keepdim=True).clamp_min(_SCALE_FLOOR)
        x = x / scale
        if expected[1:] != cfg.grid_shape:
            mode = "bilinear" if cfg.ndim == 2 else "trilinear"
            x = F.interpolate(x, size=cfg.grid_shape, mode=mode, align_corners=False)
        mag = torch.sqrt(x[:, 0:1] ** 2 + x[:, 1:2] ** 2) if cfg.in_channels >= 2 else None
        stem_in = torch.cat([x, mag], dim=1) if cfg.magnitude and mag is not None else x
        out = self.head(self.blocks(self.stem(stem_in)))
        if self.denoise and mag is not None:
            return torch.clamp(mag - out, 0.0, 1.0)[:, 0]
        return torch.sigmoid(out)[:, 0]


def build_imager_net(config: ImagerConfig, *, rng: RngLike = None) -> ImagerNet:
    """A freshly initialised :class:`ImagerNet`.

    Parameters
    ----------
    config : ImagerConfig
        Architecture of the network.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seeds the initial weights (one torch seed drawn from it, applied inside
        ``torch.random.fork_rng``, so torch's global generator is left untouched).

    Returns
    -------
    ImagerNet
        In training mode.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> net = build_imager_net(ImagerConfig(grid_shape=(8, 8), channels=(4,)), rng=0)
    >>> net(torch.zeros(1, 2, 8, 8)).shape
    torch.Size([1, 8, 8])
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(rng))
        return ImagerNet(config)
