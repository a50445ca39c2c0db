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
    # eq. (25): unbounded, c = 50 only as the cardinality penalty
    assert ospa(est, truth, cutoff_m=50.0, truncate=False) == pytest.approx(
        (1.0 + 50.0) / 2, rel=1e-15
    )
    assert ospa(est, truth, cutoff_m=5.0) == pytest.approx((1 + 5) / 2)
    # far miss: unbounded exceeds c (Table III, A^H y = 72.6), the standard OSPA saturates at c
    assert ospa([[0.0, 0.0]], [[100.0, 0.0]], cutoff_m=50.0, truncate=False) == pytest.approx(100.0)
    assert ospa([[0.0, 0.0]], [[100.0, 0.0]], cutoff_m=50.0) == pytest.approx(50.0)
    # order 2: sqrt((0^2 + 10^2) / 2)
    assert ospa([[0, 0], [3, 4]], [[0, 0]], cutoff_m=10.0, order=2) == pytest.approx(np.sqrt(50))
    # optimal, not greedy, assignment: pairing the closest points first (1.9-1.0, then
    # 0.0-3.0) costs 0.9 + 3.0; the optimum is 1.0 + 1.1
    assert ospa([[0.0], [1.9]], [[1.0], [3.0]], cutoff_m=50.0) == pytest.approx(
        (1.0 + 1.1) / 2, rel=1e-14
    )


def test_empty_sets():
    assert ospa([], [], cutoff_m=50.0) == 0.0
    assert ospa(np.empty((0, 3)), [[1.0, 2.0, 3.0]], cutoff_m=50.0) == 50.0
    assert ospa([[1.0, 2.0, 3.0]] * 4, [], cutoff_m=50.0, truncate=False) == 50.0
    assert ospa([], [[1.0, 2.0]], cutoff_m=7.0, order=2) == 7.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 3.5])
def test_standard_ospa_matches_vo(rng, dtype, order):
    for _ in range(20):
        n_est, n_true = rng.integers(0, 5, 2)
        est = (rng.uniform(-60, 60, (n_est, 3))).astype(dtype)
        truth = (rng.uniform(-60, 60, (n_true, 3))).astype(dtype)
        got = ospa(est, truth, cutoff_m=40.0, order=order)
        assert got == pytest.approx(vo_ospa_dist(est, truth, 40.0, order), rel=1e-12)
        assert got <= 40.0 + 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_untruncated_matches_eq25(rng, dtype):
    for _ in range(20):
        n_est, n_true = rng.integers(0, 6, 2)
        est = rng.uniform(-60, 60, (n_est, 3)).astype(dtype)
        truth = rng.uniform(-60, 60, (n_true, 3)).astype(dtype)
        got = ospa(est, truth, cutoff_m=50.0, truncate=False)
        assert got == pytest.approx(paper_ospa(est, truth), rel=1e-12)


def test_symmetric_and_permutation_invariant(rng):
    est, truth = rng.normal(size=(5, 3)) * 20, rng.normal(size=(3, 3)) * 20
    for truncate in (True, False):
        ref = ospa(est, truth, cutoff_m=30.0, truncate=truncate)
        assert ospa(truth, est, cutoff_m=30.0, truncate=truncate) == pytest.approx(ref, rel=1e-14)
        shuffled = ospa(est[rng.permutation(5)], truth[::-1], cutoff_m=30.0, truncate=truncate)
        assert shuffled == pytest.approx(ref, rel=1e-14)


def test_batch_matches_loop(rng):
    est = [rng.uniform(-60, 60, (k, 3)) for k in (0, 3, 6, 9)]
    truth = rng.uniform(-60, 60, (4, 6, 3))  # ImagingBatch.positions_m layout
    options = {"cutoff_m": 50.0, "truncate": False}
    got = ospa_batch(est, truth, **options)
    assert got.dtype == np.float64
    assert got.shape == (4,)
    np.testing.assert_allclose(
        got, [ospa(e, t, **options) for e, t in zip(est, truth, strict=True)], rtol=1e-14
    )
    assert got[0] == 50.0
    assert ospa_batch(est, truth, reduction="mean", **options) == pytest.approx(got.mean())
    bounded = ospa_batch(est, list(truth), cutoff_m=50.0, order=2)
    np.testing.assert_allclose(
        bounded,
        [ospa(e, t, cutoff_m=50.0, order=2) for e, t in zip(est, truth, strict=True)],
        rtol=1e-14,
    )
    assert np.all(bounded <= 50.0 + 1e-12)


