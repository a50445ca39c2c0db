import itertools

import numpy as np
import pytest

from skysense.metrics import ospa, ospa_batch

DTYPES = [np.float32, np.float64]


def vo_ospa_dist(x, y, c, p):
    """Vo's reference ``ospa_dist(X, Y, c, p)`` (bounded Schuhmacher OSPA), with the
    assignment found by brute force over all permutations."""
    x, y = np.asarray(x, float).reshape(-1, 3), np.asarray(y, float).reshape(-1, 3)
    n, m = x.shape[0], y.shape[0]
    if n == 0 and m == 0:
        return 0.0
    if n == 0 or m == 0:
        return c
    if n > m:
        x, y, n, m = y, x, m, n
    d = np.minimum(c, np.linalg.norm(x[:, None] - y[None], axis=-1)) ** p
    cost = min(sum(d[i, perm[i]] for i in range(n)) for perm in itertools.permutations(range(m), n))
    return ((c**p * (m - n) + cost) / m) ** (1 / p)


def paper_ospa(est, truth, c=50.0):
    """Eq. (25) with p = 1 and c3 = c, brute force, no cut-off."""
    est, truth = np.asarray(est, float).reshape(-1, 3), np.asarray(truth, float).reshape(-1, 3)
    big, small = (est, truth) if len(est) >= len(truth) else (truth, est)
    if len(big) == 0:
        return 0.0
    best = min(
        (
            sum(np.linalg.norm(small[i] - big[j]) for i, j in enumerate(perm))
            for perm in itertools.permutations(range(len(big)), len(small))
        ),
        default=0.0,
    )
    return (best + c * (len(big) - len(small))) / len(big)


def test_hand_computed_cases():
    est = [[0.0, 0.0], [10.0, 0.0]]
    truth = [[1.0, 0.0]]
    assert ospa(est, truth) == pytest.approx((1.0 + 50.0) / 2, rel=1e-15)
    assert ospa(est, truth, card_penalty=5.0, cutoff=5.0) == pytest.approx((1 + 5) / 2)
    # far miss: unbounded exceeds c (Table III, A^H y = 72.6), bounded saturates at c
    assert ospa([[0.0, 0.0]], [[100.0, 0.0]]) == pytest.approx(100.0)
    assert ospa([[0.0, 0.0]], [[100.0, 0.0]], cutoff=50.0) == pytest.approx(50.0)
    # p = 2: sqrt((0^2 + 10^2) / 2)
    assert ospa([[0, 0], [3, 4]], [[0, 0]], card_penalty=10.0, p=2) == pytest.approx(np.sqrt(50))
    # optimal, not greedy, assignment: pairing the closest points first (1.9-1.0, then
    # 0.0-3.0) costs 0.9 + 3.0; the optimum is 1.0 + 1.1
    assert ospa([[0.0], [1.9]], [[1.0], [3.0]]) == pytest.approx((1.0 + 1.1) / 2, rel=1e-14)


