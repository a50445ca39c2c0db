"""The import graph of skysense.learn: no cycles, no dependency on skysense.experiments."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import skysense.learn

ROOT = Path(skysense.learn.__file__).parent
MODULES = sorted(
    "skysense.learn" + "".join(f".{part}" for part in path.relative_to(ROOT).with_suffix("").parts)
    for path in ROOT.rglob("*.py")
)
MODULES = [m.removesuffix(".__init__") for m in MODULES]


def _imports(path, *, top_level_only):
    """Modules imported by a file (``from x import y`` gives ``x`` and ``x.y``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # TYPE_CHECKING blocks do not run
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_module_is_listed():
    assert "skysense.learn.checkpoint" in MODULES
    assert "skysense.learn.imager.estimator" in MODULES
    assert "skysense.learn.c2vnn.networks" in MODULES
    assert len(MODULES) >= 20


def test_learn_never_imports_experiments():
    """The dependency goes one way, experiments -> learn (also inside functions)."""
    for path in ROOT.rglob("*.py"):
        bad = {m for m in _imports(path, top_level_only=False) if m.startswith("skysense.exp")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_module_level_import_graph_is_acyclic():
    graph = {}
    for module in MODULES:
        parts = module.split(".")[2:]
        path = (
            ROOT.joinpath(*parts, "__init__.py")
            if not parts or (ROOT.joinpath(*parts).is_dir())
            else ROOT.joinpath(*parts[:-1], parts[-1] + ".py")
        )
        graph[module] = {m for m in _imports(path, top_level_only=True) if m in MODULES}
    done, active = set(), []

    def visit(module):
        if module in active:
            cycle = [*active[active.index(module) :], module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        active.append(module)
        for dep in sorted(graph[module]):
            visit(dep)
        active.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


#: One interpreter imports the third-party dependencies once (no skysense module), then forks
#: a child per module that imports it first: as fresh as a new interpreter for skysense.
FORK_IMPORTS = """
import importlib, os, sys
import numpy, scipy, numba
try:
    import torch
except ImportError:
    pass
assert not [m for m in sys.modules if m.startswith("skysense")]
failed = []
for module in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException as exc:
            print(module, repr(exc), file=sys.stderr)
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(module)
print(failed)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module as the first skysense module imported: a cycle through it would raise."""
    first = [*MODULES, "skysense.experiments", "skysense.cli"]
    out = subprocess.run(
        [sys.executable, "-c", FORK_IMPORTS, *first], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stderr
