import numpy as np
import pytest

from skysense.metrics import mse

DTYPES = [np.float32, np.float64]


def naive_mse(pred, target):
    """Eq. (23) frame by frame, voxel by voxel."""
    out = []
    for p, t in zip(pred, target, strict=True):
        p, t = np.ravel(p).astype(float), np.ravel(t).astype(float)
        out.append(sum((a - b) ** 2 for a, b in zip(p, t, strict=True)) / p.size)
    return np.array(out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 7, 11), (2, 5, 3, 7), (4, 53)])
def test_matches_naive(rng, dtype, shape):
    pred = rng.standard_normal(shape).astype(dtype)
    target = rng.standard_normal(shape).astype(dtype)
    got = mse(pred, target)
    assert got.dtype == np.float64
    assert got.shape == (shape[0],)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, naive_mse(pred, target), rtol=rtol)


def test_all_zero_prediction_of_six_targets():
    # Table IV, Net-4/6: an all-zero output of a binary 40x40 label with 6 targets.
    labels = np.zeros((2, 40, 40), dtype=bool)
    labels[:, [3, 10, 20, 30, 35, 38], [5, 12, 20, 1, 33, 38]] = True
    np.testing.assert_allclose(mse(np.zeros((2, 40, 40)), labels), 6 / 1600, rtol=1e-15)


def test_reduction_mean_is_pooled(rng):
    pred, target = rng.random((5, 9, 9)), rng.random((5, 9, 9))
    got = mse(pred, target, reduction="mean")
    assert isinstance(got, float)
    assert got == pytest.approx(np.mean((pred - target) ** 2), rel=1e-12)


def test_identical_is_zero(rng):
    x = rng.random((3, 8, 8))
    np.testing.assert_array_equal(mse(x, x), 0.0)


@pytest.mark.parametrize(
    ("pred", "target", "exc", "match"),
    [
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), ValueError, "same shape"),
        (np.full((2, 4), np.nan), np.zeros((2, 4)), ValueError, "pred contains NaN"),
        (np.zeros((2, 4)), np.full((2, 4), np.inf), ValueError, "target contains NaN or Inf"),
        (np.zeros((0, 4)), np.zeros((0, 4)), ValueError, "empty batch"),
        (np.zeros((2, 0)), np.zeros((2, 0)), ValueError, "no voxels"),
        (np.zeros(4), np.zeros(4), ValueError, "pred must be batched"),
        (np.zeros((2, 4), complex), np.zeros((2, 4)), TypeError, "pred has dtype complex"),
        (np.array([["a"]]), np.zeros((1, 1)), TypeError, "pred has dtype"),
    ],
)
def test_bad_input(pred, target, exc, match):
    with pytest.raises(exc, match=match):
        mse(pred, target)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        mse(np.zeros((1, 2)), np.zeros((1, 2)), reduction="sum")


# -- scale: mse(c x, c y) = c**2 mse(x, y) wherever the result is a normal float ---------------
from hypothesis import given, settings
from hypothesis import strategies as st

_X = np.random.default_rng(3).standard_normal((3, 6, 7))
_Y = np.random.default_rng(4).standard_normal((3, 6, 7))
_REF = mse(_X, _Y)


@settings(max_examples=40, deadline=None)
@given(exponent=st.floats(-300.0, 300.0))
def test_scale(exponent):
    c = 10.0**exponent
    # the exact value c**2 ref, formed without overflow: 2 log10(c) + log10(ref)
    log_true = 2 * exponent + np.log10(_REF)
    if log_true.max() > 308.3:  # beyond float64 (1.8e308): a clear error instead of inf
        with pytest.raises(OverflowError, match="exceeds the float64 range"):
            mse(_X * c, _Y * c)
        return
    if log_true.max() > 308.2:  # at the edge: either is right
        return
    got = mse(_X * c, _Y * c)
    assert got.dtype == np.float64 and got.shape == (3,)
    normal = log_true > -307.0  # above the subnormal range: full precision
    np.testing.assert_allclose(np.log10(got[normal]), log_true[normal], rtol=0, atol=1e-13 * 308)
    assert np.isfinite(got).all() and (got >= 0).all()


def test_overflow_names_pred_and_target():
    with pytest.raises(
        OverflowError, match="MSE of frame 0 exceeds the float64 range.*pred and target"
    ):
        mse(np.full((1, 4), 1e300), np.full((1, 4), -1e300))
    assert mse(np.full((1, 4), 1e300), np.full((1, 4), 1e300)).tolist() == [0.0]
    np.testing.assert_allclose(mse(np.full((1, 4), 1e154), np.zeros((1, 4))), [1e308], rtol=1e-14)
    with pytest.raises(OverflowError, match="MSE of frame 1"):  # 1e200**2 = 1e400
        mse(np.full((2, 4), 1e200) * [[0.0], [1.0]], np.zeros((2, 4)))
