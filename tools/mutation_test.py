"""Mutation testing of Python modules against a pool of tests (run from the repository root).

    python tools/mutation_test.py --target python/skysense/metrics/mse.py \
        --tests tests/metrics --json mutants.json

For each target file, every function and method (not numba-compiled, not ``@overload``
stubs) is mutated one site at a time: comparison operators (``<`` -> ``<=``, ``==`` ->
``!=``, ``in`` -> ``not in``...), arithmetic (``+`` <-> ``-``, ``*`` <-> ``/``, ``**`` ->
``*``), ``and`` <-> ``or``, a dropped ``not`` or unary minus, numeric constants (``n`` ->
``n + 1``, ``0.5`` -> ``1.5``), ``True`` <-> ``False`` and a deleted ``raise``. A mutant
replaces the code object of the live function (``func.__code__``) in a forked child of a
warmed-up process, which then runs only the tests that execute the mutated line (per-test
coverage of a baseline run, ``coverage`` needed): killed if one fails or errors or the run
exceeds ``--timeout``, survived if they all pass, uncovered if no test runs the line.

The score is killed / (killed + survived + uncovered). Survivors are listed with their
location so that a test can be written for the ones that matter (some are equivalent:
no test could tell them apart). The run is bounded by ``--timeout`` per mutant and
``--max-mutants``; run it under ``nice``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMPARE_SWAP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BINOP_SWAP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
SKIP_DECORATORS = {"njit", "jit", "vectorize", "guvectorize", "overload", "cfunc", "stencil"}


@dataclass
class Mutant:
    file: str
    line: int
    col: int
    function: str  # qualname of the live function whose code is replaced
    change: str
    statement_line: int = 0  # first line of the statement (the line coverage records)
    status: str = ""
    seconds: float = 0.0
    n_tests: int = 0


def _decorator_names(fn: ast.FunctionDef) -> set[str]:
    names = set()
    for d in fn.decorator_list:
        node = d.func if isinstance(d, ast.Call) else d
        names.add(node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", ""))
    return names


def _functions(tree: ast.Module):
    """``(qualname, node)`` of module-level functions and methods of module-level classes."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}.{item.name}", item


def _statement_lines(fn: ast.FunctionDef) -> dict[int, int]:
    """``{id(node): first line of its innermost statement}`` (the line coverage records)."""
    owner: dict[int, int] = {}

    def visit(node: ast.AST, line: int) -> None:
        for child in ast.iter_child_nodes(node):
            here = child.lineno if isinstance(child, ast.stmt) else line
            owner[id(child)] = here
            visit(child, here)

    visit(fn, fn.lineno)
    return owner


