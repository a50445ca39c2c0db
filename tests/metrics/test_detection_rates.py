import dataclasses
import itertools
from collections import deque

import numpy as np
import pytest

from skysense.metrics import DetectionResult, detection_rates

DTYPES = [np.float32, np.float64]


def _neighbours(v, shape):
    ranges = [range(max(0, a - 1), min(n, a + 2)) for a, n in zip(v, shape, strict=True)]
    return itertools.product(*ranges)  # C order, like the nested loops of the original


def _renew_flag(flag, pred, v):
    flag[v] = 1
    queue = deque([v])
    while queue:
        for u in _neighbours(queue.popleft(), pred.shape):
            if pred[u] > 0.1 and flag[u] == 0:
                flag[u] = 1
                queue.append(u)


def naive_cal_detect_rate(pred, label):
    """The authors' ``utils.cal_detect_rate`` for one frame (any ndim), returning counts."""
    flag = np.zeros(pred.shape)
    n_true = detected = false = 0
    for v in itertools.product(*(range(n) for n in label.shape)):
        if label[v] >= 0.1:
            n_true += 1
            for u in _neighbours(v, pred.shape):
                if pred[u] > 0.1 and flag[u] == 0:
                    detected += 1
                    _renew_flag(flag, pred, u)
                    break
    for v in itertools.product(*(range(n) for n in pred.shape)):
        if pred[v] > 0.1 and flag[v] == 0:
            false += 1
            _renew_flag(flag, pred, v)
    return detected, n_true, false


def counts(result):
    return list(
        zip(
            result.n_detected.tolist(),
            result.n_true.tolist(),
            result.n_false_alarms.tolist(),
            strict=True,
        )
    )


def frame(shape=(10, 10), targets=(), preds=()):
    label, pred = np.zeros(shape), np.zeros(shape)
    for t in targets:
        label[t] = 1.0
    for p in preds:
        pred[p] = 0.8
    return pred[None], label[None]


@pytest.mark.parametrize(
    ("targets", "preds", "expected"),
    [
        # two targets merged into one blob count once
        ([(5, 5), (5, 7)], [(5, 5), (5, 6), (5, 7)], (1, 2, 0)),
        # a blob touching a target diagonally counts
        ([(5, 5)], [(6, 6)], (1, 1, 0)),
        # a blob two voxels away does not, and is one false alarm
        ([(5, 5)], [(7, 7)], (0, 1, 1)),
        # a far two-voxel blob is one false alarm; the hit is a detection
        ([(2, 2)], [(2, 2), (8, 8), (8, 9)], (1, 1, 1)),
        # all-zero prediction
        ([(1, 1), (4, 4)], [], (0, 2, 0)),
        # target on the border, blob in the corner
        ([(0, 0)], [(1, 1)], (1, 1, 0)),
        # greedy in C order: (2, 2) takes the blob at (1, 3) first, (2, 4) then finds it
        # used and misses, and the blob at (3, 1) is left as a false alarm
        ([(2, 2), (2, 4)], [(1, 3), (3, 1)], (1, 2, 1)),
        # the same blobs, targets in the other order of preference: both detected
        ([(2, 2), (2, 4)], [(3, 1), (3, 3)], (2, 2, 0)),
    ],
)
def test_blob_rule_hand_made(targets, preds, expected):
    pred, label = frame(targets=targets, preds=preds)
    res = detection_rates(pred, label)
    assert counts(res) == [expected]
    assert counts(res) == [naive_cal_detect_rate(pred[0], label[0])]


def test_exact_rule_hand_made():
    pred, label = frame(targets=[(5, 5), (2, 2)], preds=[(5, 5), (5, 6), (2, 3)])
    res = detection_rates(pred, label, rule="exact")
    assert counts(res) == [(1, 2, 2)]
    assert res.detection_rate == 0.5
    assert res.false_alarm_rate == pytest.approx(2 / 3)
    assert counts(detection_rates(pred, label)) == [(2, 2, 0)]  # blob rule forgives both


def test_all_zero_prediction_rates_are_zero():
    pred, label = frame(targets=[(1, 1), (4, 4)])
    for rule in ("blob", "exact"):
        res = detection_rates(pred, label, rule=rule)
        assert res.detection_rate == 0.0
        assert res.false_alarm_rate == 0.0  # 0 / 0 is defined as 0
    res = detection_rates(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)))
    assert (res.detection_rate, res.false_alarm_rate) == (0.0, 0.0)
    np.testing.assert_array_equal(res.detection_rate_per_frame, 0.0)


