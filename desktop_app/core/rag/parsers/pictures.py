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
# The reason a picture in which recognition found no text is left out for: a photo, most likely, not
# a broken file. Recorded like a skip (not read again until it changes) but reported apart from the
# files that could not be read (the indexing report, `hearth docs`, the Documents view).
NO_TEXT = "No text was found in the picture."


def found_no_text(reason: str) -> bool:
    """Whether a file was left out for being a picture with no text in it (not a failure)."""
    return reason.startswith(NO_TEXT)


def parse_picture(path: Path, ocr: OcrRequest | None) -> ParsedDocument:
    from desktop_app.core.rag.ocr import recognise_picture

    try:
        pages = picture_files.page_count(path)
        if ocr is None:
            raise UnreadableDocument(
                f"This is a picture, and {OCR_OFF} for this collection.",
                "Switch it on in Settings › Text recognition (OCR), or with hearth docs ocr COLLECTION on.",
            )
        read, confidence, notes = recognise_picture(path, pages, ocr)
    except picture_files.UnreadablePicture as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None
    if not read and notes:  # recognition itself failed (not installed, a recogniser error)
        raise UnreadableDocument(
            notes[0], "Text recognition reads printed text: check that the picture is upright and sharp."
        )
    if not read:
        raise UnreadableDocument(
            NO_TEXT, "It is left out; if it does show printed text, check that the picture is upright and sharp."
        )
    if len(read) < pages:
        has = "has" if pages - len(read) == 1 else "have"
        notes.append(f"{pages - len(read)} of its {plural(pages, 'page')} {has} no text that could be recognised.")
    blocks = [Block(result.text, page=result.page) for result in read]
    return ParsedDocument(path, "picture", blocks, title=path.stem, pages=pages, notes=notes, ocr=confidence)


class EmbeddedPictures:
    """The text of the pictures inside a Word or OpenDocument file, read as the parser meets them
    (its text goes after the paragraph the picture sits in). Cheap only: at most MAX_EMBEDDED
    pictures, none under MIN_PIXELS (icons, rules), each recognised once per content (the OCR cache);
    with OCR off, or a picture unreadable or in another format (EMF, GIF), nothing."""

    MAX_EMBEDDED = 40
    MIN_PIXELS = 40_000  # 200 × 200: smaller ones are icons and decorations, not text

    def __init__(self, request: OcrRequest | None) -> None:
        self.request = request
        self.read = 0
        self.seen = 0
        self.confidences: list[float] = []

    def text(self, data: bytes, name: str) -> str:
        from desktop_app.core.rag import ocr

        if self.request is None or not ocr.available():
            return ""
        if not name.lower().endswith(tuple(picture_files.PICTURE_EXTENSIONS)):
            return ""
        self.seen += 1
        if self.seen > self.MAX_EMBEDDED:
            return ""
        try:
            result = ocr.recognise_bytes(data, name, self.request, self.MIN_PIXELS)
        except picture_files.UnreadablePicture:
            return ""
        if result is None or not result.lines:
            return ""
        self.read += 1
        self.confidences.append(result.confidence)
        return result.text

    def notes(self) -> list[str]:
        notes = []
        if self.read:
            mean = sum(self.confidences) / len(self.confidences)
            notes.append(
                f"Text in {plural(self.read, 'picture')} inside it was read by text recognition (OCR),"
                f" confidence {mean:.0%}."
            )
        if self.seen > self.MAX_EMBEDDED:
            notes.append(f"Only its first {self.MAX_EMBEDDED} pictures were read by text recognition.")
        return notes
