"""Tracking metrics: hand-checked golden cases and Stone Soup's metric generators (optional)."""

import datetime

import numpy as np
import pytest

from skysense.metrics import (
    gospa,
    gospa_per_frame,
    identity_switches,
    ospa,
    ospa2,
    track_rmse,
    tracking_scores,
)

# ---------------------------------------------------------------------------------- GOSPA


def test_gospa_golden():
    # one match at 1 m, one false point: (1 + 10 / 2)^1 = 6
    r = gospa([[0.0, 0.0], [50.0, 0.0]], [[1.0, 0.0]], cutoff_m=10.0)
    assert (r.distance_m, r.localisation, r.n_missed, r.n_false) == (6.0, 1.0, 0, 1)
    # a pair beyond the cut-off is a miss and a false target: (2 * 10^2 / 2)^(1/2) = 10
    r = gospa([[0.0, 0.0]], [[20.0, 0.0]], cutoff_m=10.0, order=2)
    assert r.distance_m == pytest.approx(10.0) and (r.n_missed, r.n_false) == (1, 1)
    # order 2: sqrt(3^2 + 4^2 + 2^2 / 2) over a cut-off of 2 for the unmatched truth
    r = gospa(
        [[0.0, 3.0], [10.0, 4.0]], [[0.0, 0.0], [10.0, 0.0], [40.0, 0.0]], cutoff_m=6.0, order=2
    )
    assert r.distance_m == pytest.approx(np.sqrt(9 + 16 + 36 / 2))
    assert gospa(np.empty((0, 3)), np.empty((0, 3)), cutoff_m=5.0).distance_m == 0.0
    assert gospa([], [[1.0, 2.0, 3.0]], cutoff_m=5.0).distance_m == 2.5


