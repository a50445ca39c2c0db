import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.bistatic import Estimate, Paths, Scenario, simulate
from skysense.learn import (
    C2vnnConfig,
    C2vnnTrainConfig,
    CheckpointError,
    IfftC2vnn,
    build_c2vnn,
    load_checkpoint,
    make_training_set,
    save_checkpoint,
    train_c2vnn,
)

SMALL = Scenario(n_tx=4, n_rx=4, n_subcarriers=32)
CFG = C2vnnConfig(scenario=SMALL, window=3, n_filters=2, n_hidden=8)


@pytest.fixture(scope="module")
def tiny():
    tc = C2vnnTrainConfig(n_draws=60, epochs=2, n_targets=2)
    return train_c2vnn(CFG, tc, rng=3), tc


def test_training_set_labels(rng):
    x, y = make_training_set(SMALL, 20, window=3, snr_db=40.0, rng=1, n_targets=2)
    assert x.dtype == np.float32
    assert y.dtype == np.float32
    assert x.shape[1:] == (6, 4, 4)
    assert x.shape[0] == y.shape[0] >= 30  # most of the 60 paths give a labelled window
    assert np.all(np.abs(y[:, :2]) <= 1)
    assert np.all(np.abs(y[:, 2]) <= 1)
    # Deterministic in the seed; draw i uses the i-th child of SeedSequence(seed).
    x2, y2 = make_training_set(SMALL, 20, window=3, snr_db=40.0, rng=1, n_targets=2)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = make_training_set(
        SMALL, 20, window=3, snr_db=40.0, rng=np.random.SeedSequence(1), n_targets=2
    )
    np.testing.assert_array_equal(x, x3)
    assert not np.array_equal(x[:5], make_training_set(SMALL, 20, snr_db=40.0, rng=2)[0][:5])
    with pytest.raises(ValueError, match="snr_db range"):
        make_training_set(SMALL, 2, snr_db=(10.0, 0.0))
    with pytest.raises(ValueError, match="fluctuation must be 'none' or 'swerling1', got 'x'"):
        C2vnnTrainConfig(fluctuation="x")  # type: ignore[arg-type]


def test_training_is_seeded_and_learns(tiny):
    result, tc = tiny
    again = train_c2vnn(CFG, tc, rng=3)
    np.testing.assert_array_equal(result.train_loss, again.train_loss)
    # the threads of a call are restored afterwards
    threads = torch.get_num_threads()
    train_c2vnn(CFG, C2vnnTrainConfig(n_draws=10, epochs=1, n_targets=2), rng=0, workers=2)
    assert torch.get_num_threads() == threads
    assert result.train_loss.shape == (2,)
    assert result.train_loss[-1] < result.train_loss[0]


def test_checkpoint_round_trip_and_bad_files(tiny, tmp_path):
    model = tiny[0].model
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, metadata={"note": "tiny"})
    loaded = load_checkpoint(path, expected_config=CFG)
    assert loaded.metadata == {"note": "tiny"}
    assert IfftC2vnn.from_checkpoint(path).metadata == {"note": "tiny"}
    x = torch.randn(3, 6, 4, 4)
    assert torch.equal(loaded.model(x), model.eval()(x))
    with pytest.raises(CheckpointError, match="not the expected"):
        load_checkpoint(path, expected_config=C2vnnConfig(scenario=SMALL, window=5, n_filters=2))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable skysense checkpoint"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": model.state_dict()}, foreign)
    with pytest.raises(CheckpointError, match="is not a skysense-learn checkpoint"):
        load_checkpoint(foreign)
    other = build_c2vnn(C2vnnConfig(scenario=SMALL, window=3, n_filters=3, n_hidden=8))
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"] = other.state_dict()
    torch.save(ckpt, foreign)
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(foreign)
    ckpt["state_dict"] = {k: v * np.nan for k, v in model.state_dict().items()}
    torch.save(ckpt, foreign)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(foreign)


def _csi(scenario, seed, n_subframes=1, doppler=None, snr_db=30.0):
    paths = Paths(
        [0.3, -0.5],
        [-0.2, 0.6],
        np.array([2.2, 9.7]) * scenario.toa_resolution_s,
        [1.0, 0.8j],
        doppler,
    )
    return paths, simulate(scenario, paths, snr_db, rng=seed, n_subframes=n_subframes).csi


