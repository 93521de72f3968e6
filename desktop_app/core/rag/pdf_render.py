"""A PDF page (or a picture file's page) as an image, with the boxes of the passages to highlight
on it (pypdfium2; Pillow for pictures).

The document viewer opens a citation at its page: pdfium renders the page to pixels and
gives every character's box, and the cited passage is found in the page's text by its
words (``locate.find_words``: pdfium's line breaks and spacing differ from the text
that was indexed). pdfium is not thread-safe, so every call holds one lock; pypdfium2
is imported on first use, like the other heavy libraries. A picture file (PNG, JPEG, TIFF) is
shown the same way, its page scaled to the width asked for, the passage's lines boxed from what
text recognition found there (ocr.py's cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import picture_files
from desktop_app.core.rag.locate import find_words
from desktop_app.core.rag.ocr import PDFIUM_LOCK

Box = tuple[float, float, float, float]  # left, top, right, bottom, in the image's pixels

MAX_SCALE = 4.0
PAGED_SUFFIXES = {".pdf"} | picture_files.PICTURE_EXTENSIONS  # shown page by page, as images


def is_paged(path: str | Path) -> bool:
    """Whether the viewer shows ``path`` as pages (a PDF, a picture) rather than as text."""
    return Path(path).suffix.lower() in PAGED_SUFFIXES


@dataclass
class RenderedPage:
    page: int  # 1-based
    pages: int  # in the document
    width: int
    height: int
    stride: int  # bytes per row of ``pixels``
    channels: int  # 3: RGB, 4: RGBX (8 bits each)
    pixels: bytes
    boxes: list[list[Box]] = field(default_factory=list)  # per passage asked for: its lines' boxes (empty: not found)
    text: str = ""  # the page's text as pdfium reads it


def _line_boxes(textpage: Any, start: int, end: int, scale: float, page_height: float) -> list[Box]:
    """One box per run of characters on a line, in pixels (pdfium merges a range into such rects)."""
    count = textpage.count_rects(start, end - start)
    boxes = []
    for i in range(count):
        left, bottom, right, top = textpage.get_rect(i)
        boxes.append((left * scale, (page_height - top) * scale, right * scale, (page_height - bottom) * scale))
    return boxes


def render_page(path: str | Path, page: int, passages: Sequence[str] = (), width_px: int = 900) -> RenderedPage:
    """Page ``page`` (1-based) of the PDF at ``path``, ``width_px`` wide, with the boxes of each
    of ``passages`` found on it (a picture file: its page ``page``). Raises HearthError when the file
    cannot be shown."""
    if picture_files.is_picture(path):
        return _render_picture(Path(path), page, passages, width_px)
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(str(path))
        except (pdfium.PdfiumError, OSError) as exc:
            raise HearthError(f"“{Path(path).name}” cannot be shown ({exc}).", "Open it in the default app.") from None
        try:
            pages = len(document)
            if not 1 <= page <= pages:
                raise HearthError(f"“{Path(path).name}” has no page {page}: it has {pages}.")
            pdf_page = document[page - 1]
            width, height = pdf_page.get_size()
            scale = min(MAX_SCALE, max(0.25, width_px / max(1.0, width)))
            bitmap = pdf_page.render(scale=scale, rev_byteorder=True)
            textpage = pdf_page.get_textpage()
            text = textpage.get_text_range()
            boxes = []
            for passage in passages:
                span = find_words(text, passage) if passage.strip() else None
                boxes.append(_line_boxes(textpage, span[0], span[1], scale, height) if span else [])
            if not text.strip():  # a scanned page: the text and line boxes its recognition found (ocr.py)
                text, boxes = _recognised(Path(path), page, passages, bitmap.width, bitmap.height)
            rendered = RenderedPage(
                page=page, pages=pages, width=bitmap.width, height=bitmap.height, stride=bitmap.stride,
                channels=bitmap.n_channels, pixels=bytes(bitmap.buffer), boxes=boxes, text=text,
            )  # fmt: skip
            textpage.close()
            pdf_page.close()
            return rendered
        finally:
            document.close()


def _render_picture(path: Path, page: int, passages: Sequence[str], width_px: int) -> RenderedPage:
    from PIL import Image

    pages = picture_files.page_count(path)
    image = picture_files.load_page(path, page)
    scale = min(MAX_SCALE, max(0.05, width_px / max(1, image.width)))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    text, boxes = _recognised(path, page, passages, image.width, image.height)
    return RenderedPage(
        page=page, pages=pages, width=image.width, height=image.height, stride=image.width * 3, channels=3,
        pixels=image.tobytes(), boxes=boxes, text=text,
    )  # fmt: skip


def _recognised(path: Path, page: int, passages: Sequence[str], width: int, height: int) -> tuple[str, list[list[Box]]]:
    from desktop_app.core.rag import ocr

    result = ocr.cached_page(path, page)
    if result is None:
        return "", [[] for _ in passages]
    boxes = [
        [(left * width, top * height, right * width, bottom * height)
         for left, top, right, bottom in ocr.passage_boxes(result, passage)]
        for passage in passages
    ]  # fmt: skip
    return result.text, boxes
