"""The compiled kernels release the GIL: calls from several Python threads at once must give
the results of serial calls, bit for bit, and results must not depend on ``workers``."""

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skysense.imaging import Scenario, SensingOperator, sensing_matrix, simulate, subspace_pursuit

SCENARIO = Scenario(roi_size_m=(21.0, 27.0, 0.0), n_antennas_side=3, n_subcarriers=2)
N_THREADS = 4


def _run_concurrently(fn, args):
    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(fn, args))


def _same(a, b):
    # Bit-identical, NaN-free results.
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_sensing_matrix_threads_and_workers(dtype):
    serial = sensing_matrix(SCENARIO, dtype, workers=1)
    for out in _run_concurrently(lambda w: sensing_matrix(SCENARIO, dtype, workers=w), [1, 2] * 4):
        assert _same(out, serial)


def _matrix_with_two_threads():
    return sensing_matrix(SCENARIO, workers=2)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_forked_child_runs_threaded_kernels():
    # the parked worker threads of the parent do not exist in a fork: a child that used the
    # parent's pool would wait forever; it must run its shares on threads of its own
    serial = _matrix_with_two_threads()  # starts the pool in this process
    with multiprocessing.get_context("fork").Pool(1) as pool:
        out = pool.apply_async(_matrix_with_two_threads).get(timeout=120)
    assert _same(out, serial)


def test_simulate_threads_and_workers():
    def run(workers):
        return simulate(SCENARIO, 5, 3, off_grid=True, rng=7, workers=workers).measurements

    serial = run(1)
    for out in _run_concurrently(run, [1, 2] * 4):
        assert _same(out, serial)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_operator_threads(dtype):
    op = SensingOperator(SCENARIO, dtype)
    rng = np.random.default_rng(3)
    ys = [
        (rng.standard_normal((k, op.shape[0])) + 1j * rng.standard_normal((k, op.shape[0])))
        for k in (1, 3, 20, 33)
    ]
    serial = [op.rmatvec(y) for y in ys]
    for out, ref in zip(_run_concurrently(op.rmatvec, ys * 2), serial * 2, strict=True):
        assert _same(out, ref)


def test_subspace_pursuit_threads_and_workers():
    a = sensing_matrix(SCENARIO)
    gram = a.conj().T @ a
    batch = simulate(SCENARIO, 16, 3, rng=11)

    def run(workers):
        return subspace_pursuit(a, batch.measurements, 3, gram=gram, workers=workers)

    serial = run(1)
    for out in _run_concurrently(run, [1, 2, 3, 4] * 2):
        assert _same(out.image, serial.image)
        assert np.array_equal(out.support, serial.support)
        assert np.array_equal(out.n_iter, serial.n_iter)


def _loop_rate_beside(call):
    """Loops per second this thread runs while ``call`` runs in another thread."""
    import threading
    import time

    worker = threading.Thread(target=call)
    ticks, t0 = 0, time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks += 1
    return ticks / (time.perf_counter() - t0)


def test_kernels_release_the_gil():
    # While a kernel runs in another thread, this thread must keep executing Python at about
    # the rate it has beside a busy call known to release the GIL (single-threaded LAPACK, so
    # both compete for the CPU alike on a loaded machine). A C call holding the GIL (e.g. a
    # backtracking regex) drops the rate ~40x, to the switch interval's crumbs.
    from threadpoolctl import threadpool_limits

    m = np.random.default_rng(0).standard_normal((300, 300))
    big = Scenario(n_antennas_side=4, voxel_size_m=2.0)  # ~0.15 s of sensing-matrix work
    a = sensing_matrix(SCENARIO)
    gram = a.conj().T @ a
    y = simulate(SCENARIO, 400, 3, rng=1).measurements
    with threadpool_limits(1):
        free = _loop_rate_beside(lambda: [np.linalg.svd(m) for _ in range(10)])
        for name, call in {
            "sensing_matrix": lambda: sensing_matrix(big, np.complex64, workers=1),
            "subspace_pursuit": lambda: subspace_pursuit(a, y, 3, gram=gram, workers=1),
        }.items():
            rate = _loop_rate_beside(call)
            assert rate > 0.25 * free, (
                f"{name}: {rate:.0f} loops/s beside it, {free:.0f} beside SVDs"
            )
