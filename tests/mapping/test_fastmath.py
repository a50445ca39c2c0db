"""The kernel's vectorisable special functions (fastmath.hpp) against NumPy/SciPy."""

import numpy as np
import pytest
from scipy.special import erfcx

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

# stated maxima (fastmath.hpp header comment); measured on the grids below
RTOL_EXP_LOG = 5e-16
RTOL_ERFCX = 4e-15
ATOL_SINCOS = 1e-15


def _ev(name, x):
    return _core._fastmath(name, np.ascontiguousarray(x, dtype=np.float64))


def test_exp_log(rng):
    x = rng.uniform(-708, 709, 200_001)
    np.testing.assert_allclose(_ev("exp", x), np.exp(x), rtol=RTOL_EXP_LOG, atol=0)
    y = np.exp(rng.uniform(-690, 690, 200_001))
    np.testing.assert_allclose(_ev("log", y), np.log(y), rtol=RTOL_EXP_LOG, atol=1e-300)
    z = np.linspace(-800, 800, 100_001)
    np.testing.assert_allclose(_ev("softplus", z), np.logaddexp(0, z), rtol=1e-15, atol=2e-16)


def test_erfcx_matches_scipy():
    x = np.concatenate([[0.0], np.linspace(0, 40, 400_001), np.geomspace(1e-12, 1e12, 100_001)])
    got, ref = _ev("erfcx", x), erfcx(x)
    assert np.max(np.abs(got / ref - 1)) < RTOL_ERFCX


@pytest.mark.parametrize("name", ["sin_2pi", "cos_2pi"])
def test_sincos_2pi(rng, name):
    u = np.concatenate([rng.uniform(0, 1, 200_001), np.arange(9) / 8])
    ref = np.sin(2 * np.pi * u) if name == "sin_2pi" else np.cos(2 * np.pi * u)
    np.testing.assert_allclose(_ev(name, u), ref, rtol=0, atol=ATOL_SINCOS)


def test_unknown_function():
    with pytest.raises(ValueError, match="unknown function"):
        _ev("tan", np.zeros(1))
