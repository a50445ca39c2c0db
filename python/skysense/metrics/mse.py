"""Mean squared error per frame (imaging paper, eq. (23))."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from skysense.metrics._common import as_frames, check_reduction, check_same_shape, reduce

__all__ = ["mse"]


@overload
def mse(
    pred: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["none"] = ...
) -> npt.NDArray[np.float64]: ...
@overload
def mse(pred: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["mean"]) -> float: ...
def mse(
    pred: npt.ArrayLike, target: npt.ArrayLike, *, reduction: str = "none"
) -> npt.NDArray[np.float64] | float:
    """Mean squared error over the voxels of each frame (eq. 23).

    Parameters
    ----------
    pred : array_like, shape (n_frames, ...), float32 or float64 (bool/int accepted)
        Estimated images; every axis after the first is a voxel axis (a grid
        ``(n_x, n_y[, n_z])`` or flat ``(n_voxels,)``).
    target : array_like, same shape as ``pred``
        Ground truth, e.g. scattering coefficients or binary occupancy labels.
    reduction : {"none", "mean"}
        ``"none"`` returns the per-frame values; ``"mean"`` their mean over frames,
        which equals the MSE pooled over all voxels of the batch.

    Returns
    -------
    ndarray, shape (n_frames,), float64, or float
        In the squared units of the images.

    Raises
    ------
    OverflowError
        If a frame's MSE exceeds the float64 range (``pred`` and ``target`` differ by more
        than about 1.3e154 per voxel).

    Notes
    -----
    .. math:: \\mathrm{MSE} = \\lVert \\hat{\\sigma} - \\sigma \\rVert_2^2 / N_v

    Accumulated in float64 whatever the input dtype, on frames scaled by an exact power of
    two, so that no finite input overflows or underflows on the way: ``mse(c x, c y) =
    c**2 mse(x, y)`` to rounding for any ``c`` whose result is representable. An all-zero
    prediction of a binary 40 x 40 label with 6 targets scores 6/1600 = 0.00375 (Table IV,
    Net-4/6).

    References
    ----------
    Huang et al., "Learned Off-Grid Imager for Low-Altitude Economy with Cooperative
    ISAC Network", IEEE TWC 25 (2026), eq. (23).

    Examples
    --------
    >>> import numpy as np
    >>> from skysense.metrics import mse
    >>> labels = np.zeros((2, 40, 40))
    >>> labels[:, :2, :3] = 1.0  # 6 targets per frame
    >>> mse(np.zeros_like(labels), labels).tolist()
    [0.00375, 0.00375]
    """
    check_reduction(reduction)
    p = as_frames(pred, "pred")
    t = as_frames(target, "target")
    check_same_shape(p, t, "pred", "target")
    p2 = p.reshape(p.shape[0], -1).astype(np.float64)
    t2 = t.reshape(t.shape[0], -1).astype(np.float64)
    # Frames far from unit scale are scaled by 2**-e (exact), so that neither the difference
    # nor its square overflows or underflows; the MSE is scaled back by 2**(2 e).
    peak = np.maximum(np.abs(p2).max(axis=1), np.abs(t2).max(axis=1))
    exponent = np.where((peak > 2.0**_SAFE) | (peak < 2.0**-_SAFE), np.frexp(peak)[1], 0)
    if exponent.any():
        p2 = np.ldexp(p2, -exponent[:, None])
        t2 = np.ldexp(t2, -exponent[:, None])
    diff = p2 - t2
    values = np.einsum("ij,ij->i", diff, diff) / diff.shape[1]  # (eq. 23)
    with np.errstate(over="ignore"):
        values = np.ldexp(values, 2 * exponent)
    if not np.isfinite(values).all():
        frame = int(np.flatnonzero(~np.isfinite(values))[0])
        raise OverflowError(
            f"the MSE of frame {frame} exceeds the float64 range: pred and target differ by "
            f"up to {np.abs(diff[frame]).max() * 2.0 ** exponent[frame]:.3g} per voxel"
        )
    return reduce(values, reduction)


#: Frames whose peak lies beyond 2**(+-_SAFE) are scaled to unit peak first.
_SAFE = 64
