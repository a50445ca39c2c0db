"""The Examples sections of the pipeline docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "skysense.pipeline",
    "skysense.pipeline.bistatic_front_end",
    "skysense.pipeline.geometry",
    "skysense.pipeline.monostatic_front_end",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_every_public_name_has_an_example():
    from skysense import pipeline

    for name in pipeline.__all__:
        doc = getattr(pipeline, name).__doc__ or ""
        assert "Examples" in doc, f"{name} has no Examples section"
