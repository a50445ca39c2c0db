"""The hand-written stub ``python/skysense/_core.pyi`` against the compiled module.

Every function of the stub must exist in ``skysense._core`` with the same parameter names in
the same order, the same defaults, compatible types (int, float, bool, str, array, None,
tuple) and keyword-only wherever the binding is; a compiled kernel the stub does not type
must be listed in ``UNTYPED``. So a binding changed without its stub fails here. The
signatures of the bindings are read from pybind11's ``__doc__`` (``name(a: T, *, b: U = 1)
-> R``), parsed as Python.
"""

import ast
from pathlib import Path

import pytest

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)

STUB = Path(__file__).resolve().parents[1] / "python" / "skysense" / "_core.pyi"

#: Compiled functions the stub leaves to its module ``__getattr__`` (typed as Any).
UNTYPED = {"spa_update", "mapping_isa", "_fastmath", "_spin_interruptible"}


def _category(node, aliases):
    """Coarse kind of an annotation: int, float, bool, str, array, none, tuple or other."""
    if node is None:
        return "missing"
    text = ast.unparse(node)
    if text in aliases:
        return _category(aliases[text], aliases)
    if isinstance(node, ast.BinOp):  # pybind11's "typing.SupportsInt | typing.SupportsIndex"
        return _category(node.left, aliases)
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    head = text.split("[")[0]
    kinds = {
        "int": "int",
        "typing.SupportsInt": "int",
        "float": "float",
        "typing.SupportsFloat": "float",
        "bool": "bool",
        "str": "str",
        "None": "none",
        "tuple": "tuple",
        "numpy.ndarray": "array",
        "NDArray": "array",
        "npt.NDArray": "array",
        "np.ndarray": "array",
    }
    return kinds.get(head, "other")


def _signature(fn: ast.FunctionDef, aliases):
    """``[(name, kind, category, default)], return category`` of a parsed ``def``."""
    args = fn.args
    params = []
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(args.args, defaults, strict=True):
        params.append(
            (arg.arg, "positional or keyword", _category(arg.annotation, aliases), default)
        )
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append((arg.arg, "keyword-only", _category(arg.annotation, aliases), default))
    params = [
        (name, kind, cat, None if d is None else ast.literal_eval(d))
        for name, kind, cat, d in params
    ]
    return params, _category(fn.returns, aliases)


def _stub():
    tree = ast.parse(STUB.read_text())
    aliases = {}
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            aliases[node.target.id] = node.value  # X: TypeAlias = npt.NDArray[...]
        elif isinstance(node, ast.FunctionDef) and node.name != "__getattr__":
            functions[node.name] = node
    return {name: _signature(fn, aliases) for name, fn in functions.items()}


def _binding(name):
    """The signature of a compiled function from the first line of its pybind11 docstring."""
    first = getattr(_core, name).__doc__.strip().splitlines()[0]
    assert first.startswith(f"{name}("), f"unexpected docstring of _core.{name}: {first!r}"
    fn = ast.parse(f"def {first}: ...").body[0]
    return _signature(fn, {})


def _compiled_functions():
    return {n for n in dir(_core) if not n.startswith("__") and callable(getattr(_core, n))}


STUBBED = sorted(_stub())


def test_stub_types_every_compiled_kernel_or_says_it_does_not():
    compiled = _compiled_functions()
    assert set(STUBBED) <= compiled, f"stubbed but not compiled: {set(STUBBED) - compiled}"
    untyped = compiled - set(STUBBED)
    assert untyped == UNTYPED, (
        f"compiled functions missing from _core.pyi: {sorted(untyped - UNTYPED)}; "
        f"typed now, drop from UNTYPED: {sorted(UNTYPED - untyped)}"
    )


@pytest.mark.parametrize("name", STUBBED)
def test_stub_signature_matches_the_binding(name):
    stub_params, stub_returns = _stub()[name]
    params, returns = _binding(name)
    assert [p[0] for p in stub_params] == [p[0] for p in params], "parameter names or order"
    for (pname, stub_kind, stub_cat, stub_default), (_, kind, cat, default) in zip(
        stub_params, params, strict=True
    ):
        assert stub_cat == cat, f"{name}({pname}): stub says {stub_cat}, binding {cat}"
        assert stub_default == default, f"{name}({pname}): default {stub_default} != {default}"
        # The stub may require a keyword where the binding still takes a position (mypy then
        # holds the callers to the convention), never the other way round.
        if kind == "keyword-only":
            assert stub_kind == kind, f"{name}({pname}) is keyword-only in the binding"
    assert stub_returns == returns, f"{name} returns {returns}, the stub says {stub_returns}"


def test_the_check_sees_a_drifted_stub():
    """The comparison itself: a renamed, reordered or retyped argument is caught."""
    params, _ = _binding("paraming")
    drifted = ast.parse(STUB.read_text().replace("krylov_rtol: float", "krylov_rtol: int"))
    aliases = {
        n.target.id: n.value
        for n in drifted.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    fn = next(n for n in drifted.body if isinstance(n, ast.FunctionDef) and n.name == "paraming")
    stub_params, _ = _signature(fn, aliases)
    assert [p[2] for p in stub_params] != [p[2] for p in params]
