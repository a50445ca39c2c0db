import pytest

torch = pytest.importorskip("torch")

from skysense.learn import ImagingLoss
from skysense.learn.imager.losses import hard_negative_count, ohem1_loss, ohem2_loss


def _t(rows):
    return torch.tensor(rows, dtype=torch.float64)


# One image on a 1 x 4 grid: positive voxel 0; negative losses 0.1, 0.4, 0.2.
LOSS_1 = [[[0.5, 0.1, 0.4, 0.2]]]
LABEL_1 = [[[1.0, 0.0, 0.0, 0.0]]]


@pytest.mark.parametrize(
    ("eta", "ohem1", "ohem2"),
    [
        (1.0, (0.5 + 0.4) / 2, 0.5 + 0.4),
        (2.0, (0.5 + 0.4 + 0.2) / 3, 0.5 + (0.4 + 0.2) / 2),
        # fewer negatives than round(eta * n_pos): all of them are used
        (10.0, (0.5 + 0.7) / 4, 0.5 + 0.7 / 3),
    ],
)
def test_ohem_single_image_by_hand(eta, ohem1, ohem2):
    loss, label = _t(LOSS_1), _t(LABEL_1)
    assert float(ohem1_loss(loss, label, negatives_per_positive=eta)) == pytest.approx(
        ohem1, rel=1e-12
    )
    assert float(ohem2_loss(loss, label, negatives_per_positive=eta)) == pytest.approx(
        ohem2, rel=1e-12
    )


def test_ohem_batch_pooling_differs_between_variants():
    loss = _t([[[0.5, 0.1, 0.4, 0.2]], [[0.3, 0.2, 0.1, 0.05]]])
    label = _t([[[1.0, 0, 0, 0]], [[0, 1.0, 1.0, 0]]])
    # image 2: positives 0.2 + 0.1, n_hard = round(1 * 2) = 2 -> negatives 0.3 + 0.05
    o1 = (0.5 + 0.4 + 0.3 + 0.35) / (2 + 4)
    o2 = ((0.5 + 0.4) + (0.3 / 2 + 0.35 / 2)) / 2
    assert float(ohem1_loss(loss, label, negatives_per_positive=1.0)) == pytest.approx(
        o1, rel=1e-12
    )
    assert float(ohem2_loss(loss, label, negatives_per_positive=1.0)) == pytest.approx(
        o2, rel=1e-12
    )


def test_min_hard_negatives_and_positive_threshold():
    # label 0.05 < 0.1 counts as negative; n_min = 3 > round(eta * n_pos) = 1
    loss = _t([[[0.5, 0.1, 0.4, 0.2]]])
    label = _t([[[1.0, 0.05, 0.0, 0.0]]])
    assert float(
        ohem1_loss(loss, label, negatives_per_positive=1.0, min_hard_negatives=3)
    ) == pytest.approx(1.2 / 4)


def test_no_positive_voxel_is_handled():
    """The authors' code raises here; we keep the n_min hardest negatives."""
    loss = _t([[[0.1, 0.5, 0.2, 0.3]]]).requires_grad_()
    label = torch.zeros(1, 1, 4, dtype=torch.float64)
    o1 = ohem1_loss(loss, label, negatives_per_positive=10.0, min_hard_negatives=2)
    o2 = ohem2_loss(loss, label, negatives_per_positive=10.0, min_hard_negatives=2)
    assert float(o1.detach()) == pytest.approx(0.4)
    assert float(o2.detach()) == pytest.approx(0.4)
    o1.backward()
    assert torch.isfinite(loss.grad).all()
    assert loss.grad.tolist() == [[[0.0, 0.5, 0.0, 0.5]]]
    # and with n_min = 0 the loss is exactly zero rather than 0 / 0
    assert float(ohem1_loss(loss.detach(), label, min_hard_negatives=0)) == 0.0
    assert float(ohem2_loss(loss.detach(), label, min_hard_negatives=0)) == 0.0


