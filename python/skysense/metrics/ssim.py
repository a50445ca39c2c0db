"""Structural similarity (imaging paper, eq. (24)) with the authors' two border conventions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from skysense._validation import check_count, check_positive
from skysense.metrics._common import (
    as_frames,
    check_reduction,
    check_same_shape,
    frame_chunks,
    reduce,
    to_grid,
)

__all__ = ["PADDINGS", "gaussian_window", "ssim"]

#: ``"valid"``: pytorch-msssim (the authors' Python), maps cropped by ``window_size // 2``;
#: ``"replicate"``: MATLAB ``ssim`` (edge-replicated borders, full-size map).
PADDINGS = ("valid", "replicate")


def gaussian_window(
    window_size: int = 11, window_std_voxels: float = 1.5
) -> npt.NDArray[np.float64]:
    """Normalised 1-D Gaussian window, shape (window_size,), float64.

    ``g[i] ~ exp(-(i - window_size // 2)^2 / (2 s^2))`` with ``s = window_std_voxels``,
    summing to 1 (pytorch-msssim ``_fspecial_gauss_1d``; MATLAB ``imgaussfilt`` with
    ``FilterSize = 2 ceil(3 s) + 1``).

    Parameters
    ----------
    window_size : int
        Odd number of taps.
    window_std_voxels : float
        Standard deviation of the Gaussian [voxels (taps)], > 0.

    Examples
    --------
    >>> from skysense.metrics import gaussian_window
    >>> gaussian_window(3, 1.0).round(4).tolist()
    [0.2741, 0.4519, 0.2741]
    """
    window_size = check_count(window_size, "window_size")
    if window_size % 2 == 0:
        raise ValueError(f"window_size must be odd, got {window_size}")
    std = check_positive(window_std_voxels, "window_std_voxels")
    x = np.arange(window_size, dtype=np.float64) - window_size // 2
    with np.errstate(over="ignore", under="ignore"):  # std -> 0 or inf: a delta or a box
        g = np.exp(-0.5 * (x / std) ** 2)
    return np.asarray(g / g.sum(), dtype=np.float64)


@overload
def ssim(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    padding: str = ...,
    data_range: float = ...,
    window_size: int = ...,
    window_std_voxels: float = ...,
    k1: float = ...,
    k2: float = ...,
    grid_shape: Sequence[int] | None = ...,
    reduction: Literal["none"] = ...,
) -> npt.NDArray[np.float64]: ...
@overload
def ssim(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    padding: str = ...,
    data_range: float = ...,
    window_size: int = ...,
    window_std_voxels: float = ...,
    k1: float = ...,
    k2: float = ...,
    grid_shape: Sequence[int] | None = ...,
    reduction: Literal["mean"],
) -> float: ...
def ssim(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    padding: str = "valid",
    data_range: float = 1.0,
    window_size: int = 11,
    window_std_voxels: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    grid_shape: Sequence[int] | None = None,
    reduction: str = "none",
) -> npt.NDArray[np.float64] | float:
    """Mean structural similarity of each frame (eq. 24), 2-D or 3-D.

    Parameters
    ----------
    pred : array_like, shape (n_frames, n_x, n_y) or (n_frames, n_x, n_y, n_z), float32 or float64
        Estimated images or volumes (the first axis always indexes frames; pass
        ``image[None]`` for a single one). Flat ``(n_frames, n_voxels)`` with ``grid_shape``.
        bool/int are accepted and cast.
    target : array_like, same shape as ``pred``
        Reference images (e.g. binary occupancy labels).
    padding : {"valid", "replicate"}
        ``"valid"``: windows never leave the image and the SSIM map shrinks by
        ``window_size - 1`` per axis (a 40 x 40 image gives a 30 x 30 map), as in the
        pytorch-msssim code the authors use for the DNN tables. ``"replicate"``: borders
        are edge-replicated and the full-size map is averaged, as MATLAB ``ssim``.
    data_range : float
        Dynamic range L [image units], > 0; 1 for the authors' (and MATLAB's float) default.
    window_size : int
        Odd Gaussian window length per axis (11).
    window_std_voxels : float
        Gaussian standard deviation [voxels] (1.5).
    k1, k2 : float
        ``c1 = (k1 L)^2``, ``c2 = (k2 L)^2``; each in (0, 1].
    grid_shape : tuple of 2 or 3 int, optional
        Grid of flat input, e.g. ``Scenario.grid_shape``.
    reduction : {"none", "mean"}
        Per-frame values or their mean over frames.

    Returns
    -------
    ndarray, shape (n_frames,), float64, or float

    Raises
    ------
    ValueError
        With ``padding="valid"``, if a grid axis is longer than 1 but shorter than
        ``window_size``.

    Notes
    -----
    With Gaussian-weighted local means :math:`\\mu`, variances :math:`\\theta^2` and
    covariance :math:`\\theta_{xy}` (``E_w[xy] - mu_x mu_y``, no sample correction),

    .. math:: \\mathrm{SSIM} = \\frac{(2\\mu_x\\mu_y + c_1)(2\\theta_{xy} + c_2)}
              {(\\mu_x^2 + \\mu_y^2 + c_1)(\\theta_x^2 + \\theta_y^2 + c_2)}

    averaged over the map. SSIM is invariant to a common positive scale of ``pred``,
    ``target`` and ``data_range``; each frame is evaluated on its images and ``L`` scaled by an
    exact power of two (its largest magnitude), so any finite scale gives the same value. The
    window is separable, applied along every grid axis of
    length > 1; length-1 axes are left alone, so a ``(n_x, n_y, 1)`` grid is a 2-D image.
    3-D volumes use the 3-D Gaussian (MATLAB ``ssim`` on volumes). ``"valid"`` should equal
    scikit-image ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)`` (same window, 5-voxel crop; checked by
    the tests only where scikit-image is installed). Computed in float64, in chunks of frames.

    References
    ----------
    Z. Wang et al., "Image quality assessment: from error visibility to structural
    similarity", IEEE TIP 13 (2004). Huang et al., IEEE TWC 25 (2026), eq. (24).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import ssim
    >>> labels = np.zeros((2, 16, 16))
    >>> labels[:, 8, 8] = 1.0
    >>> ssim(labels, labels).tolist()
    [1.0, 1.0]
    >>> round(ssim(np.zeros_like(labels), labels, reduction="mean"), 4)  # all-zero output
    0.0442
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    check_reduction(reduction)
    g = gaussian_window(window_size, window_std_voxels)
    data_range = check_positive(data_range, "data_range")
    k1 = _check_constant(k1, "k1")
    k2 = _check_constant(k2, "k2")
    x = as_frames(pred, "pred")
    y = as_frames(target, "target")
    check_same_shape(x, y, "pred", "target")
    x = to_grid(x, "pred", grid_shape)
    y = to_grid(y, "target", grid_shape)

    grid = x.shape[1:]
    axes = tuple(ax + 1 for ax, n in enumerate(grid) if n > 1)
    if padding == "valid":
        short = [n for n in grid if 1 < n < window_size]
        if short:
            raise ValueError(
                f"padding='valid' needs every grid axis of length > 1 to be >= window_size="
                f"{window_size}, got grid {grid}; use padding='replicate' or a smaller "
                "window_size"
            )
    values = np.empty(x.shape[0])
    for sl in frame_chunks(x.shape[0], math.prod(grid)):
        xs, ys = x[sl].astype(np.float64), y[sl].astype(np.float64)
        # per frame: images and L scaled by 2**-e, e the exponent of max(|x|, |y|, L)
        peak = np.maximum(np.abs(xs).reshape(xs.shape[0], -1).max(axis=1), data_range)
        peak = np.maximum(peak, np.abs(ys).reshape(ys.shape[0], -1).max(axis=1))
        exponent = np.frexp(peak)[1]
        shape = (-1,) + (1,) * (xs.ndim - 1)
        xs = np.ldexp(xs, -exponent.reshape(shape))
        ys = np.ldexp(ys, -exponent.reshape(shape))
        with np.errstate(under="ignore"):
            scale = np.ldexp(data_range, -exponent).reshape(shape)  # L' in (0, 1]
            c1, c2 = (k1 * scale) ** 2, (k2 * scale) ** 2
            values[sl] = _ssim_chunk(xs, ys, g, axes, padding, c1, c2)
    return reduce(values, reduction)


