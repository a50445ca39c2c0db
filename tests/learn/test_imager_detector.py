"""The learned off-grid detector: per-pair front end, symmetries, network, loss, training,
estimator and ONNX parity."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.imaging import Scenario, SensingOperator, simulate, steering_matrix
from skysense.learn import (
    DatasetReader,
    DetectorConfig,
    DetectorNet,
    ImagerTrainConfig,
    ImagingLoss,
    OffGridDataset,
    OffGridImager,
    PairBackprojector,
    build_detector_net,
    generate_dataset,
    load_checkpoint,
    pair_backprojection,
    split_frames,
    train_imager,
)
from skysense.learn.imager.features import grid_symmetries
from skysense.learn.imager.losses import centre_heat, focal_loss
from skysense.learn.imager.selection import choose_threshold, threshold_sweep

SMALL = Scenario(roi_size_m=(24.0, 24.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)
SMALL_3D = Scenario.paper_3d(roi_size_m=(20.0, 20.0, 10.0), roi_center_m=(0.0, 0.0, 80.0))


@pytest.mark.parametrize("scenario", [SMALL, SMALL_3D], ids=["2d", "3d"])
def test_pair_backprojections_sum_to_backprojection(scenario, rng):
    batch = simulate(scenario, 20, 2, off_grid=True, rng=rng)
    pb = PairBackprojector(scenario, dtype=np.complex128)
    for frames in (
        batch.measurements[:3],
        batch.measurements,
    ):  # the few-frame and the Khatri-Rao paths
        z = pb.transform(frames)
        assert z.shape == (frames.shape[0], 10, *pb.grid_shape)
        assert z.dtype == np.complex128
        # undo the demodulation and the per-pair normalisation: sum_p -> A^H y
        undone = z.reshape(frames.shape[0], 10, -1) / pb._scale[None] * scenario.amplitude
        ahy = SensingOperator(scenario).rmatvec(frames)
        err = np.abs(undone.sum(axis=1) - ahy).max() / np.abs(ahy).max()
        assert err < 1e-12  # measured ~1e-15
    z64 = PairBackprojector(scenario).transform(batch.measurements)
    assert z64.dtype == np.complex64
    np.testing.assert_allclose(
        z64, pb.transform(batch.measurements), rtol=0, atol=2e-5 * np.abs(z64).max()
    )


def test_lone_target_gives_its_coefficient_in_every_pair():
    batch = simulate(SMALL, 4, 1, noise_model="none", rng=3)
    z = pair_backprojection(SMALL, batch.measurements, dtype=np.complex128).reshape(4, 10, -1)
    at_target = z[np.arange(4), :, batch.voxel_index[:, 0]]
    np.testing.assert_allclose(np.abs(at_target), np.repeat(batch.coefficients, 10, 1), rtol=1e-10)


def test_network_input_is_scaled_re_im():
    batch = simulate(SMALL, 3, 2, off_grid=True, rng=4)
    pb = PairBackprojector(SMALL)
    x = pb(batch.measurements)
    z = pb.transform(batch.measurements)
    assert x.shape == (3, 20, 8, 8) and x.dtype == np.float32
    rms = np.sqrt((np.abs(z) ** 2).mean(axis=1)).reshape(3, -1).max(axis=1)
    np.testing.assert_allclose(x[:, :10], z.real / rms[:, None, None, None], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        pb(np.full((1, SMALL.n_measurements), np.nan + 0j))
    with pytest.raises(ValueError, match="y"):
        pb(np.zeros((1, 7), complex))


def test_symmetries_map_frames_to_mirrored_frames(rng):
    s = Scenario(roi_size_m=(30.0, 30.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)
    symmetries = grid_symmetries(s)
    assert len(symmetries) == 8
    pb = PairBackprojector(s, dtype=np.complex128)
    points = np.c_[rng.uniform(-15, 15, (3, 2)), np.full(3, 40.0)]

    def frame(p):
        return pb.transform((steering_matrix(s, p) @ np.full(3, 0.1))[None])[0]

    z = frame(points)
    for flip_x, flip_y, transpose, perm in symmetries:
        q = points.copy()
        if transpose:
            q[:, [0, 1]] = q[:, [1, 0]]
            moved = z.transpose(0, 2, 1)
        else:
            moved = z
        if flip_x:
            q[:, 0] = -q[:, 0]
            moved = moved[:, ::-1]
        if flip_y:
            q[:, 1] = -q[:, 1]
            moved = moved[:, :, ::-1]
        expected = np.empty_like(moved)
        expected[perm] = moved
        np.testing.assert_allclose(frame(q), expected, atol=1e-9 * np.abs(z).max())
    assert grid_symmetries(s.replace(legacy_rotation=True)) == []


@pytest.mark.parametrize("grid", [(8, 8), (5, 6, 4)])
def test_detector_shapes_and_read_out(grid):
    cfg = DetectorConfig(grid_shape=grid, n_pairs=3, channels=(4, 6, 8))
    net = build_detector_net(cfg, rng=0).eval()
    with torch.no_grad():
        heat = net(torch.randn(2, 6, *grid))
    assert heat.shape == (2, *grid)
    assert float(heat.min()) >= 0 and float(heat.max()) <= 1
    # peaks: local maxima above the threshold, one voxel each
    h = torch.zeros(1, *grid)
    h[(0, 1, 1, *(1,) * (len(grid) - 2))] = 0.9
    h[(0, 1, 2, *(1,) * (len(grid) - 2))] = 0.5  # beside a larger value: not a peak
    h[(0, 4, 4, *(2,) * (len(grid) - 2))] = 0.2  # below the threshold
    image = net.render(h, 0.3)
    assert float(image.sum()) == 1.0 and float(image[(0, 1, 1, *(1,) * (len(grid) - 2))]) == 1
    assert float(net.render(h, 0.1).sum()) == 2.0
    assert cfg.feature_channels == 3 + 1 + len(grid)


def test_detector_config_errors():
    with pytest.raises(ValueError, match="features must be one of"):
        DetectorConfig(features="phase")
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\), got 1.5"):
        DetectorConfig(threshold=1.5)
    with pytest.raises(ValueError, match="grid_shape must have 2 or 3 entries"):
        DetectorConfig(grid_shape=(40,))
    with pytest.raises(ValueError, match="n_pairs must be a positive int"):
        DetectorConfig(n_pairs=0)
    net = DetectorNet(DetectorConfig(grid_shape=(8, 8), n_pairs=2, channels=(4,)))
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 4, 8, 8\)"):
        net(torch.zeros(1, 2, 8, 8))
    assert DetectorConfig.from_dict(DetectorConfig().to_dict()) == DetectorConfig()


def test_focal_loss_prefers_the_centre():
    labels = torch.zeros(2, 9, 9)
    labels[0, 4, 4] = 1
    labels[1, 2, 6] = 1
    heat = centre_heat(labels, 1.0)
    assert float(heat[0, 4, 4]) == 1.0 and abs(float(heat[0, 4, 5]) - np.exp(-0.5)) < 1e-6
    on_centre = (labels * 0.9).clamp_min(1e-3)
    shifted = torch.roll(on_centre, 1, dims=2)
    assert float(focal_loss(on_centre, labels)) < float(focal_loss(shifted, labels))
    # negatives next to a UAV cost less than far ones (penalty reduction)
    near, far = torch.full((2, 9, 9), 1e-3), torch.full((2, 9, 9), 1e-3)
    near[0, 4, 5] = 0.5
    far[0, 0, 0] = 0.5
    assert float(focal_loss(near, labels)) < float(focal_loss(far, labels))
    loss = ImagingLoss("focal", sparsity_weight=0.0)
    assert float(loss(on_centre, labels)) == pytest.approx(float(focal_loss(on_centre, labels)))


@pytest.fixture(scope="module")
def pairs_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "ds"
    return DatasetReader(
        generate_dataset(
            path,
            48,
            scenario=SMALL,
            n_targets=(1, 3),
            power_range_dbm=(20.0, 40.0),
            kind="pairs",
            shard_size=16,
            rng=5,
        )
    )


def test_pairs_dataset(pairs_data):
    d = pairs_data.read()
    assert d["inputs"].dtype == np.float16 and d["inputs"].shape == (48, 20, 8, 8)
    assert set(d["counts"].tolist()) <= {1, 2, 3}
    assert len(set(d["counts"].tolist())) > 1
    assert d["positions_m"].shape == (48, 3, 3)
    for n, c in enumerate(d["counts"]):
        assert (
            np.isfinite(d["positions_m"][n, :c]).all() and np.isnan(d["positions_m"][n, c:]).all()
        )
        assert d["labels"][n].sum() == c
    power = d["sensing_power_dbm"]
    assert ((power == 40.0) | ((power >= 20) & (power <= 40) & (power == np.round(power)))).all()
    assert json.loads((pairs_data.path / "meta.json").read_text())["n_targets"] == [1, 3]


def test_generation_resumes(tmp_path):
    kwargs = {"scenario": SMALL, "n_targets": (1, 2), "kind": "pairs", "shard_size": 4, "rng": 9}
    full = DatasetReader(generate_dataset(tmp_path / "full", 12, **kwargs)).read()
    part = tmp_path / "part"
    generate_dataset(part, 12, **kwargs)
    (part / "meta.json").rename(part / "meta.partial.json")  # as if interrupted
    (part / "shard-00001.npz").unlink()
    stamp = (part / "shard-00000.npz").stat().st_mtime_ns
    again = DatasetReader(generate_dataset(part, 12, **kwargs))
    assert (part / "shard-00000.npz").stat().st_mtime_ns == stamp  # kept, not rebuilt
    for k, v in again.read().items():
        np.testing.assert_array_equal(v, full[k])
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        generate_dataset(part, 12, **kwargs)


def _train(pairs_data, **kwargs):
    train, val = split_frames(pairs_data.n_frames, 0.25)
    return train_imager(
        OffGridDataset(pairs_data, train),
        OffGridDataset(pairs_data, val),
        net_config=DetectorConfig(grid_shape=(8, 8), channels=(4, 8), threshold=0.2),
        config=ImagerTrainConfig(
            epochs=2,
            batch_size=8,
            learning_rate=3e-3,
            weight_decay=1e-4,
            optimizer="adamw",
            schedule="onecycle",
            augment=True,
            validations_per_epoch=2,
            loss=ImagingLoss("focal", sparsity_weight=0.0),
        ),
        rng=0,
        device="cpu",
        **kwargs,
    )


class _Interrupt(Exception):
    pass


def test_detector_training_resumes_exactly(pairs_data, tmp_path):
    """Augmented training killed inside an epoch resumes to the uninterrupted run (the
    epoch's symmetries are drawn before any batch is skipped)."""
    whole = _train(pairs_data)
    assert whole.epochs_run == 2 and "validation_ospa_m" in whole.history[0]
    ckpt = tmp_path / "train.pt"
    calls = []

    def stop(entry):
        calls.append(entry)
        if len(calls) == 3:  # epoch 2, mid-epoch: the last timed checkpoint is inside it
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _train(pairs_data, checkpoint=ckpt, checkpoint_every_s=0.0, progress=stop)
    assert load_checkpoint(ckpt).training_state["epoch"] == 1
    resumed = _train(pairs_data, checkpoint=ckpt, resume=True)
    np.testing.assert_array_equal(resumed.train_loss, whole.train_loss)
    for a, b in zip(
        resumed.model.state_dict().values(), whole.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    sweep = threshold_sweep(resumed.model, OffGridDataset(pairs_data, np.arange(36, 48)))
    assert choose_threshold(sweep) in sweep
    with pytest.raises(ValueError, match="augment=True is for DetectorNet"):
        train_imager(
            OffGridDataset(pairs_data, np.arange(8)),
            OffGridDataset(pairs_data, np.arange(8, 12)),
            config=ImagerTrainConfig(epochs=1, augment=True),
        )


def test_imager_with_detector(tmp_path):
    net = build_detector_net(DetectorConfig(grid_shape=(8, 8), channels=(4,), threshold=0.2), rng=1)
    imager = OffGridImager(net, SMALL)
    assert imager.is_detector
    batch = simulate(SMALL, 3, 2, off_grid=True, rng=2)
    heat = imager.predict(imager.inputs(batch.measurements))
    image = imager.image(batch.measurements)
    assert image.shape == (3, 8, 8) and set(np.unique(image)) <= {0.0, 1.0}
    np.testing.assert_array_equal(image, net.render(torch.from_numpy(heat)).numpy())
    positions = imager.detect(batch.measurements)
    assert [len(p) for p in positions] == image.reshape(3, -1).sum(axis=1).astype(int).tolist()
    np.testing.assert_array_equal(imager.image(batch.measurements[0]), image[0])
    path = imager.save(tmp_path / "d.pt")
    quiet = SMALL.replace(sensing_power_dbm=20.0)
    again = OffGridImager.from_checkpoint(path, scenario=quiet)
    assert again.scenario == quiet
    np.testing.assert_array_equal(again.predict(imager.inputs(batch.measurements)), heat)
    with pytest.raises(ValueError, match="in more than"):
        OffGridImager.from_checkpoint(path, scenario=SMALL.replace(n_antennas_side=3))
    with pytest.raises(ValueError, match="BS pairs"):
        OffGridImager(net, SMALL.replace(mode="B"))
    assert isinstance(load_checkpoint(path).model, DetectorNet)


def test_detector_onnx_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from skysense.learn import OnnxSession, export_onnx

    net = build_detector_net(DetectorConfig(grid_shape=(40, 40), channels=(8, 16, 32)), rng=3)
    x = np.random.default_rng(0).standard_normal((5, 20, 40, 40)).astype(np.float32)
    session = OnnxSession(export_onnx(net.eval(), tmp_path / "d.onnx"), workers=1)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(x), expected, rtol=0, atol=1e-5)


def test_shipped_detector_onnx_engine_matches_torch():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    imager = OffGridImager.load_default()
    batch = simulate(imager.scenario, 7, 6, off_grid=True, rng=20260606)
    x = imager.inputs(batch.measurements)
    heat = imager.predict(x, workers=1)
    onnx = imager.predict(x, workers=1, engine="onnxruntime", batch_size=3)  # 3 + 3 + 1 frames
    np.testing.assert_allclose(onnx, heat, rtol=0, atol=1e-5)
    assert list(imager._sessions) == [1]
    # the read-out of nearly equal heat maps: the same detections on these frames
    np.testing.assert_array_equal(
        imager.image(batch.measurements, workers=1, engine="onnxruntime"),
        imager.image(batch.measurements, workers=1),
    )
    assert imager.predict(x[:0], engine="onnxruntime").shape == (0, 40, 40)
    with pytest.raises(ValueError, match="engine must be one of"):
        imager.predict(x, engine="tensorrt")
