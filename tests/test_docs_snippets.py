"""Every ```python block of README.md and docs/ runs as written, each in a fresh interpreter.

A block may not depend on another one (each runs alone, in an empty temporary folder, with
``MPLBACKEND=Agg``), and must finish within ``TIMEOUT_S``. A block that needs an optional
dependency (torch, ONNX Runtime, Sionna RT, an HPC job queue) is skipped, with the reason, when
it is missing.
Blocks fenced as ```text, ```bash or ```console are not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120  # a block should take < ~30 s on 2 cores; this is the hang guard (loaded CI)
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
#: Imports whose absence skips a block (an optional dependency), with how to get them.
OPTIONAL = {
    "torch": "pip install torch (the learned extra)",
    "onnx": "pip install 'skysense[onnx]'",
    "onnxruntime": "pip install 'skysense[onnx]'",
    "sionna": "pip install 'skysense[sionna]'",
    "dask_jobqueue": "an HPC job queue: pip install dask-jobqueue, and Slurm's sbatch",
}
#: Executables a block importing the module also needs (an HPC example submits jobs).
EXECUTABLES = {"dask_jobqueue": "sbatch"}


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in _documents():
        if "_build" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match["lang"] not in {"python", "py", "{code-cell} python"}:
                continue
            line = text.count("\n", 0, match.start()) + 1
            body = "\n".join(ln[len(match["indent"]) :] for ln in match["body"].splitlines())
            found.append((f"{path.relative_to(ROOT)}:{line}", body))
    return found


BLOCKS = _blocks()


def _needs(code: str) -> list[str]:
    """The optional packages a block needs: its imports plus ``skysense.learn`` (torch)."""
    needs = {
        name for name in OPTIONAL if re.search(rf"^\s*(import|from)\s+{name}\b", code, re.MULTILINE)
    }
    if re.search(r"\bskysense\.learn\b|from skysense import .*\blearn\b", code):
        needs.add("torch")
    if "export_onnx" in code or "OnnxSession" in code:
        needs |= {"onnx", "onnxruntime"}
    if "skysense.scenes.sionna" in code:
        needs.add("sionna")
    return sorted(needs)


def test_blocks_found():
    """The extraction sees the README tour and the user guides (a broken fence regex would
    otherwise pass with nothing to run)."""
    where = {name.split(":")[0] for name, _ in BLOCKS}
    assert "README.md" in where
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_block_runs(where: str, code: str, tmp_path: Path) -> None:
    missing = [
        name
        for name in _needs(code)
        if importlib.util.find_spec(name) is None
        or (name in EXECUTABLES and shutil.which(EXECUTABLES[name]) is None)
    ]
    if missing:
        pytest.skip(f"{where} needs {'; '.join(OPTIONAL[name] for name in missing)}")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="error::DeprecationWarning")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{where} failed:\n{code}\n--- stderr ---\n{proc.stderr[-4000:]}"
    written = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert written < 50e6, f"{where} wrote {written / 1e6:.0f} MB (limit 50 MB)"
