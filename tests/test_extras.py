"""The `test` extra installs everything the suite compares against, so no comparison is
skipped for want of a peer in CI (which installs ``.[test]``)."""

import importlib.metadata
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _requirements(extras, name="test", seen=None):
    """Distribution names of extra ``name``, with the ``skysense[...]`` extras it includes."""
    seen = set() if seen is None else seen
    seen.add(name)
    names = []
    for requirement in extras[name]:
        dist = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        included = re.match(r"skysense\[([^\]]*)\]", requirement)
        if included:
            for extra in included.group(1).split(","):
                if extra.strip() not in seen:
                    names += _requirements(extras, extra.strip(), seen)
        else:
            names.append(dist)
    return names


def test_every_package_of_the_test_extra_is_installed():
    if not PYPROJECT.is_file():
        pytest.skip("not a source checkout")
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    names = _requirements(extras)
    assert {"scikit-image", "hypothesis", "distributed", "matplotlib"} <= set(names)
    missing = []
    for dist in names:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    assert not missing, f"pip install '.[test]': missing {missing}"
