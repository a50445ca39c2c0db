import subprocess
import sys

CODE = """
import sys
sys.modules["torch"] = None  # make 'import torch' fail
import skysense, skysense.bistatic, skysense.experiments, skysense.learn
from skysense.bistatic import ifft_windows
from skysense.learn import csi_windows, make_training_set
try:
    skysense.learn.IfftC2vnn
except ImportError as exc:
    assert "pip install" in str(exc), exc
    print("lazy-ok")
"""


def test_skysense_imports_without_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "lazy-ok"
