"""A cited document as text, with where the cited passage is in it: what the document viewer
shows for sources that are not PDFs (Word, HTML, Markdown, text, code…).

The text is the one Hearth indexed (the parser's), so a chunk's recorded span points into
it; when the file has changed since, the chunk and the passage are found by their words,
and when they are gone the viewer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.rag import parsers
from desktop_app.core.rag.locate import find_words
from desktop_app.core.rag.ocr import OcrRequest

BLOCK_SEPARATOR = "\n\n"


@dataclass
class SourceText:
    text: str
    chunk: tuple[int, int] | None  # the span of the cited chunk in ``text``; None: not found
    passage: tuple[int, int] | None  # the span of its sentence that matched the answer
    note: str = ""  # said above the text when something is not where it was


def load(path: str | Path, chunk: str, chunk_start: int = 0, passage: str = "") -> SourceText:
    """Reads ``path`` as Hearth indexed it and finds ``chunk`` (recorded at ``chunk_start`` in
    its block) and ``passage`` (a part of ``chunk``) in it. Raises HearthError (UnreadableDocument)
    when the file cannot be read."""
    # The text of scanned pages and pictures as indexing recognised it (the OCR cache), never anew.
    document = parsers.parse(Path(path), OcrRequest(cached_only=True))
    pieces: list[str] = []
    found: tuple[int, int] | None = None
    offset = 0
    for block in document.blocks:
        if found is None and chunk and block.text[chunk_start : chunk_start + len(chunk)] == chunk:
            found = (offset + chunk_start, offset + chunk_start + len(chunk))
        pieces.append(block.text)
        offset += len(block.text) + len(BLOCK_SEPARATOR)
    text = BLOCK_SEPARATOR.join(pieces)
    note = ""
    if found is None and chunk:
        found = find_words(text, chunk)
        if found is None:
            note = "The file has changed since it was indexed: the cited passage is no longer in it."
    at: tuple[int, int] | None = None
    if passage:
        if found is not None:
            inside = text.find(passage, found[0], found[1] + len(passage))
            at = (inside, inside + len(passage)) if inside >= 0 else find_words(text, passage, found[0])
        if at is None:
            at = find_words(text, passage)
    return SourceText(text, found, at, note)
