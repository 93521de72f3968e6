"""Word (DOCX, through python-docx) and OpenDocument text (ODT, its content.xml): paragraphs,
tables as " | "-joined rows, heading styles as headings; the zip's parts size-checked first. With
OCR asked for, the text of a picture in a paragraph follows that paragraph (pictures.EmbeddedPictures)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from desktop_app.core import safe_zip
from desktop_app.core.rag.parsers.document import (
    DOCUMENT_TOTAL_LIMIT,
    HEADING_LIMIT,
    PART_SIZE_LIMIT,
    ParsedDocument,
    TextBuilder,
    UnreadableDocument,
    builder_notes,
    short,
)
from desktop_app.core.rag.parsers.pictures import EmbeddedPictures

if TYPE_CHECKING:
    from desktop_app.core.rag.ocr import OcrRequest

PICTURE_PART_LIMIT = 64 * 1024 * 1024  # one picture inside a document, inflated


def parse_docx(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    check_parts(path, "Word document")  # python-docx loads every part whole
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real Word document ({short(exc)}).") from None
    builder = TextBuilder()
    pictures = EmbeddedPictures(ocr)
    for item in document.iter_inner_content():
        if builder.full:
            builder.truncated = True
            break
        if isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = cell.text.strip()
                    if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                        cells.append(text)
                if cells:
                    builder.add_raw(" | ".join(cells))
                    builder.newline(1)
            builder.newline(2)
            continue
        text = item.text
        if text.strip():
            level = _docx_heading_level(item)
            if level is not None:
                builder.newline(2)
                builder.heading(level, text.strip())
            builder.add_raw(text.strip())
            builder.newline(2)
        if ocr is not None:
            _add_pictures(builder, pictures, _docx_pictures(document, item))
    title = (document.core_properties.title or "").strip()[:HEADING_LIMIT]
    notes = builder_notes(builder) + pictures.notes()
    return ParsedDocument(path, "docx", [builder.block()], title=title or path.stem, notes=notes)


def _docx_pictures(document: Any, paragraph: Any) -> list[tuple[bytes, str]]:
    """(bytes, part name) of the pictures drawn in ``paragraph`` (their parts were size-checked)."""
    found = []
    for rid in paragraph._element.xpath(".//a:blip/@r:embed"):
        part = document.part.related_parts.get(rid)
        if part is not None and hasattr(part, "blob"):
            found.append((part.blob, str(part.partname)))
    return found


def _add_pictures(builder: TextBuilder, pictures: EmbeddedPictures, found: list[tuple[bytes, str]]) -> None:
    for data, name in found:
        text = pictures.text(data, name)
        if text and not builder.full:
            builder.add_raw(text)
            builder.newline(2)


def check_parts(path: Path, what: str) -> None:
    """Refuses a zip whose XML parts would inflate past PART_SIZE_LIMIT, or all its parts past
    DOCUMENT_TOTAL_LIMIT, before a library loads them."""
    try:
        with zipfile.ZipFile(path) as archive:
            safe_zip.check_all(archive, total=DOCUMENT_TOTAL_LIMIT)
            for info in archive.infolist():
                if info.filename.lower().endswith((".xml", ".rels", ".xhtml", ".html", ".htm")):
                    safe_zip.check_member(info, PART_SIZE_LIMIT)
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real {what} ({short(exc)}).") from None
    except safe_zip.ZipTooLarge as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None


def _docx_heading_level(paragraph: Any) -> int | None:
    try:
        name = paragraph.style.name or ""
    except (AttributeError, KeyError, ValueError):
        return None
    if name == "Title":
        return 0
    match = re.match(r"Heading (\d)", name)
    return int(match.group(1)) if match else None


_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_XLINK = "http://www.w3.org/1999/xlink"


def parse_odt(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    try:
        with zipfile.ZipFile(path) as archive:
            root = ElementTree.fromstring(safe_zip.read_member(archive, "content.xml", PART_SIZE_LIMIT))
            return _read_odt(path, root, archive, ocr)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real OpenDocument text ({short(exc)}).") from None
    except safe_zip.ZipTooLarge as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None


def _read_odt(
    path: Path, root: ElementTree.Element, archive: zipfile.ZipFile, ocr: OcrRequest | None
) -> ParsedDocument:
    builder = TextBuilder()
    pictures = EmbeddedPictures(ocr)
    met: set[str] = set()
    heading_tag = f"{{{_ODF_TEXT}}}h"
    paragraph_tag = f"{{{_ODF_TEXT}}}p"
    for element in root.iter():
        if builder.full:
            builder.truncated = True
            break
        if element.tag not in (heading_tag, paragraph_tag):
            continue
        text = "".join(element.itertext()).strip()
        if text:
            if element.tag == heading_tag:
                builder.newline(2)
                builder.heading(int(element.get(f"{{{_ODF_TEXT}}}outline-level", "1")), text)
            builder.add_raw(text)
            builder.newline(2)
        if ocr is not None:
            _add_pictures(builder, pictures, _odt_pictures(archive, element, met))
    notes = builder_notes(builder) + pictures.notes()
    return ParsedDocument(path, "odt", [builder.block()], title=path.stem, notes=notes)


def _odt_pictures(archive: zipfile.ZipFile, paragraph: ElementTree.Element, met: set[str]) -> list[tuple[bytes, str]]:
    """(bytes, member name) of the pictures in ``paragraph`` not ``met`` before (a paragraph in a
    text box sits inside another), each read within PICTURE_PART_LIMIT; a missing member is skipped."""
    found = []
    for image in paragraph.iter(f"{{{_ODF_DRAW}}}image"):
        name = image.get(f"{{{_XLINK}}}href", "")
        if not name or name in met or name.startswith(("http:", "https:", "/", "..")):
            continue  # (linked from outside the file: never fetched)
        met.add(name)
        try:
            found.append((safe_zip.read_member(archive, name, PICTURE_PART_LIMIT), name))
        except KeyError:
            continue
    return found
