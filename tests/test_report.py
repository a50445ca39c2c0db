import base64
import re

import pytest

from skysense.report import Report

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_report_embeds_tables_and_figures(tmp_path):
    fig = tmp_path / "f.png"
    fig.write_bytes(PNG)
    report = Report("Demo <run>", intro="one & two")
    sec = report.section("Imaging", "SP on 8 frames.")
    sec.table(["method", "DR %"], [["SP", 98.123456], ["A^H y", 40]], caption="rates")
    sec.figure(fig, "PSF")
    report.section("Mapping").text("none")
    out = report.write(tmp_path / "sub" / "report.html")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Demo &lt;run&gt;" in page and "one &amp; two" in page  # escaped
    assert '<td class="num">98.12</td>' in page and "<td>A^H y</td>" in page
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(uri) == PNG
    assert page.count("<h2") == 2 and 'href="#s1"' in page


def test_report_rejects_a_non_png(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="not a PNG"):
        Report("r").section("s").figure(bad)
