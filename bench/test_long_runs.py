"""(d) Long runs keep memory flat: 10,000 imaging frames streamed through SP.

The resident set size is sampled every 1,000 frames; after the first block (allocator pools,
numba and BLAS buffers) it must not grow by more than a few MiB over the rest of the run.
The table shows the wall time of the whole stream (micro-batches of 64) and the RSS.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skysense.edge import SPImager, StreamProcessor
from skysense.imaging import Scenario, simulate

N_FRAMES = 10_000
BLOCK = 1_000

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _rss_mib():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


@pytest.fixture(scope="module")
def setup():
    scenario = Scenario(n_antennas_side=4)
    imager = SPImager(scenario, 6)
    block = simulate(scenario, BLOCK, 6, off_grid=True, seed=0, dtype=np.complex64).y
    return imager, block


def test_imaging_stream_memory_is_flat(benchmark, ratios, setup):
    imager, block = setup
    rss = []

    def frames():
        for k in range(N_FRAMES // BLOCK):
            rss.append(_rss_mib())
            scale = np.complex64(1.0 + 1e-3 * k)
            for row in block:  # one fresh frame at a time, as from a radio front end
                yield row * scale

    def run():
        proc = StreamProcessor(imager, imager.n_measurements, batch_size=64)
        t0 = time.perf_counter()
        n = sum(1 for _ in proc.process(frames()))
        return n, time.perf_counter() - t0

    ((n, _),) = [benchmark.pedantic(run, rounds=1, iterations=1)]
    rss.append(_rss_mib())
    growth = max(rss[1:]) - rss[1]
    assert n == N_FRAMES
    assert growth < 8.0, f"RSS grew {growth:.1f} MiB over {N_FRAMES} frames: {rss}"
    ratios.record(
        benchmark,
        "stream 10k fr SP c64",
        "StreamProcessor(64)",
        note=f"RSS {rss[1]:.0f} MiB -> {rss[-1]:.0f} MiB (growth {growth:.1f} MiB)",
    )
