import os

import numpy as np
import pytest

from skysense.experiments import ImagingTable2, dask_client, run_trials
from skysense.experiments.cluster import PINNED_THREAD_ENV

pytest.importorskip("distributed")


def test_results_identical_for_any_processes_and_threads():
    exp = ImagingTable2(modes=("A", "C"), voxel_sizes_m=(5.0,), chunk_size=1)
    ref = run_trials(exp, 3, rng=2)
    runs = [run_trials(exp, 3, rng=2, workers=2)]
    for n_processes in (2, 1):
        with dask_client(n_processes=n_processes) as client:
            res = run_trials(exp, 3, rng=2, client=client, workers=n_processes)
        assert res.n_processes == n_processes and res.workers == n_processes
        runs.append(res)
    for res in runs:
        assert res.results == ref.results
        for cell, trials in ref.trials.items():
            for name, values in trials.items():
                np.testing.assert_array_equal(res.trials[cell][name], values)


def test_dask_client_arguments():
    with (
        pytest.raises(ValueError, match="n_processes applies to a local cluster"),
        dask_client("tcp://127.0.0.1:1", 2),
    ):
        pass
    with (
        pytest.raises(ValueError, match="n_processes must be >= 1, got 0"),
        dask_client(n_processes=0),
    ):
        pass


def test_local_cluster_leaves_parent_environment_as_it_was(monkeypatch):
    for name in PINNED_THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    with dask_client(n_processes=1):
        pass
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert all(name not in os.environ for name in PINNED_THREAD_ENV if name != "OMP_NUM_THREADS")