@pytest.mark.parametrize(
    ("n_pos", "n_neg", "eta", "n_min", "expected"),
    [
        (1, 3, 1.0, 1, 1),
        (1, 3, 10.0, 1, 3),
        (0, 5, 10.0, 1, 1),
        (2, 100, 2.5, 1, 5),
        (0, 0, 1, 1, 0),
    ],
)
def test_hard_negative_count(n_pos, n_neg, eta, n_min, expected):
    assert hard_negative_count(n_pos, n_neg, eta, n_min) == expected


def test_imaging_loss_adds_alpha_times_mean_output():
    pred = torch.tensor([[0.2, 0.4]], dtype=torch.float64)
    label = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert float(ImagingLoss("mse", sparsity_weight=0.0)(pred, label)) == pytest.approx(0.4)
    assert float(ImagingLoss("mse", sparsity_weight=1.0)(pred, label)) == pytest.approx(0.7)
    assert float(ImagingLoss("mse", sparsity_weight=2.0)(pred, label)) == pytest.approx(1.0)


def test_mse_weight_adds_dense_mse_by_hand():
    """OHEM-2 (eta = 1) + 2 * MSE over all voxels + alpha = 1 on one 1 x 4 image."""
    pred = _t([[[0.9, 0.3, 0.5, 0.2]]]).requires_grad_()
    label = _t([[[1.0, 0.0, 0.0, 0.0]]])
    # squared errors 0.01, 0.09, 0.25, 0.04: OHEM-2 = 0.01 + 0.25 (the hardest negative);
    # MSE = 0.39 / 4; mean output = 1.9 / 4
    loss = ImagingLoss("ohem2", negatives_per_positive=1.0, sparsity_weight=1.0, mse_weight=2.0)(
        pred, label
    )
    assert float(loss.detach()) == pytest.approx(0.26 + 2 * 0.39 / 4 + 1.9 / 4, rel=1e-12)
    loss.backward()
    # the easy negatives (voxels 1 and 3) get a gradient from the MSE term and alpha only:
    # 2 * 2 p / 4 + 1 / 4
    grad = pred.grad[0, 0].tolist()
    assert grad[1] == pytest.approx(0.3 + 0.25, rel=1e-12)
    assert grad[3] == pytest.approx(0.2 + 0.25, rel=1e-12)
    # voxel 2 is the hard negative: 2 * 0.5 from OHEM-2 on top
    assert grad[2] == pytest.approx(1.0 + 0.5 + 0.25, rel=1e-12)
    # mse_weight = 0 (the default) is the plain OHEM-2 + alpha loss
    base = ImagingLoss("ohem2", negatives_per_positive=1.0, sparsity_weight=1.0)(
        pred.detach(), label
    )
    assert float(base) == pytest.approx(0.26 + 1.9 / 4, rel=1e-12)
    with pytest.raises(ValueError, match="mse_weight"):
        ImagingLoss(mse_weight=-1.0)


def test_alpha_one_with_mse_by_hand():
    """MSE + alpha = 1 on 6 of 1600 positives: the all-zero map ties with the exact label map
    (6/1600 each) and the optimum per positive voxel is p = 0.5 ((1 - p)^2 + p is minimal)."""
    label = torch.zeros(1, 40, 40, dtype=torch.float64)
    label[0, :6, 0] = 1.0
    loss = ImagingLoss("mse", sparsity_weight=1.0)
    zero = float(loss(torch.zeros_like(label), label))
    exact = float(loss(label.clone(), label))
    half = float(loss(0.5 * label, label))
    assert zero == pytest.approx(6 / 1600, rel=1e-12)
    assert exact == pytest.approx(6 / 1600, rel=1e-12)
    assert half == pytest.approx(0.75 * 6 / 1600, rel=1e-12)
    assert float(ImagingLoss("mse", sparsity_weight=0.0)(label.clone(), label)) == 0.0


def test_imaging_loss_validation():
    with pytest.raises(ValueError, match="loss kind"):
        ImagingLoss("l1")
    with pytest.raises(ValueError, match="negatives_per_positive"):
        ImagingLoss(negatives_per_positive=-1)
    with pytest.raises(ValueError, match="sparsity_weight"):
        ImagingLoss(sparsity_weight=float("nan"))
    with pytest.raises(ValueError, match="same shape"):
        ImagingLoss()(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5))
