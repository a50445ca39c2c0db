from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import skysense
from skysense.experiments import (
    Column,
    ConsoleTable,
    Experiment,
    SetupCache,
    root_seed,
    run_trials,
    task_seed,
)
from skysense.experiments.runner import chunk_bounds


@dataclass(frozen=True)
class Toy(Experiment):
    """Stand-in experiment: a normal draw and a counter of setups per cell."""

    name: ClassVar[str] = "toy"
    default_trials: ClassVar[int] = 3
    cells_: tuple = ("a", ("b", 2.0))
    chunk_size: int = 3
    bad_length: bool = False

    def cells(self):
        return self.cells_

    def setup(self, cell):
        return {"offset": np.array([10.0 if cell == "a" else 20.0])}

    def run_chunk(self, cell, state, n_trials, rng):
        x = state["offset"][0] + rng.standard_normal(n_trials + self.bad_length)
        threads = np.full(n_trials + self.bad_length, skysense.get_workers())
        return {"x": x, "index": np.arange(n_trials + self.bad_length), "threads": threads}

    def summarize(self, cell, trials):
        return {"mean": float(trials["x"].mean()), "n": int(trials["x"].size)}

    def report(self, summaries):
        return {str(c): s for c, s in summaries.items()}

    def plot(self, results, path):
        return None  # the toy draws nothing


def test_chunk_bounds():
    assert chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunk_bounds(2, 10) == [(0, 2)]
    with pytest.raises(ValueError, match="n_trials"):
        chunk_bounds(0, 3)


def test_task_seed_extends_the_spawned_chunk_seed():
    seq = task_seed(7, 4, 2, "a")
    parent = np.random.SeedSequence(7).spawn(4)[2]
    assert seq.entropy == parent.entropy and seq.spawn_key[:-1] == parent.spawn_key
    draw = lambda s: np.random.default_rng(s).integers(1 << 62, size=3)
    np.testing.assert_array_equal(draw(seq), draw(task_seed(7, 4, 2, "a")))
    assert not np.array_equal(draw(seq), draw(task_seed(7, 4, 2, "b")))
    assert not np.array_equal(draw(seq), draw(task_seed(7, 4, 1, "a")))
    assert not np.array_equal(draw(seq), draw(task_seed(8, 4, 2, "a")))


def test_run_trials_in_process_is_seeded_and_chunked():
    exp = Toy()
    r1 = run_trials(exp, 7, rng=3)
    r2 = run_trials(exp, 7, rng=3)
    assert set(r1.trials) == {"a", ("b", 2.0)}
    for cell in r1.trials:
        assert r1.trials[cell]["x"].shape == (7,)
        np.testing.assert_array_equal(r1.trials[cell]["x"], r2.trials[cell]["x"])
        # chunks concatenated in order: 3 + 3 + 1
        np.testing.assert_array_equal(r1.trials[cell]["index"], [0, 1, 2, 0, 1, 2, 0])
    assert r1.summaries["a"]["n"] == 7
    assert run_trials(exp, 7, rng=4).trials["a"]["x"][0] != r1.trials["a"]["x"][0]
    # a subset of the cells reproduces the same numbers
    sub = run_trials(Toy(cells_=(("b", 2.0),)), 7, rng=3)
    np.testing.assert_array_equal(sub.trials[("b", 2.0)]["x"], r1.trials[("b", 2.0)]["x"])
    # the first chunk's draws come from task_seed(seed, n_chunks, 0, cell)
    first = 10.0 + np.random.default_rng(task_seed(3, 3, 0, "a")).standard_normal(3)
    np.testing.assert_array_equal(r1.trials["a"]["x"][:3], first)


def test_setup_is_built_once_per_cell_and_progress_is_reported():
    cache = SetupCache()
    calls = []
    run_trials(Toy(), 7, rng=0, cache=cache, progress=lambda d, t: calls.append((d, t)))
    assert cache.n_builds == 2  # 2 cells x 3 chunks, one setup per cell
    assert calls == [(i, 6) for i in range(1, 7)]


