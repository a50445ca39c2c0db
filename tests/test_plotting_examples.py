"""The ``Examples`` sections of the plotting helpers run and write their figures."""

import doctest
import importlib

import pytest

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("name", ["skysense.plotting._common"])
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0
