import numpy as np
import pytest

from skysense import bistatic as bs


def _closed_form(sc, p, snr_db):
    """Single path: theta, phi, tau decouple after centring on the full grid."""
    s2 = bs.noise_variance(sc, p, snr_db) / sc.n_symbols
    g2 = abs(p.gain[0]) ** 2
    nt, nr, n = sc.csi_shape

    def var(count):
        return count * (count**2 - 1) / 12

    aoa = s2 / (
        2
        * g2
        * (2 * np.pi * sc.spacing_rx_wavelengths * np.cos(p.aoa_rad[0])) ** 2
        * nt
        * n
        * var(nr)
    )
    aod = s2 / (
        2
        * g2
        * (2 * np.pi * sc.spacing_tx_wavelengths * np.cos(p.aod_rad[0])) ** 2
        * nr
        * n
        * var(nt)
    )
    toa = s2 / (2 * g2 * (2 * np.pi * sc.subcarrier_spacing_hz) ** 2 * nt * nr * var(n))
    return aoa, aod, toa


@pytest.mark.parametrize("sc", [bs.Scenario(), bs.Scenario(n_tx=3, n_rx=5, n_subcarriers=11)])
def test_single_path_golden(sc):
    p = bs.Paths([0.3], [-0.2], [40e-9], [0.7 * np.exp(1j)])
    c = bs.crb(sc, p, 10.0)
    aoa, aod, toa = _closed_form(sc, p, 10.0)
    np.testing.assert_allclose(c.aoa_var_rad2, aoa, rtol=1e-6)
    np.testing.assert_allclose(c.aod_var_rad2, aod, rtol=1e-6)
    np.testing.assert_allclose(c.toa_var_s2, toa, rtol=1e-6)


def test_scaling_and_pilots(rng):
    sc = bs.Scenario(n_tx=3, n_rx=4, n_subcarriers=13, n_symbols=4)
    p = bs.random_paths(sc, rng=rng, n_targets=2)
    a, b = bs.crb(sc, p, 10.0), bs.crb(sc, p, 20.0)
    np.testing.assert_allclose(a.toa_var_s2 / b.toa_var_s2, 10.0, rtol=1e-9)
    ortho = bs.simulate(sc, p, 10.0, rng=rng, pilots="orthogonal").pilots[0]
    c = bs.crb(sc, p, 10.0, pilots=ortho)  # S S^H = K I: the same as the default
    np.testing.assert_allclose(c.aoa_var_rad2, a.aoa_var_rad2, rtol=1e-9)
    assert np.all(a.gain_var > 0)
    f = bs.fisher_information(sc, p, 1.0)
    assert f.shape == (15, 15)
    np.testing.assert_allclose(f, f.T, atol=1e-9 * np.abs(f).max())


def test_crb_checks(rng):
    sc = bs.Scenario(n_tx=3, n_rx=4, n_subcarriers=13, n_symbols=4)
    p = bs.random_paths(sc, rng=rng, n_targets=1)
    with pytest.raises(ValueError, match="pilots must have shape"):
        bs.crb(sc, p, 10.0, pilots=np.ones((13, 4, 4)))
    with pytest.raises(ValueError, match="snr_db"):
        bs.crb(sc, p, float("nan"))
