import numpy as np
import pytest

from skysense.comms import (
    frame_spectral_efficiency,
    link_powers,
    sinr,
    spectral_efficiency,
)


def _crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def test_single_user_without_interference(rng):
    # eq. (4) with K = 1 and no sensing beams: |h^H w|^2 P / noise
    h = _crandn(rng, 1, 1, 7)
    w = _crandn(rng, 1, 7, 1)
    gamma = sinr(h, w, comm_power_w=3.0, noise_var=0.5)
    expected = abs(np.vdot(h[0, 0], w[0, :, 0])) ** 2 * 3.0 / 0.5
    assert gamma.shape == (1, 1) and gamma.dtype == np.float64
    assert gamma[0, 0] == pytest.approx(expected, rel=1e-12)
    # an empty set of sensing beams changes nothing
    empty = np.zeros((1, 7, 0), complex)
    np.testing.assert_allclose(
        sinr(h, w, empty, comm_power_w=3.0, sensing_power_w=9.0, noise_var=0.5), gamma, rtol=0
    )


def test_two_users_with_sensing_hand_computed():
    # 2 users, 1 subcarrier, 2 antennas, integer channels: every term by hand
    h = np.array([[[1 + 1j, 0]], [[0, 2]]])  # (K=2, N_f=1, N_t=2)
    w = np.array([[[1, 0], [0, 1j]]])  # (N_f=1, N_t=2, K=2): w_1 = e1, w_2 = j e2
    ws = np.array([[[1], [1]]])  # one sensing beam (1, 1)
    lp = link_powers(h, w, ws, comm_power_w=2.0, sensing_power_w=0.5, noise_var=0.1)
    # user 1: h1^H w1 = 1 - j -> 2; h1^H w2 = 0; h1^H ws = 1 - j -> 2
    # user 2: h2^H w2 = 2j -> 4; h2^H w1 = 0; h2^H ws = 2 -> 4
    np.testing.assert_allclose(lp.desired_w[:, 0], [4.0, 8.0])
    np.testing.assert_allclose(lp.multiuser_w[:, 0], [0.0, 0.0])
    np.testing.assert_allclose(lp.sensing_w[:, 0], [1.0, 2.0])
    np.testing.assert_allclose(lp.sinr[:, 0], [4.0 / 1.1, 8.0 / 2.1])
    np.testing.assert_allclose(lp.sir_sensing_db[:, 0], 10 * np.log10([4.0, 4.0]))
    # multi-user interference: swap the beams
    lp2 = link_powers(h, w[..., ::-1], comm_power_w=2.0, noise_var=0.1)
    np.testing.assert_allclose(lp2.multiuser_w[:, 0], [4.0, 8.0])
    np.testing.assert_allclose(lp2.desired_w[:, 0], [0.0, 0.0])
    assert np.all(np.isnan(lp2.sir_sensing_db))  # 0 / 0
    no_sensing = link_powers(h, w, comm_power_w=2.0, noise_var=0.1)
    assert np.all(np.isposinf(no_sensing.sir_sensing_db))


def test_batched_powers_and_subcarrier_broadcast(rng):
    h = _crandn(rng, 2, 3, 5)  # K = 2, N_f = 3
    w = _crandn(rng, 1, 5, 2)  # same beams on every subcarrier
    ws = _crandn(rng, 3, 5, 4)
    p_c = np.array([1.0, 2.0, 5.0])
    out = sinr(h, w, ws, comm_power_w=p_c, sensing_power_w=0.3, noise_var=0.2)
    assert out.shape == (3, 2, 3)
    w_full = np.repeat(w, 3, axis=0)
    for i, p in enumerate(p_c):
        np.testing.assert_allclose(
            out[i],
            sinr(h, w_full, ws, comm_power_w=p, sensing_power_w=0.3, noise_var=0.2),
            rtol=1e-12,
        )
    # naive loop over users and subcarriers, eq. (4)
    for k in range(2):
        for f in range(3):
            hk = h[k, f]
            num = 5.0 * abs(np.vdot(hk, w[0, :, k])) ** 2
            mu = 5.0 * abs(np.vdot(hk, w[0, :, 1 - k])) ** 2
            sens = 0.3 * sum(abs(np.vdot(hk, ws[f, :, j])) ** 2 for j in range(4))
            assert out[2, k, f] == pytest.approx(num / (mu + sens + 0.2), rel=1e-12)


def test_spectral_efficiency_sum():
    # eq. (5): log2(1 + 1) + log2(1 + 3) + log2(1 + 0) + log2(1 + 7) = 1 + 2 + 0 + 3
    assert spectral_efficiency([[1.0, 3.0], [0.0, 7.0]]) == pytest.approx(6.0)
    batched = spectral_efficiency(np.array([[[1.0]], [[15.0]]]))
    np.testing.assert_allclose(batched, [1.0, 4.0])