def test_setup_cache_bytes_budget():
    exp = Toy()
    roomy = SetupCache(max_bytes=100)  # 8-byte states: both stay
    for cell in ("a", ("b", 2.0), "a"):
        roomy.get(exp, cell)
    assert roomy.n_builds == 2
    cache = SetupCache(max_bytes=12)  # one state fits, and none is kept while building
    cache.get(exp, "a")
    cache.get(exp, ("b", 2.0))
    cache.get(exp, ("b", 2.0))
    assert cache.n_builds == 2
    cache.get(exp, "a")  # evicted before ("b", 2.0) was built
    assert cache.n_builds == 3


def test_rng_forms_give_the_seeded_run():
    ref = run_trials(Toy(), 4, rng=5)
    for rng in (np.int64(5), np.random.SeedSequence(5)):
        np.testing.assert_array_equal(
            run_trials(Toy(), 4, rng=rng).trials["a"]["x"], ref.trials["a"]["x"]
        )
    assert ref.to_json()["seed"] == 5 and "spawn_key" not in ref.to_json()
    # a Generator's stream advances and seeds the run reproducibly
    gen1, gen2 = np.random.default_rng(1), np.random.default_rng(1)
    a, b = run_trials(Toy(), 4, rng=gen1), run_trials(Toy(), 4, rng=gen2)
    np.testing.assert_array_equal(a.trials["a"]["x"], b.trials["a"]["x"])
    assert (
        gen1.integers(1 << 30)
        == gen2.integers(1 << 30)
        != np.random.default_rng(1).integers(1 << 30)
    )
    assert not np.array_equal(a.trials["a"]["x"], ref.trials["a"]["x"])
    # None: fresh entropy, recorded so that the run can be repeated
    fresh = run_trials(Toy(), 4)
    again = run_trials(Toy(), 4, rng=fresh.to_json()["seed"])
    np.testing.assert_array_equal(fresh.trials["a"]["x"], again.trials["a"]["x"])
    # a SeedSequence that already spawned children is not advanced by the run
    root = np.random.SeedSequence(5)
    root.spawn(3)
    np.testing.assert_array_equal(
        run_trials(Toy(), 4, rng=root).trials["a"]["x"], ref.trials["a"]["x"]
    )
    assert root_seed(root) is root


def test_workers_set_the_threads_of_each_call_and_not_the_results():
    one = run_trials(Toy(), 5, rng=2)
    three = run_trials(Toy(), 5, rng=2, workers=3)
    assert one.workers == 1 and three.workers == 3
    np.testing.assert_array_equal(one.trials["a"]["threads"], 1)
    np.testing.assert_array_equal(three.trials["a"]["threads"], 3)
    np.testing.assert_array_equal(one.trials["a"]["x"], three.trials["a"]["x"])
    with skysense.set_workers(2):
        assert run_trials(Toy(), 2, rng=2).workers == 2
    assert three.to_json()["workers"] == 3 and three.to_json()["n_processes"] == 1


