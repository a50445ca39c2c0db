import subprocess
import sys

CODE = """
import sys
sys.modules["torch"] = None  # make 'import torch' fail
import skysense, skysense.bistatic, skysense.experiments, skysense.learn
heavy = [m for m in ("torch", "numpy", "numba") if sys.modules.get(m) is not None]
from skysense.bistatic import ifft_windows
from skysense.learn import C2vnn3dConfig, C2vnnConfig, csi_windows, make_training_set
from skysense.learn.c2vnn.data import csi_windows_3d, make_training_set_3d
x, y = make_training_set(C2vnnConfig().scenario, 2, n_targets=1, rng=0)
assert x.shape[1:] == (6, 8, 10), x.shape
try:
    skysense.learn.IfftC2vnn
except ImportError as exc:
    assert "pip install torch==2.13.0" in str(exc), exc
    print("lazy-ok")
"""


def test_skysense_imports_without_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "lazy-ok"


def test_import_of_skysense_learn_loads_nothing_heavy():
    code = (
        "import sys, skysense.learn; "
        "print(sorted(m for m in ('torch', 'numpy', 'numba', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
