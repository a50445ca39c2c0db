"""Map metrics (MOSPA per epoch, completeness, seen truth) on small traced scenes.

The metrics read only the noise-free ``visibility`` of a BS's data, so a stand-in with that
attribute replaces the simulated ``BsData``.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from skysense.mapping import Scene, trace
from skysense.metrics import completeness, ospa, ospa_per_epoch, seen_truth

N_EPOCHS = 40
TRUE_VA = np.array([0.0, 50.0, 15.0])
LATE_VA = np.array([40.0, 50.0, 15.0])
BUILDING = (0.0, 30.0, 30.0, 10.0, 30.0)  # south facade at y = 25, x in [-15, 15]


@pytest.fixture(scope="module")
def one_facade():
    """The facade seen by both links of a BS at the origin from the first epoch on."""
    x = np.linspace(-8.0, 8.0, N_EPOCHS)
    z = 30.0 + 3 * np.sin(np.linspace(0, 6, N_EPOCHS))
    traj = np.column_stack([x, np.full(N_EPOCHS, 5.0), z])
    scene = Scene([BUILDING], [(0.0, 0.0, 15.0)], traj)
    return SimpleNamespace(visibility=trace(scene, 0))


@pytest.fixture(scope="module")
def late_facade():
    """A BS off the facade (no monostatic path) whose bistatic path appears at epoch 17."""
    x = np.linspace(20.0, -40.0, N_EPOCHS)
    traj = np.column_stack([x, np.full(N_EPOCHS, 5.0), np.full(N_EPOCHS, 30.0)])
    scene = Scene([BUILDING], [(40.0, 0.0, 15.0)], traj)
    return SimpleNamespace(visibility=trace(scene, 0))


def test_truth_is_the_vas_seen_so_far(one_facade, late_facade):
    np.testing.assert_allclose(one_facade.visibility.va_positions_m, [TRUE_VA])
    assert seen_truth(one_facade).all()
    truth = seen_truth(late_facade)
    late = int(np.flatnonzero((late_facade.visibility.va_positions_m == LATE_VA).all(axis=1))[0])
    assert truth.shape == (N_EPOCHS, late_facade.visibility.va_positions_m.shape[0])
    assert not truth[:17, late].any() and truth[17:, late].all()
    assert not np.delete(truth, late, axis=1).any()  # the other VA is never seen


def test_metrics_edge_cases(one_facade, late_facade):
    perfect = [np.array([TRUE_VA])] * N_EPOCHS
    np.testing.assert_allclose(
        ospa_per_epoch(perfect, one_facade, cutoff_m=10.0, order=2), 0.0, atol=1e-12
    )
    empty = [np.zeros((0, 3))] * N_EPOCHS
    err = ospa_per_epoch(empty, late_facade, cutoff_m=7.0, order=2)
    np.testing.assert_allclose(err, np.where(np.arange(N_EPOCHS) >= 17, 7.0, 0.0))
    assert completeness(np.zeros((0, 3)), one_facade) == 0.0
    assert completeness([TRUE_VA + [0, 0, 3.0]], one_facade, radius_m=2.0) == 0.0
    assert completeness([TRUE_VA + [0, 0, 1.0]], one_facade, radius_m=2.0) == 1.0
    assert completeness([LATE_VA], late_facade) == 1.0  # the never-seen VA does not count


@pytest.mark.parametrize(("order", "truncate"), [(1, True), (2, True), (2, False)])
def test_per_epoch_is_the_one_ospa(late_facade, rng, order, truncate):
    estimates = [LATE_VA + rng.normal(0, 8, (rng.integers(0, 3), 3)) for _ in range(N_EPOCHS)]
    options = {"cutoff_m": 10.0, "order": order, "truncate": truncate}
    got = ospa_per_epoch(estimates, late_facade, **options)
    vas, truth = late_facade.visibility.va_positions_m, seen_truth(late_facade)
    expected = [ospa(e, vas[seen], **options) for e, seen in zip(estimates, truth, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    # the first epochs of a longer run are scored alone
    np.testing.assert_allclose(ospa_per_epoch(estimates[:5], late_facade, **options), got[:5])


def test_bad_input(one_facade):
    with pytest.raises(ValueError, match="at most one map per epoch"):
        ospa_per_epoch([np.zeros((0, 3))] * (N_EPOCHS + 1), one_facade, cutoff_m=10.0)
    with pytest.raises(ValueError, match="cutoff_m must be > 0"):
        ospa_per_epoch([np.zeros((0, 3))], one_facade, cutoff_m=0.0)
    with pytest.raises(ValueError, match="order must be >= 1"):
        ospa_per_epoch([np.zeros((0, 3))], one_facade, cutoff_m=1.0, order=0.5)
    with pytest.raises(ValueError, match="radius_m must be > 0"):
        completeness(np.zeros((0, 3)), one_facade, radius_m=-1.0)


def test_completeness_with_far_estimates_and_radii(one_facade):
    # far estimates (squared distances overflow) are simply unmatched; huge radii match all
    far = [TRUE_VA + [1e300, 0.0, 0.0], -TRUE_VA - 1e300]
    assert completeness(far, one_facade) == 0.0
    assert completeness([TRUE_VA + [0, 0, 1e5]], one_facade, radius_m=1e300) == 1.0
    with pytest.raises(ValueError, match="estimate contains NaN"):
        completeness([[np.nan, 0.0, 0.0]], one_facade)
    with pytest.raises(ValueError, match=r"estimate must have shape \(n_est, 3\)"):
        completeness([[0.0, 0.0]], one_facade)