def test_console_table_hook_labels_ours_and_the_paper():
    @dataclass(frozen=True)
    class Tabled(Toy):
        def console_table(self, results):
            return ConsoleTable(
                [Column("cell", "the cell"), Column("mean", "sample mean", paper=True, fmt=".2f")],
                [(c, (r["mean"], 10.0 if c == "a" else None)) for c, r in results.items()],
                title="toy against a made-up paper",
            )

    res = run_trials(Tabled(), 3, rng=0)
    text = res.experiment.table(res.results)
    lines = text.splitlines()
    assert lines[0] == "toy against a made-up paper"
    assert lines[1].split() == ["cell", "mean"] and lines[2].split() == ["ours", "paper"]
    assert lines[4].split()[-1] == "10.00" and lines[5].split()[-1] == "-"
    assert "mean  sample mean (ours | the paper's; - where it gives none)" in text
    # without the hook: the results as JSON
    assert Toy().table({"a": 1}) == '{\n "a": 1\n}'


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"experiment": "toy", "n_trials": 2}, TypeError, "Experiment"),
        ({"experiment": Toy(), "n_trials": 0}, ValueError, "n_trials"),
        ({"experiment": Toy(), "n_trials": 2, "rng": -1}, ValueError, "rng must be a non-neg"),
        ({"experiment": Toy(), "n_trials": 2, "rng": 1.5}, TypeError, "rng must be None"),
        ({"experiment": Toy(), "n_trials": 2, "workers": 0}, ValueError, "workers"),
        ({"experiment": Toy(), "n_trials": 2.5}, TypeError, "n_trials"),
        ({"experiment": Toy(cells_=()), "n_trials": 2}, ValueError, "no cells"),
        ({"experiment": Toy(bad_length=True), "n_trials": 2}, ValueError, "first axis"),
    ],
)
def test_run_trials_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        run_trials(**kwargs)


@pytest.mark.parametrize(
    ("columns", "rows", "match"),
    [
        ([], [], "at least one column"),
        ([Column("a", "x"), Column("b", "y")], [(1,)], "row 0 has 1 values, expected one per"),
        ([Column("a", "x", paper=True)], [(1.0,)], "must be \\(ours, paper\\) pairs"),
    ],
)
def test_console_table_bad_input(columns, rows, match):
    with pytest.raises(ValueError, match=match):
        ConsoleTable(columns, rows)


def test_console_table_widens_for_long_headings_and_marks_missing_values():
    table = ConsoleTable(
        [
            Column("method", "estimator"),
            Column("RMSE ToA [ns]", "root-mean-square error", paper=True),
        ],
        [("paraming", (0.5, float("nan"))), ("music", (12, None))],
        notes=["trials: 20 per SNR"],
    )
    lines = table.render().splitlines()
    assert lines[0] == "method    RMSE ToA [ns]"
    assert lines[3].split() == ["paraming", "0.5", "-"] and lines[4].split() == ["music", "12", "-"]
    assert len(lines[3]) == len(lines[4]) and lines[-1] == "trials: 20 per SNR"


def test_workers_reach_the_kernels_of_the_experiments(monkeypatch):
    """`--threads` / ``workers`` governs every kernel call of an experiment (none pins 1)."""
    from skysense import bistatic
    from skysense._workers import resolve_workers
    from skysense.experiments import BistaticAccuracy, ImagingTable2
    from skysense.experiments.imaging import _setup

    seen = []

    def spy(fn):
        def wrapped(*args, **kwargs):
            seen.append((fn.__name__, resolve_workers(kwargs.get("workers"))))
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(_setup, "subspace_pursuit", spy(_setup.subspace_pursuit))
    monkeypatch.setattr(bistatic, "paraming", spy(bistatic.paraming))
    imaging = ImagingTable2(modes=("A",), voxel_sizes_m=(5.0,), chunk_size=1)
    run_trials(imaging, 1, rng=0, workers=2)
    accuracy = BistaticAccuracy(snrs_db=(20.0,), methods=("paraming",), chunk_size=1)
    run_trials(accuracy, 1, rng=0, workers=2)
    assert {name for name, _ in seen} == {"subspace_pursuit", "paraming"}
    assert all(threads == 2 for _, threads in seen), seen


class Interrupt:
    """A progress callback that raises KeyboardInterrupt after ``after`` finished chunks."""

    def __init__(self, after):
        self.after = after

    def __call__(self, done, total):
        if done >= self.after:
            raise KeyboardInterrupt


