"""Ctrl-C reaches the long imaging calls: SP (both forms, batched), the operator's products and
Gram, sensing-matrix assembly and the PSF. Each call runs in a fresh interpreter that gets a
real SIGINT after the setup; it must raise KeyboardInterrupt within 0.5 s."""

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
    from skysense.imaging import (
        Scenario, SensingOperator, max_sidelobe, psf, sensing_matrix, subspace_pursuit,
    )
    {setup}
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
)

# A random problem on which batched SP runs for tens of seconds (K = 100 of 1000 voxels).
_SP_SETUP = """
rng = np.random.default_rng(0)
a = (rng.standard_normal((400, 1000)) + 1j * rng.standard_normal((400, 1000))) / 30.0
y = rng.standard_normal((4000, 400)) + 1j * rng.standard_normal((4000, 400))
"""
_N05 = "s = Scenario(n_antennas_side=5)"
_OP_3D = "op = SensingOperator(Scenario.paper_3d(voxel_size_m=6.25, n_antennas_side=6))"

CASES = {
    "SP gram form, batch": (_SP_SETUP, "subspace_pursuit(a, y, 100, method='gram')"),
    "SP residual form, batch": (_SP_SETUP, "subspace_pursuit(a, y, 100, method='residual')"),
    "SP residual form, operator": (
        _OP_3D + "\ny = np.ones((400, op.shape[0]), complex)",
        "subspace_pursuit(op, y, 60, method='residual')",
    ),
    "operator gram": (_OP_3D, "op.gram()"),
    "operator matvec": (
        _N05
        + "\nop = SensingOperator(s, np.complex64)\nx = np.ones((3000, s.n_voxels), np.complex64)",
        "op.matvec(x)",
    ),
    "operator rmatvec": (
        _N05
        + "\nop = SensingOperator(s, np.complex64)\ny = np.ones((3000, s.n_measurements), np.complex64)",
        "op.rmatvec(y)",
    ),
    "sensing_matrix": (
        "s = Scenario(n_antennas_side=5, n_subcarriers=8)",
        "sensing_matrix(s, np.complex64, max_bytes=2**31)",
    ),
    "max_sidelobe dense": (_N05 + "\na = sensing_matrix(s)", "max_sidelobe(a)"),
    "max_sidelobe operator": (_OP_3D, "max_sidelobe(op)"),
}


def interrupt_latency(setup: str, call: str, after_s: float = 0.3, timeout_s: float = 120.0):
    """Seconds from SIGINT to the child's KeyboardInterrupt (wall clock, same host), and the
    child's report; the child's exit (freeing its arrays) is not counted."""
    code = _CHILD.format(setup=textwrap.indent(setup, "").strip(), call=call)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "ready", (line, proc.stderr.read() if proc.stderr else "")
    time.sleep(after_s)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, f"child did not stop on SIGINT: {out!r} {err[-2000:]!r}"
    assert out.startswith("interrupted"), out
    return float(out.split()[1]) - sent, out.strip()


@pytest.mark.parametrize("name", list(CASES))
def test_sigint_stops_long_imaging_calls(name, record_property):
    latency, report = interrupt_latency(*CASES[name])
    record_property("sigint_latency_s", latency)  # in --junitxml reports
    assert latency < 0.5, f"{name}: {latency:.3f} s from SIGINT to KeyboardInterrupt ({report})"
