import numpy as np
import pytest

from skysense.imaging import (
    Scenario,
    SensingOperator,
    max_sidelobe,
    offgrid_error,
    psf,
    sensing_matrix,
)

SMALL = Scenario(roi_size_m=(21.0, 15.0, 0.0), n_antennas_side=3)


def test_psf_dense_and_operator_agree_and_are_normalised():
    a = sensing_matrix(SMALL)
    p = psf(a)
    assert p.shape == (SMALL.n_voxels, SMALL.n_voxels) and p.dtype == np.float64
    np.testing.assert_allclose(np.diag(p), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, p.T, atol=1e-12)
    # the whole matrix against eq. (16) in NumPy (unclipped: a normalisation error would show
    # here, where the [0, 1] clip of the implementation could hide it)
    g = a.conj().T @ a
    norms = np.linalg.norm(a, axis=0)
    np.testing.assert_allclose(p, np.abs(g) / np.outer(norms, norms), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(psf(SensingOperator(SMALL)), p, atol=1e-12)
    # definition, eq. (16), for one pair of columns
    n1, n2 = 3, 17
    direct = abs(np.vdot(a[:, n1], a[:, n2])) / np.linalg.norm(a[:, n1]) / np.linalg.norm(a[:, n2])
    assert p[n1, n2] == pytest.approx(direct, rel=1e-12)


def test_max_sidelobe_matches_brute_force():
    a = sensing_matrix(SMALL)
    p = psf(a)
    np.fill_diagonal(p, -1)
    expected = p.max(axis=1)
    np.testing.assert_allclose(max_sidelobe(a, chunk_size=4), expected, rtol=1e-12)
    np.testing.assert_allclose(
        max_sidelobe(SensingOperator(SMALL), [2, 5]), expected[[2, 5]], rtol=1e-12
    )


def test_sidelobe_trends_of_fig4():
    # More antennas, wider spacing and larger voxels all lower P(n1) (Fig. 4(a), 4(b)).
    base = Scenario(roi_size_m=(30.0, 30.0, 0.0))
    mean = lambda s: max_sidelobe(SensingOperator(s)).mean()
    p = mean(base)
    assert mean(base.replace(n_antennas_side=6)) < p
    assert mean(base.replace(spacing_factor=3.0)) < p
    assert mean(base.replace(voxel_size_m=5.0)) < p


def test_offgrid_error():
    s = Scenario(n_antennas_side=5)
    centre = s.voxel_centers_m()[820]
    err = offgrid_error(s, centre[None, :])
    assert err.steering_error[0] == 0 and err.offset_m[0] == 0
    steps = np.array([1e-4, 1e-3, 1e-2])
    pts = centre + steps[:, None] * np.array([0.6, 0.8, 0.0])
    err = offgrid_error(s, pts)
    db, dp = err.steering_error, err.offset_m
    np.testing.assert_allclose(dp, steps, rtol=1e-9)
    assert np.all(np.diff(db) > 0)
    # the paper: Delta b below -10 dB needs Delta p of about a millimetre
    assert 10 * np.log10(db[0]) < -10 < 10 * np.log10(db[2])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: psf(np.ones(4)), ValueError, "ndim"),
        (lambda: psf(np.full((3, 2), np.nan)), ValueError, "a contains NaN or Inf"),
        (lambda: max_sidelobe(np.full((3, 2), np.inf)), ValueError, "a contains NaN or Inf"),
        (lambda: psf(np.zeros((3, 2))), ValueError, "all-zero column"),
        (lambda: psf([[1, 2]]), TypeError, "ndarray or an operator"),
        (lambda: psf(np.ones((3, 2)), column_index=[5]), ValueError, "column_index"),
        (lambda: max_sidelobe(np.ones((3, 2)), chunk_size=0), ValueError, "chunk_size"),
        (
            lambda: max_sidelobe(np.ones((3, 2)), chunk_size=-1),
            ValueError,
            "chunk_size must be >= 1",
        ),
        (lambda: psf(np.ones((3, 2)), column_index=-1), ValueError, "column_index"),
        (lambda: offgrid_error(SMALL, [[500.0, 0, 40]]), ValueError, "outside the ROI"),
        (lambda: offgrid_error(SMALL, [[0.0, 0]]), ValueError, "points_m"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_offgrid_error_repr_is_short():
    s = Scenario(n_antennas_side=2)
    text = repr(offgrid_error(s, s.voxel_centers_m()[:200] + 0.1))
    assert text.startswith("OffgridError(") and len(text.splitlines()) == 4


# -- scale invariance (c from 1e-300 to 1e300) and 0-d indices -----------------------------------
from hypothesis import given, settings
from hypothesis import strategies as st

_A = sensing_matrix(SMALL)
_PSF = psf(_A, [0, 17, 34])
_SIDELOBE = max_sidelobe(_A)


@settings(max_examples=30, deadline=None)
@given(exponent=st.floats(-300.0, 300.0))
def test_psf_and_sidelobe_do_not_see_the_scale(exponent):
    c = 10.0**exponent  # |A| ~ 1e-6..1e-4: c A is a normal float over the whole range
    scaled = _A * c
    np.testing.assert_allclose(psf(scaled, [0, 17, 34]), _PSF, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(max_sidelobe(scaled, chunk_size=7), _SIDELOBE, rtol=1e-12)


def test_scalar_column_index_gives_scalar_shapes():
    op = SensingOperator(SMALL)
    row = psf(op, 17)
    assert row.shape == (SMALL.n_voxels,) and row[17] == 1.0
    np.testing.assert_allclose(row, _PSF[1], rtol=1e-12)
    p = max_sidelobe(op, np.int64(17))
    assert p.shape == () and float(p) == pytest.approx(_SIDELOBE[17], rel=1e-12)
    assert max_sidelobe(op, [17]).shape == (1,)
