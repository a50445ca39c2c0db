"""Ctrl-C reaches long kernel calls: the binding layer's cancellation mechanism."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

_CHILD = textwrap.dedent(
    """
    import sys, time
    from skysense import _blas, _core
    print("ready", flush=True)
    t0 = time.perf_counter()
    try:
        {call}
    except KeyboardInterrupt:
        print(f"interrupted {{time.time():.6f}}", flush=True)  # wall clock, shared
        sys.exit(0)
    print("finished", flush=True)
    sys.exit(1)
    """
)


def interrupt_latency(call: str, after_s: float = 0.5, timeout_s: float = 60.0) -> float:
    """Seconds from SIGINT to KeyboardInterrupt for ``call`` run in a fresh interpreter (read
    from the child's wall clock, so the child interpreter's exit is not counted: on a loaded
    machine it alone can take a second)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(call=call)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(after_s)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, f"child did not stop on SIGINT: {out!r} {err!r}"
    assert out.startswith("interrupted"), out
    latency = float(out.split()[1]) - sent
    assert latency >= 0, latency
    return latency


@pytest.mark.parametrize("workers", [1, 2])
def test_sigint_stops_a_long_kernel_call(workers):
    latency = interrupt_latency(f"_core._spin_interruptible(seconds=30.0, workers={workers})")
    # the child reports back within 0.5 s although the call would run 30 s
    assert latency < 0.5


def test_uninterrupted_call_completes():
    # every item ran (1 item per ms per worker, plus one)
    assert _core._spin_interruptible(seconds=0.01, workers=2) == 21


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="seconds"):
        _core._spin_interruptible(seconds=-1.0, workers=1)
    with pytest.raises(ValueError, match="workers"):
        _core._spin_interruptible(seconds=0.0, workers=0)
