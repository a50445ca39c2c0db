"""Repeated kernel calls keep the process's memory flat (no leak in the C++ kernels or bindings)."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from skysense.imaging import Scenario, sensing_matrix, simulate, subspace_pursuit

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    # ASan's quarantine keeps freed blocks resident, so RSS grows by design under it.
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="under ASan"),
]

SCENARIO = Scenario(roi_size_m=(30.0, 30.0, 0.0), n_antennas_side=3)


def _rss_bytes():
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def _growth(fn, n_calls):
    for _ in range(10):  # warm-up: allocator pools, numba/BLAS buffers
        fn()
    before = _rss_bytes()
    for _ in range(n_calls):
        fn()
    return _rss_bytes() - before


def test_kernels_do_not_leak():
    a = sensing_matrix(SCENARIO)
    gram = a.conj().T @ a
    y = simulate(SCENARIO, 8, 3, rng=0).measurements
    calls = {
        # each call allocates ~a.nbytes; a leak of it per call would add n_calls * that
        "sensing_matrix": lambda: sensing_matrix(SCENARIO),
        "simulate": lambda: simulate(SCENARIO, 8, 3, off_grid=True, rng=1),
        "subspace_pursuit": lambda: subspace_pursuit(a, y, 3, gram=gram),
    }
    for name, fn in calls.items():
        growth = _growth(fn, 300)
        assert growth < 4 * 2**20, f"{name}: RSS grew by {growth / 2**20:.1f} MiB over 300 calls"


def test_failed_calls_do_not_leak():
    a = sensing_matrix(SCENARIO)
    bad = np.full(a.shape[0], np.nan)

    def fail():
        with pytest.raises(ValueError, match="NaN"):
            subspace_pursuit(a, bad, 3)

    assert _growth(fail, 300) < 4 * 2**20
