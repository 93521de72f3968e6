"""Reading documents into text, keeping what a citation needs: page numbers and headings.

:func:`parse` turns one file into a :class:`ParsedDocument`: a list of
:class:`Block` s, each a piece of plain text (one per PDF page, one for the whole
of any other file) with the headings that start inside it. Character offsets in a
block are what a chunk's span refers to: for text, Markdown and code files the block
is the file's decoded content unchanged, so a span points into the file itself.

A file that cannot be read raises :class:`UnreadableDocument` with the reason in
plain words (password-protected PDF, a scan without a text layer, damaged file,
binary data, …); the indexer lists it in its report and goes on with the others.
"""

from __future__ import annotations

import codecs
import html
import logging
import posixpath
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from desktop_app.core import safe_zip
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.units import plural

if TYPE_CHECKING:
    from desktop_app.core.rag.ocr import OcrRequest

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
KNOWN_NAMES = {"readme", "license", "copying", "makefile", "dockerfile", "changelog", "authors", "notice"}

TEXT_SIZE_LIMIT = 32 * 1024 * 1024  # text/code files larger than this are logs or data dumps, not documents
# The most text taken from one file, in characters (a long book is 2-4 M): what lies past it is
# left out and the file's report says so. It bounds what a zip bomb or a repeated chapter yields.
TEXT_CHAR_LIMIT = 20_000_000
# A part of a DOCX, ODT or EPUB that Hearth parses, inflated (a 1,000-page book's is ~20 MB).
PART_SIZE_LIMIT = 64 * 1024 * 1024
# All the parts of a DOCX together, inflated (python-docx holds every part, pictures included).
DOCUMENT_TOTAL_LIMIT = 256 * 1024 * 1024
HEADING_LIMIT = 300  # characters of one heading kept (a heading is a title, not a chapter)


class UnreadableDocument(HearthError):  # noqa: N818 - reads naturally: raise UnreadableDocument
    """A file the indexer skips; ``message`` says why in plain words."""


@dataclass
class Block:
    """Plain text plus where it came from. ``headings`` are (offset, heading path)
    pairs: the heading path applies from that offset to the next one."""

    text: str
    page: int | None = None  # 1-based physical page (PDF) or None
    page_label: str | None = None  # the page number printed on the page, when it differs
    headings: list[tuple[int, str]] = field(default_factory=list)

    def heading_at(self, offset: int) -> str:
        current = ""
        for start, heading in self.headings:
            if start > offset:
                break
            current = heading
        return current


@dataclass
class ParsedDocument:
    path: Path
    kind: str  # "pdf" | "docx" | "odt" | "epub" | "markdown" | "html" | "text" | "code"
    blocks: list[Block]
    title: str = ""
    pages: int | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    ocr: dict[int, float] = field(default_factory=dict)  # page -> recogniser's confidence, for pages read by OCR


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
    ):
        if suffix in extensions:
            return kind
    if not suffix and path.name.lower() in KNOWN_NAMES:
        return "text"
    return None


