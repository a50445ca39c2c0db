"""Training losses of the learned imager (imaging paper, Sec. IV-C): MSE, OHEM-1, OHEM-2 and the
sparsity term (eqs. (21)-(22)), plus (not in the paper) a dense MSE term on all voxels and the
penalty-reduced focal loss of point detectors (CenterNet) for :class:`DetectorNet`.

Importing this module imports torch.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = [
    "LOSSES",
    "ImagingLoss",
    "centre_heat",
    "focal_loss",
    "hard_negative_count",
    "ohem1_loss",
    "ohem2_loss",
]

#: Loss kinds of :class:`ImagingLoss`.
LOSSES = ("mse", "ohem1", "ohem2", "focal")
#: Probabilities are clipped to [_EPS, 1 - _EPS] inside the focal loss's logarithms.
_EPS = 1e-6
#: A voxel is positive if its label is >= this (the authors' 0.1).
POSITIVE_LABEL = 0.1


def hard_negative_count(
    n_positives: int, n_negatives: int, negatives_per_positive: float, min_hard_negatives: int
) -> int:
    """Hard negatives kept for one image: ``min(n_neg, max(n_min, round(eta * n_pos)))``.

    As the authors' ``ohem_loss1/2``: when fewer than ``round(eta n_pos)`` negatives exist,
    all are kept. An image without positives keeps ``min(n_neg, n_min)`` (the authors'
    code raises there).

    Examples
    --------
    >>> hard_negative_count(3, 100, 10.0, 1)
    30
    >>> hard_negative_count(3, 20, 10.0, 1)
    20
    """
    wanted = max(int(min_hard_negatives), round(negatives_per_positive * n_positives))
    return min(int(n_negatives), wanted)


def _split(
    voxel_loss: torch.Tensor,
    labels: torch.Tensor,
    negatives_per_positive: float,
    min_hard_negatives: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: (sum of positive losses, n_pos, sum of the hardest negatives, n_hard)."""
    b = voxel_loss.shape[0]
    loss = voxel_loss.reshape(b, -1)
    pos = labels.reshape(b, -1) >= POSITIVE_LABEL
    n_pos = pos.sum(dim=1)
    n_neg = pos.shape[1] - n_pos
    pos_sum = (loss * pos).sum(dim=1)
    # Negatives sorted by loss, descending; positives pushed to the end with -inf.
    neg_sorted = torch.sort(loss.masked_fill(pos, float("-inf")), dim=1, descending=True)[0]
    n_hard = torch.tensor(
        [
            hard_negative_count(p, n, negatives_per_positive, min_hard_negatives)
            for p, n in zip(n_pos.tolist(), n_neg.tolist(), strict=True)
        ],
        device=loss.device,
    )
    keep = torch.arange(loss.shape[1], device=loss.device)[None, :] < n_hard[:, None]
    hard_sum = torch.where(keep, neg_sorted, torch.zeros_like(neg_sorted)).sum(dim=1)
    return pos_sum, n_pos, hard_sum, n_hard


def ohem1_loss(
    voxel_loss: torch.Tensor,
    labels: torch.Tensor,
    *,
    negatives_per_positive: float = 10.0,
    min_hard_negatives: int = 1,
) -> torch.Tensor:
    """OHEM-1 (imaging paper, eq. (21)): positives plus hard negatives pooled over the batch.

    Parameters
    ----------
    voxel_loss : Tensor, shape (batch, grid...)
        Per-voxel loss, e.g. ``(pred - label) ** 2``.
    labels : Tensor, shape (batch, grid...)
        Labels; positive where ``>= 0.1``.
    negatives_per_positive : float
        The paper's eta: hard negatives per positive (the authors' ``neg_scale``, 10).
    min_hard_negatives : int
        Least hard negatives per image (the authors' ``neg_min_case``, 1).

    Returns
    -------
    Tensor, shape ()
        ``sum_b (pos_b + hard_b) / sum_b (n_pos_b + n_hard_b)``.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> loss = torch.tensor([[0.5, 0.1, 0.4, 0.2]], dtype=torch.float64)
    >>> float(ohem1_loss(loss, torch.tensor([[1.0, 0, 0, 0]]), negatives_per_positive=1.0))
    0.45
    """
    pos_sum, n_pos, hard_sum, n_hard = _split(
        voxel_loss, labels, negatives_per_positive, min_hard_negatives
    )
    count = (n_pos + n_hard).sum().clamp_min(1)
    return (pos_sum.sum() + hard_sum.sum()) / count


