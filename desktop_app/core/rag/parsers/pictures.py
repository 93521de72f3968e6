"""Picture files (PNG, JPEG, TIFF) added to a collection: their text read by text recognition
(OCR, ocr.py), one block per page (a TIFF's frames; any other picture is page 1), cached per file
hash like a scanned PDF page, so a stopped run resumes and a re-index reads nothing twice. The
picture is checked before anything is decoded (rag/picture_files.py: size, format, pixel count)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.rag import picture_files
from desktop_app.core.rag.parsers.document import Block, ParsedDocument, UnreadableDocument
from desktop_app.core.units import plural

if TYPE_CHECKING:
    from desktop_app.core.rag.ocr import OcrRequest

# In the reason a picture is skipped for while OCR is off: switching OCR on forgets such skips.
OCR_OFF = "text recognition (OCR) is switched off"


def parse_picture(path: Path, ocr: OcrRequest | None) -> ParsedDocument:
    from desktop_app.core.rag.ocr import recognise_picture

    try:
        pages = picture_files.page_count(path)
        if ocr is None:
            raise UnreadableDocument(
                f"This is a picture, and {OCR_OFF} for this collection.",
                "Switch it on in Settings › Documents to read the text in pictures.",
            )
        read, confidence, notes = recognise_picture(path, pages, ocr)
    except picture_files.UnreadablePicture as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None
    if not read:
        raise UnreadableDocument(
            notes[0] if notes else "No text was found in the picture.",
            "Text recognition reads printed text: check that the picture is upright and sharp.",
        )
    if len(read) < pages:
        has = "has" if pages - len(read) == 1 else "have"
        notes.append(f"{pages - len(read)} of its {plural(pages, 'page')} {has} no text that could be recognised.")
    blocks = [Block(result.text, page=result.page) for result in read]
    return ParsedDocument(path, "picture", blocks, title=path.stem, pages=pages, notes=notes, ocr=confidence)
