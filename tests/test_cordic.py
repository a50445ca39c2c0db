import math

import _reference as ref
import numpy as np
import pytest

from skysense import cordic

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
EPS = {np.float32: 2e-6, np.float64: 1e-14}


def _circle(rng, n, dtype):
    """Points over the whole circle, the axes (signed zeros), and extreme magnitudes."""
    ang = rng.uniform(-np.pi, np.pi, n)
    mag = 10.0 ** rng.uniform(-30, 30, n)
    x, y = mag * np.cos(ang), mag * np.sin(ang)
    axes_x = np.array([1.0, -1.0, 0.0, 0.0, -1.0, 1.0, -0.0, 3e-30, -2e30])
    axes_y = np.array([0.0, 0.0, 1.0, -1.0, -0.0, -0.0, 1.0, -1e-30, 0.0])
    return np.concatenate([x, axes_x]).astype(dtype), np.concatenate([y, axes_y]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("iterations", [1, 7, 16, 31, 54])
def test_atan2_error_bound_whole_circle(rng, dtype, iterations):
    x, y = _circle(rng, 2011, dtype)
    got = cordic.atan2(y, x, iterations=iterations)
    assert got.dtype == dtype
    want = np.arctan2(y.astype(float), x.astype(float))
    err = np.abs(got.astype(float) - want)
    bound = math.atan(2.0 ** -(iterations - 1)) + 64 * EPS[dtype]
    assert err.max() <= bound
    # numpy's conventions on the negative real axis: +pi for y = +0, -pi for y = -0
    clear = np.abs(want) > bound
    assert np.all(np.sign(got[clear]) == np.sign(want[clear]))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_phase_matches_numpy_angle_at_default_iterations(rng, dtype):
    z = (rng.standard_normal(111) + 1j * rng.standard_normal(111)).astype(dtype)
    got = cordic.phase(z)
    real = np.float32 if dtype == np.complex64 else np.float64
    assert got.dtype == real
    np.testing.assert_allclose(got, np.angle(z), rtol=0, atol=10 * EPS[real])


def test_phase_shape_and_broadcast(rng):
    z = rng.standard_normal((3, 5, 7)) + 1j * rng.standard_normal((3, 5, 7))
    assert cordic.phase(z).shape == (3, 5, 7)
    got = cordic.atan2(np.ones((4, 1)), np.linspace(-1, 1, 5))
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, np.arctan2(np.ones((4, 1)), np.linspace(-1, 1, 5)), atol=1e-14)


def test_zero_input_returns_zero():
    assert cordic.atan2(0.0, 0.0) == 0.0
    assert cordic.phase(0j) == 0.0


@pytest.mark.parametrize(("word", "frac", "iterations"), [(16, 13, 12), (24, 20, 18), (32, 28, 30)])
def test_fixed_point_is_bit_true(rng, word, frac, iterations):
    x, y = _circle(rng, 301, np.float64)
    got = cordic.atan2(y, x, iterations=iterations, fixed_point=(word, frac))
    want = np.array(
        [ref.cordic_atan2(b, a, iterations, (word, frac)) for b, a in zip(y, x, strict=True)]
    )
    np.testing.assert_array_equal(got, want)
    err = np.abs(got - np.arctan2(y, x))
    assert err.max() <= 2.0 ** -(iterations - 1) + (iterations + 2) * 2.0**-frac


def test_float_mode_matches_python_reference(rng):
    x, y = _circle(rng, 51, np.float64)
    got = cordic.atan2(y, x, iterations=20)
    want = np.array([ref.cordic_atan2(b, a, 20) for b, a in zip(y, x, strict=True)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_workers_do_not_change_results(rng):
    z = rng.standard_normal(1001) + 1j * rng.standard_normal(1001)
    np.testing.assert_array_equal(cordic.phase(z, workers=1), cordic.phase(z, workers=3))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"iterations": 0}, ValueError, "iterations"),
        ({"iterations": 65}, ValueError, "iterations"),
        ({"fixed_point": (16, 14)}, ValueError, "integer bits"),
        ({"fixed_point": (70, 20)}, ValueError, "word_bits"),
        ({"fixed_point": 16}, TypeError, "fixed_point"),
    ],
)
def test_bad_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cordic.phase(np.array([1 + 1j]), **kwargs)


def test_nan_rejected():
    with pytest.raises(ValueError, match="NaN"):
        cordic.phase(np.array([np.nan + 1j]))
    with pytest.raises(ValueError, match="NaN"):
        cordic.atan2(np.array([1.0]), np.array([np.inf]))


@pytest.mark.parametrize(
    "value", [np.complex128(-1), np.complex64(1j), -1 + 0j, np.array(2 - 2j), 3.0, np.float32(-2)]
)
def test_zero_d_in_zero_d_out(value):
    """A scalar or 0-d array gives a 0-d array (today's main returned shape (1,))."""
    got = cordic.phase(value)
    assert got.shape == ()
    np.testing.assert_allclose(got, np.angle(value), rtol=0, atol=1e-6)
    assert cordic.atan2(np.float64(1.0), -1.0).shape == ()
    assert cordic.atan2(np.ones(3), 1.0).shape == (3,)


def test_zero_dimensional_input_gives_zero_dimensional_output():
    out = cordic.phase(np.complex128(-1))
    assert out.shape == () and abs(float(out) - np.pi) < 1e-14
    assert cordic.atan2(np.float32(1.0), np.float32(0.0)).shape == ()
    assert cordic.phase(np.ones((2, 1, 3), np.complex64)).shape == (2, 1, 3)
