import re

from skysense.demo import run_demo


def test_demo_writes_a_complete_report(tmp_path):
    messages = []
    results = run_demo(tmp_path, n_frames=2, rng=3, say=messages.append)
    page = (tmp_path / "report.html").read_text()
    for title in ("Imaging", "Bistatic estimation", "Environment mapping", "Latency"):
        assert f">{title}</h2>" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 4  # PSF, images, RMSE, map
    assert {"imaging", "bistatic", "mapping", "report", "latency_ms"} <= results.keys()
    assert 0.0 <= results["imaging"]["sp_dr"] <= 100.0
    assert all(t > 0 for t in results["latency_ms"].values())
    assert messages[0].startswith("[1/3] imaging") and messages[-1].startswith("wrote")
