"""The shipped 3-D (Conv3d over sub-frames) IFFT-C2VNN Doppler model."""

from importlib import resources

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense import bistatic as bs
from skysense.learn import C2vnn3dConfig, IfftC2vnn
from skysense.learn.c2vnn.data import csi_windows_3d
from skysense.learn.c2vnn.estimator import DEFAULT_WEIGHTS_3D

#: Doppler MAE of the shipped 3-D model at 30 dB (10 sub-frames, speeds <= 30 m/s, 6 draws of
#: LoS + 3 resolvable targets, paths in ToA order as in bistatic-doppler): measured 154 Hz
#: (mean |f_D| of those paths 1172 Hz; the lightweight variant: ~2.5 Hz). ~3x margin.
MAE_3D_BOUND_HZ = 450.0
N_SUBFRAMES = 10


@pytest.fixture(scope="module")
def default_3d():
    return IfftC2vnn.load_default_3d()


def test_shipped_3d_model_config_and_record(default_3d):
    assert default_3d.is_3d
    assert default_3d.config == C2vnn3dConfig(n_subframes=N_SUBFRAMES, n_filters=4, n_hidden=32)
    meta = default_3d.metadata
    tc = meta["train_config"]
    assert tc["batch_size"] == 128
    assert tc["snr_db"] == [0.0, 30.0]  # mixed SNR
    assert tc["doppler_loss_weight"] == 25.0
    assert np.isfinite(meta["final_validation_loss"]) and meta["finite"]
    ref = resources.files("skysense.learn").joinpath("weights", DEFAULT_WEIGHTS_3D)
    with resources.as_file(ref) as path:
        assert path.stat().st_size < 1_000_000


def test_shipped_3d_model_doppler_at_30db(default_3d):
    sc = bs.Scenario()
    rng = np.random.default_rng(11)
    errs = []
    for _ in range(6):
        paths = bs.random_paths(
            sc, rng=rng, max_speed_mps=30.0, min_toa_separation_s=2.5 * sc.toa_resolution_s
        )
        meas = bs.simulate(sc, paths, 30.0, rng=rng, n_subframes=N_SUBFRAMES, pilots="orthogonal")
        e = default_3d.estimate(meas.csi, 4, subframes=True)
        assert e.doppler_hz.shape == e.toa_s.shape == (4,)
        errs.append(np.abs(e.doppler_hz - paths.doppler_hz))  # both sorted by ToA
    assert np.mean(errs) < MAE_3D_BOUND_HZ


def test_3d_estimator_inputs(default_3d):
    sc = bs.Scenario()
    rng = np.random.default_rng(5)
    paths = bs.random_paths(sc, rng=rng)
    csi = bs.simulate(sc, paths, 20.0, rng=rng, n_subframes=N_SUBFRAMES).csi
    batch = default_3d.estimate(np.stack([csi, csi]), 4, subframes=True)
    assert batch.doppler_hz.shape == (2, 4)
    inputs = csi_windows_3d(csi[None], 4, default_3d.config).inputs
    out = default_3d.predict_windows(inputs[0])
    assert out.shape == (4, 4) and out.dtype == np.float32
    with pytest.raises(ValueError, match="pass subframes=True"):
        default_3d.estimate(csi, 4)
    with pytest.raises(ValueError, match="csi must have shape"):
        default_3d.estimate(csi[:4], 4, subframes=True)
    with pytest.raises(ValueError, match="inputs must have shape"):
        default_3d.predict_windows(inputs[0, :, :, 0])


def test_shipped_3d_model_onnx_matches_torch(default_3d, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from skysense.learn import OnnxSession, export_onnx

    sc = bs.Scenario()
    rng = np.random.default_rng(2)
    paths = bs.random_paths(sc, rng=rng)
    csi = bs.simulate(sc, paths, 10.0, rng=rng, n_subframes=N_SUBFRAMES).csi
    x = csi_windows_3d(csi[None], 4, default_3d.config).inputs[0]
    path = export_onnx(default_3d.model, tmp_path / "c2vnn3d.onnx")
    session = OnnxSession(path)
    assert session.sample_shape == default_3d.config.sample_shape
    got = session.run(x)
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, default_3d.predict_windows(x), atol=1e-5)


def test_doppler_experiment_takes_the_3d_model():
    from skysense.experiments import BistaticDoppler
    from skysense.experiments.runner import run_trials

    dop = BistaticDoppler(snrs_db=(30.0,), methods=("ifft_c2vnn_3d",), chunk_size=1)
    res = run_trials(dop, 2, rng=2).results["30"]["ifft_c2vnn_3d"]
    assert np.isfinite(res["mae_hz"]) and res["n_trials"] == 2
    wrong = BistaticDoppler(snrs_db=(30.0,), n_subframes=4, methods=("ifft_c2vnn_3d",))
    with pytest.raises(ValueError, match="csi must have shape"):
        run_trials(wrong, 1, rng=0)
