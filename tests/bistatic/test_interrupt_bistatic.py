"""Ctrl-C reaches the long bistatic kernel calls (PARAMING batches, CORDIC on large arrays):
a real SIGINT to a child process raises KeyboardInterrupt within 0.5 s."""

import pytest
from _sigint import sigint_latency


def interrupt_latency(setup: str, call: str, long_call: str) -> float:
    """Seconds from SIGINT (0.3 s into ``long_call``) to KeyboardInterrupt; ``call`` is a
    warm-up on a small input, so every library is loaded before the timer."""
    prelude = f"import numpy as np\nfrom skysense import bistatic as bs, cordic\n{setup}\n{call}"
    return sigint_latency(prelude, long_call)[0]


_DEFAULT = "sc = bs.Scenario()"
_ODD = "sc = bs.Scenario(n_tx=5, n_rx=7, n_subcarriers=33)"


@pytest.mark.parametrize(
    ("scenario", "method", "workers"),
    [(_DEFAULT, "krylov", 1), (_DEFAULT, "krylov", 2), (_ODD, "gram", 2), (_ODD, "svd", 1)],
)
def test_paraming_batch_stops_on_sigint(scenario, method, workers):
    """A batch of 3,000 CSIs (seconds to minutes) stops within 0.5 s of SIGINT: a
    cancellation point per CSI and per Krylov block step (the Gram and SVD paths' LAPACK
    factorisation of one CSI is the unit there: ~0.1 s at 8 x 10 x 64 on an idle core)."""
    setup = (
        f"{scenario}; rng = np.random.default_rng(0)\n"
        "h = sc.channel(bs.random_paths(sc, rng=rng))\n"
        "csi = h + 0.1 * (rng.standard_normal((3000, *h.shape)) + 0j)"
    )
    latency = interrupt_latency(
        setup,
        f"bs.paraming(csi[:2], 4, scenario=sc, method={method!r}, workers={workers})",
        f"bs.paraming(csi, 4, scenario=sc, method={method!r}, workers={workers})",
    )
    assert latency < 0.5


def test_paraming_glrt_batch_stops_on_sigint():
    setup = (
        f"{_ODD}; rng = np.random.default_rng(0)\n"
        "h = sc.channel(bs.random_paths(sc, rng=rng))\n"
        "csi = h + 0.1 * (rng.standard_normal((3000, *h.shape)) + 0j)"
    )
    latency = interrupt_latency(
        setup,
        "bs.paraming(csi[:2], 'glrt', scenario=sc, workers=2)",
        "bs.paraming(csi, 'glrt', scenario=sc, workers=2)",
    )
    assert latency < 0.5


def test_cordic_phase_stops_on_sigint():
    """One phase call over 2^22 values at 64 iterations (about a second) stops within 0.5 s."""
    latency = interrupt_latency(
        "z = np.full(1 << 22, 1 + 1j)",
        "cordic.phase(z[:8], iterations=64)",
        "[cordic.phase(z, iterations=64, workers=2) for _ in range(20)]",
    )
    assert latency < 0.5