def _sites(fn: ast.FunctionDef):
    """``(node, field, index, replacement, description)`` of every mutation in ``fn``."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.JoinedStr):
                continue  # f-string parts: messages
            if isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    new = COMPARE_SWAP.get(type(op))
                    if new is not None:
                        yield node, "ops", i, new(), f"{type(op).__name__} -> {new.__name__}"
            elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAP:
                new = BINOP_SWAP[type(node.op)]
                yield node, "op", None, new(), f"{type(node.op).__name__} -> {new.__name__}"
            elif isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAP:
                new = BINOP_SWAP[type(node.op)]
                yield node, "op", None, new(), f"{type(node.op).__name__}= -> {new.__name__}="
            elif isinstance(node, ast.BoolOp):
                new = ast.Or if isinstance(node.op, ast.And) else ast.And
                yield node, "op", None, new(), f"{type(node.op).__name__} -> {new.__name__}"
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
                yield node, None, None, node.operand, f"drop {type(node.op).__name__}"
            elif isinstance(node, ast.Constant):
                v = node.value
                if isinstance(v, bool):
                    yield node, "value", None, not v, f"{v} -> {not v}"
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    yield node, "value", None, v + 1, f"{v!r} -> {v + 1!r}"
            elif isinstance(node, ast.Raise):
                yield node, None, None, ast.Pass(), "delete raise"


def _replace(tree: ast.AST, target: ast.AST, field, index, replacement) -> None:
    """Apply one mutation to the node of ``tree`` at the same position as ``target``."""
    for node in ast.walk(tree):
        if (
            type(node) is type(target)
            and getattr(node, "lineno", None) == target.lineno
            and getattr(node, "col_offset", None) == target.col_offset
            and getattr(node, "end_col_offset", None) == target.end_col_offset
            and getattr(node, "end_lineno", None) == target.end_lineno
        ):
            if field is None:  # replace the node itself in its parent
                for parent in ast.walk(tree):
                    for name, value in ast.iter_fields(parent):
                        if value is node:
                            setattr(parent, name, replacement)
                            return
                        if isinstance(value, list) and any(v is node for v in value):
                            value[[v is node for v in value].index(True)] = replacement
                            return
                raise LookupError("no parent")
            if index is None:
                setattr(node, field, replacement)
            else:
                getattr(node, field)[index] = replacement
            return
    raise LookupError("mutation site not found")


def _code_of(code, qualname: str):
    """The code object named ``qualname`` inside a compiled module."""
    for const in code.co_consts:
        if inspect.iscode(const):
            if const.co_qualname == qualname:
                return const
            found = _code_of(const, qualname)
            if found is not None:
                return found
    return None


def _live_function(module, qualname: str):
    obj = module
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        owner = obj
        obj = owner.__dict__[part] if isinstance(owner, type) else getattr(owner, part)
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        elif isinstance(obj, property) and i == len(parts) - 1:
            obj = obj.fget
    return inspect.unwrap(obj)


def generate(path: Path) -> list[tuple[Mutant, object]]:
    """Mutants of a file with the code object each one installs."""
    source = path.read_text()
    tree = ast.parse(source)
    out = []
    for qualname, fn in _functions(tree):
        if _decorator_names(fn) & SKIP_DECORATORS:
            continue
        lines = _statement_lines(fn)
        for node, field, index, replacement, what in _sites(fn):
            mutated = copy.deepcopy(tree)
            try:
                _replace(mutated, node, field, index, replacement)
                ast.fix_missing_locations(mutated)
                code = _code_of(compile(mutated, str(path), "exec"), qualname)
            except (LookupError, SyntaxError, ValueError, TypeError):
                continue
            if code is None:
                continue
            rel = str(path.relative_to(ROOT))
            line = lines.get(id(node), node.lineno)
            out.append((Mutant(rel, node.lineno, node.col_offset, qualname, what, line), code))
    return out


def module_name(path: Path) -> str:
    rel = path.resolve().relative_to(ROOT / "python").with_suffix("")
    return ".".join(rel.parts)


def coverage_map(
    tests: list[str], targets: list[Path], data_file: Path, test_root: Path
) -> tuple[dict, dict]:
    """``{(file, line): [test node ids]}`` from one run of the pool under coverage, and
    ``{node id: seconds}`` of that run (the covering tests run fastest first)."""
    plugin = data_file.parent / "skysense_coverage_contexts.py"
    durations = data_file.parent / "durations.jsonl"
    plugin.write_text(
        "import json\n"
        "import coverage\n"
        "def pytest_runtest_setup(item):\n"
        "    cov = coverage.Coverage.current()\n"
        "    if cov is not None:\n"
        "        cov.switch_context(item.nodeid)\n"
        "def pytest_runtest_logreport(report):\n"
        f"    with open({str(durations)!r}, 'a') as f:\n"
        "        f.write(json.dumps([report.nodeid, report.duration]) + '\\n')\n"
    )
    include = ",".join(str(t.resolve()) for t in targets)
    env = {
        **os.environ,
        "PYTHONPATH": f"{plugin.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    command = [sys.executable, "-m", "coverage", "run", f"--data-file={data_file}"]
    command += [f"--include={include}", "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    command += ["-p", plugin.stem, "-x"]
    subprocess.run(command, cwd=test_root, env=env, check=True)
    import coverage

    seconds: dict[str, float] = {}
    for line in durations.read_text().splitlines():
        nodeid, duration = json.loads(line)
        seconds[nodeid] = seconds.get(nodeid, 0.0) + duration

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    lines: dict = {}
    for filename in data.measured_files():
        for line, contexts in data.contexts_by_lineno(filename).items():
            ids = sorted(c for c in contexts if c)
            if ids:
                ids.sort(key=lambda i: seconds.get(i, 0.0))
                lines[str(Path(filename).resolve().relative_to(ROOT)), line] = ids
    return lines, seconds


def run_mutant(mutant: Mutant, code, tests: list[str], timeout_s: float) -> str:
    """Install the mutant in a forked child and run ``tests`` there."""
    import pytest

    module = importlib.import_module(module_name(ROOT / mutant.file))
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 3
        try:
            fn = _live_function(module, mutant.function)
            if len(fn.__code__.co_freevars) != len(code.co_freevars):
                os._exit(4)
            fn.__code__ = code
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "--no-header"]
            status = int(pytest.main(args))
        finally:
            os._exit(status)
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code_ = os.waitstatus_to_exitcode(status)
            if code_ == 0:
                return "survived"
            if code_ == 4:
                return "skipped"
            return "killed"
        if time.monotonic() - start > timeout_s:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.02)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", type=Path, required=True)
    parser.add_argument("--tests", action="append", required=True, help="test pool")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant")
    parser.add_argument("--max-mutants", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", default=None, help="only functions whose qualname has this")
    parser.add_argument(
        "--test-root",
        type=Path,
        default=ROOT,
        help="folder the tests run in (a frozen copy of tests/ and pyproject.toml, to keep "
        "measuring the same tests while the checkout changes)",
    )
    args = parser.parse_args(argv)

    targets = [t.resolve() for t in args.target]
    test_root = args.test_root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        covered, _ = coverage_map(args.tests, targets, Path(tmp) / "cov", test_root)
        print(f"baseline with coverage: {time.perf_counter() - t0:.0f} s", flush=True)
    import pytest

    os.chdir(test_root)

    # Warm the parent (imports, numba compilation) so that every fork starts ready.
    if pytest.main([*args.tests, "-q", "-p", "no:cacheprovider", "-x"]) != 0:
        return 1
    mutants = []
    for path in targets:
        mutants += generate(path)
    if args.only:
        mutants = [(m, c) for m, c in mutants if args.only in m.function]
    if args.max_mutants is not None:
        mutants = mutants[: args.max_mutants]
    print(f"{len(mutants)} mutants", flush=True)
    counts: dict[str, int] = {}
    for k, (mutant, code) in enumerate(mutants, 1):
        tests = covered.get((mutant.file, mutant.statement_line), [])
        mutant.n_tests = len(tests)
        start = time.perf_counter()
        if not tests:
            mutant.status = "uncovered"
        else:
            mutant.status = run_mutant(mutant, code, tests, args.timeout)
        mutant.seconds = round(time.perf_counter() - start, 2)
        counts[mutant.status] = counts.get(mutant.status, 0) + 1
        if mutant.status in ("survived", "uncovered"):
            print(
                f"[{k}/{len(mutants)}] {mutant.status}: {mutant.file}:{mutant.line}:"
                f"{mutant.col} {mutant.function}: {mutant.change}",
                flush=True,
            )
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    judged = killed + counts.get("survived", 0) + counts.get("uncovered", 0)
    score = killed / judged if judged else float("nan")
    print(f"score {score:.1%} ({killed} of {judged} killed); {counts}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"score": score, "counts": counts, "mutants": [asdict(m) for m, _ in mutants]},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
