"""Complex-valued layers built from real ones (IFFT-C2VNN, bistatic paper, eqs. (22)-(24)).

A complex tensor ``z = x + j y`` with C channels is carried as the real tensor
``cat([x, y], dim=1)`` with 2C channels ("real pairs"). A complex layer with weights
``W = W_R + j W_I`` is then one real layer with the block weight ``[[W_R, -W_I], [W_I, W_R]]``,
so the whole network is plain real convolutions, matrix products and ReLUs: it trains with any
real optimiser and exports to ONNX without complex dtypes.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ComplexConv2d",
    "ComplexConv3d",
    "ComplexLinear",
    "complex_relu",
    "from_real_pairs",
    "to_real_pairs",
]


def to_real_pairs(z: torch.Tensor) -> torch.Tensor:
    """Complex ``(batch, C, ...)`` -> real ``(batch, 2C, ...)`` (real parts, then imaginary)."""
    return torch.cat([z.real, z.imag], dim=1)


def from_real_pairs(x: torch.Tensor) -> torch.Tensor:
    """Real ``(batch, 2C, ...)`` -> complex ``(batch, C, ...)``."""
    c = x.shape[1] // 2
    return torch.complex(x[:, :c], x[:, c:])


def complex_relu(x: torch.Tensor) -> torch.Tensor:
    """CReLU(z) = ReLU(Re z) + j ReLU(Im z) (bistatic paper, eq. (24)).

    On real pairs it is an elementwise ReLU.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> z = torch.tensor([[1.0 - 2.0j, -3.0 + 4.0j]])
    >>> from_real_pairs(complex_relu(to_real_pairs(z))).tolist()
    [[(1+0j), 4j]]
    """
    return F.relu(x)


def _block(w_re: torch.Tensor, w_im: torch.Tensor) -> torch.Tensor:
    # [[W_R, -W_I], [W_I, W_R]] along (out, in): out rows real then imaginary.
    return torch.cat([torch.cat([w_re, -w_im], dim=1), torch.cat([w_im, w_re], dim=1)], dim=0)


class _ComplexConvNd(nn.Module):
    _ndim: ClassVar[int] = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        padding: int | tuple[int, ...] = 0,
    ) -> None:
        super().__init__()
        k = (kernel_size,) * self._ndim if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(k) != self._ndim or min(k) < 1:
            raise ValueError(f"kernel_size must be {self._ndim} positive ints, got {kernel_size}")
        self.in_channels, self.out_channels, self.padding = in_channels, out_channels, padding
        shape = (out_channels, in_channels, *k)
        # Complex Glorot-like init: each part has variance 1 / (2 fan_in).
        bound = 1.0 / math.sqrt(2.0 * in_channels * math.prod(k))
        self.weight_re = nn.Parameter(torch.empty(shape).uniform_(-bound, bound) * math.sqrt(3))
        self.weight_im = nn.Parameter(torch.empty(shape).uniform_(-bound, bound) * math.sqrt(3))
        self.bias_re = nn.Parameter(torch.zeros(out_channels))
        self.bias_im = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2 C_in, *spatial)`` -> ``(batch, 2 C_out, *spatial_out)``."""
        conv = F.conv2d if self._ndim == 2 else F.conv3d
        weight = _block(self.weight_re, self.weight_im)
        bias = torch.cat([self.bias_re, self.bias_im])
        return conv(x, weight, bias, padding=self.padding)


class ComplexConv2d(_ComplexConvNd):
    """Complex 2-D convolution (bistatic paper, eq. (22)):
    ``W * z = (W_R*x - W_I*y) + j (W_R*y + W_I*x) + b``.

    Parameters
    ----------
    in_channels, out_channels : int
        Complex channels.
    kernel_size : int or (int, int)
        Kernel size.
    padding : int or (int, int)
        Zero padding on each side.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> ComplexConv2d(3, 4, 3, padding=1)(torch.zeros(5, 6, 8, 10)).shape
    torch.Size([5, 8, 8, 10])
    """

    _ndim = 2


class ComplexConv3d(_ComplexConvNd):
    """Complex 3-D convolution (the Doppler variant over sub-frames); see :class:`ComplexConv2d`.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> ComplexConv3d(3, 4, (3, 3, 3), padding=1)(torch.zeros(5, 6, 4, 8, 10)).shape
    torch.Size([5, 8, 4, 8, 10])
    """

    _ndim = 3


class ComplexLinear(nn.Module):
    """Complex affine map (bistatic paper, eq. (23)):
    ``W z + b = (W_R x - W_I y + b_R) + j (W_R y + W_I x + b_I)``.

    Parameters
    ----------
    in_features, out_features : int
        Complex features; the layer maps real pairs ``(batch, 2 in)`` to ``(batch, 2 out)``.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> ComplexLinear(4, 3)(torch.zeros(5, 8)).shape
    torch.Size([5, 6])
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = math.sqrt(3.0 / (2.0 * in_features))
        shape = (out_features, in_features)
        self.weight_re = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.weight_im = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.bias_re = nn.Parameter(torch.zeros(out_features))
        self.bias_im = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real pairs ``(batch, 2 in_features)`` -> ``(batch, 2 out_features)``."""
        weight = _block(self.weight_re, self.weight_im)
        return F.linear(x, weight, torch.cat([self.bias_re, self.bias_im]))
