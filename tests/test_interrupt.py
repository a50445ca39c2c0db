"""Ctrl-C reaches long kernel calls: the binding layer's cancellation mechanism."""

import pytest
from _sigint import sigint_latency

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)


def interrupt_latency(call: str) -> float:
    """Seconds from SIGINT to KeyboardInterrupt for ``call`` run in a fresh interpreter."""
    return sigint_latency("from skysense import _blas, _core", call, after_s=0.5)[0]


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
