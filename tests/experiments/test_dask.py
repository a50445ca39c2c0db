import numpy as np
import pytest

from skysense.experiments import ImagingTable2, dask_client, run_trials

pytest.importorskip("distributed")


def test_results_identical_for_1_and_2_workers_and_in_process():
    exp = ImagingTable2(modes=("A", "C"), voxel_sizes_m=(5.0,), chunk_size=1)
    ref = run_trials(exp, 3, seed=2)
    for n_workers in (2, 1):
        with dask_client(n_workers=n_workers) as client:
            res = run_trials(exp, 3, seed=2, client=client)
        assert res.n_workers == n_workers
        assert res.results == ref.results
        for cell, trials in ref.trials.items():
            for name, values in trials.items():
                np.testing.assert_array_equal(res.trials[cell][name], values)


def test_dask_client_arguments():
    with pytest.raises(ValueError, match="n_workers"), dask_client("tcp://127.0.0.1:1", 2):
        pass
    with pytest.raises(ValueError, match="n_workers"), dask_client(n_workers=0):
        pass


def test_local_cluster_leaves_parent_environment_as_it_was(monkeypatch):
    from skysense.experiments.cluster import PINNED_THREAD_ENV

    for name in PINNED_THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    with dask_client(n_workers=1):
        pass
    import os

    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert all(name not in os.environ for name in PINNED_THREAD_ENV if name != "OMP_NUM_THREADS")
