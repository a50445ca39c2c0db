"""Dataset generation and reading: NumPy only, no torch needed."""

import json

import numpy as np
import pytest

from skysense.imaging import Scenario, backproject, sensing_matrix
from skysense.learn import (
    DatasetError,
    DatasetReader,
    generate_dataset,
    image_metrics,
    normalize_images,
)

SMALL = Scenario(roi_size_m=(30.0, 30.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ds"
    return generate_dataset(path, 11, scenario=SMALL, n_targets=3, shard_size=4, rng=7)


def test_shards_and_meta(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    assert [s["n_frames"] for s in meta["shards"]] == [4, 4, 3]
    assert sorted(p.name for p in dataset.glob("shard-*.npz")) == [
        "shard-00000.npz",
        "shard-00001.npz",
        "shard-00002.npz",
    ]
    reader = DatasetReader(dataset)
    assert reader.n_frames == 11
    assert reader.grid_shape == (10, 10)
    assert reader.input_shape == (2, 10, 10)
    assert reader.scenario == SMALL


def test_contents_match_the_forward_model(dataset):
    reader = DatasetReader(dataset)
    arrays = reader.read()
    assert arrays["inputs"].dtype == np.float32
    assert arrays["inputs"].shape == (11, 2, 10, 10)
    assert arrays["labels"].dtype == np.uint8
    # 3 UAVs, at least 3 voxels apart: three distinct occupied voxels per frame
    np.testing.assert_array_equal(arrays["labels"].reshape(11, -1).sum(axis=1), 3)
    np.testing.assert_array_equal(arrays["image"] > 0, arrays["labels"] > 0)
    # labels mark the voxels that contain the true (off-grid) positions
    idx = SMALL.voxel_index(arrays["positions_m"])
    flat = arrays["labels"].reshape(11, -1)
    assert all(flat[f, idx[f]].all() for f in range(11))
    # the input of shard 0 is A^H y of its frames (recomputed from the same seed)
    from skysense.imaging import simulate

    seed0 = np.random.SeedSequence(7).spawn(3)[0]
    batch = simulate(SMALL, 4, 3, off_grid=True, rng=np.random.default_rng(seed0), workers=1)
    ahy = backproject(sensing_matrix(SMALL), batch.measurements).reshape(4, 10, 10)
    # shard fields carry the ImagingBatch names and values
    np.testing.assert_array_equal(
        arrays["image"][:4], batch.image.reshape(4, 10, 10).astype(np.float32)
    )
    np.testing.assert_array_equal(arrays["positions_m"][:4], batch.positions_m)
    np.testing.assert_allclose(
        arrays["inputs"][:4, 0], ahy.real, rtol=1e-5, atol=1e-6 * abs(ahy).max()
    )
    np.testing.assert_allclose(
        arrays["inputs"][:4, 1], ahy.imag, rtol=1e-5, atol=1e-6 * abs(ahy).max()
    )


def test_generation_is_deterministic(dataset, tmp_path):
    again = generate_dataset(tmp_path / "b", 11, scenario=SMALL, n_targets=3, shard_size=4, rng=7)
    other = generate_dataset(tmp_path / "c", 11, scenario=SMALL, n_targets=3, shard_size=4, rng=8)
    a, b, c = (DatasetReader(p).read() for p in (dataset, again, other))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["positions_m"], c["positions_m"])
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["seed"] == 7 and meta["version"] == 3
    assert all(len(s["sha256"]) == 64 for s in meta["shards"])
    # a Generator is used as is: the same frames as its int seed, and no seed recorded
    gen = generate_dataset(
        tmp_path / "g", 11, scenario=SMALL, n_targets=3, shard_size=4, rng=np.random.default_rng(7)
    )
    for k, v in DatasetReader(gen).read().items():
        np.testing.assert_array_equal(v, a[k])
    assert DatasetReader(gen).describe()["seed"] is None


@pytest.mark.parametrize(
    ("kind", "shape"), [("pursuit", (2, 10, 10)), ("measurements", (2 * 10, 4, 4))]
)
def test_other_input_kinds(kind, shape, tmp_path):
    path = generate_dataset(tmp_path / kind, 3, scenario=SMALL, n_targets=2, kind=kind, rng=1)
    reader = DatasetReader(path)
    assert reader.input_shape == shape
    assert reader.read()["inputs"].shape == (3, *shape)


def test_progress_callback_and_refusal_to_overwrite(tmp_path):
    calls = []
    path = generate_dataset(
        tmp_path / "d",
        5,
        scenario=SMALL,
        n_targets=1,
        shard_size=2,
        progress=lambda *a: calls.append(a),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        generate_dataset(path, 5, scenario=SMALL, n_targets=1)


def _rewrite_shard(folder, j, arrays):
    """Write shard ``j`` with ``arrays`` and record its digest (a writer that wrote bad data)."""
    import hashlib

    file = folder / f"shard-{j:05d}.npz"
    np.savez(file, **arrays)
    meta = json.loads((folder / "meta.json").read_text())
    meta["shards"][j]["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (folder / "meta.json").write_text(json.dumps(meta))


def _copy(dataset, tmp_path, name="bad"):
    import shutil

    bad = tmp_path / name
    shutil.copytree(dataset, bad)
    return bad


def test_nan_in_a_shard_is_reported(dataset, tmp_path):
    bad = _copy(dataset, tmp_path)
    with np.load(bad / "shard-00001.npz") as f:
        arrays = dict(f)
    arrays["inputs"][2, 0, 3, 3] = np.nan
    _rewrite_shard(bad, 1, arrays)
    reader = DatasetReader(bad)
    reader.read(0, 4)  # shard 0 is fine
    with pytest.raises(ValueError, match=r"shard-00001.npz: inputs contains NaN"):
        reader.read(4, 8)


def test_corrupted_or_missing_files(dataset, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    (bad / "shard-00002.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="shard-00002.npz is damaged"):
        DatasetReader(bad).shard(2)
    # without a stored digest (a version-2 dataset) the zip reader's error is wrapped
    meta = json.loads((bad / "meta.json").read_text())
    del meta["shards"][2]["sha256"]
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="cannot read dataset shard"):
        DatasetReader(bad).shard(2)
    (bad / "shard-00002.npz").unlink()
    with pytest.raises(DatasetError, match="shard-00002.npz is missing"):
        DatasetReader(bad).shard(2)
    (bad / "meta.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        DatasetReader(bad)
    (bad / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        DatasetReader(bad)


def test_flipped_bytes_in_a_shard_are_caught(dataset, tmp_path):
    bad = _copy(dataset, tmp_path)
    file = bad / "shard-00001.npz"
    data = bytearray(file.read_bytes())
    for k in range(200, len(data) - 200, 97):
        data[k] ^= 0x55
    file.write_bytes(bytes(data))
    reader = DatasetReader(bad)
    reader.read(0, 4)
    with pytest.raises(DatasetError, match="SHA-256 differs"):
        reader.read(4, 8)


def test_shard_dtypes_and_fields_are_checked(dataset, tmp_path):
    bad = _copy(dataset, tmp_path)
    with np.load(bad / "shard-00000.npz") as f:
        arrays = dict(f)
    as_strings = {**arrays, "image": arrays["image"].astype(str)}
    _rewrite_shard(bad, 0, as_strings)
    with pytest.raises(DatasetError, match="image has dtype <U.*expected float32"):
        DatasetReader(bad).shard(0)
    _rewrite_shard(bad, 0, {k: v for k, v in arrays.items() if k != "labels"})
    with pytest.raises(DatasetError, match=r"lacks the fields \['labels'\]"):
        DatasetReader(bad).shard(0)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m["shards"][0].update(n_frames=-4), "shards must be a list"),
        (lambda m: m["shards"][0].update(n_frames="4"), "shards must be a list"),
        (lambda m: m["shards"][0].update(file="../../etc/passwd"), "shards must be a list"),
        (lambda m: m.update(n_frames=99), "n_frames is 99 but its shards hold 11"),
        (lambda m: m.update(n_targets=0), "n_targets must be an int >= 1"),
        (lambda m: m.pop("grid_shape"), "not a valid description"),
        (lambda m: m.update(input_shape=[2, -1]), "input_shape must be a non-empty list"),
        (lambda m: m.update(version=1), "unsupported version 1"),
    ],
)
def test_bad_descriptions_are_refused(dataset, tmp_path, edit, match):
    bad = _copy(dataset, tmp_path)
    meta = json.loads((bad / "meta.json").read_text())
    edit(meta)
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=match):
        DatasetReader(bad)


def test_wrong_shard_shape_is_reported(dataset, tmp_path):
    bad = _copy(dataset, tmp_path)
    with np.load(bad / "shard-00000.npz") as f:
        arrays = dict(f)
    arrays["labels"] = arrays["labels"][:, :9]
    _rewrite_shard(bad, 0, arrays)
    with pytest.raises(ValueError, match=r"labels has shape \(4, 9, 10\), expected \(4, 10, 10\)"):
        DatasetReader(bad).shard(0)


def test_generate_dataset_validation(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        generate_dataset(tmp_path / "x", 2, scenario=SMALL, kind="raw")
    with pytest.raises(ValueError, match="n_frames must be >= 1"):
        generate_dataset(tmp_path / "x", 0, scenario=SMALL)
    with pytest.raises(TypeError, match="scenario must be a Scenario"):
        generate_dataset(tmp_path / "x", 2, scenario="2d")
    with pytest.raises(ValueError, match="rng must be a non-negative int seed"):
        generate_dataset(tmp_path / "x", 2, scenario=SMALL, rng=-1)


def test_normalize_images_by_hand():
    x = np.array([[[3.0 + 4.0j, 1.0], [0.5, 0.0]]])
    out = normalize_images(x, 1 / 3)
    np.testing.assert_allclose(out, [[[1.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(normalize_images(x, 0.15), [[[1.0, 0.2], [0.0, 0.0]]])
    np.testing.assert_allclose(normalize_images(x, 0.05), [[[1.0, 0.2], [0.1, 0.0]]])
    np.testing.assert_array_equal(normalize_images(np.zeros((2, 3, 3)), 0.2), 0.0)


def test_image_metrics_of_perfect_and_empty_images():
    labels = np.zeros((2, 40, 40))
    labels[:, 5, 5] = labels[:, 20, 30] = 1.0
    scenario = Scenario()
    centers = scenario.voxel_centers_m().reshape(40, 40, 3)
    positions_m = np.stack([centers[[5, 20], [5, 30]]] * 2)
    perfect = image_metrics(labels, labels, positions_m, scenario)
    assert (perfect.mse, perfect.ospa_m, perfect.detection_rate) == (0.0, 0.0, 1.0)
    assert perfect.ssim == pytest.approx(1.0)
    assert perfect.false_alarm_rate == 0.0
    empty = image_metrics(np.zeros_like(labels), labels, positions_m, scenario)
    assert empty.ospa_m == 50.0
    assert empty.detection_rate == 0.0
    assert empty.false_alarm_rate == 0.0
    assert empty.mse == pytest.approx(2 / 1600)
    assert repr(empty).startswith("ImageMetrics(")


def test_three_dimensional_roi(tmp_path):
    s3 = Scenario.paper_3d(roi_size_m=(20.0, 20.0, 10.0), n_subcarriers=2)
    path = generate_dataset(tmp_path / "d3", 3, scenario=s3, n_targets=2, rng=0)
    reader = DatasetReader(path)
    assert reader.grid_shape == (4, 4, 2)
    arrays = reader.read()
    assert arrays["inputs"].shape == (3, 2, 4, 4, 2)
    np.testing.assert_array_equal(arrays["labels"].reshape(3, -1).sum(axis=1), 2)
