"""Ctrl-C reaches a long spa_update (issue 18): a real SIGINT to a child process raises
KeyboardInterrupt within 0.5 s (a cancellation point between PMFs in every stage)."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from skysense.mapping import Link, MappingParams, PmfState, spa_update
    P = {n_particles}
    params = MappingParams(n_particles=P)
    bs = np.array([0.0, 30.0, 15.0])
    meas = np.array([-25.0, 31.0, 16.0]) + np.random.default_rng(0).normal(0, 5, (40, 3))
    link = Link("monostatic", meas, bs)
    spa_update(PmfState.empty(500), [link], params, rng=0, workers={workers})  # warm-up
    print("ready", flush=True)
    t0 = time.perf_counter()
    try:
        spa_update(PmfState.empty(P), [link], params, rng=0, workers={workers})
    except KeyboardInterrupt:
        print(f"interrupted {{time.time():.6f}}", flush=True)  # wall clock, shared with the parent
        sys.exit(0)
    print(f"finished {{time.perf_counter() - t0:.4f}}", flush=True)
    sys.exit(1)
    """
)


@pytest.mark.parametrize("workers", [1, 2])
def test_spa_update_stops_on_sigint(workers):
    """40 new PMFs of 100,000 particles (seconds of work): SIGINT 0.3 s in stops the call
    within 0.5 s, and the child process exits cleanly (buffers freed by unwinding)."""
    code = _CHILD.format(n_particles=100_000, workers=workers)
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            pytest.fail(f"child failed before the call: {line!r} {proc.communicate()[1]!r}")
        time.sleep(0.3)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"child did not stop on SIGINT: {out!r} {err!r}"
    assert out.startswith("interrupted"), out
    # from the signal to KeyboardInterrupt in the child (its interpreter's exit not counted)
    latency = float(out.split()[1]) - sent
    assert 0 <= latency < 0.5, latency