def ohem2_loss(
    voxel_loss: torch.Tensor,
    labels: torch.Tensor,
    *,
    negatives_per_positive: float = 10.0,
    min_hard_negatives: int = 1,
) -> torch.Tensor:
    """OHEM-2 (imaging paper, eq. (21), per image): mean positive plus mean hard-negative loss.

    Parameters are those of :func:`ohem1_loss`. Returns the batch mean of
    ``pos_b / n_pos_b + hard_b / n_hard_b``, a term counting 0 when its count is 0.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> loss = torch.tensor([[0.5, 0.1, 0.4, 0.2]], dtype=torch.float64)
    >>> float(ohem2_loss(loss, torch.tensor([[1.0, 0, 0, 0]]), negatives_per_positive=1.0))
    0.9
    """
    pos_sum, n_pos, hard_sum, n_hard = _split(
        voxel_loss, labels, negatives_per_positive, min_hard_negatives
    )
    per_image = pos_sum / n_pos.clamp_min(1) + hard_sum / n_hard.clamp_min(1)
    return per_image.mean()


def centre_heat(labels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Target heat map: a Gaussian of ``sigma`` voxels around every label voxel, max-combined.

    Parameters
    ----------
    labels : Tensor, shape (batch, *grid)
        Occupancy labels; a UAV's voxel holds a value ``>= 0.1``.
    sigma : float
        Standard deviation of the Gaussian [voxels]; the kernel spans ``+-ceil(3 sigma)``.

    Returns
    -------
    Tensor, same shape, in [0, 1]: 1 on the label voxels.

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> labels = torch.zeros(1, 5, 5)
    >>> labels[0, 2, 2] = 1
    >>> heat = centre_heat(labels, 1.0)
    >>> round(float(heat[0, 2, 3]), 4), float(heat[0, 2, 2])
    (0.6065, 1.0)
    """
    pos = (labels >= POSITIVE_LABEL).to(torch.float32)
    nd = labels.ndim - 1
    radius = max(1, math.ceil(3 * sigma))
    padded = torch.nn.functional.pad(pos, (radius, radius) * nd)
    out = torch.zeros_like(pos)
    size = pos.shape[1:]
    for offset in itertools.product(range(-radius, radius + 1), repeat=nd):
        weight = math.exp(-sum(o * o for o in offset) / (2 * sigma**2))
        window = tuple(slice(radius + o, radius + o + n) for o, n in zip(offset, size, strict=True))
        out = torch.maximum(out, weight * padded[(slice(None),) + window])
    return out


def focal_loss(
    pred: torch.Tensor,
    labels: torch.Tensor,
    *,
    sigma: float = 1.0,
    alpha: float = 2.0,
    beta: float = 4.0,
) -> torch.Tensor:
    """Penalty-reduced focal loss of a centre heat map (CornerNet / CenterNet, eq. (1) of
    Zhou et al., "Objects as Points", 2019), summed over voxels and divided by the UAV count.

    Parameters
    ----------
    pred : Tensor, shape (batch, *grid)
        Predicted heat in [0, 1].
    labels : Tensor, same shape
        Occupancy labels (a UAV's voxel ``>= 0.1``).
    sigma : float
        Gaussian of :func:`centre_heat` [voxels]: negatives near a UAV are penalised less.
    alpha, beta : float
        Focusing exponents (2 and 4 in CenterNet).

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> labels = torch.zeros(1, 5, 5)
    >>> labels[0, 2, 2] = 1
    >>> good, bad = labels.clamp(0.001, 0.999), torch.full((1, 5, 5), 0.5)
    >>> float(focal_loss(good, labels)) < float(focal_loss(bad, labels))
    True
    """
    heat = centre_heat(labels, sigma)
    p = pred.clamp(_EPS, 1 - _EPS)
    pos = labels >= POSITIVE_LABEL
    pos_loss = -((1 - p) ** alpha * torch.log(p))[pos].sum()
    neg_loss = -((1 - heat) ** beta * p**alpha * torch.log(1 - p))[~pos].sum()
    return (pos_loss + neg_loss) / pos.sum().clamp_min(1)


@dataclass(frozen=True)
class ImagingLoss:
    """Training objective: a voxel loss plus ``sparsity_weight`` times the mean output (imaging
    paper, eq. (22)), plus ``mse_weight`` times the plain MSE over all voxels.

    Parameters
    ----------
    kind : {"mse", "ohem1", "ohem2", "focal"}
        Reduction of the per-voxel squared error (see :data:`LOSSES`), or ``"focal"``:
        :func:`focal_loss` of a detector's heat map (not in the paper; the OHEM, sparsity
        and MSE settings still add their terms, set them to 0 for the plain focal loss).
    negatives_per_positive : float
        The paper's eta: hard negatives per positive (OHEM only).
    min_hard_negatives : int
        Least hard negatives per image (OHEM only).
    sparsity_weight : float
        The paper's alpha. The authors' code adds ``alpha * pred.sum() / (B * N_v)``, i.e.
        alpha times the mean output, not the paper's ``alpha * ||sigma||_1``.
    mse_weight : float
        Weight of ``mean((pred - label) ** 2)`` over all voxels, added to the OHEM loss (not
        in the paper; 0, the default, is the authors' loss). OHEM-2 penalises only the
        ``eta * n_pos`` hardest negatives of an image, so the easy background is free to
        drift up to just below them; this term keeps pulling every voxel to its label.
    heat_sigma : float
        Gaussian around each UAV voxel of the focal loss's target heat [voxels].

    Examples
    --------
    >>> torch = __import__("pytest").importorskip("torch")
    >>> loss = ImagingLoss("mse", sparsity_weight=0.0)
    >>> float(loss(torch.zeros(1, 2, 2), torch.ones(1, 2, 2)))
    1.0
    """

    kind: str = "ohem1"
    negatives_per_positive: float = 10.0
    min_hard_negatives: int = 1
    sparsity_weight: float = 1.0
    mse_weight: float = 0.0
    heat_sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"loss kind must be one of {LOSSES}, got {self.kind!r}")
        if not self.negatives_per_positive >= 0:
            raise ValueError(
                f"negatives_per_positive must be >= 0, got {self.negatives_per_positive}"
            )
        if self.min_hard_negatives < 0:
            raise ValueError(f"min_hard_negatives must be >= 0, got {self.min_hard_negatives}")
        if not self.sparsity_weight >= 0:
            raise ValueError(f"sparsity_weight must be >= 0, got {self.sparsity_weight}")
        if not self.mse_weight >= 0:
            raise ValueError(f"mse_weight must be >= 0, got {self.mse_weight}")
        if not self.heat_sigma > 0:
            raise ValueError(f"heat_sigma must be > 0, got {self.heat_sigma}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (stored in training checkpoints)."""
        return asdict(self)

    def __call__(self, pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of a batch: ``pred`` and ``labels`` of shape (batch, grid...) -> scalar Tensor."""
        if pred.shape != labels.shape:
            raise ValueError(
                f"pred and labels must have the same shape, got {tuple(pred.shape)} "
                f"and {tuple(labels.shape)}"
            )
        labels = labels.to(pred.dtype)
        voxel = (pred - labels) ** 2
        eta, n_min = self.negatives_per_positive, self.min_hard_negatives
        if self.kind == "focal":
            loss = focal_loss(pred, labels, sigma=self.heat_sigma)
        elif self.kind == "mse":
            loss = voxel.mean()
        elif self.kind == "ohem1":
            loss = ohem1_loss(voxel, labels, negatives_per_positive=eta, min_hard_negatives=n_min)
        else:
            loss = ohem2_loss(voxel, labels, negatives_per_positive=eta, min_hard_negatives=n_min)
        if self.mse_weight:
            loss = loss + self.mse_weight * voxel.mean()
        # eq. (22): + alpha * sum(pred) / (B N_v), the authors' normalisation
        return loss + self.sparsity_weight * pred.mean()
