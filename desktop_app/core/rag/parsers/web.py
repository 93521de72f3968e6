"""Web pages and e-books: the visible text of HTML (lxml's parser in linear time, scripts, styles
and hidden elements dropped, h1–h6 as headings) and EPUB chapters in reading order, each read once,
every part's inflated size checked before it is read."""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from desktop_app.core import safe_zip
from desktop_app.core.rag.parsers.document import (
    HEADING_LIMIT,
    PART_SIZE_LIMIT,
    TEXT_SIZE_LIMIT,
    Block,
    ParsedDocument,
    TextBuilder,
    UnreadableDocument,
    builder_notes,
    short,
)
from desktop_app.core.rag.parsers.text import BOMS, clean_newlines, decode_text

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

    def __init__(self, builder: TextBuilder | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.out = builder or TextBuilder()
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


def decode_html(data: bytes) -> tuple[str, str]:
    match = _META_CHARSET.search(data[:4096])
    if match and not any(data.startswith(bom) for bom, _ in BOMS):
        encoding = match.group(1).decode("ascii", "replace")
        try:
            return clean_newlines(data.decode(encoding)), encoding
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def parse_html(path: Path) -> ParsedDocument:
    size = path.stat().st_size
    if size > TEXT_SIZE_LIMIT:
        raise UnreadableDocument(f"The page is too large to index ({size / 1_048_576:.0f} MB).")
    markup, encoding = decode_html(path.read_bytes())
    parser = _VisibleText()
    parser.read(markup)
    title = re.sub(r"\s+", " ", html.unescape(parser.title)).strip()
    return ParsedDocument(
        path, "html", [parser.out.block()], title=title or path.stem, encoding=encoding, notes=builder_notes(parser.out)
    )


def parse_epub(path: Path) -> ParsedDocument:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"The file is damaged or is not a real EPUB ({short(exc)}).") from None
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
    builder = TextBuilder()
    title = ""
    # Each chapter once, however often the spine names it (an 846-byte EPUB whose spine repeats
    # one chapter would otherwise yield 150 M characters).
    for name in dict.fromkeys(_epub_spine(archive)):
        if name not in names:
            continue
        if builder.full:
            builder.truncated = True
            break
        markup, _ = decode_html(safe_zip.read_member(archive, name, PART_SIZE_LIMIT))
        parser = _VisibleText(builder)
        parser.read(markup)
        builder.newline(2)
        title = title or parser.title.strip()
    return ParsedDocument(path, "epub", [builder.block()], title=title or path.stem, notes=builder_notes(builder))


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
