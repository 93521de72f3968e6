"""Finding a passage in a text by its words, whatever lies between them: the spacing and line
breaks of a PDF page, Markdown turned into rich text, citation marks the answer added.

The chat marks an answer's unsupported sentences in its rendered text this way, and the
document viewer finds the cited passage on the page or in the file."""

from __future__ import annotations

import re

from desktop_app.core.rag.citations import CITATION

_WORD = re.compile(r"\w+", re.UNICODE)
EDGE_WORDS = 6  # a passage whose middle differs (a hyphenated line break) is found by its ends


def words_with_spans(text: str, skip_citations: bool = False) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) for each word of ``text``; with ``skip_citations``, not
    the numbers inside citation marks."""
    marks = [(m.start(), m.end()) for m in CITATION.finditer(text)] if skip_citations else []
    found = []
    for match in _WORD.finditer(text):
        if marks and any(a <= match.start() < b for a, b in marks):
            continue
        found.append((match.group(0).lower(), match.start(), match.end()))
    return found


def _find_run(haystack: list[tuple[str, int, int]], needle: list[str], first: int) -> int:
    size = len(needle)
    for i in range(first, len(haystack) - size + 1):
        if haystack[i][0] == needle[0] and all(haystack[i + k][0] == needle[k] for k in range(1, size)):
            return i
    return -1


def find_words(text: str, passage: str, start: int = 0, skip_citations: bool = False) -> tuple[int, int] | None:
    """The span of ``text`` (from ``start`` on) holding ``passage``'s words in order, with only
    non-words between them; None when they are not there. A long passage whose middle does
    not match (a word hyphenated at a line break) is found by its first and last words."""
    needle = [w for w, _, _ in words_with_spans(CITATION.sub(" ", passage))]
    if not needle:
        return None
    haystack = words_with_spans(text, skip_citations)
    first = next((i for i, (_, a, _) in enumerate(haystack) if a >= start), len(haystack))
    found = _find_run(haystack, needle, first)
    if found >= 0:
        return haystack[found][1], haystack[found + len(needle) - 1][2]
    if len(needle) < 2 * EDGE_WORDS:
        return None
    head = _find_run(haystack, needle[:EDGE_WORDS], first)
    if head < 0:
        return None
    tail = _find_run(haystack, needle[-EDGE_WORDS:], head + EDGE_WORDS)
    if tail < 0 or tail + EDGE_WORDS - head > 2 * len(needle):
        return None
    return haystack[head][1], haystack[tail + EDGE_WORDS - 1][2]
