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

    Notes
    -----
    .. math:: \\mathrm{MSE} = \\lVert \\hat{\\sigma} - \\sigma \\rVert_2^2 / N_v

    Accumulated in float64 whatever the input dtype. An all-zero prediction of a
    binary 40 x 40 label with 6 targets scores 6/1600 = 0.00375 (Table IV, Net-4/6).

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
    diff = p.reshape(p.shape[0], -1).astype(np.float64) - t.reshape(t.shape[0], -1)
    values = np.einsum("ij,ij->i", diff, diff) / diff.shape[1]  # (eq. 23)
    return reduce(values, reduction)
