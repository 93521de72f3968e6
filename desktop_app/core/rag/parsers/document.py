"""What every parser makes: plain-text :class:`Block` s with their headings and pages, in a
:class:`ParsedDocument`; :class:`UnreadableDocument` for a file that cannot be read; the limits that
bound what one file yields; and :class:`TextBuilder`, which the HTML, EPUB, Office and notebook
readers write their text through."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.errors import HearthError

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
    kind: str  # "pdf" | "docx" | "odt" | "epub" | "markdown" | "html" | "text" | "code" | "picture"
    blocks: list[Block]
    title: str = ""
    pages: int | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    ocr: dict[int, float] = field(default_factory=dict)  # page -> recogniser's confidence, for pages read by OCR


def cap_text(doc: ParsedDocument) -> None:
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


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


_WHITESPACE = re.compile(r"\s+")


class TextBuilder:
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


def builder_notes(builder: TextBuilder) -> list[str]:
    return [truncated_note()] if builder.truncated else []