def test_cutoff_is_required():
    with pytest.raises(TypeError, match="cutoff_m"):
        ospa([[0.0]], [[0.0]])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cutoff_m"):
        ospa_batch([[[0.0]]], [[[0.0]]])  # type: ignore[call-arg]


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
        ([[0.0]], [[0.0]], {"order": 0.5}, ValueError, "order must be >= 1"),
        ([[0.0]], [[0.0]], {"order": np.inf}, ValueError, "order must be finite"),
        ([[0.0]], [[0.0]], {"cutoff_m": 0.0}, ValueError, "cutoff_m must be > 0"),
        ([[0.0]], [[0.0]], {"cutoff_m": -1.0}, ValueError, "cutoff_m must be > 0"),
        ([[0.0]], [[0.0]], {"cutoff_m": "50"}, TypeError, "cutoff_m must be a real"),
        ([[0.0]], [[0.0]], {"truncate": "no"}, TypeError, "truncate must be a bool"),
    ],
)
def test_bad_input(est, truth, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ospa(est, truth, **{"cutoff_m": 50.0, **kwargs})


def test_batch_bad_input():
    with pytest.raises(ValueError, match="same number of frames"):
        ospa_batch([np.zeros((1, 3))], [np.zeros((1, 3))] * 2, cutoff_m=50.0)
    with pytest.raises(ValueError, match="empty batches"):
        ospa_batch([], [], cutoff_m=50.0)
    with pytest.raises(TypeError, match="sequence of point arrays"):
        ospa_batch(np.zeros((1, 3)).tolist()[0][0], [np.zeros((1, 3))], cutoff_m=50.0)
    with pytest.raises(ValueError, match=r"estimated\[1\] contains NaN"):
        ospa_batch(
            [np.zeros((1, 3)), np.full((1, 3), np.nan)], [np.zeros((1, 3))] * 2, cutoff_m=50.0
        )
    with pytest.raises(ValueError, match=r"estimated\[0\] and truth\[0\] must have the same"):
        ospa_batch([np.zeros((1, 2))], [np.zeros((1, 3))], cutoff_m=50.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        ospa_batch([[]], [[]], cutoff_m=50.0, reduction="sum")


# -- homogeneity: OSPA(c X, c Y; c cutoff) = c OSPA(X, Y; cutoff), c from 1e-300 to 1e300 --------
from hypothesis import given, settings
from hypothesis import strategies as st

_EST = np.random.default_rng(7).uniform(-50, 50, (5, 3))
_TRUTH = np.random.default_rng(8).uniform(-50, 50, (4, 3))


@settings(max_examples=40, deadline=None)
@given(
    exponent=st.floats(-300.0, 300.0),
    order=st.sampled_from([1.0, 2.0, 3.5]),
    truncate=st.booleans(),
)
def test_homogeneity(exponent, order, truncate):
    c = 10.0**exponent
    ref = ospa(_EST, _TRUTH, cutoff_m=30.0, order=order, truncate=truncate)
    got = ospa(_EST * c, _TRUTH * c, cutoff_m=30.0 * c, order=order, truncate=truncate)
    assert got == pytest.approx(ref * c, rel=1e-12)


def test_extreme_cutoffs_and_orders_are_finite():
    assert ospa([[0, 0]], [[1, 1], [2, 2]], cutoff_m=1e300) == pytest.approx(5e299, rel=1e-15)
    two = ospa([[0, 0]], [[1, 1], [2, 2]], cutoff_m=1e300, order=2)  # (1e600 / 2)**0.5
    assert two == pytest.approx(1e300 / np.sqrt(2), rel=1e-14)
    assert ospa([[0, 0]], [[1, 1], [2, 2]], cutoff_m=3.0, order=1000) == pytest.approx(
        3.0 * 0.5**0.001 * (1 + (np.sqrt(2) / 3) ** 1000) ** 0.001, rel=1e-12
    )
    tiny = ospa([[0, 0]], [[1e-300, 1e-300], [2e-300, 2e-300]], cutoff_m=1e-300, order=2)
    assert tiny == pytest.approx(1e-300, rel=1e-12)  # not 0: the penalty 1e-600 underflowed


def test_far_points_never_make_the_cost_matrix_infeasible():
    # distances of 2e300 overflow their squares; cut off at 1 they cost exactly 1
    assert ospa([[1e300, 0]], [[-1e300, 0], [2, 2]], cutoff_m=1.0) == 1.0
    assert ospa([[1e200, 0]], [[-1e200, 0], [2, 2]], cutoff_m=1.0, truncate=False) == pytest.approx(
        (1e200 + 1.0) / 2, rel=1e-12
    )
    batch = ospa_batch([[[1e300, 1e300]]], [[[-1e300, -1e300]]], cutoff_m=5.0)
    assert batch.tolist() == [5.0]


def test_uncut_ospa_that_overflows_names_the_sets():
    with pytest.raises(OverflowError, match="OSPA of estimated and truth exceeds the float64"):
        ospa([[1.7e308, 1.7e308]], [[-1.7e308, -1.7e308]], cutoff_m=1.0, truncate=False)
