"""Ctrl-C tests' one helper: run a call in a fresh interpreter, send it a real SIGINT, and
measure how long the call took to raise KeyboardInterrupt.

The latency is read from the child's wall clock (same host), so the child interpreter's exit
(freeing its arrays; up to seconds on a loaded machine) is not counted.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

_CHILD = """
import signal, sys, time
# SIGINT may be inherited as ignored (a background job of a non-interactive shell, e.g. a CI
# script's `cmd &`): then Python installs no KeyboardInterrupt handler; restore it first
signal.signal(signal.SIGINT, signal.default_int_handler)
{prelude}
print("ready", flush=True)
t0 = time.perf_counter()
try:
    {call}
except KeyboardInterrupt:
    print(f"interrupted {{time.time():.6f}} {{time.perf_counter() - t0:.4f}}", flush=True)
    sys.exit(0)
print(f"finished {{time.perf_counter() - t0:.4f}}", flush=True)
sys.exit(1)
"""


def sigint_latency(
    prelude: str,
    call: str,
    *,
    after_s: float = 0.3,
    timeout_s: float = 120.0,
    retry_above_s: float = 0.5,
    attempts: int = 3,
) -> tuple[float, str]:
    """Seconds from SIGINT (sent ``after_s`` into ``call``) to KeyboardInterrupt, and the
    child's report. ``prelude`` (imports, setup, a warm-up call) runs before the timer.

    A latency above ``retry_above_s`` is measured again, up to ``attempts`` times, and the
    least is returned: on a shared 2-core machine the child can be descheduled for longer
    than the limit (CI saw 0.9 s once for a call whose latency is 0.002-0.1 s at every point
    when idle). Every attempt must still end in KeyboardInterrupt, and a call without a
    cancellation point stays slow in every attempt, so the tests keep their meaning.
    """
    best: tuple[float, str] | None = None
    for _ in range(attempts):
        latency, report = _one_sigint_latency(prelude, call, after_s, timeout_s)
        if best is None or latency < best[0]:
            best = (latency, report)
        if latency < retry_above_s:
            break
    assert best is not None
    return best


def _one_sigint_latency(
    prelude: str, call: str, after_s: float, timeout_s: float
) -> tuple[float, str]:
    code = _CHILD.format(prelude=textwrap.dedent(prelude).strip(), call=call)
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            pytest.fail(f"child failed before the call: {line!r} {proc.communicate()[1]!r}")
        time.sleep(after_s)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, f"child did not stop on SIGINT: {out!r} {err[-2000:]!r}"
    assert out.startswith("interrupted"), out
    latency = float(out.split()[1]) - sent
    assert latency >= 0, latency
    return latency, out.strip()