def test_estimate_output_type_and_bad_input(tiny):
    est = IfftC2vnn(tiny[0].model)
    _, csi = _csi(SMALL, 0)
    e = est.estimate(csi[0], 2)
    assert isinstance(e, Estimate)
    assert e.toa_s.shape == e.aoa_rad.shape == e.aod_rad.shape == e.gain.shape == (2,)
    assert e.gain.dtype == np.complex128
    assert np.all(np.diff(e.toa_s) >= 0)
    # The coarse delay comes from the peak rows: within 1.5 taps even for an untrained net.
    np.testing.assert_allclose(e.toa_s / SMALL.toa_resolution_s, [2.2, 9.7], atol=1.5)
    batch = est.estimate(np.stack([csi[0], csi[0]]), 2)
    assert batch.toa_s.shape == (2, 2)
    np.testing.assert_allclose(batch.aoa_rad[1], e.aoa_rad, rtol=1e-6)
    # float32 path: complex64 CSI gives float32/complex64 fields with the same estimates
    e32 = est.estimate(csi[0].astype(np.complex64), 2)
    assert e32.toa_s.dtype == e32.aoa_rad.dtype == np.float32 and e32.gain.dtype == np.complex64
    np.testing.assert_allclose(e32.aoa_rad, e.aoa_rad, atol=1e-5)
    np.testing.assert_allclose(e32.toa_s, e.toa_s, rtol=1e-5)
    np.testing.assert_allclose(e32.gain, e.gain, rtol=1e-3, atol=1e-4 * np.abs(e.gain).max())
    with pytest.raises(ValueError, match="csi must end in"):
        est.estimate(np.zeros((8, 10, 64), complex), 2)
    with pytest.raises(ValueError, match="NaN"):
        est.estimate(np.full(SMALL.csi_shape, np.nan + 0j), 2)
    with pytest.raises(ValueError, match="all zero"):
        est.estimate(np.zeros(SMALL.csi_shape, complex), 2)
    with pytest.raises(ValueError, match="delay peaks"):
        est.estimate(SMALL.channel(Paths([0.1], [0.2], [0.0], [1.0])), 2)


def test_doppler_variant_with_exact_geometry(tiny, monkeypatch):
    """Lightweight Doppler (Sec. III-D): LS gains per sub-frame, then the phase slope."""
    sc = Scenario(n_tx=4, n_rx=4, n_subcarriers=32, n_symbols=8)
    cfg = C2vnnConfig(scenario=sc, window=3, n_filters=2, n_hidden=8)
    est = IfftC2vnn(build_c2vnn(cfg, rng=0))
    paths, csi = _csi(sc, 1, n_subframes=4, doppler=[15000.0, -23000.0], snr_db=50.0)
    rows = np.array([2, 10])
    truth = np.stack(
        [
            np.sin(paths.aoa_rad),
            np.sin(paths.aod_rad),
            paths.toa_s / sc.toa_resolution_s - rows,
        ],
        -1,
    )
    monkeypatch.setattr(
        est, "_predict_windows", lambda x, batch_size: np.tile(truth, (len(x) // 2, 1))
    )
    e = est.estimate(csi, 2, subframes=True)
    # The rotation inside each sub-frame makes the LS CSI deviate from a constant factor, which
    # biases both this and PARAMING by ~1% (here 15.17/-22.64 kHz against 15.12/-23.00 kHz).
    np.testing.assert_allclose(e.doppler_hz, [15000.0, -23000.0], rtol=0.03)
    # |gain| of sub-frame 0 is the intra-sub-frame average of the rotation (<= |gamma|).
    np.testing.assert_allclose(np.abs(e.gain), [1.0, 0.8], rtol=0.12)
    with pytest.raises(ValueError, match=">= 2 sub-frames"):
        est.estimate(csi[:1], 2, subframes=True)


class _Interrupt(Exception):
    pass


def test_resume_inside_an_epoch_equals_an_uninterrupted_run(tmp_path):
    tc = C2vnnTrainConfig(n_draws=30, epochs=2, batch_size=16, n_targets=2)
    straight = train_c2vnn(CFG, tc, rng=5)
    ckpt = tmp_path / "run.pt"

    def interrupt(entry):
        raise _Interrupt  # at the first validation (the last batch of epoch 1)

    with pytest.raises(_Interrupt):
        train_c2vnn(CFG, tc, rng=5, checkpoint=ckpt, checkpoint_every_s=0.0, progress=interrupt)
    assert load_checkpoint(ckpt).training_state["epoch"] == 0
    resumed = train_c2vnn(CFG, tc, rng=5, checkpoint=ckpt, resume=True)
    np.testing.assert_array_equal(resumed.train_loss, straight.train_loss)
    np.testing.assert_array_equal(resumed.validation_loss, straight.validation_loss)
    # other data (another seed) cannot resume this checkpoint
    with pytest.raises(CheckpointError, match="another model or training config"):
        train_c2vnn(CFG, tc, rng=6, checkpoint=ckpt, resume=True)


def test_train_command_line(tmp_path):
    from skysense.learn.c2vnn.train import main

    out = tmp_path / "m.pt"
    argv = ["--draws", "10", "--epochs", "1", "--filters", "2", "--hidden", "8", "--threads", "1"]
    main([str(out), *argv])
    est = IfftC2vnn.from_checkpoint(out)
    assert est.config.n_filters == 2 and not est.is_3d
    assert est.metadata["seed"] == 0 and est.metadata["train_config"]["epochs"] == 1
    assert est.metadata["threads"] == 1 and est.metadata["finite"]
