"""Training losses of the learned imager (Sec. IV-C): MSE, OHEM-1, OHEM-2, the sparsity term
and (not in the paper) a dense MSE term on all voxels.

Importing this module imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

__all__ = ["LOSSES", "ImagingLoss", "hard_negative_count", "ohem1_loss", "ohem2_loss"]

#: Loss kinds of :class:`ImagingLoss`.
LOSSES = ("mse", "ohem1", "ohem2")
#: A voxel is positive if its label is >= this (the authors' 0.1).
POSITIVE_LABEL = 0.1


def hard_negative_count(n_pos: int, n_neg: int, eta: float, min_hard_negatives: int) -> int:
    """Hard negatives kept for one image: ``min(n_neg, max(n_min, round(eta * n_pos)))``.

    As the authors' ``ohem_loss1/2``: when fewer than ``round(eta n_pos)`` negatives exist,
    all are kept. An image without positives keeps ``min(n_neg, n_min)`` (the authors'
    code raises there).
    """
    wanted = max(int(min_hard_negatives), round(eta * n_pos))
    return min(int(n_neg), wanted)


def _split(voxel_loss, labels, eta, min_hard_negatives):
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
            hard_negative_count(p, n, eta, min_hard_negatives)
            for p, n in zip(n_pos.tolist(), n_neg.tolist(), strict=True)
        ],
        device=loss.device,
    )
    keep = torch.arange(loss.shape[1], device=loss.device)[None, :] < n_hard[:, None]
    hard_sum = torch.where(keep, neg_sorted, torch.zeros_like(neg_sorted)).sum(dim=1)
    return pos_sum, n_pos, hard_sum, n_hard


def ohem1_loss(voxel_loss, labels, *, eta=10.0, min_hard_negatives=1):
    """OHEM-1 (eq. 21): positives plus hard negatives pooled over the batch.

    Parameters
    ----------
    voxel_loss : Tensor, shape (batch, *grid)
        Per-voxel loss, e.g. ``(pred - label) ** 2``.
    labels : Tensor, shape (batch, *grid)
        Labels; positive where ``>= 0.1``.
    eta : float
        Hard negatives per positive (``neg_scale``, 10).
    min_hard_negatives : int
        Least hard negatives per image (``neg_min_case``, 1).

    Returns
    -------
    Tensor, shape ()
        ``sum_b (pos_b + hard_b) / sum_b (n_pos_b + n_hard_b)``.
    """
    pos_sum, n_pos, hard_sum, n_hard = _split(voxel_loss, labels, eta, min_hard_negatives)
    count = (n_pos + n_hard).sum().clamp_min(1)
    return (pos_sum.sum() + hard_sum.sum()) / count


def ohem2_loss(voxel_loss, labels, *, eta=10.0, min_hard_negatives=1):
    """OHEM-2 (eq. 21, per image): mean positive loss plus mean hard-negative loss.

    Parameters are those of :func:`ohem1_loss`. Returns the batch mean of
    ``pos_b / n_pos_b + hard_b / n_hard_b``, a term counting 0 when its count is 0.
    """
    pos_sum, n_pos, hard_sum, n_hard = _split(voxel_loss, labels, eta, min_hard_negatives)
    per_image = pos_sum / n_pos.clamp_min(1) + hard_sum / n_hard.clamp_min(1)
    return per_image.mean()


@dataclass(frozen=True)
class ImagingLoss:
    """Training objective: a voxel loss plus ``alpha`` times the mean output (eq. 22), plus
    ``mse_weight`` times the plain MSE over all voxels.

    Parameters
    ----------
    kind : {"mse", "ohem1", "ohem2"}
        Reduction of the per-voxel squared error (see :data:`LOSSES`).
    eta : float
        Hard negatives per positive (OHEM only).
    min_hard_negatives : int
        Least hard negatives per image (OHEM only).
    alpha : float
        Sparsity weight. The authors' code adds ``alpha * pred.sum() / (B * N_v)``, i.e.
        alpha times the mean output, not the paper's ``alpha * ||sigma||_1``.
    mse_weight : float
        Weight of ``mean((pred - label) ** 2)`` over all voxels, added to the OHEM loss (not
        in the paper; 0, the default, is the authors' loss). OHEM-2 penalises only the
        ``eta * n_pos`` hardest negatives of an image, so the easy background is free to
        drift up to just below them; this term keeps pulling every voxel to its label.
    """

    kind: str = "ohem1"
    eta: float = 10.0
    min_hard_negatives: int = 1
    alpha: float = 1.0
    mse_weight: float = 0.0

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise ValueError(f"loss kind must be one of {LOSSES}, got {self.kind!r}")
        if not self.eta >= 0:
            raise ValueError(f"eta must be >= 0, got {self.eta}")
        if self.min_hard_negatives < 0:
            raise ValueError(f"min_hard_negatives must be >= 0, got {self.min_hard_negatives}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not self.mse_weight >= 0:
            raise ValueError(f"mse_weight must be >= 0, got {self.mse_weight}")

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, pred, labels):
        """Loss of a batch: ``pred`` and ``labels`` of shape (batch, *grid) -> scalar Tensor."""
        if pred.shape != labels.shape:
            raise ValueError(
                f"pred and labels must have the same shape, got {tuple(pred.shape)} "
                f"and {tuple(labels.shape)}"
            )
        labels = labels.to(pred.dtype)
        voxel = (pred - labels) ** 2
        if self.kind == "mse":
            loss = voxel.mean()
        elif self.kind == "ohem1":
            loss = ohem1_loss(
                voxel, labels, eta=self.eta, min_hard_negatives=self.min_hard_negatives
            )
        else:
            loss = ohem2_loss(
                voxel, labels, eta=self.eta, min_hard_negatives=self.min_hard_negatives
            )
        if self.mse_weight:
            loss = loss + self.mse_weight * voxel.mean()
        # (eq. 22) + alpha * sum(pred) / (B N_v), the authors' normalisation
        return loss + self.alpha * pred.mean()
