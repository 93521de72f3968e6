"""Plain text, source code, notebooks and Markdown: the file's decoded text is the block unchanged,
so a chunk's span points into the file itself. ``decode_text`` finds the encoding (a byte-order
mark, UTF-8, else a detector); dataset files are decoded by it too (runs/datasets.py)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from desktop_app.core.rag.parsers.document import (
    TEXT_SIZE_LIMIT,
    Block,
    ParsedDocument,
    TextBuilder,
    UnreadableDocument,
)

# The byte-order marks and the codec each names (UTF-32 first: its LE mark starts with UTF-16's).
BOMS = (
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
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return clean_newlines(data.decode(encoding)), encoding.replace("-sig", "")
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192]:
        raise UnreadableDocument("This is binary data, not text.")
    try:
        return clean_newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    text, encoding = _detect(data)
    sample = text[:20000]
    if sample and len(_CONTROL.findall(sample)) > len(sample) * 0.01:
        raise UnreadableDocument("This is binary data, not text.")
    return clean_newlines(text), encoding


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


def clean_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path) -> tuple[str, str]:
    size = path.stat().st_size
    if size > TEXT_SIZE_LIMIT:
        raise UnreadableDocument(
            f"The file is too large to index as text ({size / 1_048_576:.0f} MB; the limit is "
            f"{TEXT_SIZE_LIMIT // 1_048_576} MB)."
        )
    return decode_text(path.read_bytes())


def parse_text(path: Path) -> ParsedDocument:
    text, encoding = read_text(path)
    return ParsedDocument(path, "text", [Block(text)], title=path.stem, encoding=encoding)


# Top-level definitions start a section in source code (Python, JS/TS, Go, Rust, Java, C#, Ruby…).
_CODE_DEF = re.compile(
    r"^(?:export\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:public\s+|private\s+|protected\s+|static\s+|abstract\s+|final\s+)*"
    r"(?:async\s+)?(?:def|class|function|func|fn|interface|struct|enum|trait|impl|module|type)\s+([A-Za-z_][\w.]*)",
    re.MULTILINE,
)


def parse_code(path: Path) -> ParsedDocument:
    text, encoding = read_text(path)
    if path.suffix.lower() == ".ipynb":
        return _parse_notebook(path, text, encoding)
    headings = [(m.start(), m.group(1)) for m in _CODE_DEF.finditer(text)]
    if headings and headings[0][0] > 0:
        headings.insert(0, (0, ""))
    return ParsedDocument(path, "code", [Block(text, headings=headings)], title=path.name, encoding=encoding)


def _parse_notebook(path: Path, raw: str, encoding: str) -> ParsedDocument:
    import json

    data = json.loads(raw)
    builder = TextBuilder()
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



def parse_markdown(path: Path) -> ParsedDocument:
    text, encoding = read_text(path)
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
