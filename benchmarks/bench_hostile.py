"""Hostile documents: text extraction must stay linear however the page is built.

A 1.2 MB HTML page of short lines separated by ``<br>`` (issue 18: extraction was quadratic in
the number of ``<br>`` s, 10.5 s at 120 KB), read through Hearth's real parser from a file.
The same page at a tenth and a half of the size gives the growth ratio: linear means the time
per byte stays flat (ratio near 1; quadratic would be ~10 at 1.2 MB against 120 KB). Also an
EPUB of 1.5 KB whose spine names one chapter 20,000 times (read once), and the other shapes
that were quadratic: 100,000 stray end tags inside a hidden element, a heading of 100,000 parts.

Target: the 1.2 MB page in under 2 s; time per byte at 1.2 MB within 2x of that at 120 KB.
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

PAGE_BYTES = 1_200_000
LINE = "A short line of text <br>\n"


def _page(size: int) -> str:
    return "<html><body><p>" + LINE * (size // len(LINE)) + "</p></body></html>"


def _timed(path: Path) -> tuple[float, int]:
    from desktop_app.core.rag.parsers import parse

    started = time.perf_counter()
    doc = parse(path)
    return time.perf_counter() - started, sum(len(b.text) for b in doc.blocks)


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        per_byte: dict[int, float] = {}
        for size in (PAGE_BYTES // 10, PAGE_BYTES // 2, PAGE_BYTES):
            path = base / f"page-{size}.html"
            path.write_text(_page(size), encoding="utf-8")
            seconds, chars = min(_timed(path) for _ in range(2))
            per_byte[size] = seconds / size
            results[f"html_{size // 1000}kb_s"] = round(seconds, 3)
            results[f"html_{size // 1000}kb_chars"] = chars
        results["growth_ratio_1200kb_vs_120kb"] = round(per_byte[PAGE_BYTES] / per_byte[PAGE_BYTES // 10], 2)
        results["html_1200kb_under_2s"] = results[f"html_{PAGE_BYTES // 1000}kb_s"] < 2.0

        shapes = {
            "stray_end_tags": "<div hidden>" + "</i>" * 100_000 + "</div><p>end</p>",
            "long_heading": "<h1>" + "<b>t</b>" * 100_000 + "</h1><p>end</p>",
        }
        for name, markup in shapes.items():
            path = base / f"{name}.html"
            path.write_text(markup, encoding="utf-8")
            results[f"{name}_s"] = round(_timed(path)[0], 3)

        epub = base / "repeat.epub"
        with zipfile.ZipFile(epub, "w", zipfile.ZIP_DEFLATED) as archive:
            container = '<container><rootfiles><rootfile full-path="b.opf"/></rootfiles></container>'
            archive.writestr("META-INF/container.xml", container)
            spine = '<itemref idref="c"/>' * 20_000
            manifest = '<manifest><item id="c" href="c.xhtml"/></manifest>'
            archive.writestr("b.opf", f"<package>{manifest}<spine>{spine}</spine></package>")
            archive.writestr("c.xhtml", "<html><body>" + "<p>One chapter, read once.</p>" * 300 + "</body></html>")
        seconds, chars = _timed(epub)
        results["epub_repeated_spine_bytes"] = epub.stat().st_size
        results["epub_repeated_spine_s"] = round(seconds, 3)
        results["epub_repeated_spine_chars"] = chars
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