def parse(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    """Reads ``path``. Raises UnreadableDocument with a plain reason when it cannot. With
    ``ocr``, PDF pages without a text layer are recognised (ocr.py)."""
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
        doc = _parse_pdf(path, ocr) if kind == "pdf" else _PARSERS[kind](path)
    except (UnreadableDocument, Cancelled):
        raise
    except OSError as exc:
        raise UnreadableDocument(f"The file cannot be read ({exc.strerror or exc}).") from None
    except Exception as exc:  # third-party parsers raise anything on damaged files
        log.info("Parsing %s failed", path, exc_info=True)
        raise UnreadableDocument(f"The file looks damaged and could not be read ({_short(exc)}).") from None
    if not any(b.text.strip() for b in doc.blocks):
        raise UnreadableDocument("The file contains no text.")
    _cap_text(doc)
    return doc


def _cap_text(doc: ParsedDocument) -> None:
    """Keeps the first TEXT_CHAR_LIMIT characters of ``doc`` and says so in its notes."""
    total = 0
    for i, block in enumerate(doc.blocks):
        room = TEXT_CHAR_LIMIT - total
        if len(block.text) > room:
            block.text = block.text[:room]
            block.headings = [h for h in block.headings if h[0] < room]
            del doc.blocks[i + (1 if room else 0) :]
            if truncated_note() not in doc.notes:
                doc.notes.append(truncated_note())
            return
        total += len(block.text)


def truncated_note() -> str:
    return f"Only its first {TEXT_CHAR_LIMIT:,} characters were indexed; the rest was left out."


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


# -- text and encodings ------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WESTERN = {"cp1252", "latin_1", "iso8859_15"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) for the bytes of a text file: a BOM first, then UTF-8, then a
    detector (charset-normalizer). Raises UnreadableDocument for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _clean_newlines(data.decode(encoding)), encoding.replace("-sig", "")
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192]:
        raise UnreadableDocument("This is binary data, not text.")
    try:
        return _clean_newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    text, encoding = _detect(data)
    sample = text[:20000]
    if sample and len(_CONTROL.findall(sample)) > len(sample) * 0.01:
        raise UnreadableDocument("This is binary data, not text.")
    return _clean_newlines(text), encoding


def _detect(data: bytes) -> tuple[str, str]:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with requests; fall back to Windows-1252
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            return data.decode("latin-1"), "latin-1"
    matches = list(from_bytes(data[: 4 * 1024 * 1024]))
    if not matches:
        raise UnreadableDocument("This is binary data or uses a text encoding Hearth cannot recognise.")
    best = matches[0]
    # Short Western European texts fit several 8-bit code pages equally well (French read as
    # cp1250 turns "coûte" into "coűte"): among the equally good, prefer Windows-1252, by far
    # the most common legacy encoding, or any whose decoding is identical to it.
    tied = [
        m.encoding
        for m in matches
        if m.percent_chaos <= best.percent_chaos + 0.5 and m.percent_coherence >= best.percent_coherence - 1
    ]
    western = _WESTERN & set(tied)
    try:
        as_1252 = data.decode("cp1252")
    except UnicodeDecodeError:
        as_1252 = None
    if as_1252 is not None and (western or as_1252 == data.decode(best.encoding, errors="replace")):
        return as_1252, "cp1252"
    return data.decode(best.encoding, errors="replace"), best.encoding


def _clean_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_text(path: Path) -> tuple[str, str]:
    size = path.stat().st_size
    if size > TEXT_SIZE_LIMIT:
        raise UnreadableDocument(
            f"The file is too large to index as text ({size / 1_048_576:.0f} MB; the limit is "
            f"{TEXT_SIZE_LIMIT // 1_048_576} MB)."
        )
    return decode_text(path.read_bytes())


def _parse_text(path: Path) -> ParsedDocument:
    text, encoding = _read_text(path)
    return ParsedDocument(path, "text", [Block(text)], title=path.stem, encoding=encoding)


# Top-level definitions start a section in source code (Python, JS/TS, Go, Rust, Java, C#, Ruby…).
_CODE_DEF = re.compile(
    r"^(?:export\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:public\s+|private\s+|protected\s+|static\s+|abstract\s+|final\s+)*"
    r"(?:async\s+)?(?:def|class|function|func|fn|interface|struct|enum|trait|impl|module|type)\s+([A-Za-z_][\w.]*)",
    re.MULTILINE,
)


def _parse_code(path: Path) -> ParsedDocument:
    text, encoding = _read_text(path)
    if path.suffix.lower() == ".ipynb":
        return _parse_notebook(path, text, encoding)
    headings = [(m.start(), m.group(1)) for m in _CODE_DEF.finditer(text)]
    if headings and headings[0][0] > 0:
        headings.insert(0, (0, ""))
    return ParsedDocument(path, "code", [Block(text, headings=headings)], title=path.name, encoding=encoding)


