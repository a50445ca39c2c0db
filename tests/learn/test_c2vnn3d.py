import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.bistatic import Paths, Scenario, simulate
from skysense.learn import (
    C2vnn3dConfig,
    C2vnnTrainConfig,
    IfftC2vnn,
    build_c2vnn,
    load_checkpoint,
    save_checkpoint,
    train_c2vnn,
)
from skysense.learn.c2vnn.data import csi_windows_3d

SC = Scenario(n_tx=4, n_rx=4, n_subcarriers=32, n_symbols=8)
CFG = C2vnn3dConfig(scenario=SC, window=3, n_filters=2, n_hidden=8, n_subframes=3)


def test_windows_keep_the_doppler_phase_progression():
    """Noise-free on-grid path: the centre entry advances by 2 pi f_D T_sf per sub-frame."""
    f_d = 20_000.0
    paths = Paths([0.2], [-0.4], [5 * SC.toa_resolution_s], [1.0], [f_d])
    csi = simulate(SC, paths, 300.0, rng=0, n_subframes=3).csi
    windows = csi_windows_3d(csi[None], 1, CFG)
    inputs, rows = windows.inputs, windows.rows
    assert inputs.shape == (1, 1, 6, 3, 4, 4)
    assert rows.tolist() == [[5]]
    centre = inputs[0, 0, 1, :, 0, 0] + 1j * inputs[0, 0, 4, :, 0, 0]  # W row 1: re, im
    step = np.angle(centre[1:] * np.conj(centre[:-1]))
    # Up to the pilot-dependent average of the rotation inside each sub-frame (~0.04 rad).
    np.testing.assert_allclose(step, 2 * np.pi * f_d * SC.subframe_s, atol=0.06)


def test_3d_training_checkpoint_and_estimate(tmp_path):
    result = train_c2vnn(CFG, C2vnnTrainConfig(n_draws=30, epochs=2, n_targets=2), rng=1)
    assert result.train_loss.shape == (2,)
    path = tmp_path / "m3d.pt"
    save_checkpoint(path, result.model)
    model = load_checkpoint(path, expected_config=CFG).model
    assert type(model).__name__ == "C2vnn3dNet"
    paths = Paths([0.2, -0.3], [-0.4, 0.5], np.array([2.0, 9.0]) * SC.toa_resolution_s, [1, 1j])
    csi = simulate(SC, paths, 30.0, rng=0, n_subframes=3).csi
    e = IfftC2vnn(model).estimate(csi, 2, subframes=True)
    assert e.doppler_hz.shape == e.toa_s.shape == (2,)
    np.testing.assert_allclose(e.toa_s / SC.toa_resolution_s, [2.0, 9.0], atol=1.5)
    with pytest.raises(ValueError, match="csi must have shape"):
        IfftC2vnn(model).estimate(csi[:2], 2, subframes=True)
    net = build_c2vnn(CFG, rng=0)
    assert type(net).__name__ == "C2vnn3dNet"
    assert net(torch.zeros(5, 6, 3, 4, 4)).shape == (5, 4)


def test_doppler_loss_weight():
    tc = C2vnnTrainConfig(n_draws=20, epochs=1, n_targets=2, doppler_loss_weight=25.0)
    assert np.isfinite(train_c2vnn(CFG, tc, rng=1).validation_loss).all()
    with pytest.raises(ValueError, match="doppler_loss_weight"):
        C2vnnTrainConfig(doppler_loss_weight=0.0)


def test_shipped_model_scenario():
    from skysense.experiments.bistatic._common import c2vnn_for

    with pytest.raises(ValueError, match="trained for the default Scenario"):
        c2vnn_for(SC)


def test_3d_model_from_a_checkpoint(tmp_path):
    """No 3-D model is shipped; one trained by the user loads with ``from_checkpoint``."""
    net = build_c2vnn(CFG, rng=0)
    save_checkpoint(tmp_path / "m3d.pt", net)
    est = IfftC2vnn.from_checkpoint(tmp_path / "m3d.pt")
    assert est.is_3d and est.counter is None
    assert not hasattr(IfftC2vnn, "load_default_3d")
