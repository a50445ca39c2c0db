import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.bistatic import Paths, Scenario, simulate
from skysense.learn import (
    C2vnn3dConfig,
    C2vnnTrainConfig,
    build_c2vnn3d,
    estimate_3d,
    load_c2vnn,
    save_c2vnn,
    train_c2vnn,
)
from skysense.learn.c2vnn3d import csi_windows_3d

SC = Scenario(n_tx=4, n_rx=4, n_subcarriers=32, n_symbols=8)
CFG = C2vnn3dConfig(scenario=SC, window=3, n_filters=2, n_hidden=8, n_subframes=3)


def test_windows_keep_the_doppler_phase_progression():
    """Noise-free on-grid path: the centre entry advances by 2 pi f_D T_sf per sub-frame."""
    f_d = 20_000.0
    paths = Paths([0.2], [-0.4], [5 * SC.toa_resolution_s], [1.0], [f_d])
    csi = simulate(SC, paths, 300.0, rng=0, n_subframes=3).csi
    inputs, rows = csi_windows_3d(csi[None], 1, CFG)
    assert inputs.shape == (1, 1, 6, 3, 4, 4)
    assert rows.tolist() == [[5]]
    centre = inputs[0, 0, 1, :, 0, 0] + 1j * inputs[0, 0, 4, :, 0, 0]  # W row 1: re, im
    step = np.angle(centre[1:] * np.conj(centre[:-1]))
    # Up to the pilot-dependent average of the rotation inside each sub-frame (~0.04 rad).
    np.testing.assert_allclose(step, 2 * np.pi * f_d * SC.subframe_s, atol=0.06)


def test_3d_training_checkpoint_and_estimate(tmp_path):
    torch.set_num_threads(1)
    result = train_c2vnn(CFG, C2vnnTrainConfig(n_draws=30, epochs=2, seed=1, n_targets=2))
    assert result.train_loss.shape == (2,)
    path = tmp_path / "m3d.pt"
    save_c2vnn(path, result.model)
    model, _ = load_c2vnn(path, expected_config=CFG)
    assert type(model).__name__ == "C2vnn3dNet"
    paths = Paths([0.2, -0.3], [-0.4, 0.5], np.array([2.0, 9.0]) * SC.toa_resolution_s, [1, 1j])
    csi = simulate(SC, paths, 30.0, rng=0, n_subframes=3).csi
    e = estimate_3d(model, csi, 2)
    assert e.doppler_hz.shape == e.toa_s.shape == (2,)
    np.testing.assert_allclose(e.toa_s / SC.toa_resolution_s, [2.0, 9.0], atol=1.5)
    with pytest.raises(ValueError, match="csi must have shape"):
        estimate_3d(model, csi[:2], 2)
    assert build_c2vnn3d(CFG)(torch.zeros(5, 6, 3, 4, 4)).shape == (5, 4)


def test_doppler_loss_weight():
    torch.set_num_threads(1)
    tc = C2vnnTrainConfig(n_draws=20, epochs=1, seed=1, n_targets=2, doppler_loss_weight=25.0)
    assert np.isfinite(train_c2vnn(CFG, tc).validation_loss).all()
    with pytest.raises(ValueError, match="doppler_loss_weight"):
        C2vnnTrainConfig(doppler_loss_weight=0.0)


def test_shipped_model_variants():
    from skysense.experiments.bistatic._common import c2vnn_for

    with pytest.raises(ValueError, match="variant must be"):
        c2vnn_for(Scenario(), "4d")
    with pytest.raises(ValueError, match="trained for the default Scenario"):
        c2vnn_for(SC, "3d")
