"""PDF: the text layer page by page (pypdf), with the outline's bookmarks as headings and the
printed page labels; pages without a text layer are recognised by OCR when asked (ocr.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.rag.parsers.document import Block, ParsedDocument, UnreadableDocument, short
from desktop_app.core.rag.parsers.text import clean_newlines
from desktop_app.core.units import plural

if TYPE_CHECKING:
    from desktop_app.core.rag.ocr import OcrRequest

log = logging.getLogger(__name__)

_HYPHENATED = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _clean_pdf_text(text: str) -> str:
    text = clean_newlines(text).replace("\x00", "")
    text = _HYPHENATED.sub(r"\1\2", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def parse_pdf(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(path, strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real PDF ({short(exc)}).") from None
    if reader.is_encrypted:
        try:
            unlocked = bool(reader.decrypt(""))  # many "protected" PDFs only restrict printing
        except (DependencyError, NotImplementedError, PdfReadError):
            unlocked = False
        if not unlocked:
            raise UnreadableDocument("The PDF is password-protected.", "Save an unprotected copy and add that instead.")
    try:
        n_pages = len(reader.pages)
    except (FileNotDecryptedError, PdfReadError, KeyError, ValueError, TypeError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real PDF ({short(exc)}).") from None
    if n_pages == 0:
        raise UnreadableDocument("The PDF has no pages.")
    outline = _pdf_outline(reader)
    labels = _pdf_labels(reader, n_pages)
    blocks: list[Block] = []
    unreadable_pages: list[int] = []
    empty_pages = 0
    blank: dict[int, tuple[str | None, str]] = {}  # page -> (label, heading), for OCR
    current_heading = ""
    for index in range(n_pages):
        number = index + 1
        for heading in outline.get(number, []):
            current_heading = heading
        try:
            text = _clean_pdf_text(reader.pages[index].extract_text() or "")
        except Exception:  # one bad page must not lose the others
            log.info("Page %d of %s unreadable", number, path, exc_info=True)
            unreadable_pages.append(number)
            continue
        label = labels[index] if labels and labels[index] != str(number) else None
        if not text:
            empty_pages += 1
            blank[number] = (label, current_heading)
            continue
        blocks.append(Block(text, page=number, page_label=label, headings=[(0, current_heading)]))
    notes = []
    recognised: dict[int, float] = {}
    if ocr is not None and blank:
        from desktop_app.core.rag.ocr import recognise_blocks

        ocr_pages, recognised, ocr_notes = recognise_blocks(path, blank, ocr)
        for result in ocr_pages:
            label, heading = blank[result.page]
            blocks.append(Block(result.text, page=result.page, page_label=label, headings=[(0, heading)]))
        blocks.sort(key=lambda b: b.page or 0)
        empty_pages -= len(recognised)
        notes.extend(ocr_notes)
    if not blocks:
        if unreadable_pages:
            raise UnreadableDocument("The PDF is damaged: none of its pages could be read.")
        raise UnreadableDocument(
            "The PDF has no text layer (it looks like a scanned image)"
            + (" and no text was recognised on its pages." if ocr is not None else "."),
            "Text recognition (OCR) is switched off for this collection: switch it on in Settings › Text "
            "recognition (OCR), or with hearth docs ocr COLLECTION on, to read it."
            if ocr is None
            else "Check that the scan is readable (upright, at least 200 dpi).",
        )
    if empty_pages:
        has, was = ("has", "was") if empty_pages == 1 else ("have", "were")
        notes.append(f"{empty_pages} of {plural(n_pages, 'page')} {has} no text (images or scans) and {was} left out.")
    if unreadable_pages:
        notes.append(f"Pages {', '.join(map(str, unreadable_pages[:10]))} could not be read.")
    title = ""
    try:
        metadata: Any = reader.metadata or {}
        title = str(metadata.get("/Title") or "").strip()
    except Exception:  # noqa: BLE001 - metadata of damaged files raises anything
        title = ""
    return ParsedDocument(path, "pdf", blocks, title=title or path.stem, pages=n_pages, notes=notes, ocr=recognised)


def _pdf_outline(reader: Any) -> dict[int, list[str]]:
    """Page number -> bookmark paths that start on it ("Chapter 2 > Methods")."""
    result: dict[int, list[str]] = {}

    def walk(items: Iterable[Any], parents: list[str]) -> None:
        last = ""
        for item in items:
            if isinstance(item, list):
                walk(item, [*parents, last] if last else parents)
                continue
            try:
                title = str(item.title).strip()
                page = reader.get_destination_page_number(item) + 1
            except Exception:  # noqa: BLE001 - broken bookmarks are common
                continue
            last = title
            result.setdefault(page, []).append(" > ".join([*parents, title]))

    try:
        walk(reader.outline, [])
    except Exception:  # noqa: BLE001 - an unreadable outline just means no headings
        return {}
    return result


def _pdf_labels(reader: Any, n_pages: int) -> list[str] | None:
    try:
        labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001 - page labels of damaged files raise anything
        return None
    return labels if len(labels) == n_pages else None
