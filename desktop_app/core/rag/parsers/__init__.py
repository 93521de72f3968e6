"""Reading documents into text, keeping what a citation needs: page numbers and headings.

:func:`parse` turns one file into a :class:`ParsedDocument`: a list of
:class:`Block` s, each a piece of plain text (one per PDF page, one for the whole
of any other file) with the headings that start inside it. Character offsets in a
block are what a chunk's span refers to: for text, Markdown and code files the block
is the file's decoded content unchanged, so a span points into the file itself.

A file that cannot be read raises :class:`UnreadableDocument` with the reason in
plain words (password-protected PDF, a scan without a text layer, damaged file,
binary data, …); the indexer lists it in its report and goes on with the others.

One module per kind of file: ``pdf``, ``office`` (DOCX, ODT), ``web`` (HTML, EPUB), ``text``
(text, code, notebooks, Markdown), ``pictures`` (PNG, JPEG, TIFF, by OCR), on what they share in
``document``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import Cancelled
from desktop_app.core.rag import picture_files
from desktop_app.core.rag.parsers import office, pdf, text, web
from desktop_app.core.rag.parsers.document import (
    Block,
    ParsedDocument,
    UnreadableDocument,
    cap_text,
    short,
)
from desktop_app.core.rag.parsers.pictures import parse_picture

if TYPE_CHECKING:
    from desktop_app.core.rag.ocr import OcrRequest

__all__ = ["PARSER_VERSION", "Block", "ParsedDocument", "UnreadableDocument", "kind_for", "parse"]

log = logging.getLogger(__name__)

PARSER_VERSION = "1"

# Kinds of document, by file extension.
PDF_EXTENSIONS = {".pdf"}
DOCX_EXTENSIONS = {".docx"}
ODT_EXTENSIONS = {".odt"}
EPUB_EXTENSIONS = {".epub"}
MARKDOWN_EXTENSIONS = {".md", ".markdown", ".mdown", ".mkd"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
TEXT_EXTENSIONS = {".txt", ".text", ".rst", ".org", ".tex", ".bib", ".csv", ".tsv", ".log", ".adoc", ".srt", ".vtt"}
CODE_EXTENSIONS = {
    ".py", ".pyi", ".ipynb", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".java", ".kt", ".scala", ".c", ".h", ".cc",
    ".cpp", ".hpp", ".cxx", ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".m", ".r", ".jl", ".lua", ".pl",
    ".sh", ".bash", ".zsh", ".ps1", ".sql", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".xml", ".css",
    ".scss", ".vue", ".svelte", ".dart", ".ex", ".exs", ".erl", ".hs", ".ml", ".f90", ".cmake", ".gradle",
}  # fmt: skip
PICTURE_EXTENSIONS = picture_files.PICTURE_EXTENSIONS  # read by text recognition (OCR)
KNOWN_NAMES = {"readme", "license", "copying", "makefile", "dockerfile", "changelog", "authors", "notice"}


def kind_for(path: Path) -> str | None:
    """The kind of document ``path`` is, by its name; None when Hearth does not read it."""
    suffix = path.suffix.lower()
    for kind, extensions in (
        ("pdf", PDF_EXTENSIONS),
        ("docx", DOCX_EXTENSIONS),
        ("odt", ODT_EXTENSIONS),
        ("epub", EPUB_EXTENSIONS),
        ("markdown", MARKDOWN_EXTENSIONS),
        ("html", HTML_EXTENSIONS),
        ("text", TEXT_EXTENSIONS),
        ("code", CODE_EXTENSIONS),
        ("picture", PICTURE_EXTENSIONS),
    ):
        if suffix in extensions:
            return kind
    if not suffix and path.name.lower() in KNOWN_NAMES:
        return "text"
    return None


def parse(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    """Reads ``path``. Raises UnreadableDocument with a plain reason when it cannot. With
    ``ocr``, PDF pages without a text layer, pictures and pictures inside Word and OpenDocument
    files are recognised (ocr.py)."""
    kind = kind_for(path)
    if kind is None:
        raise UnreadableDocument(f"Hearth does not read “{path.suffix or path.name}” files.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableDocument(f"The file cannot be opened ({exc.strerror or exc}).") from None
    if size == 0:
        raise UnreadableDocument("The file is empty.")
    try:
        if kind == "pdf":
            doc = pdf.parse_pdf(path, ocr)
        elif kind == "picture":
            doc = parse_picture(path, ocr)
        elif kind == "docx":
            doc = office.parse_docx(path, ocr)
        elif kind == "odt":
            doc = office.parse_odt(path, ocr)
        else:
            doc = _PARSERS[kind](path)
    except (UnreadableDocument, Cancelled):
        raise
    except OSError as exc:
        raise UnreadableDocument(f"The file cannot be read ({exc.strerror or exc}).") from None
    except Exception as exc:  # third-party parsers raise anything on damaged files
        log.info("Parsing %s failed", path, exc_info=True)
        raise UnreadableDocument(f"The file looks damaged and could not be read ({short(exc)}).") from None
    if not any(b.text.strip() for b in doc.blocks):
        raise UnreadableDocument("The file contains no text.")
    cap_text(doc)
    return doc


_PARSERS: dict[str, Callable[[Path], ParsedDocument]] = {
    "epub": web.parse_epub,
    "markdown": text.parse_markdown,
    "html": web.parse_html,
    "text": text.parse_text,
    "code": text.parse_code,
}
