"""A self-contained HTML report: sections of text, tables and figures (PNGs embedded).

Used by ``skysense demo``; any script can build one::

    report = Report("My run")
    sec = report.section("Imaging", "SP on 8 frames.")
    sec.table(["method", "DR %"], [["SP", 98.0]])
    sec.figure(fig_path, "PSF of the centre voxel")
    report.write("out/report.html")

The PNGs are copied into the HTML as base64 data URIs, so the single file can be mailed or
archived; they are also kept beside it.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Report", "Section"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; color: #222; }
h1 { border-bottom: 2px solid #345; } h2 { color: #345; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #eef2f6; } td.num { text-align: right; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #555; } .meta { color: #666; font-size: 0.9rem; }
"""


def _cell(value: object) -> str:
    """A ``<td>``: numbers right-aligned (floats to 4 significant digits), text escaped."""
    if isinstance(value, bool | str) or not isinstance(value, int | float | np.number):
        return f"<td>{html.escape(str(value))}</td>"
    text = f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)
    return f'<td class="num">{text}</td>'


@dataclass
class Section:
    """One ``<h2>`` section: paragraphs, tables and figures in the order added."""

    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, paragraph: str) -> Section:
        """Add a paragraph (plain text, escaped)."""
        self.parts.append(f"<p>{html.escape(paragraph)}</p>")
        return self

    def table(
        self, header: Sequence[object], rows: Iterable[Sequence[object]], caption: str = ""
    ) -> Section:
        """Add a table; floats are shown with 4 significant digits."""
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
        return self

    def figure(self, path: str | Path, caption: str = "") -> Section:
        """Embed a PNG file (base64) with a caption."""
        data = Path(path).read_bytes()
        if not data.startswith(b"\x89PNG"):
            raise ValueError(f"{path} is not a PNG file")
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        cap = html.escape(caption)
        self.parts.append(
            f'<figure><img src="{uri}" alt="{cap}"><figcaption>{cap}</figcaption></figure>'
        )
        return self


@dataclass
class Report:
    """An HTML report made of :class:`Section` objects."""

    title: str
    intro: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str, text: str = "") -> Section:
        """Append and return a new section (with an optional first paragraph)."""
        sec = Section(title)
        if text:
            sec.text(text)
        self.sections.append(sec)
        return sec

    def to_html(self) -> str:
        """The whole page as a string."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        toc = "".join(
            f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
            for i, s in enumerate(self.sections)
        )
        body = "".join(
            f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
            for i, s in enumerate(self.sections)
        )
        intro = f"<p>{html.escape(self.intro)}</p>" if self.intro else ""
        return (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f'<h1>{html.escape(self.title)}</h1><p class="meta">generated {stamp}</p>{intro}'
            f"<ul>{toc}</ul>{body}</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` (folders created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path