def _check_constant(value: float, name: str) -> float:
    """A stabilising constant k1 or k2 in (0, 1]."""
    value = check_positive(value, name)
    if value > 1.0:
        raise ValueError(f"{name} must lie in (0, 1] (SSIM's small constants), got {value}")
    return value


def _ssim_chunk(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    g: npt.NDArray[np.float64],
    axes: tuple[int, ...],
    padding: str,
    c1: npt.NDArray[np.float64],
    c2: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Per-frame mean SSIM of float64 ``x``, ``y`` (n, *grid) with per-frame ``c1``, ``c2``
    (broadcasting over the grid); inputs assumed valid and scaled to at most unit peak."""
    mode = "nearest"  # scipy's "nearest" is MATLAB's "replicate"; irrelevant for "valid"
    r = g.size // 2

    def blur(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        for ax in axes:
            a = ndimage.correlate1d(a, g, axis=ax, mode=mode)
        if padding == "valid" and r:
            crop = [slice(None)] * a.ndim
            for ax in axes:
                crop[ax] = slice(r, a.shape[ax] - r)
            a = a[tuple(crop)]
        return a

    with np.errstate(under="ignore"):  # tiny values beside c1, c2: flushed, negligible
        mu_x, mu_y = blur(x), blur(y)
        mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        var_x = blur(x * x) - mu_xx
        var_y = blur(y * y) - mu_yy
        cov = blur(x * y) - mu_xy
        # (eq. 24), evaluated per window position
        smap = ((2.0 * mu_xy + c1) * (2.0 * cov + c2)) / (
            (mu_xx + mu_yy + c1) * (var_x + var_y + c2)
        )
    return smap.reshape(smap.shape[0], -1).mean(axis=1)