def _parse_notebook(path: Path, raw: str, encoding: str) -> ParsedDocument:
    import json

    data = json.loads(raw)
    builder = _TextBuilder()
    for cell in data.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                match = re.match(r"^(#{1,6})\s+(.*)", line)
                if match:
                    builder.heading(len(match.group(1)), match.group(2).strip())
        builder.add_raw(source)
        builder.newline(2)
    return ParsedDocument(path, "code", [builder.block()], title=path.name, encoding=encoding)


# -- Markdown ------------------------------------------------------------------------------------


def _parse_markdown(path: Path) -> ParsedDocument:
    text, encoding = _read_text(path)
    return ParsedDocument(
        path, "markdown", [Block(text, headings=markdown_headings(text))], path.stem, encoding=encoding
    )


def markdown_headings(text: str) -> list[tuple[int, str]]:
    """(offset, "H1 > H2 > H3") for each heading, found with markdown-it (so '#' lines
    inside code blocks are not headings, and underlined headings are)."""
    from markdown_it import MarkdownIt

    line_starts = [0]
    for match in re.finditer("\n", text):
        line_starts.append(match.end())
    tokens = MarkdownIt("commonmark").parse(text)
    stack: list[tuple[int, str]] = []
    headings: list[tuple[int, str]] = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        level = int(token.tag[1:])
        title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        headings.append((line_starts[token.map[0]], " > ".join(t for _, t in stack if t)))
    return headings


# -- HTML ------------------------------------------------------------------------------------------


_WHITESPACE = re.compile(r"\s+")


