"""Off-grid training data on the forward model, streamed to ``.npz`` shards (NumPy only).

A dataset is a folder holding ``shard-00000.npz``, ``shard-00001.npz``, ... and
``meta.json`` (written last, so an interrupted run leaves no readable dataset). Shard
``j`` is drawn from the ``j``-th of ``n_shards`` generators spawned from ``rng``: the frames
depend on ``(scenario, n_frames, shard_size, rng, ...)`` only, not on the executor.

Each shard holds, for its ``n`` frames:

=====================  =======  ===================  ======================================
``inputs``             float32  (n, C, *input_shape)  network input (see :data:`INPUT_KINDS`;
                                                      float16 for ``"pairs"``)
``labels``             uint8    (n, *grid)            binary occupancy maps
``image``              float32  (n, *grid)            scattering coefficient per voxel (0 off
                                                      the UAVs; ``ImagingBatch.image``)
``positions_m``        float64  (n, M, 3)             true UAV positions [m]; NaN rows pad
                                                      frames with fewer than M UAVs
``counts``             int64    (n,)                  UAVs in each frame
``sensing_power_dbm``  float64  (n,)                  P_s of each frame [dBm]
=====================  =======  ===================  ======================================

``M`` is the largest UAV count (``n_targets`` or the top of its range). ``meta.json`` records
each shard's frame count and the SHA-256 of its file. The reader checks the description, each
shard's digest, field names, dtypes, shapes and finiteness, and raises :class:`DatasetError`
(a ValueError) naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skysense._rng import RngLike, as_generator
from skysense._validation import check_count, check_finite_scalar
from skysense.imaging import Scenario, SensingOperator, simulate, subspace_pursuit

if TYPE_CHECKING:
    from skysense.learn.imager.features import PairBackprojector

__all__ = [
    "INPUT_DTYPES",
    "INPUT_KINDS",
    "DatasetError",
    "DatasetReader",
    "generate_dataset",
    "image_shape",
    "network_input",
    "scenario_from_dict",
    "voxel_gain",
]

#: ``"backprojection"``: Re/Im of ``A^H y`` on the grid (Model+DNN<A^H y>);
#: ``"pursuit"``: Re/Im of the SP estimate (Model+DNN<SP>); ``"measurements"``: Re/Im of
#: ``y`` as ``n_subcarriers * n_pairs`` maps of shape (N_rx, N_tx) (DNN<y>); ``"pairs"``:
#: Re/Im of the per-pair back-projections of :class:`~skysense.learn.imager.features.
#: PairBackprojector`, scaled per frame (the input of :class:`DetectorNet`).
INPUT_KINDS = ("backprojection", "pursuit", "measurements", "pairs")
#: Storage dtype of each input kind (the per-pair inputs are float16: half the disk).
INPUT_DTYPES = {
    "backprojection": "float32",
    "pursuit": "float32",
    "measurements": "float32",
    "pairs": "float16",
}
FORMAT = "skysense-offgrid-dataset"
VERSION = 4  # 4: UAV count and P_s per frame (ranges), float16 per-pair inputs
_READABLE_VERSIONS = (4,)
_FIELDS = ("inputs", "labels", "image", "positions_m", "counts", "sensing_power_dbm")
#: dtype of each shard field but ``inputs`` (``INPUT_DTYPES[kind]``); ``np.savez`` keeps them.
_DTYPES = {
    "labels": np.dtype(np.uint8),
    "image": np.dtype(np.float32),
    "positions_m": np.dtype(np.float64),
    "counts": np.dtype(np.int64),
    "sensing_power_dbm": np.dtype(np.float64),
}

PathLike = str | os.PathLike[str]


class DatasetError(ValueError):
    """A dataset folder is incomplete, damaged or not a skysense off-grid dataset."""


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def image_shape(scenario: Scenario) -> tuple[int, ...]:
    """Grid of the network output: ``(n_x, n_y)`` for a single-layer ROI, else 3-D.

    Examples
    --------
    >>> image_shape(Scenario())
    (40, 40)
    """
    nx, ny, nz = scenario.grid_shape
    return (nx, ny) if nz == 1 else (nx, ny, nz)


def voxel_gain(scenario: Scenario, *, operator: SensingOperator | None = None) -> np.ndarray:
    """Per-voxel input gain ``(min_v ||a_v|| / ||a_v||)^2`` on the image grid.

    ``A^H y`` at a lone target in voxel ``v`` peaks at ``||a_v||^2 sigma``: with the BSs at
    the ROI corners the column norms vary about 5x over the Table III grid, so a target
    near the centre is ~25x weaker than one near a BS. Multiplying by this map (the inverse
    of ``diag(A^H A)``, scaled to max 1) puts every target's main lobe on the sigma scale, a
    fixed physics step that a translation-invariant CNN cannot learn by itself. Used by
    ``ImagerConfig(voxel_gain=True)`` (not in the paper).

    Returns
    -------
    ndarray, shape :func:`image_shape` ``(scenario)``, float32, in (0, 1]
    """
    op = SensingOperator(scenario, workers=1) if operator is None else operator
    norms = np.asarray(op.column_norms(), dtype=np.float64)
    gain = (norms.min() / np.maximum(norms, np.finfo(np.float64).tiny)) ** 2
    return gain.reshape(image_shape(scenario)).astype(np.float32)


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    """Rebuild a :class:`Scenario` from ``dataclasses.asdict`` output (e.g. from JSON)."""
    if not isinstance(data, dict):
        raise TypeError(f"scenario must be a dict, got {type(data).__name__}")
    fields = dict(data)
    for key in ("roi_size_m", "roi_center_m"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if fields.get("bs_positions_m") is not None:
        fields["bs_positions_m"] = tuple(tuple(p) for p in fields["bs_positions_m"])
    try:
        return Scenario(**fields)
    except TypeError as exc:
        raise ValueError(f"invalid scenario fields: {exc}") from exc


def network_input(
    kind: str,
    scenario: Scenario,
    y: np.ndarray,
    *,
    operator: SensingOperator | PairBackprojector | None = None,
    gram: np.ndarray | None = None,
    sparsity: int = 10,
    workers: int | None = None,
) -> np.ndarray:
    """Network input of CSI frames.

    Parameters
    ----------
    kind : {"backprojection", "pursuit", "measurements", "pairs"}
        See :data:`INPUT_KINDS`.
    scenario : Scenario
        Imaging geometry, arrays and numerology of ``y``.
    y : ndarray, shape (n_frames, n_measurements), complex
        CSI frames.
    operator : SensingOperator or PairBackprojector, optional
        Reused if given (a ``PairBackprojector`` for ``"pairs"``).
    gram : ndarray, shape (n_voxels, n_voxels), complex128, optional
        ``A^H A`` for ``"pursuit"`` (computed if omitted).
    sparsity : int
        SP's prior sparsity M° (``"pursuit"``).
    workers : int, optional
        Threads of the sensing operator and SP (``docs/conventions.md``); results do not
        depend on it.

    Returns
    -------
    ndarray, shape (n_frames, C, input_shape...), float32
        C input channels per frame, as the network of ``kind`` expects.

    Examples
    --------
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> y = np.zeros((3, s.n_measurements), complex)
    >>> network_input("backprojection", s, y).shape
    (3, 2, 5, 5)
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
    n = y.shape[0]
    if kind == "pairs":
        from skysense.learn.imager.features import PairBackprojector

        pb = operator if isinstance(operator, PairBackprojector) else PairBackprojector(scenario)
        return pb(y)
    if kind == "measurements":
        s = scenario
        n_ant = s.n_antennas_side**2
        maps = y.reshape(n, -1, n_ant, n_ant)
        return np.concatenate([maps.real, maps.imag], axis=1).astype(np.float32)
    op = (
        operator
        if isinstance(operator, SensingOperator)
        else SensingOperator(scenario, workers=workers)
    )
    if kind == "backprojection":
        x = op.rmatvec(y)
    else:
        res = subspace_pursuit(
            op, y, sparsity, max_iter=100, threshold="max/5", gram=gram, workers=workers
        )
        x = res.image
    grid = image_shape(scenario)
    x = np.asarray(x).reshape(n, 1, *grid)
    return np.concatenate([x.real, x.imag], axis=1).astype(np.float32)


