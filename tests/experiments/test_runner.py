from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from skysense.experiments import Experiment, SetupCache, run_trials, task_seed
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
        return {"x": x, "index": np.arange(n_trials + self.bad_length)}

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
    r1 = run_trials(exp, 7, seed=3)
    r2 = run_trials(exp, 7, seed=3)
    assert set(r1.trials) == {"a", ("b", 2.0)}
    for cell in r1.trials:
        assert r1.trials[cell]["x"].shape == (7,)
        np.testing.assert_array_equal(r1.trials[cell]["x"], r2.trials[cell]["x"])
        # chunks concatenated in order: 3 + 3 + 1
        np.testing.assert_array_equal(r1.trials[cell]["index"], [0, 1, 2, 0, 1, 2, 0])
    assert r1.summaries["a"]["n"] == 7
    assert run_trials(exp, 7, seed=4).trials["a"]["x"][0] != r1.trials["a"]["x"][0]
    # a subset of the cells reproduces the same numbers
    sub = run_trials(Toy(cells_=(("b", 2.0),)), 7, seed=3)
    np.testing.assert_array_equal(sub.trials[("b", 2.0)]["x"], r1.trials[("b", 2.0)]["x"])
    # the first chunk's draws come from task_seed(seed, n_chunks, 0, cell)
    first = 10.0 + np.random.default_rng(task_seed(3, 3, 0, "a")).standard_normal(3)
    np.testing.assert_array_equal(r1.trials["a"]["x"][:3], first)


def test_setup_is_built_once_per_cell_and_progress_is_reported():
    cache = SetupCache()
    calls = []
    run_trials(Toy(), 7, seed=0, cache=cache, progress=lambda d, t: calls.append((d, t)))
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


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"experiment": "toy", "n_trials": 2}, TypeError, "Experiment"),
        ({"experiment": Toy(), "n_trials": 0}, ValueError, "n_trials"),
        ({"experiment": Toy(), "n_trials": 2, "seed": -1}, ValueError, "seed"),
        ({"experiment": Toy(), "n_trials": 2.5}, TypeError, "n_trials"),
        ({"experiment": Toy(cells_=()), "n_trials": 2}, ValueError, "no cells"),
        ({"experiment": Toy(bad_length=True), "n_trials": 2}, ValueError, "first axis"),
    ],
)
def test_run_trials_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        run_trials(**kwargs)
