"""Ctrl-C reaches the long bistatic kernel calls (PARAMING batches, CORDIC on large arrays):
a real SIGINT to a child process raises KeyboardInterrupt within 0.5 s."""

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
    from skysense import bistatic as bs, cordic
    {setup}
    {call}  # warm-up on a small input: every library is loaded before "ready"
    print("ready", flush=True)
    t0 = time.perf_counter()
    try:
        {long_call}
    except KeyboardInterrupt:
        print(f"interrupted {{time.time():.6f}}", flush=True)  # wall clock, shared
        sys.exit(0)
    print(f"finished {{time.perf_counter() - t0:.4f}}", flush=True)
    sys.exit(1)
    """
)


def interrupt_latency(setup: str, call: str, long_call: str, after_s: float = 0.3) -> float:
    """Seconds from SIGINT (sent ``after_s`` into ``long_call``) to KeyboardInterrupt."""
    code = _CHILD.format(setup=setup, call=call, long_call=long_call)
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            pytest.fail(f"child failed before the call: {line!r} {proc.communicate()[1]!r}")
        time.sleep(after_s)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"child did not stop on SIGINT: {out!r} {err!r}"
    assert out.startswith("interrupted"), out
    # from the signal to KeyboardInterrupt in the child; its interpreter's exit is not counted
    # (on a loaded machine the exit alone can take a second)
    latency = float(out.split()[1]) - sent
    assert latency >= 0, latency
    return latency


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
