import numpy as np
import pytest

from skysense.imaging import Scenario
from skysense.imaging.scenario import SPEED_OF_LIGHT
from skysense.scenes import PairPaths, background_csi

SCENARIO = Scenario(
    roi_size_m=(15.0, 9.0, 0.0), n_antennas_side=3, n_subcarriers=3, bandwidth_hz=100e6
)
WALL_X = 150.0  # a mirror plane x = WALL_X behind the BSs
REFLECTION = 0.6 - 0.3j


def _mirror(points):
    out = np.array(points, float)
    out[..., 0] = 2 * WALL_X - out[..., 0]
    return out


def _wall_paths(scenario):
    """The single specular ray off the plane x = WALL_X for every pair (image method)."""
    bs = scenario.bs_centers_m()
    pairs = scenario.pairs()
    lam = scenario.wavelength_m
    gain, delay, dep, arr = [], [], [], []
    for t, r in pairs:
        image = _mirror(bs[t])
        length = np.linalg.norm(bs[r] - image)
        hit = image + (bs[r] - image) * (WALL_X - image[0]) / (bs[r][0] - image[0])
        gain.append(REFLECTION * lam / (4 * np.pi * length))
        delay.append(length / SPEED_OF_LIGHT)
        dep.append((hit - bs[t]) / np.linalg.norm(hit - bs[t]))
        arr.append((hit - bs[r]) / np.linalg.norm(hit - bs[r]))
    return PairPaths(
        pairs=pairs,
        gain=np.array(gain)[:, None],
        delay_s=np.array(delay)[:, None],
        departure_direction=np.array(dep)[:, None],
        arrival_direction=np.array(arr)[:, None],
    )


def _exact_wall_csi(scenario):
    """Spherical-wave CSI of the same reflection, antenna by antenna (image of each tx antenna)."""
    ant = scenario.antenna_positions_m()
    freqs = scenario.subcarrier_frequencies_hz()
    lam0 = scenario.wavelength_m
    out = []
    for f in freqs:
        for t, r in scenario.pairs():
            lengths = np.linalg.norm(ant[r][:, None, :] - _mirror(ant[t])[None, :, :], axis=-1)
            out.append(
                REFLECTION
                * lam0
                / (4 * np.pi * lengths)
                * np.exp(-2j * np.pi * f * lengths / SPEED_OF_LIGHT)
            )
    scale = scenario.amplitude * np.sqrt(4 * np.pi) / lam0
    return scale * np.concatenate([h.ravel() for h in out])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_background_csi_matches_spherical_image_method(dtype):
    h = background_csi(SCENARIO, _wall_paths(SCENARIO), dtype=dtype)
    exact = _exact_wall_csi(SCENARIO)
    assert h.shape == (SCENARIO.n_measurements,) and h.dtype == dtype
    # plane-wave (far-field) model vs spherical waves: aperture^2 / (lambda L) ~ 1e-3 here
    assert np.linalg.norm(h - exact) / np.linalg.norm(exact) < 3e-3  # measured 1.2e-3


def test_background_csi_is_linear_in_the_rays():
    paths = _wall_paths(SCENARIO)
    doubled = PairPaths(
        pairs=paths.pairs,
        gain=np.concatenate([paths.gain, 2 * paths.gain], axis=1),
        delay_s=np.concatenate([paths.delay_s, paths.delay_s], axis=1),
        departure_direction=np.concatenate([paths.departure_direction] * 2, axis=1),
        arrival_direction=np.concatenate([paths.arrival_direction] * 2, axis=1),
    )
    np.testing.assert_allclose(
        background_csi(SCENARIO, doubled), 3 * background_csi(SCENARIO, paths), rtol=1e-12
    )


def test_pair_paths_validation():
    paths = _wall_paths(SCENARIO)
    names = ("pairs", "gain", "delay_s", "departure_direction", "arrival_direction")
    fields = {k: getattr(paths, k) for k in names}
    with pytest.raises(ValueError, match="delay_s must have shape"):
        PairPaths(**{**fields, "delay_s": fields["delay_s"][:, :0]})
    with pytest.raises(ValueError, match="unit vectors"):
        PairPaths(**{**fields, "departure_direction": 2 * fields["departure_direction"]})
    with pytest.raises(ValueError, match="delay_s must be >= 0"):
        PairPaths(**{**fields, "delay_s": -fields["delay_s"]})
    with pytest.raises(ValueError, match="gain contains NaN"):
        PairPaths(**{**fields, "gain": np.full_like(fields["gain"], np.nan)})
    with pytest.raises(ValueError, match="same mode"):
        background_csi(SCENARIO.replace(mode="C"), paths)
    with pytest.raises(TypeError, match="PairPaths"):
        background_csi(SCENARIO, fields)
    with pytest.raises(TypeError, match="dtype"):
        background_csi(SCENARIO, paths, dtype=np.float64)


def test_pair_paths_repr_is_short():
    paths = _wall_paths(SCENARIO)
    many = PairPaths(
        pairs=paths.pairs,
        gain=np.repeat(paths.gain, 50, axis=1),
        delay_s=np.repeat(paths.delay_s, 50, axis=1),
        departure_direction=np.repeat(paths.departure_direction, 50, axis=1),
        arrival_direction=np.repeat(paths.arrival_direction, 50, axis=1),
    )
    text = repr(many)
    assert text.startswith("PairPaths(") and len(text.splitlines()) == 7
    assert many.n_paths == 50
