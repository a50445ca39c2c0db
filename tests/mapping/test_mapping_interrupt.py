"""Ctrl-C reaches a long spa_update (issue 18): a real SIGINT to a child process raises
KeyboardInterrupt within 0.5 s (a cancellation point between PMFs in every stage)."""

import pytest
from _sigint import sigint_latency

_PRELUDE = """
import numpy as np
from skysense.mapping import Link, MappingParams, PmfState, spa_update
P = 100_000
params = MappingParams(n_particles=P)
bs = np.array([0.0, 30.0, 15.0])
meas = np.array([-25.0, 31.0, 16.0]) + np.random.default_rng(0).normal(0, 5, (40, 3))
link = Link("monostatic", meas, bs)
spa_update(PmfState.empty(500), [link], params, rng=0, workers={workers})  # warm-up
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_spa_update_stops_on_sigint(workers):
    """40 new PMFs of 100,000 particles (seconds of work): SIGINT 0.3 s in stops the call
    within 0.5 s, and the child process exits cleanly (buffers freed by unwinding)."""
    latency, _ = sigint_latency(
        _PRELUDE.format(workers=workers),
        f"spa_update(PmfState.empty(P), [link], params, rng=0, workers={workers})",
    )
    assert latency < 0.5
