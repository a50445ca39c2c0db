"""Training losses of the learned imager (imaging paper, Sec. IV-C): MSE, OHEM-1, OHEM-2 and the
sparsity term (eqs. (21)-(22)), plus (not in the paper) a dense MSE term on all voxels.

Importing this module imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = ["LOSSES", "ImagingLoss", "hard_negative_count", "ohem1_loss", "ohem2_loss"]

#: Loss kinds of :class:`ImagingLoss`.
LOSSES = ("mse", "ohem1", "ohem2")
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
    voxel_loss : Tensor, shape (batch, *grid)
        Per-voxel loss, e.g. ``(pred - label) ** 2``.
    labels : Tensor, shape (batch, *grid)
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


@dataclass(frozen=True)
class ImagingLoss:
    """Training objective: a voxel loss plus ``sparsity_weight`` times the mean output (imaging
    paper, eq. (22)), plus ``mse_weight`` times the plain MSE over all voxels.

    Parameters
    ----------
    kind : {"mse", "ohem1", "ohem2"}
        Reduction of the per-voxel squared error (see :data:`LOSSES`).
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

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (stored in training checkpoints)."""
        return asdict(self)

    def __call__(self, pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of a batch: ``pred`` and ``labels`` of shape (batch, *grid) -> scalar Tensor."""
        if pred.shape != labels.shape:
            raise ValueError(
                f"pred and labels must have the same shape, got {tuple(pred.shape)} "
                f"and {tuple(labels.shape)}"
            )
        labels = labels.to(pred.dtype)
        voxel = (pred - labels) ** 2
        eta, n_min = self.negatives_per_positive, self.min_hard_negatives
        if self.kind == "mse":
            loss = voxel.mean()
        elif self.kind == "ohem1":
            loss = ohem1_loss(voxel, labels, negatives_per_positive=eta, min_hard_negatives=n_min)
        else:
            loss = ohem2_loss(voxel, labels, negatives_per_positive=eta, min_hard_negatives=n_min)
        if self.mse_weight:
            loss = loss + self.mse_weight * voxel.mean()
        # eq. (22): + alpha * sum(pred) / (B N_v), the authors' normalisation
        return loss + self.sparsity_weight * pred.mean()
