"""Write docs/bad_input.md from the cases of tests/test_bad_input.py (run from the repo root)."""

import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "tests"))

from test_bad_input import DOC, render_table  # after the path insert

DOC.parent.mkdir(exist_ok=True)
DOC.write_text(render_table())
print(f"wrote {DOC.relative_to(root)}")