def test_empty_sets():
    assert ospa([], []) == 0.0
    assert ospa(np.empty((0, 3)), [[1.0, 2.0, 3.0]]) == 50.0
    assert ospa([[1.0, 2.0, 3.0]] * 4, []) == 50.0
    assert ospa([], [[1.0, 2.0]], card_penalty=7.0, p=2, cutoff=3.0) == 7.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_bounded_matches_vo(rng, dtype, p):
    for _ in range(20):
        n_est, n_true = rng.integers(0, 5, 2)
        est = (rng.uniform(-60, 60, (n_est, 3))).astype(dtype)
        truth = (rng.uniform(-60, 60, (n_true, 3))).astype(dtype)
        got = ospa(est, truth, card_penalty=40.0, p=p, cutoff=40.0)
        assert got == pytest.approx(vo_ospa_dist(est, truth, 40.0, p), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbounded_matches_eq25(rng, dtype):
    for _ in range(20):
        n_est, n_true = rng.integers(0, 6, 2)
        est = rng.uniform(-60, 60, (n_est, 3)).astype(dtype)
        truth = rng.uniform(-60, 60, (n_true, 3)).astype(dtype)
        assert ospa(est, truth) == pytest.approx(paper_ospa(est, truth), rel=1e-12)


def test_symmetric_and_permutation_invariant(rng):
    est, truth = rng.normal(size=(5, 3)) * 20, rng.normal(size=(3, 3)) * 20
    ref = ospa(est, truth)
    assert ospa(truth, est) == pytest.approx(ref, rel=1e-14)
    assert ospa(est[rng.permutation(5)], truth[::-1]) == pytest.approx(ref, rel=1e-14)


def test_batch_matches_loop(rng):
    est = [rng.uniform(-60, 60, (k, 3)) for k in (0, 3, 6, 9)]
    truth = rng.uniform(-60, 60, (4, 6, 3))  # ImagingBatch.positions layout
    got = ospa_batch(est, truth)
    assert got.dtype == np.float64
    assert got.shape == (4,)
    np.testing.assert_allclose(
        got, [ospa(e, t) for e, t in zip(est, truth, strict=True)], rtol=1e-14
    )
    assert got[0] == 50.0
    assert ospa_batch(est, truth, reduction="mean") == pytest.approx(got.mean())
    bounded = ospa_batch(est, list(truth), cutoff=50.0)
    assert np.all(bounded <= 50.0 + 1e-12)


@pytest.mark.parametrize(
    ("est", "truth", "kwargs", "exc", "match"),
    [
        ([[0.0, 0.0]], [[0.0, 0.0, 0.0]], {}, ValueError, "same point dimension"),
        ([[np.nan, 0.0]], [[0.0, 0.0]], {}, ValueError, "estimated contains NaN"),
        ([[0.0, 0.0]], [[np.inf, 0.0]], {}, ValueError, "truth contains NaN or Inf"),
        (
            np.zeros((1, 2, 3)),
            [[0.0]],
            {},
            ValueError,
            r"estimated must have shape \(n_points, dim\)",
        ),
        ([1.0, 2.0], [[0.0]], {}, ValueError, "estimated must have shape"),
        ([[1j]], [[0.0]], {}, TypeError, "estimated has dtype complex"),
        ([[0.0]], [[0.0]], {"p": 0.5}, ValueError, "p must be >= 1"),
        ([[0.0]], [[0.0]], {"p": np.inf}, ValueError, "p must be finite"),
        ([[0.0]], [[0.0]], {"card_penalty": 0.0}, ValueError, "card_penalty must be > 0"),
        ([[0.0]], [[0.0]], {"cutoff": -1.0}, ValueError, "cutoff must be > 0"),
        ([[0.0]], [[0.0]], {"card_penalty": "50"}, TypeError, "card_penalty must be a real"),
    ],
)
def test_bad_input(est, truth, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ospa(est, truth, **kwargs)


def test_batch_bad_input():
    with pytest.raises(ValueError, match="same number of frames"):
        ospa_batch([np.zeros((1, 3))], [np.zeros((1, 3))] * 2)
    with pytest.raises(ValueError, match="empty batches"):
        ospa_batch([], [])
    with pytest.raises(TypeError, match="sequence of point arrays"):
        ospa_batch(np.zeros((1, 3)).tolist()[0][0], [np.zeros((1, 3))])
    with pytest.raises(ValueError, match=r"estimated\[1\] contains NaN"):
        ospa_batch([np.zeros((1, 3)), np.full((1, 3), np.nan)], [np.zeros((1, 3))] * 2)
    with pytest.raises(ValueError, match=r"estimated\[0\] and truth\[0\] must have the same"):
        ospa_batch([np.zeros((1, 2))], [np.zeros((1, 3))])
    with pytest.raises(ValueError, match="reduction must be one of"):
        ospa_batch([[]], [[]], reduction="sum")
