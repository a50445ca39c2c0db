"""The ``Examples`` sections of the imaging-side modules run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "skysense.imaging.scenario",
    "skysense.imaging.sensing",
    "skysense.imaging.simulate",
    "skysense.imaging.backprojection",
    "skysense.imaging.pursuit",
    "skysense.imaging.psf",
    "skysense.metrics.mse",
    "skysense.metrics.ssim",
    "skysense.metrics.ospa",
    "skysense.metrics.positions",
    "skysense.metrics.detection",
    "skysense.metrics.mapping",
    "skysense.comms.channels",
    "skysense.comms.beamforming",
    "skysense.comms.sinr",
    "skysense.edge",
    "skysense.scenes.paths",
    "skysense.scenes.sionna",  # the examples that need no Sionna RT
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
