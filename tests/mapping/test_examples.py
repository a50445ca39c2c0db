"""The Examples sections of the mapping docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "skysense.mapping",
    "skysense.mapping.link",
    "skysense.mapping.mapper",
    "skysense.mapping.one_to_one",
    "skysense.mapping.params",
    "skysense.mapping.scene",
    "skysense.mapping.simulate",
    "skysense.mapping.spa",
    "skysense.mapping.state",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_every_public_name_has_an_example():
    from skysense import mapping

    missing = []
    for name in mapping.__all__:
        obj = getattr(mapping, name)
        if callable(obj) and ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    # the metrics move to skysense.metrics (their examples live there)
    assert set(missing) <= {"completeness", "ospa_per_epoch", "seen_truth"}, missing
