"""Reading scanned pages: text recognition (OCR) with RapidOCR on ONNX Runtime, offline.

rapidocr-onnxruntime ships its models (PP-OCRv4 detection and recognition, ~16 MB) inside
the wheel, so nothing is downloaded at run time. A PDF page without a text layer is rendered
at 300 dpi (pypdfium2) and recognised line by line; every line keeps its box and the
recogniser's confidence. Results are kept per page in a cache keyed by the file's content
hash, so an indexing run stopped half-way continues where it stopped (no page twice), and a
file indexed again (another model, a rebuild) is not recognised again.

A page whose mean confidence is below ``POOR_CONFIDENCE`` is still indexed, and reported in
the file's notes as recognised poorly. OCR can be switched off per collection (a small
options file next to the collection's vectors: ``ocr_switch``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import CancelToken

log = logging.getLogger(__name__)

DPI = 300
MAX_SIDE = 2000  # pixels: a page is scaled down to this for recognition (3x faster than 300 dpi's 3508)
POOR_CONFIDENCE = 0.8
CACHE_FORMAT = 1
Box = tuple[float, float, float, float]  # left, top, right, bottom, as fractions of the page

_ENGINE: Any = None
# pdfium is not thread-safe: one lock for the recogniser's page renders and the document viewer's.
PDFIUM_LOCK = threading.Lock()
_ENGINE_LOCK = threading.Lock()  # one recognition at a time: the engine is not documented as thread-safe


@dataclass
class OcrLine:
    text: str
    box: Box
    confidence: float


@dataclass
class OcrPage:
    page: int  # 1-based
    lines: list[OcrLine] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        """Mean confidence over the recognised characters (0 when nothing was recognised)."""
        total = sum(len(line.text) for line in self.lines)
        if not total:
            return 0.0
        return sum(line.confidence * len(line.text) for line in self.lines) / total

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.page, "lines": [asdict(line) for line in self.lines]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OcrPage:
        lines = []
        for line in data["lines"]:
            left, top, right, bottom = (float(v) for v in line["box"])
            lines.append(OcrLine(str(line["text"]), (left, top, right, bottom), float(line["confidence"])))
        return cls(int(data["page"]), lines)


ProgressCallback = Callable[[int, int], None]  # pages done, pages to do


@dataclass
class OcrRequest:
    """Asks the parser to recognise pages without a text layer (from the indexing worker).
    ``cached_only``: only what indexing recognised before is used, nothing is recognised now (the
    document viewer shows a file as it was indexed)."""

    cancel: CancelToken | None = None
    progress: ProgressCallback | None = None
    cached_only: bool = False


def available() -> bool:
    """True when the recogniser is installed."""
    import importlib.util

    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


def _engine() -> Any:
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        # No angle classifier: it turned upright lines of a clean page upside down (a third of
        # a page's lines lost in the benchmark); pages scanned upside down are not read.
        _ENGINE = RapidOCR(max_side_len=MAX_SIDE, use_cls=False)
    return _ENGINE


def recognise_image(image: Any, page: int = 1) -> OcrPage:
    """The text lines of a PIL image, top to bottom, with their boxes and confidences."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    with _ENGINE_LOCK:
        result, _ = _engine()(rgb)
    lines = []
    for points, text, score in result or []:
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        box = (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)
        if str(text).strip():
            lines.append(OcrLine(str(text).strip(), box, float(score)))
    lines.sort(key=lambda line: (round(line.box[1] * 200), line.box[0]))  # reading order: rows, then left to right
    return OcrPage(page, lines)


def render_pdf_page(path: Path, page: int, dpi: int = DPI) -> Any:
    """A PDF page (1-based) as a PIL image at ``dpi``."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(str(path))
        try:
            bitmap = document[page - 1].render(scale=dpi / 72)
            return bitmap.to_pil()
        finally:
            document.close()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class PageCache:
    """Recognised pages of one file version, one small JSON file per page."""

    def __init__(self, folder: Path, file_sha: str) -> None:
        self.folder = folder / file_sha[:2] / file_sha

    def get(self, page: int) -> OcrPage | None:
        try:
            data = json.loads((self.folder / f"{page}.json").read_text(encoding="utf-8"))
            return OcrPage.from_dict(data) if data.get("format") == CACHE_FORMAT else None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or damaged: recognised again

    def put(self, result: OcrPage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{result.page}.json"
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_text(json.dumps({"format": CACHE_FORMAT, **result.to_dict()}), encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:  # a full disk: the page is recognised again next time
            log.info("Could not keep the OCR result of page %d: %s", result.page, exc)


def cache_folder() -> Path:
    """The data folder's ``cache/ocr``; HEARTH_OCR_CACHE names another (the tests share one per
    session, as pages are keyed by their file's content)."""
    from desktop_app.core import paths

    override = os.environ.get("HEARTH_OCR_CACHE")
    return Path(override) if override else paths.home() / "cache" / "ocr"


def recognise_pages(
    path: Path,
    pages: Sequence[int],
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
    render: Callable[[Path, int], Any] = render_pdf_page,
    cached_only: bool = False,
) -> list[OcrPage]:
    """Recognises the given pages of ``path``, each drawn by ``render`` (a PDF's by pdfium, a
    picture's by picture_files.load_page); cached ones are read back (``cached_only``: only those,
    the others come back empty). Raises Cancelled when stopped."""
    cache = PageCache(cache_folder(), file_hash(path))
    results = []
    for done, page in enumerate(pages):
        if progress is not None:
            progress(done, len(pages))
        if cancel is not None:
            cancel.raise_if_cancelled()
        result = cache.get(page)
        if result is None and cached_only:
            result = OcrPage(page)
        elif result is None:
            result = recognise_image(render(path, page), page)
            cache.put(result)
        results.append(result)
    if progress is not None:
        progress(len(pages), len(pages))
    return results