def test_gospa_per_frame_mean():
    est = [[[0.0, 0.0]], [], [[3.0, 4.0]]]
    truth = [[[0.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]]
    r = gospa_per_frame(est, truth, cutoff_m=10.0)
    np.testing.assert_allclose(r.distance_m, [0.0, 5.0, 5.0])
    assert r.mean_m == pytest.approx(10.0 / 3)
    np.testing.assert_array_equal(r.n_missed, [0, 1, 0])


@pytest.mark.parametrize("order", [1, 2])
def test_gospa_matches_stone_soup(rng, order):
    ss = pytest.importorskip("stonesoup.metricgenerator.ospametric", reason="needs stonesoup")
    from stonesoup.types.state import State

    metric = ss.GOSPAMetric(c=7.0, p=order)
    t0 = datetime.datetime(2026, 1, 1)
    for _ in range(20):
        est = rng.uniform(0, 30, (rng.integers(0, 7), 2))
        truth = rng.uniform(0, 30, (rng.integers(0, 7), 2))
        if est.shape[0] + truth.shape[0] == 0:
            continue
        ours = gospa(est, truth, cutoff_m=7.0, order=order)
        theirs, _ = metric.compute_gospa_metric(
            [State(e.reshape(-1, 1), timestamp=t0) for e in est],
            [State(t.reshape(-1, 1), timestamp=t0) for t in truth],
        )
        v = theirs.value
        assert ours.distance_m == pytest.approx(v["distance"], rel=1e-12, abs=1e-12)
        assert ours.localisation == pytest.approx(v["localisation"], rel=1e-12, abs=1e-12)
        assert ours.n_missed * 7.0**order / 2 == pytest.approx(v["missed"])
        assert ours.n_false * 7.0**order / 2 == pytest.approx(v["false"])


# ---------------------------------------------------------------------------------- OSPA^(2)


def test_ospa2_golden_two_tracks():
    # truth: one target at x = t for 4 frames; estimate: track 5 for frames 0-1, track 6 for 2-3
    truth = [[[float(t), 0.0]] for t in range(4)]
    tid = [[0]] * 4
    est = [[[float(t), 1.0]] for t in range(4)]
    eid = [[5], [5], [6], [6]]
    out = ospa2(est, eid, truth, tid, cutoff_m=10.0, window=4)
    # frames 0, 1: one track each side, 1 m apart throughout -> 1
    np.testing.assert_allclose(out[:2], [1.0, 1.0])
    # frame 3 (window 0-3): tracks 5 and 6 against the truth track; the best pairing gives
    # the truth to track 5 (or 6): d~ = (1 + 1 + 10 + 10) / 4 = 5.5; the other track is
    # unmatched: (5.5 + 10) / 2 = 7.75
    assert out[3] == pytest.approx(7.75)
    # without the switch it stays 1
    same = ospa2(est, [[5]] * 4, truth, tid, cutoff_m=10.0, window=4)
    np.testing.assert_allclose(same, 1.0)


def test_ospa2_window_one_is_ospa(rng):
    est = [rng.uniform(0, 20, (rng.integers(0, 5), 2)) for _ in range(10)]
    truth = [rng.uniform(0, 20, (rng.integers(1, 5), 2)) for _ in range(10)]
    eid = [np.arange(len(e)) for e in est]
    tid = [np.arange(len(t)) for t in truth]
    out = ospa2(est, eid, truth, tid, cutoff_m=6.0, window=1, order=2)
    ref = [ospa(e, t, cutoff_m=6.0, order=2) for e, t in zip(est, truth, strict=True)]
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_ospa2_empty_frames_are_zero():
    out = ospa2([[], []], [[], []], [[], []], [[], []], cutoff_m=5.0, window=3)
    np.testing.assert_array_equal(out, [0.0, 0.0])


# ---------------------------------------------------------------------------------- switches


def test_identity_switches_golden():
    truth = [[[0.0, 0.0], [20.0, 0.0]]] * 5
    tid = [[0, 1]] * 5
    est = [[[0.0, 0.0], [20.0, 0.0]]] * 5
    # target 0: 3, 3, 4, 4, 3 -> 2 switches; target 1: 8 throughout except unmatched in frame 2
    eid = [[3, 8], [3, 8], [4, 9], [4, 8], [3, 8]]
    est = [e if f != 2 else [[0.0, 0.0], [50.0, 0.0]] for f, e in enumerate(est)]
    r = identity_switches(est, eid, truth, tid, cutoff_m=5.0)
    assert r.n_switches == 2
    np.testing.assert_array_equal(r.per_frame, [0, 0, 1, 0, 1])
    assert r.n_truth_frames == 10
    assert r.per_track_per_100_frames == pytest.approx(20.0)


def test_identity_switches_match_stone_soup(rng):
    ss = pytest.importorskip("stonesoup.metricgenerator.ospametric", reason="needs stonesoup")
    from stonesoup.types.state import State

    # three targets always present and always matched; track labels permuted at random
    n_frames = 30
    truth = [np.array([[0.0, 0.0], [30.0, 0.0], [60.0, 0.0]]) + f for f in range(n_frames)]
    tid = [np.arange(3)] * n_frames
    eid = []
    labels = np.arange(3)
    for _ in range(n_frames):
        if rng.uniform() < 0.3:
            labels = rng.permutation(labels) + 10 * rng.integers(0, 2)
        eid.append(labels.copy())
    est = [t + 0.5 for t in truth]
    ours = identity_switches(est, eid, truth, tid, cutoff_m=5.0)
    metric = ss.GOSPAMetric(c=5.0, p=1, switching_penalty=1.0)
    t0 = datetime.datetime(2026, 1, 1)
    ms, mids, ts, tids = [], [], [], []
    for f in range(n_frames):
        now = t0 + datetime.timedelta(seconds=f)
        for p, i in zip(est[f], eid[f], strict=True):
            ms.append(State(p.reshape(-1, 1), timestamp=now))
            mids.append(int(i))
        for p, i in zip(truth[f], tid[f], strict=True):
            ts.append(State(p.reshape(-1, 1), timestamp=now))
            tids.append(int(i))
    values = metric.compute_over_time(ms, mids, ts, tids).value
    # Stone Soup charges 1 per full switch (0.5 + 0.5) and 0.5 per first assignment... only
    # from the second frame on, so the frames after the first hold exactly the switch counts
    theirs = [m.value["switching"] for m in values]
    np.testing.assert_allclose(theirs, ours.per_frame)


# ---------------------------------------------------------------------------------- RMSE


def test_track_rmse_golden():
    truth = [[[0.0, 0.0]]] * 4 + [[[0.0, 0.0], [50.0, 0.0]]] * 2
    tid = [[0]] * 4 + [[0, 1]] * 2
    est = [
        [[3.0, 0.0]],
        [[3.0, 0.0]],
        [[1.0, 0.0]],
        [[2.0, 0.0]],
        [[2.0, 0.0], [52.0, 0.0]],
        [[0.0, 0.0], [54.0, 0.0]],
    ]
    # settle 2: target 0 from frame 2 (errors 1, 2, 2, 0); target 1 appears at frame 4 (too young)
    assert track_rmse(est, truth, tid, cutoff_m=10.0, settle_frames=2) == pytest.approx(
        np.sqrt(9 / 4)
    )
    assert np.isnan(track_rmse([[]], [[[0.0, 0.0]]], [[0]], cutoff_m=1.0, settle_frames=0))


def test_tracking_scores_bundle():
    truth = [[[float(t), 0.0]] for t in range(12)]
    tid = [[0]] * 12
    s = tracking_scores(truth, tid, truth, tid, cutoff_m=5.0, window=3, settle_frames=1)
    assert (s.gospa_m, s.ospa2_m, s.id_switches, s.rmse_m, s.n_switches) == (0.0, 0.0, 0.0, 0.0, 0)
    assert s.gospa_per_frame.shape == (12,)


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: gospa([[0.0, 0.0]], [[0.0, 0.0]], cutoff_m=0.0),
            ValueError,
            "cutoff_m must be > 0",
        ),
        (
            lambda: gospa([[0.0, 0.0]], [[0.0, 0.0]], cutoff_m=1.0, order=0.5),
            ValueError,
            "order must be >= 1",
        ),
        (
            lambda: gospa([[np.nan, 0.0]], [[0.0, 0.0]], cutoff_m=1.0),
            ValueError,
            "estimated contains NaN",
        ),
        (
            lambda: gospa([[0.0, 0.0]], [[0.0, 0.0, 0.0]], cutoff_m=1.0),
            ValueError,
            "same dimension",
        ),
        (
            lambda: gospa_per_frame([[]], [[], []], cutoff_m=1.0),
            ValueError,
            "estimated has 1 frames, truth 2",
        ),
        (lambda: gospa_per_frame([], [], cutoff_m=1.0), ValueError, "n_frames = 0"),
        (
            lambda: ospa2([[[0.0, 0.0]]], [[1, 2]], [[]], [[]], cutoff_m=1.0),
            ValueError,
            r"estimated_ids\[0\] must have shape \(1,\)",
        ),
        (
            lambda: ospa2([[[0.0, 0.0], [1.0, 1.0]]], [[1, 1]], [[]], [[]], cutoff_m=1.0),
            ValueError,
            "repeated identity",
        ),
        (
            lambda: ospa2([[]], [[]], [[]], [[]], cutoff_m=1.0, window=0),
            ValueError,
            "window must be >= 1",
        ),
        (
            lambda: identity_switches([[[0.0, 0.0]]], [[0.5]], [[]], [[]], cutoff_m=1.0),
            TypeError,
            "integer identities",
        ),
        (
            lambda: track_rmse([[]], [[]], [[]], cutoff_m=1.0, settle_frames=-1),
            ValueError,
            "settle_frames must be >= 0",
        ),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