def test_3d_rule():
    vol_pred, vol_label = frame((5, 5, 5), targets=[(2, 2, 2)], preds=[(3, 3, 3), (4, 4, 4)])
    assert counts(detection_rates(vol_pred, vol_label)) == [(1, 1, 0)]  # 26-connected blob
    vol_pred, vol_label = frame((5, 5, 5), targets=[(2, 2, 2)], preds=[(4, 4, 4), (0, 0, 0)])
    assert counts(detection_rates(vol_pred, vol_label)) == [(0, 1, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(13, 11), (7, 6, 5)])
def test_matches_naive_reference(rng, dtype, shape):
    n_frames = 12
    label = np.zeros((n_frames, *shape), dtype=bool)
    for f in range(n_frames):
        label[f].flat[rng.choice(label[f].size, 6, replace=False)] = True
    noise = rng.random((n_frames, *shape)) ** 6  # sparse false blobs
    pred = np.where(rng.random(label.shape) < 0.7, label * 0.9, 0.0) + 0.3 * noise
    pred = np.roll(pred, rng.integers(-1, 2), axis=1).astype(dtype)  # off-by-one hits
    res = detection_rates(pred, label)
    assert res.n_detected.dtype == np.int64
    assert counts(res) == [
        naive_cal_detect_rate(p, lab) for p, lab in zip(pred, label, strict=True)
    ]
    exact = detection_rates(pred, label, rule="exact")
    pos, tgt = pred > 0.1, label
    np.testing.assert_array_equal(exact.n_detected, (pos & tgt).reshape(n_frames, -1).sum(1))
    np.testing.assert_array_equal(exact.n_false_alarms, (pos & ~tgt).reshape(n_frames, -1).sum(1))


def test_pooled_rates_and_per_frame(rng):
    res = DetectionResult(
        n_detected=np.array([1, 2, 0]),
        n_true=np.array([2, 2, 0]),
        n_false_alarms=np.array([1, 0, 3]),
    )
    assert res.detection_rate == pytest.approx(3 / 4)
    assert res.false_alarm_rate == pytest.approx(4 / 7)
    np.testing.assert_allclose(res.detection_rate_per_frame, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(res.false_alarm_rate_per_frame, [0.5, 0.0, 1.0])
    assert len(res) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_detected = np.zeros(3)


def test_layouts_and_thresholds(rng):
    label = rng.random((4, 40, 40)) > 0.995
    pred = rng.random((4, 40, 40)) * 0.2
    ref = counts(detection_rates(pred, label))
    assert counts(detection_rates(pred[..., None], label[..., None])) == ref
    for grid in ((40, 40), (40, 40, 1)):
        flat = detection_rates(pred.reshape(4, -1), label.reshape(4, -1), grid_shape=grid)
        assert counts(flat) == ref
    # thresholds: strict on pred, inclusive on labels
    pred, label = frame(targets=[(5, 5)], preds=[(5, 5)])
    assert counts(detection_rates(pred, label, threshold=0.8)) == [(0, 1, 0)]
    assert counts(detection_rates(pred, 0.5 * label, label_threshold=0.5)) == [(1, 1, 0)]
    assert counts(detection_rates(pred, 0.5 * label, label_threshold=0.6)) == [(0, 0, 1)]


@pytest.mark.parametrize(
    ("pred", "labels", "kwargs", "exc", "match"),
    [
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 5)), {}, ValueError, "same shape"),
        (np.full((1, 4, 4), np.nan), np.zeros((1, 4, 4)), {}, ValueError, "pred contains NaN"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {}, ValueError, "pass grid_shape"),
        (
            np.zeros((1, 16)),
            np.zeros((1, 16)),
            {"grid_shape": (4, 5)},
            ValueError,
            "pred must have shape",
        ),
        (np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), {}, ValueError, "empty batch"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), {"rule": "nearest"}, ValueError, "rule must be"),
        (
            np.zeros((1, 4, 4)),
            np.zeros((1, 4, 4)),
            {"threshold": None},
            TypeError,
            "threshold must be",
        ),
        (np.zeros((1, 4, 4), complex), np.zeros((1, 4, 4)), {}, TypeError, "pred has dtype"),
        (
            np.zeros((1, 4, 4)),
            np.zeros((1, 4, 4)),
            {"grid_shape": (4, 0)},
            ValueError,
            r"grid_shape\[1\]",
        ),
    ],
)
def test_bad_input(pred, labels, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        detection_rates(pred, labels, **kwargs)


def test_result_repr_is_short():
    n = 500
    res = DetectionResult(
        n_detected=np.ones(n, np.int64),
        n_true=np.ones(n, np.int64),
        n_false_alarms=np.zeros(n, np.int64),
    )
    text = repr(res)
    assert text.startswith("DetectionResult(") and len(text.splitlines()) == 5
    assert "int64[500]" in text and len(text) < 600