def test_checkpoint_resumes_with_identical_results(tmp_path):
    exp = Toy(chunk_size=2)  # 2 cells x 4 chunks
    full = run_trials(exp, 7, rng=3)
    folder = tmp_path / "t.json.partial"
    with pytest.raises(KeyboardInterrupt):
        run_trials(exp, 7, rng=3, checkpoint=folder, progress=Interrupt(3))
    chunk_files = sorted(folder.glob("*/*.npz"))
    assert len(chunk_files) == 3
    for path in chunk_files:  # readable without pickle, one array per output
        with np.load(path, allow_pickle=False) as data:
            assert set(data.files) == {"x", "index", "threads"}
    cache = SetupCache()
    resumed = run_trials(exp, 7, rng=3, checkpoint=folder, cache=cache)
    assert resumed.n_resumed_chunks == 3 and cache.n_builds == 2
    assert resumed.results == full.results
    for cell, trials in full.trials.items():
        for name, values in trials.items():
            np.testing.assert_array_equal(resumed.trials[cell][name], values)
    assert {k: v for k, v in resumed.to_json().items() if k != "wall_time_s"} == {
        k: v for k, v in full.to_json().items() if k != "wall_time_s"
    }
    # a second resume loads every chunk and runs none
    again = run_trials(exp, 7, rng=3, checkpoint=folder, cache=SetupCache(max_bytes=0))
    assert again.n_resumed_chunks == 8 and again.results == full.results


def test_checkpoint_never_mixes_seeds_or_configurations(tmp_path):
    folder = tmp_path / "p"
    run_trials(Toy(chunk_size=2), 4, rng=3, checkpoint=folder)
    other_seed = run_trials(Toy(chunk_size=2), 4, rng=4, checkpoint=folder)
    assert other_seed.n_resumed_chunks == 0
    np.testing.assert_array_equal(
        other_seed.trials["a"]["x"], run_trials(Toy(chunk_size=2), 4, rng=4).trials["a"]["x"]
    )
    other_config = run_trials(Toy(chunk_size=2, cells_=("a",)), 4, rng=3, checkpoint=folder)
    assert other_config.n_resumed_chunks == 0  # the config is part of the key
    # more trials reuse the whole chunks of the shorter run (a chunk's seed is its index)
    longer = run_trials(Toy(chunk_size=2), 6, rng=3, checkpoint=folder)
    assert longer.n_resumed_chunks == 4
    np.testing.assert_array_equal(
        longer.trials["a"]["x"], run_trials(Toy(chunk_size=2), 6, rng=3).trials["a"]["x"]
    )


def test_checkpoint_damaged_chunk_runs_again(tmp_path):
    folder = tmp_path / "p"
    full = run_trials(Toy(), 3, rng=1, checkpoint=folder)
    (victim,) = [p for p in folder.glob("*/*.npz") if p.stat().st_size][:1]
    victim.write_bytes(victim.read_bytes()[:40])  # truncated
    res = run_trials(Toy(), 3, rng=1, checkpoint=folder)
    assert res.n_resumed_chunks == 1  # the other cell's chunk
    assert res.results == full.results


def test_checkpoint_of_a_real_experiment(tmp_path):
    from skysense.experiments import ImagingTable2

    exp = ImagingTable2(modes=("A", "C"), voxel_sizes_m=(5.0,), chunk_size=1)
    full = run_trials(exp, 2, rng=7)
    folder = tmp_path / "p"
    with pytest.raises(KeyboardInterrupt):
        run_trials(exp, 2, rng=7, checkpoint=folder, progress=Interrupt(2))
    resumed = run_trials(exp, 2, rng=7, checkpoint=folder)
    assert resumed.n_resumed_chunks == 2 and resumed.results == full.results
    for cell, trials in full.trials.items():
        for name, values in trials.items():
            np.testing.assert_array_equal(resumed.trials[cell][name], values)


@pytest.mark.parametrize("name", ["skysense.experiments.runner", "skysense._bench"])
def test_examples_run(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.attempted > 0 and result.failed == 0