def _input_shape(kind: str, scenario: Scenario) -> tuple[int, ...]:
    if kind == "pairs":
        return (2 * len(scenario.pairs()), *image_shape(scenario))
    if kind == "measurements":
        n_ant = scenario.n_antennas_side**2
        return (2 * scenario.n_subcarriers * len(scenario.pairs()), n_ant, n_ant)
    return (2, *image_shape(scenario))


def _frame_draws(
    n_frames: int,
    n_targets: tuple[int, int],
    power_dbm: float,
    power_range_dbm: tuple[float, float] | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """UAV count and sensing power of each frame (no draw for a fixed count or power)."""
    lo, hi = n_targets
    counts = rng.integers(lo, hi + 1, size=n_frames) if hi > lo else np.full(n_frames, lo)
    if power_range_dbm is None:
        power = np.full(n_frames, float(power_dbm))
    else:
        nominal = rng.random(n_frames) < 0.5
        drawn = np.round(rng.uniform(power_range_dbm[0], power_range_dbm[1], n_frames))
        power = np.where(nominal, float(power_dbm), drawn)
    return counts.astype(np.int64), power.astype(np.float64)


def _make_shard(
    path: Path,
    scenario: Scenario,
    kind: str,
    n_frames: int,
    n_targets: tuple[int, int],
    power_range_dbm: tuple[float, float] | None,
    sparsity: int,
    rng: np.random.Generator,
) -> str:
    """Simulate one shard and write it atomically; returns the SHA-256 of the file."""
    counts, power = _frame_draws(
        n_frames, n_targets, scenario.sensing_power_dbm, power_range_dbm, rng
    )
    grid = image_shape(scenario)
    dtype = np.complex64 if kind == "pairs" else np.complex128
    y = np.empty((n_frames, scenario.n_measurements), dtype)
    labels = np.zeros((n_frames, scenario.n_voxels), np.uint8)
    sigma = np.zeros((n_frames, scenario.n_voxels), np.float32)
    positions = np.full((n_frames, n_targets[1], 3), np.nan)
    # frames of equal (count, power) are simulated together, in sorted order
    for m, p in sorted(set(zip(counts.tolist(), power.tolist(), strict=True))):
        idx = np.flatnonzero((counts == m) & (power == p))
        s = scenario if p == scenario.sensing_power_dbm else scenario.replace(sensing_power_dbm=p)
        batch = simulate(s, idx.size, int(m), off_grid=True, rng=rng, workers=1, dtype=dtype)
        y[idx] = batch.measurements
        labels[idx] = batch.labels
        sigma[idx] = batch.image
        positions[idx, :m] = batch.positions_m
    gram = None
    op: Any = None
    if kind in ("backprojection", "pursuit"):
        op = SensingOperator(scenario, workers=1)
        if kind == "pursuit":
            gram = op.gram(max_bytes=4 << 30)  # column blocks keep the scratch small
    # the inputs of every frame use the scenario's own operator: with another P_s only the
    # amplitude of A changes, a constant factor that the networks' per-frame scale removes
    inputs = network_input(kind, scenario, y, operator=op, gram=gram, sparsity=sparsity)
    arrays: dict[str, Any] = {
        "inputs": inputs.astype(INPUT_DTYPES[kind]),
        "labels": labels.reshape(n_frames, *grid),
        "image": sigma.reshape(n_frames, *grid),
        "positions_m": positions,
        "counts": counts,
        "sensing_power_dbm": power,
    }
    tmp = Path(str(path) + ".tmp.npz")
    np.savez(tmp, **arrays)
    digest = _file_sha256(tmp)
    os.replace(tmp, path)
    return digest


def _count_range(n_targets: Any) -> tuple[int, int]:
    """``n_targets`` as an inclusive range ``(lo, hi)`` of positive counts."""
    if isinstance(n_targets, tuple | list):
        if len(n_targets) != 2:
            raise ValueError(f"n_targets must be an int or a (low, high) pair, got {n_targets}")
        lo, hi = (check_count(v, "n_targets") for v in n_targets)
        if lo > hi:
            raise ValueError(f"n_targets range must have low <= high, got {n_targets}")
        return lo, hi
    count = check_count(n_targets, "n_targets")
    return count, count


def generate_dataset(
    path: PathLike,
    n_frames: int,
    *,
    scenario: Scenario | None = None,
    n_targets: int | tuple[int, int] = 6,
    power_range_dbm: tuple[float, float] | None = None,
    kind: str = "backprojection",
    shard_size: int = 1024,
    sparsity: int = 10,
    rng: RngLike = None,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = True,
) -> Path:
    """Simulate ``n_frames`` off-grid frames into a sharded dataset folder.

    Parameters
    ----------
    path : str or Path
        Output folder (created; must not hold a dataset already).
    n_frames : int
        Frames in total.
    scenario : Scenario, optional
        Default: the Table III scenario ``Scenario(n_antennas_side=5)`` (40 x 40, mode A,
        P_s = 40 dBm); ``Scenario.paper_3d()`` for the 3-D ROI.
    n_targets : int or (int, int)
        UAVs per frame, M (6 in 2-D, 12 in 3-D), or an inclusive range ``(lo, hi)`` from
        which each frame's count is drawn uniformly.
    power_range_dbm : (float, float), optional
        Vary the sensing power: each frame is at the scenario's ``sensing_power_dbm`` with
        probability 1/2, else at a power drawn uniformly from this range [dBm], rounded to
        1 dB. ``None``: every frame at the scenario's power.
    kind : {"backprojection", "pursuit", "measurements", "pairs"}
        Network input (:data:`INPUT_KINDS`).
    shard_size : int
        Frames per shard (at most this many frames are in memory per task).
    sparsity : int
        SP's M° for ``kind="pursuit"``.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Source of the frames: shard ``j`` uses the ``j``-th generator spawned from it. An
        int seed is recorded in ``meta.json``.
    client : distributed.Client, optional
        Build the shards on this Dask cluster; ``None``: here, one after the other.
    progress : callable, optional
        ``progress(n_done, n_shards)`` after each shard.
    resume : bool
        Continue an interrupted run: with an int ``rng``, the settings are written to
        ``meta.partial.json`` first, and a later call with the same settings on the same
        folder keeps the shards already written (each is written atomically) and makes the
        rest. Settings that differ raise FileExistsError.

    Returns
    -------
    Path
        The dataset folder.

    Examples
    --------
    >>> import tempfile
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> path = generate_dataset(tempfile.mkdtemp() + "/ds", 4, scenario=s, n_targets=1, rng=0)
    >>> DatasetReader(path).n_frames
    4
    """
    path = Path(path)
    n_frames = check_count(n_frames, "n_frames")
    shard_size = check_count(shard_size, "shard_size")
    counts = _count_range(n_targets)
    if power_range_dbm is not None:
        lo_p, hi_p = (check_finite_scalar(v, "power_range_dbm") for v in power_range_dbm)
        if not lo_p <= hi_p:
            raise ValueError(f"power_range_dbm must be (low, high), got {power_range_dbm}")
        power_range_dbm = (lo_p, hi_p)
    seed = int(rng) if isinstance(rng, int | np.integer) and not isinstance(rng, bool) else None
    gen = as_generator(rng)
    scenario = Scenario(n_antennas_side=5) if scenario is None else scenario
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if kind not in INPUT_KINDS:
        raise ValueError(f"kind must be one of {INPUT_KINDS}, got {kind!r}")
    if (path / "meta.json").exists():
        raise FileExistsError(f"{path} already holds a dataset (meta.json)")
    sizes = [min(shard_size, n_frames - lo) for lo in range(0, n_frames, shard_size)]
    files = [f"shard-{j:05d}.npz" for j in range(len(sizes))]
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "scenario": asdict(scenario),
        "grid_shape": list(image_shape(scenario)),
        "kind": kind,
        "input_shape": list(_input_shape(kind, scenario)),
        "n_targets": list(counts),
        "power_range_dbm": None if power_range_dbm is None else list(power_range_dbm),
        "n_frames": n_frames,
        "sparsity": sparsity,
        "seed": seed,
        "shards": [{"file": f, "n_frames": n} for f, n in zip(files, sizes, strict=True)],
    }
    partial = path / "meta.partial.json"
    done: set[str] = set()
    if resume and seed is not None and partial.is_file():
        try:
            previous = json.loads(partial.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            previous = None
        if isinstance(previous, dict):  # the settings; digests are added once complete
            for entry in previous.get("shards") or []:
                if isinstance(entry, dict):
                    entry.pop("sha256", None)
        if previous != json.loads(json.dumps(meta)):
            raise FileExistsError(
                f"{path} holds an interrupted dataset of other settings (meta.partial.json); "
                "use another folder or delete it"
            )
        done = {f for f in files if (path / f).is_file()}  # shards are written atomically
    path.mkdir(parents=True, exist_ok=True)
    if seed is not None:
        partial.write_text(json.dumps(meta, indent=1) + "\n")
    children = gen.spawn(len(sizes))
    args = [
        (path / f, scenario, kind, n, counts, power_range_dbm, sparsity, s)
        for f, n, s in zip(files, sizes, children, strict=True)
        if f not in done
    ]
    if progress is not None and done:
        progress(len(done), len(files))
    if client is None:
        for j, a in enumerate(args):
            _make_shard(*a)
            if progress is not None:
                progress(len(done) + j + 1, len(files))
    else:
        from distributed import as_completed

        futures = [client.submit(_make_shard, *a, pure=False) for a in args]
        for j, fut in enumerate(as_completed(futures)):
            fut.result()
            if progress is not None:
                progress(len(done) + j + 1, len(files))
    shards: list[dict[str, Any]] = meta["shards"]  # type: ignore[assignment]
    for entry in shards:  # the digests of the files as written (resumed ones too)
        entry["sha256"] = _file_sha256(path / entry["file"])
    (path / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    partial.unlink(missing_ok=True)
    return path


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape_field(meta: dict[str, Any], key: str) -> tuple[int, ...]:
    value = meta[key]
    if not isinstance(value, list) or not value or not all(_is_count(v) and v >= 1 for v in value):
        raise ValueError(f"{key} must be a non-empty list of ints >= 1, got {value!r}")
    return tuple(value)


class DatasetReader:
    """Read access to a dataset folder, one validated shard in memory at a time.

    Parameters
    ----------
    path : str or Path
        Folder written by :func:`generate_dataset`.

    Attributes
    ----------
    meta : dict
        Contents of ``meta.json``.
    scenario : Scenario
    grid_shape, input_shape : tuple of int
    n_frames : int
    offsets : ndarray, shape (n_shards + 1,), int64
        First frame of each shard.

    Examples
    --------
    >>> import tempfile
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> reader = DatasetReader(generate_dataset(tempfile.mkdtemp() + "/ds", 3, scenario=s, rng=0,
    ...                                         n_targets=1))
    >>> reader.read()["labels"].shape
    (3, 5, 5)
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a skysense dataset (no meta.json; incomplete generation?)"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{meta_file} is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DatasetError(f"{meta_file} is not a {FORMAT} description")
        if meta.get("version") not in _READABLE_VERSIONS:
            raise DatasetError(
                f"{meta_file}: unsupported version {meta.get('version')!r} "
                f"(this skysense reads versions {_READABLE_VERSIONS}; regenerate the dataset)"
            )
        self.meta: dict[str, Any] = meta
        try:
            self.scenario = scenario_from_dict(meta["scenario"])
            self.grid_shape: tuple[int, ...] = _shape_field(meta, "grid_shape")
            self.input_shape: tuple[int, ...] = _shape_field(meta, "input_shape")
            n_targets = meta["n_targets"]
            shards = meta["shards"]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{meta_file} is not a valid description: {exc!r}") from exc
        if _is_count(n_targets):
            n_targets = [n_targets, n_targets]
        if not (
            isinstance(n_targets, list)
            and len(n_targets) == 2
            and all(_is_count(v) for v in n_targets)
            and 1 <= n_targets[0] <= n_targets[1]
        ):
            raise DatasetError(
                f"{meta_file}: n_targets must be an int >= 1 or a [low, high] range of them, "
                f"got {n_targets!r}"
            )
        self.max_targets = int(n_targets[1])
        if not isinstance(shards, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("file"), str)
            and "/" not in e["file"]
            and _is_count(e.get("n_frames"))
            and e["n_frames"] >= 0
            for e in shards
        ):
            raise DatasetError(
                f"{meta_file}: shards must be a list of {{'file': name, 'n_frames': int >= 0}}"
            )
        if meta.get("kind") not in INPUT_KINDS:
            raise DatasetError(
                f"{meta_file}: kind must be one of {INPUT_KINDS}, got {meta.get('kind')!r}"
            )
        sizes = [int(e["n_frames"]) for e in shards]
        self.offsets: np.ndarray = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_frames = int(self.offsets[-1])
        if meta.get("n_frames", self.n_frames) != self.n_frames:
            raise DatasetError(
                f"{meta_file}: n_frames is {meta.get('n_frames')!r} but its shards hold "
                f"{self.n_frames} frames"
            )
        self._cached: tuple[int | None, dict[str, np.ndarray]] = (None, {})

    @property
    def n_shards(self) -> int:
        """Number of shards."""
        return len(self.meta["shards"])

    def shard(self, j: int) -> dict[str, np.ndarray]:
        """Arrays of shard ``j`` (validated: shapes, dtypes, no NaN/Inf)."""
        if self._cached[0] == j:
            return self._cached[1]
        entry = self.meta["shards"][j]
        file = self.path / entry["file"]
        n = int(entry["n_frames"])
        if not file.is_file():
            raise DatasetError(f"dataset shard {file} is missing")
        digest = entry.get("sha256")
        if digest is not None and _file_sha256(file) != digest:
            raise DatasetError(
                f"dataset shard {file} is damaged: its SHA-256 differs from meta.json"
            )
        try:
            with np.load(file, allow_pickle=False) as f:
                missing = [k for k in _FIELDS if k not in f.files]
                if missing:
                    raise DatasetError(f"dataset shard {file} lacks the fields {missing}")
                arrays = {k: f[k] for k in _FIELDS}
        except DatasetError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"cannot read dataset shard {file}: {exc}") from exc
        expected = {
            "inputs": (n, *self.input_shape),
            "labels": (n, *self.grid_shape),
            "image": (n, *self.grid_shape),
            "positions_m": (n, self.max_targets, 3),
            "counts": (n,),
            "sensing_power_dbm": (n,),
        }
        dtypes = _DTYPES | {"inputs": np.dtype(INPUT_DTYPES[self.meta["kind"]])}
        for k, shape in expected.items():
            if arrays[k].dtype != dtypes[k]:
                raise DatasetError(
                    f"shard {file}: {k} has dtype {arrays[k].dtype}, expected {dtypes[k]}"
                )
            if arrays[k].shape != shape:
                raise DatasetError(
                    f"shard {file}: {k} has shape {arrays[k].shape}, expected {shape}"
                )
            # positions pad frames with fewer UAVs with NaN rows: check the rest
            values = arrays[k]
            if k == "positions_m":
                counts = arrays["counts"]
                if ((counts < 1) | (counts > self.max_targets)).any():
                    raise DatasetError(f"shard {file}: counts outside [1, {self.max_targets}]")
                slots = np.arange(self.max_targets)[None, :] < counts[:, None]
                values = values[slots]
                if not np.isnan(arrays[k][~slots]).all():
                    raise DatasetError(
                        f"shard {file}: positions_m beyond the frame's count are not NaN"
                    )
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                raise DatasetError(f"shard {file}: {k} contains NaN or Inf")
        self._cached = (j, arrays)
        return arrays

    def locate(self, frame: int) -> tuple[int, int]:
        """``(shard, index within shard)`` of a global frame index."""
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame {frame} out of range for {self.n_frames} frames")
        j = int(np.searchsorted(self.offsets, frame, side="right") - 1)
        return j, frame - int(self.offsets[j])

    def read(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Arrays of frames ``start:stop`` (concatenated over shards; for evaluation)."""
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        if not 0 <= start <= stop:
            raise ValueError(f"bad frame range {start}:{stop} of {self.n_frames}")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in _FIELDS}
        for j in range(self.n_shards):
            lo, hi = int(self.offsets[j]), int(self.offsets[j + 1])
            if hi <= start or lo >= stop:
                continue
            arrays = self.shard(j)
            sl = slice(max(start, lo) - lo, min(stop, hi) - lo)
            for k in _FIELDS:
                parts[k].append(arrays[k][sl])
        return {
            k: np.concatenate(v) if v else np.empty((0, *self._shape(k)), np.float32)
            for k, v in parts.items()
        }

    def read_frames(self, frames: Any, fields: tuple[str, ...] = _FIELDS) -> dict[str, np.ndarray]:
        """Arrays of the given global frame indices, in that order (for validation sets).

        Examples
        --------
        >>> import tempfile
        >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
        >>> reader = DatasetReader(generate_dataset(tempfile.mkdtemp() + "/ds", 5, scenario=s,
        ...                                         n_targets=1, rng=0, shard_size=2))
        >>> reader.read_frames([4, 0], ("counts",))["counts"].tolist()
        [1, 1]
        """
        idx = np.asarray(frames, dtype=np.int64).reshape(-1)
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise ValueError(f"fields must be drawn from {_FIELDS}, got {sorted(unknown)}")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in fields}
        order = np.argsort(idx, kind="stable")
        located = [self.locate(int(f)) for f in idx[order]]
        for j in sorted({s for s, _ in located}):
            shard = self.shard(j)
            local = [k for s, k in located if s == j]
            for name in fields:
                parts[name].append(shard[name][local])
        out = {}
        for name in fields:
            stacked = (
                np.concatenate(parts[name])
                if parts[name]
                else np.empty((0, *self._shape(name)), np.float32)
            )
            result = np.empty_like(stacked)
            result[order] = stacked
            out[name] = result
        return out

    def _shape(self, k: str) -> tuple[int, ...]:
        return {
            "inputs": self.input_shape,
            "labels": self.grid_shape,
            "image": self.grid_shape,
            "positions_m": (self.max_targets, 3),
            "counts": (),
            "sensing_power_dbm": (),
        }[k]

    def describe(self) -> dict[str, Any]:
        """Summary: frames, shards, kind, grid, seed (None unless an int ``rng`` made it)."""
        return {
            k: self.meta[k]
            for k in ("n_frames", "kind", "grid_shape", "n_targets", "power_range_dbm", "seed")
        } | {"n_shards": self.n_shards, "path": str(self.path)}
