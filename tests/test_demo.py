import re
import shutil
import subprocess

import numpy as np
import pytest

from skysense.demo import BISTATIC_DRAWS, TORCH_HINT, run_demo

SECTIONS = ("Imaging", "Bistatic estimation", "Environment mapping", "Tracking", "Latency")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run (small imaging case) shared by the tests of this module."""
    out = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    results = run_demo(out, n_frames=2, rng=3, say=messages.append)
    return out, results, messages


def test_demo_writes_a_complete_report(demo):
    out, results, messages = demo
    page = (out / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    # PSF, images, RMSE, map, tracks
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 5
    assert not re.search(r'src="(?!data:)', page)  # offline: every image inlined
    assert {"imaging", "bistatic", "mapping", "tracking", "report", "latency_ms"} <= results.keys()
    assert results["tracking"]["sp_bp"]["gospa_m"] > 0
    assert 0.0 <= results["imaging"]["sp_dr"] <= 100.0
    assert all(t > 0 for t in results["latency_ms"].values())
    assert results["bistatic"]["draws_per_snr"] == BISTATIC_DRAWS >= 20
    assert f"{BISTATIC_DRAWS} draws per SNR" in page or f"{BISTATIC_DRAWS} independent" in page
    # the mapping section states its result in words, from its own numbers
    assert "has the lowest MOSPA over all epochs" in page
    best = min(results["mapping"]["mospa"], key=results["mapping"]["mospa"].get)
    assert f"In this run {best} has the lowest MOSPA" in page
    # the latency table: >= 5 rounds, with the load and the CPU stated
    assert "load average" in page and "rounds" in page
    assert messages[0].startswith("[1/4] imaging") and messages[-1].startswith("wrote")


def test_skipped_parts_name_a_pinned_cpu_install():
    assert "torch==" in TORCH_HINT and "download.pytorch.org/whl/cpu" in TORCH_HINT
    assert "[learned]" not in TORCH_HINT


# -- the report in a real browser ----------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


# After the page has loaded: how many images, and how many failed to decode.
_CHECK = (
    '<script>window.addEventListener("load", () => {'
    "const imgs = Array.from(document.images);"
    'document.body.setAttribute("data-images", imgs.length);'
    'document.body.setAttribute("data-broken", '
    "imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length);"
    "});</script>"
)


def _browser(args, tmp_path, timeout=120):
    exe = _chromium()
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.skipif(
    _chromium() is None,
    reason="needs a Chromium browser (Debian: apt-get install chromium; .ci/run installs it)",
)
def test_report_renders_in_headless_chromium(demo, tmp_path):
    """No broken image, no console message, and every section paints something."""
    from matplotlib.image import imread

    out, _, _ = demo
    page = (out / "report.html").read_text()
    n_sections = page.count("<section ")
    assert n_sections == len(SECTIONS)
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", _CHECK + "</body>"))
    run = _browser(["--dump-dom", checked.as_uri()], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    body = re.search(r"<body[^>]*>", run.stdout)
    assert body, run.stdout[:500]
    n_images = int(re.search(r'data-images="(\d+)"', body.group(0)).group(1))
    assert n_images == page.count("<img ") >= 4
    assert 'data-broken="0"' in body.group(0)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console

    # one screenshot per section, the other sections hidden (a fragment URL paints blank)
    for i in range(n_sections):
        hide = f"<style>body > *:not(#s{i}) {{ display: none; }}</style>"
        single = tmp_path / f"s{i}.html"
        single.write_text(page.replace("</head>", hide + "</head>"))
        shot = tmp_path / f"s{i}.png"
        run = _browser(
            ["--window-size=1280,900", f"--screenshot={shot}", single.as_uri()], tmp_path
        )
        assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
        pixels = imread(shot)[..., :3]
        background = pixels[0, 0]
        painted = np.any(np.abs(pixels - background) > 0.1, axis=-1).mean()
        assert painted > 0.02, f"section {i} screenshot is blank ({painted:.3%} painted)"


def test_plot_images_one_db_scale(tmp_path):
    from skysense.imaging import Scenario
    from skysense.plotting import plot_images

    s = Scenario(n_antennas_side=2)
    img = np.zeros(s.n_voxels)
    img[7] = 2.0
    target = s.voxel_centers_m()[7:8]
    path = plot_images([("a", img, s, target), ("b", 1j * img, s, None)], tmp_path / "i.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="floor_db"):
        plot_images([("a", img, s, None)], tmp_path / "j.png", floor_db=0.0)


def test_without_torch_the_learned_imager_is_named_as_skipped(tmp_path, monkeypatch):
    import skysense.demo as demo_module
    from skysense.report import Report

    monkeypatch.setattr(demo_module, "_has_torch", lambda: False)
    report, latency = Report("t"), []
    demo_module._imaging(report, tmp_path, latency, 1, np.random.SeedSequence(0), 4, print)
    page = report.to_html()
    assert f"skipped, torch is not installed ({TORCH_HINT})" in page
    assert all("learned" not in stage for _, stage, _ in latency)