class _TextBuilder:
    """Builds plain text while recording headings at their offsets. Keeps at most one
    blank line between blocks and no spaces at line starts. Every step costs the length of
    its own text only (a page of 100,000 ``<br>`` s reads in linear time). Past ``limit``
    characters it takes nothing more and sets ``truncated``."""

    def __init__(self, limit: int | None = None) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.last = "\n"
        self.headings: list[tuple[int, str]] = []
        self._stack: list[tuple[int, str]] = []
        self._newlines = 2
        self.limit = TEXT_CHAR_LIMIT if limit is None else limit
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.length >= self.limit

    def add(self, text: str, preformatted: bool = False) -> None:
        if preformatted:
            self.add_raw(text)
            return
        text = _WHITESPACE.sub(" ", text)
        if self.last in " \n":
            text = text.lstrip(" ")
        if text:
            self._append(text)

    def add_raw(self, text: str) -> None:
        if text:
            self._append(text)

    def _append(self, text: str) -> None:
        size = len(text)
        if self.length + size > self.limit:
            text = text[: max(0, self.limit - self.length)]
            self.truncated = True
            size = len(text)
            if not size:
                return
        self.parts.append(text)
        self.length += size
        last = self.last = text[-1]
        if last != "\n":
            self._newlines = 0
            return
        trailing = size - len(text.rstrip("\n"))
        self._newlines = trailing if trailing < size else self._newlines + size

    def newline(self, count: int = 1) -> None:
        if self.length == 0:
            return
        while self.last == " ":  # a line ends without its trailing spaces
            part = self.parts.pop()
            kept = part.rstrip(" ")
            self.length -= len(part) - len(kept)
            if kept:
                self.parts.append(kept)
            self.last = self.parts[-1][-1] if self.parts else "\n"
        need = count - self._newlines
        if need > 0:
            self._append("\n" * need)

    def heading(self, level: int, title: str) -> None:
        """Records a heading starting at the current offset (call before adding its text)."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title[:HEADING_LIMIT]))
        self.headings.append((self.length, " > ".join(t for _, t in self._stack if t)))

    def extend_heading(self, more: str) -> None:
        """Adds ``more`` to the heading just started (one split over several text nodes), up to
        HEADING_LIMIT characters: a heading of 100,000 nodes must not cost their square."""
        if not self.headings or not self._stack or not more:
            return
        level, title = self._stack[-1]
        if len(title) >= HEADING_LIMIT:
            return
        self._stack[-1] = (level, f"{title} {more}"[:HEADING_LIMIT])
        self.headings[-1] = (self.headings[-1][0], " > ".join(t for _, t in self._stack if t))

    def block(self, page: int | None = None) -> Block:
        return Block("".join(self.parts), page=page, headings=list(self.headings))


_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "canvas", "button"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "ul", "ol", "li", "dl", "dt",
    "dd", "table", "thead", "tbody", "tfoot", "tr", "blockquote", "pre", "figure", "figcaption", "form",
    "fieldset", "address", "details", "summary", "hr", "body", "html",
}  # fmt: skip
_VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _VisibleText(HTMLParser):
    """Visible text of an HTML page: scripts, styles, hidden elements and the head are dropped;
    block elements become line breaks; h1–h6 become headings."""

    def __init__(self, builder: _TextBuilder | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.out = builder or _TextBuilder()
        self.title = ""
        self._skip_stack: list[str] = []
        self._skip_counts: dict[str, int] = {}  # tags in _skip_stack: a stray end tag costs O(1)
        self._in_title = False
        self._pre = 0
        self._heading: tuple[int, list[str]] | None = None  # level, text parts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag in ("br", "hr") and not self._skip_stack:
                self.out.newline(1 if tag == "br" else 2)
            return
        attributes = dict(attrs)
        hidden = "hidden" in attributes or attributes.get("aria-hidden") == "true"
        style = (attributes.get("style") or "").replace(" ", "").lower()
        if tag in _SKIP_TAGS or hidden or "display:none" in style:
            self._push_skip(tag)  # (a <title> inside <head> is still read, for the document's name)
            return
        if self._skip_stack:
            self._push_skip(tag)
            if tag == "title":
                self._in_title = True
            return
        if tag == "title":
            self._in_title = True
        elif tag in _HEADING_TAGS:
            self.out.newline(2)
            self._heading = (_HEADING_TAGS[tag], [])
        elif tag in _BLOCK_TAGS:
            self.out.newline(2 if tag in ("p", "table", "ul", "ol", "pre", "blockquote") else 1)
            if tag == "pre":
                self._pre += 1
        elif tag in ("td", "th") and self.out.last not in "\n":
            self.out.add_raw(" | ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_stack:
            if self._skip_counts.get(tag):  # close it and anything left open inside it
                while (popped := self._skip_stack.pop()) != tag:
                    self._skip_counts[popped] -= 1
                self._skip_counts[tag] -= 1
            if tag == "title":
                self._in_title = False
            return
        if tag == "title":
            self._in_title = False
        elif tag in _HEADING_TAGS and self._heading is not None:
            self.out.newline(2)
            self._heading = None
        elif tag in _BLOCK_TAGS:
            if tag == "pre" and self._pre:
                self._pre -= 1
            self.out.newline(2 if tag in ("p", "table", "ul", "ol", "pre", "blockquote") else 1)

    def read(self, markup: str) -> None:
        """Reads a whole page: with libxml2's HTML parser (lxml, installed with python-docx),
        several times faster than html.parser on pages of many small tags, else html.parser."""
        try:
            from lxml import etree
        except ImportError:  # pragma: no cover - lxml comes with python-docx
            self.feed(markup)
            self.close()
            return
        parser = etree.HTMLParser(target=_LxmlEvents(self), huge_tree=True, recover=True, no_network=True)
        try:
            parser.feed(markup)
            parser.close()
        except etree.LxmlError:  # an empty or hopeless page: what was read so far stands
            pass

    def _push_skip(self, tag: str) -> None:
        self._skip_stack.append(tag)
        self._skip_counts[tag] = self._skip_counts.get(tag, 0) + 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            if len(self.title) < HEADING_LIMIT:
                self.title += data
            return
        out = self.out
        if self._skip_stack or out.length >= out.limit:
            return
        if self._heading is not None:
            level, parts = self._heading
            if not parts and data.strip():
                self.out.heading(level, data.strip())
            elif parts:
                # Headings split over several text nodes (<h2>Results <em>in</em> mice</h2>).
                self.out.extend_heading(data.strip())
            if data.strip() and not parts:
                parts.append(data)
        self.out.add(data, preformatted=self._pre > 0)


class _LxmlEvents:
    """lxml's parser target: hands its events to a _VisibleText as html.parser would."""

    def __init__(self, visible: _VisibleText) -> None:
        self.visible = visible

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.visible.handle_starttag(tag, list(attrib.items()) if attrib else [])

    def end(self, tag: str) -> None:
        if tag not in _VOID_TAGS:  # <br> and the like end where they start
            self.visible.handle_endtag(tag)

    def data(self, data: str) -> None:
        self.visible.handle_data(data)

    def close(self) -> None:
        return None


