"""``import skysense`` is light; optional dependencies load on first use, with the install
command when they are missing."""

import json
import subprocess
import sys

import pytest

import skysense
from skysense._optional import MissingDependencyError, require

#: Never loaded by ``import skysense``.
HEAVY = ("numpy", "scipy", "numba", "dask", "distributed", "matplotlib", "tqdm", "torch")
#: Never loaded by importing any subpackage (they are optional: first use only).
OPTIONAL = ("dask", "distributed", "matplotlib", "tqdm", "threadpoolctl", "torch", "onnx")
SUBPACKAGES = sorted(skysense._SUBPACKAGES)


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout


def _loaded_top_levels(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    return {name.partition(".")[0] for name in json.loads(_fresh(code))}


def test_import_skysense_loads_nothing_heavy():
    loaded = _loaded_top_levels("import skysense")
    assert "skysense" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_subpackages_load_no_optional_dependency():
    statement = "import skysense\n" + "\n".join(f"skysense.{name}" for name in SUBPACKAGES)
    loaded = _loaded_top_levels(statement)
    assert {"numpy", "skysense"} <= loaded
    assert loaded.isdisjoint(OPTIONAL), sorted(loaded & set(OPTIONAL))


def test_import_time_below_numpy():
    """The target (0.15 s on 2 cores) holds whenever skysense imports faster than NumPy, which
    it must since it imports no NumPy; both are measured in fresh interpreters, interleaved,
    best of 5, so that a loaded machine slows both alike."""
    code = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
    times: dict[str, list[float]] = {"skysense": [], "numpy": []}
    for _ in range(5):
        for name, values in times.items():
            values.append(float(_fresh(code.format(name))))
    best = {name: min(values) for name, values in times.items()}
    assert best["skysense"] <= best["numpy"], f"best of 5 [s]: {best}"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_attributes_after_import_skysense(name):
    module = getattr(skysense, name)
    assert module.__name__ == f"skysense.{name}"
    assert name in dir(skysense) and name in skysense.__all__


def test_top_level_names():
    assert issubclass(skysense.MemoryLimitError, MemoryError)
    assert skysense.get_workers() == 1
    with pytest.raises(AttributeError, match="no attribute 'mapp'"):
        skysense.mapp  # noqa: B018


def test_missing_dependency_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'skysense\[plot\]'"):
        require("matplotlib", "skysense.plotting")
    from skysense.plotting import plot_lines

    with pytest.raises(ImportError, match=r"skysense.plotting needs matplotlib.*\[plot\]"):
        plot_lines([("x", "y", False, {"a": ([0, 1], [0, 1])})], "unused.png")
    with pytest.raises(MissingDependencyError, match=r"pip install 'skysense\[demo\]'"):
        require("matplotlib", "skysense demo", extra="demo")


def test_missing_dask_names_the_experiments_extra(monkeypatch):
    from skysense.experiments import dask_client

    monkeypatch.setitem(sys.modules, "distributed", None)
    with (
        pytest.raises(MissingDependencyError, match=r"pip install 'skysense\[experiments\]'"),
        dask_client(n_processes=1),
    ):
        pass


def test_a_broken_dependency_keeps_its_own_error(monkeypatch):
    """Only the missing module itself is reported as an extra to install."""

    def broken(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'kiwisolver'", name="kiwisolver")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="kiwisolver") as exc:
        require("matplotlib", "skysense.plotting")
    assert not isinstance(exc.value, MissingDependencyError)
