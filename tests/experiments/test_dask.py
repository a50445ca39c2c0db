import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

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


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process, timeout_s=10.0):
    """SIGTERM to the process group (a worker's nanny and its child), SIGKILL after a while."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def test_reproduce_on_a_real_cluster_matches_the_in_process_run(tmp_path, capsys):
    """`dask scheduler` and two `dask worker` processes on loopback, `skysense reproduce
    --scheduler tcp://127.0.0.1:PORT`: the same JSON as `--processes 0`; the processes are
    always stopped (and stop themselves after 60 s without a peer)."""
    import json

    import distributed

    from skysense.cli import main

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    env = {**os.environ, **PINNED_THREAD_ENV}
    log = (tmp_path / "cluster.log").open("w")
    common = {"stdout": log, "stderr": subprocess.STDOUT, "env": env, "start_new_session": True}
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
                + ["--dashboard-address", "127.0.0.1:0", "--idle-timeout", "60s"],
                **common,
            )
        )
        for i in range(2):
            local = tmp_path / f"worker-{i}"
            local.mkdir()
            processes.append(
                subprocess.Popen(
                    [*dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1"]
                    + ["--local-directory", str(local), "--no-dashboard"]
                    + ["--death-timeout", "60s", "--name", f"w{i}"],
                    **common,
                )
            )
        start = time.monotonic()
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        startup_s = time.monotonic() - start

        small = ["reproduce", "imaging-table2", "--trials", "3", "--modes", "a,c", "--d0", "5"]
        small += ["--seed", "9", "--quiet"]
        on_cluster, here = tmp_path / "cluster.json", tmp_path / "here.json"
        assert main([*small, "--scheduler", address, "--json", str(on_cluster)]) == 0
        assert "2 process(es)" in capsys.readouterr().out
        assert main([*small, "--processes", "0", "--json", str(here)]) == 0
        a, b = json.loads(on_cluster.read_text()), json.loads(here.read_text())
        assert (a["n_processes"], b["n_processes"]) == (2, 1)
        for doc in (a, b):
            for key in ("wall_time_s", "n_processes"):
                doc.pop(key)
        assert a == b
        assert startup_s < 60
    finally:
        for process in reversed(processes):  # workers first, then the scheduler
            _stop(process)
        log.close()
    assert all(p.poll() is not None for p in processes)
