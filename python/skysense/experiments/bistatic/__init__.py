"""Reproductions of the bistatic estimation paper: accuracy against the CRB, separation,
timing offset, Doppler and latency."""

from skysense.experiments.bistatic.accuracy import BistaticAccuracy
from skysense.experiments.bistatic.doppler import BistaticDoppler, BistaticLatency
from skysense.experiments.bistatic.resolution import BistaticSeparation, BistaticTimingOffset

__all__ = [
    "BistaticAccuracy",
    "BistaticDoppler",
    "BistaticLatency",
    "BistaticSeparation",
    "BistaticTimingOffset",
]
