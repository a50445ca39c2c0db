import re

from skysense.demo import run_demo


def test_demo_writes_a_complete_report(tmp_path):
    messages = []
    results = run_demo(tmp_path, n_frames=2, rng=3, say=messages.append)
    page = (tmp_path / "report.html").read_text()
    for title in ("Imaging", "Bistatic estimation", "Environment mapping", "Tracking", "Latency"):
        assert f">{title}</h2>" in page
    # PSF, images, RMSE, map, tracks
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 5
    assert {"imaging", "bistatic", "mapping", "tracking", "report", "latency_ms"} <= results.keys()
    assert results["tracking"]["sp_bp"]["gospa_m"] > 0
    assert 0.0 <= results["imaging"]["sp_dr"] <= 100.0
    assert all(t > 0 for t in results["latency_ms"].values())
    assert messages[0].startswith("[1/4] imaging") and messages[-1].startswith("wrote")
