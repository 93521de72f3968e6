"""Splitting documents into chunks measured in the embedding model's own tokens.

Why an own splitter rather than a library: the chunks must carry exact character
spans, page numbers and headings, and must never run past what the embedding model
reads (all-MiniLM-L6-v2 truncates after 256 word pieces, silently). The embedding
model's fast tokenizer already returns, for every token, its character offsets; one
tokenizer call per section gives exact token counts and exact spans, and the
splitter only has to choose where to cut. Libraries such as semantic-text-splitter
cut well but return bare strings (or byte offsets into one string), so page and
heading bookkeeping would still be ours, plus a native dependency.

How it cuts, for each section (the text under one heading, or one PDF page):
- a section that fits is one chunk; consecutive small sections on the same page are
  merged while they fit together;
- a longer one is cut at the best boundary in the second half of the window: a blank
  line (paragraph) beats a line break, which beats the end of a sentence, which beats
  a space between words; a cut never falls inside a word;
- the next chunk starts ``overlap`` tokens before the cut, moved forward to the start
  of a word, so a sentence on the border is found from both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desktop_app.core.rag.parsers import Block, ParsedDocument

CHUNKER_NAME = "hearth-tokens"
CHUNKER_VERSION = 1
DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 32
MAX_HEADING_CHARS = 160
PIECE_CHARS = 60_000  # very long sections are tokenized in pieces cut at paragraph breaks

# For a piece of text, the (start, end) character offsets of each of its tokens.
TokenOffsets = Callable[[str], Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class Chunk:
    text: str  # exactly block.text[start:end]
    page: int | None
    page_label: str | None
    heading: str
    start: int  # character span in the block's text (the page for PDFs, the whole text otherwise)
    end: int
    index: int  # position in the document
    n_tokens: int

    @property
    def embed_text(self) -> str:
        """What the embedding model reads: the heading path gives the chunk its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def chunker_id(size: int, overlap: int) -> str:
    """Recorded with every chunk: a change here means the collection must be re-chunked."""
    return f"{CHUNKER_NAME}-v{CHUNKER_VERSION}/{size}/{overlap}"


def chunk_document(
    doc: ParsedDocument,
    offsets: TokenOffsets,
    size: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    if size < 8:
        raise ValueError("chunk size must be at least 8 tokens")
    overlap = max(0, min(overlap, size // 2))
    chunks: list[Chunk] = []
    for block in doc.blocks:
        for start, end, heading, n_tokens, token_spans in _units(block, offsets, size):
            heading = heading[:MAX_HEADING_CHARS]
            room = size
            if heading:
                room = max(size // 2, size - len(offsets(heading)) - 1)
            if token_spans is None or n_tokens <= room:
                text = block.text[start:end]
                chunks.append(Chunk(text, block.page, block.page_label, heading, start, end, len(chunks), n_tokens))
                continue
            for i, j in split_tokens(block.text, token_spans, room, overlap):
                s, e = token_spans[i][0], token_spans[j - 1][1]
                chunks.append(Chunk(block.text[s:e], block.page, block.page_label, heading, s, e, len(chunks), j - i))
    return chunks


def _sections(block: Block) -> list[tuple[int, int, str]]:
    """(start, end, heading) covering the block's text."""
    marks = sorted(block.headings)
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, ""))
    result = []
    for n, (start, heading) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(block.text)
        if end > start:
            result.append((start, end, heading))
    return result


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cuts [start, end) into pieces of at most about PIECE_CHARS at paragraph or line breaks."""
    pieces = []
    while end - start > PIECE_CHARS:
        limit = start + PIECE_CHARS
        cut = text.rfind("\n\n", start + PIECE_CHARS // 2, limit)
        if cut < 0:
            cut = text.rfind("\n", start + PIECE_CHARS // 2, limit)
        if cut < 0:
            cut = text.rfind(" ", start + PIECE_CHARS // 2, limit)
        cut = limit if cut < 0 else cut + 1
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


Unit = tuple[int, int, str, int, list[tuple[int, int]] | None]


def _units(block: Block, offsets: TokenOffsets, size: int) -> list[Unit]:
    """Stretches of text to chunk: (start, end, heading, tokens, token spans or None when it fits).

    Small neighbouring sections are merged while they fit in one chunk together.
    """
    units: list[Unit] = []
    pending: list[tuple[int, int, str, int]] = []

    def flush() -> None:
        if not pending:
            return
        heading = _common_heading([h for _, _, h, _ in pending])
        units.append((pending[0][0], pending[-1][1], heading, sum(n for *_, n in pending), None))
        pending.clear()

    for sec_start, sec_end, heading in _sections(block):
        for start, end in _pieces(block.text, sec_start, sec_end):
            raw = block.text[start:end]
            lead = len(raw) - len(raw.lstrip())
            body = raw.strip()
            if not body:
                continue
            spans = [(s + start + lead, e + start + lead) for s, e in offsets(body)]
            if not spans:
                continue
            first, last = spans[0][0], spans[-1][1]
            n = len(spans)
            if n > size // 2:
                flush()
                units.append((first, last, heading, n, spans))
                continue
            if pending and sum(p[3] for p in pending) + n > size * 5 // 6:
                flush()
            pending.append((first, last, heading, n))
    flush()
    return units


def _common_heading(headings: Sequence[str]) -> str:
    """The heading of merged sections: their shared parent ("Notes" for "Notes > A" and
    "Notes > B"), else the distinct headings joined."""
    paths = [h.split(" > ") for h in headings if h]
    if not paths:
        return ""
    common: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if common:
        return " > ".join(common)
    return " / ".join(dict.fromkeys(h for h in headings if h))


def _gap_rank(text: str, spans: Sequence[tuple[int, int]], j: int) -> int:
    """How good a cut between token j-1 and token j is: 4 paragraph, 3 line, 2 sentence, 1 word, 0 inside a word."""
    gap = text[spans[j - 1][1] : spans[j][0]]
    if not gap:
        return 0
    newlines = gap.count("\n")
    if newlines >= 2:
        return 4
    if newlines == 1:
        return 3
    before = text[spans[j - 1][1] - 1] if spans[j - 1][1] > 0 else ""
    return 2 if before in ".!?;:…" else 1


def split_tokens(text: str, spans: Sequence[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """Token index ranges [i, j) of at most ``size`` tokens covering ``spans``, with overlap."""
    n = len(spans)
    if n <= size:
        return [(0, n)]
    result: list[tuple[int, int]] = []
    i = 0
    while True:
        if n - i <= size:
            result.append((i, n))
            return result
        hi = i + size
        lo = i + max(1, size // 2)
        best_j, best_rank = hi, -1
        for j in range(hi, lo - 1, -1):
            rank = _gap_rank(text, spans, j)
            if rank > best_rank:
                best_j, best_rank = j, rank
                if rank == 4:
                    break
        result.append((i, best_j))
        nxt = max(i + 1, best_j - overlap)
        if overlap:
            # Start the overlap at a word (better: a sentence) boundary, never mid-word.
            sentence = next((k for k in range(nxt, best_j) if _gap_rank(text, spans, k) >= 2), None)
            word = next((k for k in range(nxt, best_j) if _gap_rank(text, spans, k) >= 1), best_j)
            nxt = sentence if sentence is not None and sentence - nxt <= overlap // 2 else word
        i = nxt