def test_frame_spectral_efficiency():
    assert frame_spectral_efficiency(1.0, 2.0, 4) == pytest.approx((4 + 2 * 136) / 140)
    np.testing.assert_allclose(frame_spectral_efficiency([0.0, 7.0], 7.0, 0, 10), [7.0, 7.0])
    assert frame_spectral_efficiency(3.0, 9.0, 10, 10) == pytest.approx(3.0)


H = np.ones((1, 1, 2), complex)
W = np.ones((1, 2, 1), complex)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: sinr(np.ones((1, 2)), W, comm_power_w=1, noise_var=1), ValueError, "channels"),
        (
            lambda: sinr(H, np.ones((1, 3, 1)), comm_power_w=1, noise_var=1),
            ValueError,
            "antenna rows",
        ),
        (
            lambda: sinr(H, np.ones((1, 2, 2)), comm_power_w=1, noise_var=1),
            ValueError,
            "one column per user",
        ),
        (lambda: sinr(H, np.ones((2, 2)), comm_power_w=1, noise_var=1), ValueError, "comm_beams"),
        (
            lambda: sinr(H, np.ones((3, 2, 1)), comm_power_w=1, noise_var=1),
            ValueError,
            "subcarriers",
        ),
        (
            lambda: sinr(H, W, np.ones((1, 5, 1)), comm_power_w=1, noise_var=1),
            ValueError,
            "sensing_beams",
        ),
        (lambda: sinr(H, W, comm_power_w=-1, noise_var=1), ValueError, "comm_power_w"),
        (
            lambda: sinr(H, W, comm_power_w=1, sensing_power_w=-2, noise_var=1),
            ValueError,
            "sensing_power_w",
        ),
        (lambda: sinr(H, W, comm_power_w=1, noise_var=0), ValueError, "noise_var"),
        (lambda: sinr(H * np.nan, W, comm_power_w=1, noise_var=1), ValueError, "NaN"),
        (lambda: sinr(H, W, comm_power_w="1", noise_var=1), TypeError, "comm_power_w"),
        (lambda: spectral_efficiency([1.0, 2.0]), ValueError, "n_users, n_subcarriers"),
        (lambda: spectral_efficiency([[-1.0]]), ValueError, "sinr must be >= 0"),
        (lambda: frame_spectral_efficiency(1, 1, 150), ValueError, "n_sensing_symbols"),
        (lambda: frame_spectral_efficiency(1, 1, -1), ValueError, "n_sensing_symbols"),
        (lambda: frame_spectral_efficiency(1, 1, 1, 0), ValueError, "n_symbols"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_keyword_names_and_short_repr(rng):
    h = _crandn(rng, 3, 64, 8)
    w = _crandn(rng, 64, 8, 3)
    lp = link_powers(h, w, comm_power_w=1.0, noise_var=1.0)
    text = repr(lp)
    assert text.startswith("LinkPowers(") and len(text.splitlines()) == 6
    assert "desired_w=float64[3, 64]" in text
    assert spectral_efficiency(sinr=[[1.0]]) == 1.0
    se = frame_spectral_efficiency(
        isac_spectral_efficiency=1.0, comm_spectral_efficiency=2.0, n_sensing_symbols=4
    )
    assert se == pytest.approx((4 + 2 * 136) / 140)


# -- scale: beamformers do not see the scale of the channels; powers that overflow are named -----
from hypothesis import given, settings
from hypothesis import strategies as st

from skysense.comms import mrt_beams, zf_beams

_H = np.random.default_rng(9).standard_normal((3, 2, 8)) + 1j * np.random.default_rng(
    10
).standard_normal((3, 2, 8))


@settings(max_examples=30, deadline=None)
@given(exponent=st.floats(-300.0, 300.0))
def test_beamformers_are_scale_invariant(exponent):
    c = 10.0**exponent
    np.testing.assert_allclose(mrt_beams(_H * c, 2), mrt_beams(_H, 2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(zf_beams(_H * c, 2), zf_beams(_H, 2), rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(exponent=st.floats(-300.0, 300.0))
def test_sinr_is_invariant_to_a_common_power_scale(exponent):
    c = 10.0**exponent
    w = mrt_beams(_H, 2)
    ref = sinr(_H, w, comm_power_w=2.0, noise_var=0.5)
    got = sinr(_H, w, comm_power_w=2.0 * c, noise_var=0.5 * c)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_power_that_overflows_is_named():
    h = np.ones((1, 1, 2), complex)
    w = np.ones((1, 2, 1), complex) / 2.0
    with pytest.raises(OverflowError, match="comm_power_w"):
        sinr(h * 1e200, w, comm_power_w=1e300, noise_var=1.0)
    with pytest.raises(OverflowError, match="sensing_power_w"):
        link_powers(h, w, w * 1e200, comm_power_w=1.0, sensing_power_w=1e300, noise_var=1.0)
    # a weighted mean of finite values stays finite (4 * 1e308 alone would overflow)
    assert frame_spectral_efficiency(1e308, 1.5e308, 4) == pytest.approx(
        1e308 * (4 / 140) + 1.5e308 * (136 / 140), rel=1e-15
    )
