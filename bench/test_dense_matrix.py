"""(a) Dense A for N0 = 5, mode A, 40 x 40 voxels (d0 = 3 m), one subcarrier: 6250 x 1600 complex128.

``sensing_matrix`` (C++) is timed against the cost of writing the same 160 MB (a fresh
``np.empty`` plus ``fill(0)`` each round, so page faults count for both) and against the
vectorised NumPy assembly of :func:`_plain_numpy.sensing_matrix`.
"""

import _plain_numpy as plain
import numpy as np
import pytest

from skysense.imaging import Scenario, sensing_matrix

GROUP = "dense_A N0=5 c128"


@pytest.fixture(scope="module")
def scenario():
    return Scenario(n_antennas_side=5, voxel_size_m=3.0, mode="A", n_subcarriers=1)


def test_write_bytes(benchmark, ratios, scenario):
    def write():
        a = np.empty(scenario.shape, np.complex128)
        a.fill(0)
        return a

    out = benchmark.pedantic(write, rounds=10, warmup_rounds=1)
    assert out.shape == (6250, 1600)
    ratios.record(benchmark, GROUP, "write 160 MB", note="np.empty + fill(0)")


def test_sensing_matrix(benchmark, ratios, scenario):
    out = benchmark.pedantic(sensing_matrix, args=(scenario,), rounds=10, warmup_rounds=1)
    assert out.shape == (6250, 1600)
    assert out.dtype == np.complex128
    ratios.record(benchmark, GROUP, "skysense.sensing_matrix", reference="write 160 MB", target=2.0)


def test_plain_numpy(benchmark, ratios, scenario):
    out = benchmark.pedantic(plain.sensing_matrix, args=(scenario,), rounds=5, warmup_rounds=1)
    expected = sensing_matrix(scenario)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    ratios.record(
        benchmark,
        GROUP,
        "plain NumPy",
        reference="write 160 MB",
        note="np.exp links, broadcast products, concatenate",
    )