def recognise_pdf_pages(
    path: Path,
    pages: Sequence[int],
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> list[OcrPage]:
    """Recognises the given PDF pages (cached ones are read back). Raises Cancelled when stopped."""
    return recognise_pages(path, pages, cancel, progress)


def recognise_bytes(data: bytes, name: str, request: OcrRequest, min_pixels: int = 0) -> OcrPage | None:
    """The text of a picture held in memory (inside a Word or OpenDocument file), cached by its
    bytes' hash; None when it is too small to hold text (or, ``cached_only``, was not recognised
    before). Raises UnreadablePicture, Cancelled."""
    from desktop_app.core.rag.picture_files import load_bytes

    cache = PageCache(cache_folder(), hashlib.sha256(data).hexdigest())
    result = cache.get(1)
    if result is None and request.cached_only:
        return None
    if result is None:
        cancel = request.cancel
        if cancel is not None:
            cancel.raise_if_cancelled()
        image = load_bytes(data, name, min_pixels)
        if image is None:
            return None
        result = recognise_image(image, 1)
        cache.put(result)
    return result


def cached_page(path: Path, page: int) -> OcrPage | None:
    """The recognised lines of a scanned page, as indexing read them (None: never read)."""
    try:
        sha = file_hash(path)
    except OSError:
        return None
    return PageCache(cache_folder(), sha).get(page)


def passage_boxes(result: OcrPage, passage: str) -> list[Box]:
    """The boxes of the recognised lines that hold ``passage`` (found by its words)."""
    from desktop_app.core.rag.locate import find_words

    span = find_words(result.text, passage) if passage.strip() else None
    if span is None:
        return []
    boxes = []
    offset = 0
    for line in result.lines:
        end = offset + len(line.text)
        if offset < span[1] and span[0] < end:
            boxes.append(line.box)
        offset = end + 1  # the line break
    return boxes


def _page_list(pages: Sequence[int]) -> str:
    shown = ", ".join(map(str, pages[:10]))
    return shown + (f" and {len(pages) - 10} more" if len(pages) > 10 else "")


def recognise_blocks(
    path: Path, blank: dict[int, tuple[str | None, str]], request: OcrRequest
) -> tuple[list[OcrPage], dict[int, float], list[str]]:
    """The recognised pages among the PDF's pages without a text layer (page -> (label, heading)),
    the confidence of each page read, and notes for the file's report. Raises Cancelled. (The parser
    makes the pages its blocks: this module imports no parser, so rag has no import cycle.)"""
    return _recognise(path, sorted(blank), request, render_pdf_page, "had no text layer and")


def recognise_picture(
    path: Path, pages: int, request: OcrRequest
) -> tuple[list[OcrPage], dict[int, float], list[str]]:
    """The recognised pages of a picture file (a TIFF's frames, else its one page), as
    :func:`recognise_blocks`. The picture was checked (picture_files.page_count) before."""
    from desktop_app.core.rag.picture_files import load_page

    return _recognise(path, list(range(1, pages + 1)), request, load_page, "")


def _recognise(
    path: Path, pages: list[int], request: OcrRequest, render: Callable[[Path, int], Any], how: str
) -> tuple[list[OcrPage], dict[int, float], list[str]]:
    from desktop_app.core.errors import Cancelled, HearthError

    if not available():
        what = "Pages without a text layer were" if how else "The picture was"
        return [], {}, [f"{what} left out: text recognition (OCR) is not installed."]
    try:
        results = recognise_pages(path, pages, request.cancel, request.progress, render, request.cached_only)
    except (Cancelled, HearthError):  # HearthError: a picture found damaged while decoding
        raise
    except Exception as exc:  # a recogniser failure loses these pages, not the file
        log.info("OCR of %s failed", path, exc_info=True)
        return [], {}, [f"Pages {_page_list(pages)} could not be recognised ({str(exc).splitlines()[0][:120]})."]
    read = []
    confidence: dict[int, float] = {}
    for result in results:
        if not result.lines:
            continue
        read.append(result)
        confidence[result.page] = round(result.confidence, 3)
    notes = []
    if confidence:
        mean = sum(confidence.values()) / len(confidence)
        if how or len(pages) > 1:
            one = len(confidence) == 1
            notes.append(
                f"{'Page' if one else 'Pages'} {_page_list(sorted(confidence))} {how}{' ' if how else ''}"
                f"{'was' if one else 'were'} read by text recognition (OCR), confidence {mean:.0%}."
            )
        else:
            notes.append(f"The picture was read by text recognition (OCR), confidence {mean:.0%}.")
    poor = sorted(p for p, c in confidence.items() if c < POOR_CONFIDENCE)
    if poor:
        notes.append(
            f"{'Page' if len(poor) == 1 else 'Pages'} {_page_list(poor)} {'was' if len(poor) == 1 else 'were'}"
            " recognised poorly (confidence below 80%): the text found there may be wrong."
        )
    return read, confidence, notes
