import math

import numpy as np
import pytest
from _reference import link

from skysense.comms import los_user_channels, mrt_beams, sensing_beams, zf_beams
from skysense.imaging import Scenario

SMALL = Scenario(
    roi_size_m=(20.0, 20.0, 0.0),
    voxel_size_m=5.0,
    n_antennas_side=2,
    n_subcarriers=3,
    bandwidth_hz=40e6,
)
USERS = np.array([[0.0, 0.0, 0.0], [30.0, -10.0, 1.5]])


def test_los_channel_matches_friis_reference():
    h = los_user_channels(SMALL, USERS)
    n_t = SMALL.n_bs * SMALL.n_antennas
    assert h.shape == (2, 3, n_t) and h.dtype == np.complex128
    ant = SMALL.antenna_positions_m().reshape(-1, 3)
    gain = math.sqrt(SMALL.antenna_gain) * SMALL.wavelength_m / math.sqrt(4 * math.pi)
    for k, u in enumerate(USERS):
        for f, freq in enumerate(SMALL.subcarrier_frequencies_hz()):
            row = np.array([gain * link(a, u, freq) for a in ant])
            np.testing.assert_allclose(h[k, f], np.conj(row), rtol=1e-9)
    # Friis: |h| = sqrt(G) lambda0 / (4 pi d)
    d = np.linalg.norm(ant[0] - USERS[0])
    assert abs(h[0, 0, 0]) == pytest.approx(
        math.sqrt(SMALL.antenna_gain) * SMALL.wavelength_m / (4 * math.pi * d), rel=1e-12
    )


def test_scattered_paths_follow_eq10():
    uav = np.array([[3.0, -4.0, 40.0], [-7.0, 2.0, 40.0]])
    sigma = np.array([0.1, 0.2])
    h0 = los_user_channels(SMALL, USERS[:1])
    h = los_user_channels(
        SMALL, USERS[:1], scatterer_positions_m=uav, scattering_coefficients=sigma
    )
    ant = SMALL.antenna_positions_m().reshape(-1, 3)
    gain = math.sqrt(SMALL.antenna_gain) * SMALL.wavelength_m / math.sqrt(4 * math.pi)
    freq = SMALL.subcarrier_frequencies_hz()[1]
    expected = sum(
        gain * np.array([link(a, p, freq) for a in ant]) * s * link(p, USERS[0], freq)
        for p, s in zip(uav, sigma, strict=True)
    )
    np.testing.assert_allclose(h[0, 1] - h0[0, 1], np.conj(expected), rtol=1e-7, atol=1e-20)
    # batched over frames
    hb = los_user_channels(
        SMALL,
        USERS,
        scatterer_positions_m=np.stack([uav, uav[::-1]]),
        scattering_coefficients=np.stack([sigma, sigma[::-1]]),
    )
    assert hb.shape == (2, 2, 3, 16)
    np.testing.assert_allclose(hb[0], hb[1], rtol=1e-12)


def test_mrt_and_zf():
    h = los_user_channels(SMALL, USERS)
    n_bs = SMALL.n_bs
    w = mrt_beams(h, n_bs)
    assert w.shape == (3, 16, 2)
    per_bs = (np.abs(w.reshape(3, n_bs, 4, 2)) ** 2).sum(axis=(2, 3))
    np.testing.assert_allclose(per_bs, 1.0, rtol=1e-12)
    gain = np.einsum("ft,ft->f", np.conj(h[0]), w[:, :, 0])
    hb = np.linalg.norm(h[0].reshape(3, n_bs, 4), axis=-1).sum(axis=-1) / math.sqrt(2)
    np.testing.assert_allclose(gain, hb, rtol=1e-12)  # coherent over the BSs, real
    z = zf_beams(h, n_bs)
    cross = np.einsum("kft,ftj->fkj", np.conj(h), z)
    off = cross[:, [0, 1], [1, 0]]
    assert np.max(np.abs(off)) < 1e-12 * np.max(np.abs(cross))
    per_bs = (np.abs(z.reshape(3, n_bs, 4, 2)) ** 2).sum(axis=(2, 3))
    np.testing.assert_allclose(per_bs.max(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("method", ["nullspace", "roi"])
def test_sensing_beams(method):
    h = los_user_channels(SMALL, USERS[:1])
    ws = sensing_beams(SMALL, h, method=method)
    n_bs, n_ant = SMALL.n_bs, SMALL.n_antennas
    assert ws.shape == (3, n_bs * n_ant, n_bs * (n_ant - 1))
    blocks = ws.reshape(3, n_bs, n_ant, n_bs, n_ant - 1)
    power = (np.abs(blocks) ** 2).sum(axis=(2, 4))  # (N_f, BS rows, BS beams)
    np.testing.assert_allclose(power, np.broadcast_to(np.eye(n_bs), power.shape), atol=1e-12)
    leak = np.abs(np.einsum("ft,ftj->fj", np.conj(h[0]), ws))
    scale = np.linalg.norm(h) / math.sqrt(n_ant - 1)
    if method == "nullspace":
        assert leak.max() < 1e-12 * scale
    else:
        assert leak.max() > 1e-3 * scale


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: los_user_channels(SMALL, [[0.0, 0.0]]), ValueError, "user_positions_m"),
        (lambda: los_user_channels(SMALL, np.zeros((0, 3))), ValueError, "at least one"),
        (
            lambda: los_user_channels(SMALL, SMALL.antenna_positions_m()[0, :1]),
            ValueError,
            "zero distance",
        ),
        (
            lambda: los_user_channels(SMALL, USERS, scatterer_positions_m=[[0, 0, 40.0]]),
            ValueError,
            "together",
        ),
        (
            lambda: los_user_channels(
                SMALL,
                USERS,
                scatterer_positions_m=[[0, 0, 40.0]],
                scattering_coefficients=[0.1, 0.2],
            ),
            ValueError,
            "shape",
        ),
        (lambda: los_user_channels("s", USERS), TypeError, "Scenario"),
        (lambda: mrt_beams(np.ones((1, 1, 6), complex), 4), ValueError, "multiple of n_bs"),
        (lambda: zf_beams(np.ones((3, 1, 2), complex), 1), ValueError, "n_users <="),
        (lambda: sensing_beams(SMALL, np.ones((4, 3, 16), complex)), ValueError, "no antenna"),
        (lambda: sensing_beams(SMALL, np.ones((1, 2, 16), complex)), ValueError, "subcarriers"),
        (
            lambda: sensing_beams(SMALL, np.ones((1, 3, 16), complex), method="wide"),
            ValueError,
            "method",
        ),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