def html_to_block(markup: str) -> tuple[Block, str]:
    """(visible text with headings, the page title)."""
    parser = _VisibleText()
    parser.read(markup)
    return parser.out.block(), re.sub(r"\s+", " ", html.unescape(parser.title)).strip()


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)


def _decode_html(data: bytes) -> tuple[str, str]:
    match = _META_CHARSET.search(data[:4096])
    if match and not any(data.startswith(bom) for bom, _ in _BOMS):
        encoding = match.group(1).decode("ascii", "replace")
        try:
            return _clean_newlines(data.decode(encoding)), encoding
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def _parse_html(path: Path) -> ParsedDocument:
    size = path.stat().st_size
    if size > TEXT_SIZE_LIMIT:
        raise UnreadableDocument(f"The page is too large to index ({size / 1_048_576:.0f} MB).")
    markup, encoding = _decode_html(path.read_bytes())
    parser = _VisibleText()
    parser.read(markup)
    title = re.sub(r"\s+", " ", html.unescape(parser.title)).strip()
    return ParsedDocument(
        path, "html", [parser.out.block()], title=title or path.stem, encoding=encoding, notes=_notes(parser.out)
    )


# -- PDF -------------------------------------------------------------------------------------------

_HYPHENATED = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _clean_pdf_text(text: str) -> str:
    text = _clean_newlines(text).replace("\x00", "")
    text = _HYPHENATED.sub(r"\1\2", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def _parse_pdf(path: Path, ocr: OcrRequest | None = None) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(path, strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real PDF ({_short(exc)}).") from None
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
        raise UnreadableDocument(f"The file is damaged or is not a real PDF ({_short(exc)}).") from None
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
            "Run it through OCR (for example ocrmypdf) and add the result."
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


# -- DOCX, ODT, EPUB -------------------------------------------------------------------------------


def _parse_docx(path: Path) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    _check_parts(path, "Word document")  # python-docx loads every part whole
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real Word document ({_short(exc)}).") from None
    builder = _TextBuilder()
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
        if not text.strip():
            continue
        level = _docx_heading_level(item)
        if level is not None:
            builder.newline(2)
            builder.heading(level, text.strip())
        builder.add_raw(text.strip())
        builder.newline(2)
    title = (document.core_properties.title or "").strip()[:HEADING_LIMIT]
    return ParsedDocument(path, "docx", [builder.block()], title=title or path.stem, notes=_notes(builder))


def _check_parts(path: Path, what: str) -> None:
    """Refuses a zip whose XML parts would inflate past PART_SIZE_LIMIT, or all its parts past
    DOCUMENT_TOTAL_LIMIT, before a library loads them."""
    try:
        with zipfile.ZipFile(path) as archive:
            safe_zip.check_all(archive, total=DOCUMENT_TOTAL_LIMIT)
            for info in archive.infolist():
                if info.filename.lower().endswith((".xml", ".rels", ".xhtml", ".html", ".htm")):
                    safe_zip.check_member(info, PART_SIZE_LIMIT)
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real {what} ({_short(exc)}).") from None
    except safe_zip.ZipTooLarge as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None


def _notes(builder: _TextBuilder) -> list[str]:
    return [truncated_note()] if builder.truncated else []


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


def _parse_odt(path: Path) -> ParsedDocument:
    try:
        with zipfile.ZipFile(path) as archive:
            root = ElementTree.fromstring(safe_zip.read_member(archive, "content.xml", PART_SIZE_LIMIT))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real OpenDocument text ({_short(exc)}).") from None
    except safe_zip.ZipTooLarge as exc:
        raise UnreadableDocument(exc.message, exc.hint) from None
    builder = _TextBuilder()
    heading_tag = f"{{{_ODF_TEXT}}}h"
    paragraph_tag = f"{{{_ODF_TEXT}}}p"
    for element in root.iter():
        if builder.full:
            builder.truncated = True
            break
        if element.tag not in (heading_tag, paragraph_tag):
            continue
        text = "".join(element.itertext()).strip()
        if not text:
            continue
        if element.tag == heading_tag:
            builder.newline(2)
            builder.heading(int(element.get(f"{{{_ODF_TEXT}}}outline-level", "1")), text)
        builder.add_raw(text)
        builder.newline(2)
    return ParsedDocument(path, "odt", [builder.block()], title=path.stem, notes=_notes(builder))


def _parse_epub(path: Path) -> ParsedDocument:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real EPUB ({_short(exc)}).") from None
    with archive:
        try:
            return _read_epub(path, archive)
        except safe_zip.ZipTooLarge as exc:
            raise UnreadableDocument(exc.message, exc.hint) from None


def _read_epub(path: Path, archive: zipfile.ZipFile) -> ParsedDocument:
    safe_zip.check_all(archive)  # the chapters together, before any is read
    names = set(archive.namelist())
    if "META-INF/encryption.xml" in names and b"EncryptedData" in safe_zip.read_member(
        archive, "META-INF/encryption.xml", PART_SIZE_LIMIT
    ):
        raise UnreadableDocument("The e-book is protected by DRM.")
    builder = _TextBuilder()
    title = ""
    # Each chapter once, however often the spine names it (an 846-byte EPUB whose spine repeats
    # one chapter would otherwise yield 150 M characters).
    for name in dict.fromkeys(_epub_spine(archive)):
        if name not in names:
            continue
        if builder.full:
            builder.truncated = True
            break
        markup, _ = _decode_html(safe_zip.read_member(archive, name, PART_SIZE_LIMIT))
        parser = _VisibleText(builder)
        parser.read(markup)
        builder.newline(2)
        title = title or parser.title.strip()
    return ParsedDocument(path, "epub", [builder.block()], title=title or path.stem, notes=_notes(builder))


def _epub_spine(archive: zipfile.ZipFile) -> list[str]:
    """The chapters in reading order, from the package document named in container.xml."""
    container = ElementTree.fromstring(safe_zip.read_member(archive, "META-INF/container.xml", PART_SIZE_LIMIT))
    rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile")).get("full-path", "")
    opf = ElementTree.fromstring(safe_zip.read_member(archive, rootfile, PART_SIZE_LIMIT))
    base = PurePosixPath(rootfile).parent
    manifest = {e.get("id"): e.get("href", "") for e in opf.iter() if e.tag.endswith("}item") or e.tag == "item"}
    order = [e.get("idref") for e in opf.iter() if e.tag.endswith("itemref")]
    names = [str(base / manifest[i]) if str(base) != "." else manifest[i] for i in order if i in manifest]
    return [posixpath.normpath(name) for name in names]  # "a/../ch1.xhtml" is ch1.xhtml: read once


_PARSERS = {
    "pdf": _parse_pdf,
    "docx": _parse_docx,
    "odt": _parse_odt,
    "epub": _parse_epub,
    "markdown": _parse_markdown,
    "html": _parse_html,
    "text": _parse_text,
    "code": _parse_code,
}
