"""The learned off-grid detector: a small U-Net on per-BS-pair back-projections that outputs a
UAV-centre heat map, read out as one voxel per local maximum.

Not in the paper. The paper's refiner (Sec. IV-B, :class:`~skysense.learn.ImagerNet`) maps the
coherent ``A^H y`` to an occupancy image and scores the blobs above 0.1. Two things limit it
off the grid (``docs/learned_imager.md``): ``A^H y`` of an off-grid UAV is a speckle pattern
whose peak misses the UAV's voxel, and neighbouring UAVs merge into one blob, which the
authors' detection rule counts once. Here the input is the ten per-pair back-projections of
:class:`~skysense.learn.imager.features.PairBackprojector` (smooth envelopes that peak on the
UAV), the network is trained as a point detector (CenterNet's penalty-reduced focal loss,
:class:`~skysense.learn.ImagingLoss` ``kind="focal"``), and the output image holds one voxel
per detected UAV: the local maxima of the heat map above :attr:`DetectorConfig.threshold`.

Importing this module imports torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from skysense._rng import RngLike
from skysense.learn._torch import torch_seed

__all__ = ["FEATURES", "DetectorConfig", "DetectorNet", "build_detector_net"]

#: What the network sees of each pair's ``z_p``: ``"magnitude"``: ``|z_p|``;
#: ``"complex"``: Re and Im; ``"both"``: Re, Im and ``|z_p|``. Every kind adds the RMS over
#: pairs, ``sqrt(mean_p |z_p|^2)``, and (``coordinates=True``) the voxel coordinates.
FEATURES = ("magnitude", "complex", "both")
#: Floor of the per-frame input scale (an all-zero frame maps to zeros, not NaN).
_SCALE_FLOOR = 1e-30


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture and read-out of a :class:`DetectorNet` (stored in checkpoints).

    Parameters
    ----------
    grid_shape : tuple of 2 or 3 int
        Voxel grid ``(n_x, n_y)`` or ``(n_x, n_y, n_z)`` (Conv3d).
    n_pairs : int
        BS pairs of the scenario; the input has ``2 * n_pairs`` channels (Re, then Im).
    channels : tuple of int
        Widths of the U-Net levels, full resolution first; each further level halves the
        grid (max pooling, rounding up).
    features : {"magnitude", "complex", "both"}
        See :data:`FEATURES`.
    coordinates : bool
        Append the voxel coordinates in [-1, 1] as input channels (the array-factor
        envelopes change shape over the ROI).
    threshold : float
        Detection threshold on the heat map, in (0, 1): a voxel is reported if it is the
        largest in its 3 x 3 (x 3) neighbourhood and above this. Chosen on validation
        frames after training (``weights/README.md``).
    output_prior : float
        Initial heat ``sigmoid(bias)`` of the head (RetinaNet's prior initialisation).

    Examples
    --------
    >>> DetectorConfig(grid_shape=(40, 40)).in_channels
    20
    """

    grid_shape: tuple[int, ...] = (40, 40)
    n_pairs: int = 10
    channels: tuple[int, ...] = (16, 32, 64)
    features: str = "magnitude"
    coordinates: bool = True
    threshold: float = 0.3
    output_prior: float = 0.01

    def __post_init__(self) -> None:
        for name in ("grid_shape", "channels"):
            value = tuple(getattr(self, name))
            if not value or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
            ):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value}")
            object.__setattr__(self, name, value)
        if len(self.grid_shape) not in (2, 3):
            raise ValueError(f"grid_shape must have 2 or 3 entries, got {self.grid_shape}")
        if isinstance(self.n_pairs, bool) or not isinstance(self.n_pairs, int) or self.n_pairs < 1:
            raise ValueError(f"n_pairs must be a positive int, got {self.n_pairs!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {self.features!r}")
        for name in ("threshold", "output_prior"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value}")

    @property
    def ndim(self) -> int:
        """Spatial dimensions (2: Conv2d, 3: Conv3d)."""
        return len(self.grid_shape)

    @property
    def in_channels(self) -> int:
        """Input channels, ``2 * n_pairs`` (Re and Im of each pair's back-projection)."""
        return 2 * self.n_pairs

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one network input, ``(2 * n_pairs, *grid_shape)``."""
        return (self.in_channels, *self.grid_shape)

    @property
    def feature_channels(self) -> int:
        """Channels entering the first convolution."""
        per_pair = {"magnitude": 1, "complex": 2, "both": 3}[self.features]
        return per_pair * self.n_pairs + 1 + (self.ndim if self.coordinates else 0)

    def replace(self, **changes: Any) -> DetectorConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (JSON and ``torch.load(weights_only=True)`` safe)."""
        out = asdict(self)
        for key in ("grid_shape", "channels"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        """Inverse of :meth:`to_dict` (raises ValueError on unknown or bad fields)."""
        if not isinstance(data, dict):
            raise TypeError(f"model config must be a dict, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}")
        kwargs = dict(data)
        for key in ("grid_shape", "channels"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


def _layers(ndim: int) -> tuple[Any, Any]:
    return (nn.Conv2d, nn.BatchNorm2d) if ndim == 2 else (nn.Conv3d, nn.BatchNorm3d)


def _stage(c_in: int, c_out: int, ndim: int) -> nn.Sequential:
    """Two 3-convolutions with BN and ReLU."""
    conv, bn = _layers(ndim)
    return nn.Sequential(
        conv(c_in, c_out, 3, padding=1, bias=False),
        bn(c_out),
        nn.ReLU(inplace=True),
        conv(c_out, c_out, 3, padding=1, bias=False),
        bn(c_out),
        nn.ReLU(inplace=True),
    )


class DetectorNet(nn.Module):
    """UAV-centre heat map from per-pair back-projections.

    ``(batch, 2 * n_pairs, *grid)`` (Re, Im of ``z_p``) -> ``(batch, *grid)`` in [0, 1].

    Parameters
    ----------
    config : DetectorConfig
        Architecture and read-out (grid, BS pairs, U-Net channels).

    Notes
    -----
    The input features (:data:`FEATURES`) are divided by the frame's largest pair-RMS, so a
    net is independent of the transmit power and of the coefficient scale. The U-Net has one
    encoder stage per entry of ``channels`` (max pooling by 2 between them, rounding up), a
    decoder that upsamples (nearest) to each skip's size, concatenates and convolves, and a
    1 x 1 head with a sigmoid. :meth:`peaks` and :meth:`render` read the heat map out.

    Examples
    --------
    >>> net = DetectorNet(DetectorConfig(grid_shape=(8, 8), n_pairs=2, channels=(4, 4)))
    >>> net(torch.zeros(3, 4, 8, 8)).shape
    torch.Size([3, 8, 8])
    """

    #: Model name in checkpoints, and the configuration class it stores.
    checkpoint_name: ClassVar[str] = "imager-detector"
    config_type: ClassVar[type[DetectorConfig]] = DetectorConfig
    coordinates: torch.Tensor

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        if not isinstance(config, DetectorConfig):
            raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
        self.config = config
        nd, ch = config.ndim, config.channels
        conv, _ = _layers(nd)
        self.encoders = nn.ModuleList()
        c_prev = config.feature_channels
        for c in ch:
            self.encoders.append(_stage(c_prev, c, nd))
            c_prev = c
        self.decoders = nn.ModuleList(
            _stage(ch[i + 1] + ch[i], ch[i], nd) for i in reversed(range(len(ch) - 1))
        )
        self.head = conv(ch[0], 1, 1)
        nn.init.constant_(self.head.bias, math.log(config.output_prior / (1 - config.output_prior)))
        axes = [torch.linspace(-1.0, 1.0, n) for n in config.grid_shape]
        grids = torch.meshgrid(*axes, indexing="ij")
        self.register_buffer("coordinates", torch.stack(grids)[None], persistent=False)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, ``(2 * n_pairs, *grid_shape)``."""
        return self.config.sample_shape

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled input features of :data:`FEATURES` (plus coordinates)."""
        cfg = self.config
        p = cfg.n_pairs
        re, im = x[:, :p], x[:, p:]
        power = re * re + im * im
        rms = torch.sqrt(power.mean(dim=1, keepdim=True))
        dims = tuple(range(2, x.ndim))
        scale = rms.amax(dim=dims, keepdim=True).clamp_min(_SCALE_FLOOR)
        parts = []
        if cfg.features in ("complex", "both"):
            parts += [re, im]
        if cfg.features in ("magnitude", "both"):
            parts.append(torch.sqrt(power))
        parts.append(rms)
        feats = torch.cat(parts, dim=1) / scale
        if cfg.coordinates:
            coords = self.coordinates.expand(x.shape[0], *self.coordinates.shape[1:])
            feats = torch.cat([feats, coords], dim=1)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Heat map ``(batch, *grid)`` in [0, 1] of inputs ``(batch, 2 * n_pairs, *grid)``."""
        cfg = self.config
        if x.ndim != cfg.ndim + 2 or tuple(x.shape[1:]) != cfg.sample_shape:
            raise ValueError(
                f"input must have shape (batch, {', '.join(map(str, cfg.sample_shape))}), "
                f"got {tuple(x.shape)}"
            )
        pool = F.max_pool2d if cfg.ndim == 2 else F.max_pool3d
        h = self.features(x)
        skips = []
        for i, enc in enumerate(self.encoders):
            if i:
                h = pool(h, 2, ceil_mode=True)
            h = enc(h)
            skips.append(h)
        for dec, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[2:], mode="nearest")
            h = dec(torch.cat([h, skip], dim=1))
        return torch.sigmoid(self.head(h))[:, 0]

    def peaks(self, heat: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """Local maxima (3 x 3 (x 3) neighbourhood) of ``heat`` above ``threshold``.

        Parameters
        ----------
        heat : Tensor, shape (batch, grid...)
        threshold : float, optional
            Default :attr:`DetectorConfig.threshold`.

        Returns
        -------
        Tensor of bool, shape (batch, grid...)
        """
        t = self.config.threshold if threshold is None else float(threshold)
        pool = F.max_pool2d if self.config.ndim == 2 else F.max_pool3d
        local = pool(heat[:, None], 3, stride=1, padding=1)[:, 0]
        return (heat >= local) & (heat > t)

    def render(self, heat: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """Occupancy image: 1 on each :meth:`peaks` voxel, 0 elsewhere, same shape as ``heat``."""
        return self.peaks(heat, threshold).to(heat.dtype)


def build_detector_net(config: DetectorConfig, *, rng: RngLike = None) -> DetectorNet:
    """A freshly initialised :class:`DetectorNet` (weights seeded from ``rng``).

    Parameters
    ----------
    config : DetectorConfig
        Architecture and read-out of the network.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the initial weights (``docs/conventions.md``).

    Returns
    -------
    DetectorNet
        The network, in training mode.

    Examples
    --------
    >>> net = build_detector_net(DetectorConfig(grid_shape=(8, 8), n_pairs=2, channels=(4,)), rng=0)
    >>> net(torch.zeros(1, 4, 8, 8)).shape
    torch.Size([1, 8, 8])
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(rng))
        return DetectorNet(config)
