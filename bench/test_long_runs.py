"""(d) Long runs keep memory flat: 10,000 imaging frames streamed through SP, and 1,000
mapping epochs (Scheme II) through the particle SPA kernel.

The resident set size is sampled every 1,000 frames / 100 epochs; after the first block
(allocator pools, numba and BLAS buffers, the kernel's per-thread workspace reaching its
working size) it must not grow by more than a few MiB over the rest of the run.
The table shows the wall time of the whole stream (micro-batches of 64) or run and the RSS.
"""

import contextlib
import ctypes
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skysense import mapping
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
    block = simulate(scenario, BLOCK, 6, off_grid=True, rng=0, dtype=np.complex64).measurements
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


MAP_EPOCHS = 1_000
MAP_BLOCK = 100
MAP_PARTICLES = 5_000
#: allowed growth of the live RSS high-water mark from epochs 100-500 to epochs 600-1,000 [MiB]:
#: the PMF set (up to ~11 PMFs of 120 kB) and the kernel's per-thread workspace follow the
#: measurement load (M = 20-34 per epoch); a leak of one PMF's particles per epoch would add
#: ~60 MiB.
MAP_RSS_BOUND_MIB = 8.0


def _live_rss_mib():
    """RSS after handing glibc's free heap pages back (malloc_trim), i.e. live memory.

    Without it the RSS follows the per-epoch load by +-15 MiB (freed Python/NumPy blocks the
    allocator keeps), which would hide a slow leak behind noise.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: no trimming
        ctypes.CDLL(None).malloc_trim(0)
    return _rss_mib()


def test_mapping_1000_epochs_memory_is_flat(benchmark, ratios):
    params = mapping.MappingParams(n_particles=MAP_PARTICLES)
    # the default street trajectory stretched to 1,000 epochs, BS1
    (data,) = mapping.simulate(mapping.default_scene(MAP_EPOCHS), params, rng=0, bs_indices=[0])
    mapper = mapping.Mapper("fusion3", params)
    rss, n_pmfs = [], []

    def run():
        t0 = time.perf_counter()
        rss.append(_live_rss_mib())
        for e, (state, _) in enumerate(mapper.epochs(data, rng=1), start=1):
            if e % MAP_BLOCK == 0 and e < MAP_EPOCHS:
                rss.append(_live_rss_mib())
            n_pmfs.append(state.n_pmfs)
        return time.perf_counter() - t0

    benchmark.pedantic(run, rounds=1, iterations=1)
    rss.append(_live_rss_mib())
    # high-water mark of epochs 600-1,000 against that of epochs 100-500: the live set follows
    # the load (+-4 MiB), a leak raises the later mark
    growth = max(rss[6:]) - max(rss[1:6])
    assert len(n_pmfs) == MAP_EPOCHS and max(n_pmfs) > 0
    assert growth < MAP_RSS_BOUND_MIB, f"RSS grew {growth:.1f} MiB over {MAP_EPOCHS} epochs: {rss}"
    ratios.record(
        benchmark,
        "mapping 1k epochs P=5k",
        "Mapper(fusion3)",
        note=f"live RSS {rss[1]:.0f} MiB -> {rss[-1]:.0f} MiB (growth {growth:.1f} MiB, "
        f"bound {MAP_RSS_BOUND_MIB:g}), PMFs <= {max(n_pmfs)}",
    )
