"""skysense (and the NumPy half of skysense.learn) must work without torch installed."""

import subprocess
import sys
import textwrap


def test_import_and_dataset_generation_without_torch(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any "import torch" now raises ImportError
        import skysense, skysense.imaging, skysense.metrics, skysense.experiments
        import skysense.cli
        import skysense.learn as learn
        from skysense.imaging import Scenario
        s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
        path = learn.generate_dataset({str(tmp_path / "ds")!r}, 3, scenario=s, n_targets=1)
        assert learn.DatasetReader(path).read()["inputs"].shape == (3, 2, 5, 5)
        assert learn.image_metrics(*[__import__("numpy").zeros((1, 5, 5))] * 2,
                                   __import__("numpy").zeros((1, 1, 3)), s).mse == 0.0
        try:
            learn.OffGridImager
        except ImportError as exc:
            assert "pip install torch==2.13.0" in str(exc), exc
            print("ok")
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
