import numpy as np
import pytest

from skysense import bistatic as bs


def test_noise_free_ls_estimate_is_the_channel(rng):
    sc = bs.Scenario(n_tx=3, n_rx=5, n_subcarriers=17, n_symbols=5)
    p = bs.random_paths(sc, rng=rng, n_targets=2)
    m = bs.simulate(sc, p, 400.0, rng=rng, n_subframes=2)
    assert m.csi.shape == (2, 3, 5, 17) and m.csi.dtype == np.complex128
    np.testing.assert_allclose(m.csi[0], sc.channel(p), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(m.gain, p.gain)


def test_noise_level_of_ls_estimate(rng):
    """E|H_hat - H|^2 = sigma^2 E[(S S^H)^-1]_ii = sigma^2 / (K - Nt) for i.i.d. pilots."""
    sc = bs.Scenario(n_tx=4, n_rx=5, n_subcarriers=31, n_symbols=12)
    p = bs.random_paths(sc, rng=rng, n_targets=2)
    m = bs.simulate(sc, p, 5.0, rng=rng, n_subframes=40)
    err = np.mean(np.abs(m.csi - sc.channel(p)) ** 2)
    assert err == pytest.approx(m.noise_var / (12 - 4), rel=0.1)
    assert m.noise_var == pytest.approx(bs.noise_variance(sc, p, 5.0))


def test_seed_dtype_and_fluctuation(rng):
    sc = bs.Scenario(n_tx=3, n_rx=4, n_subcarriers=9, n_symbols=3)
    p = bs.random_paths(sc, rng=3, n_targets=1)
    a = bs.simulate(sc, p, 10.0, rng=5, dtype=np.complex64)
    b = bs.simulate(sc, p, 10.0, rng=5, dtype=np.complex64)
    assert a.csi.dtype == np.complex64
    np.testing.assert_array_equal(a.csi, b.csi)
    s = bs.simulate(sc, p, 10.0, rng=5, fluctuation="swerling1")
    assert not np.allclose(s.gain, p.gain)
    with pytest.raises(ValueError, match="fluctuation"):
        bs.simulate(sc, p, 10.0, rng=5, fluctuation="swerling2")
    with pytest.raises(ValueError, match="n_symbols >= n_tx"):
        bs.simulate(bs.Scenario(n_symbols=4), bs.random_paths(bs.Scenario(), rng=1), 10.0, rng=1)
    with pytest.raises(TypeError, match="Paths"):
        bs.simulate(sc, None, 10.0, rng=1)
    with pytest.raises(ValueError, match="n_subframes"):
        bs.simulate(sc, p, 10.0, rng=1, n_subframes=0)
