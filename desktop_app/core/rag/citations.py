"""The citation marks of an answer from documents: [1], [1, 2], [1-3], [Source 1], 【1】, [^1].

Apart from ``answer`` so that the claim check (``claims``) and the chat's Markdown can read
citations without importing the prompt assembly.
"""

from __future__ import annotations

import re

# [1]  [1, 2]  [1,2,3]  [1-3]  [1–3]  [Source 1]  [source 2, 3]  【1】  [^1]
CITATION = re.compile(
    r"[\[【]\s*(?:\^|sources?\s*|ref\.?\s*)?(\d{1,3}(?:\s*(?:[,;]|[-–])\s*(?:sources?\s*)?\d{1,3})*)\s*[\]】]",
    re.IGNORECASE,
)


def parse_citations(text: str) -> list[int]:
    """The source numbers cited in ``text``, in order of first appearance."""
    found: list[int] = []
    for match in CITATION.finditer(text):
        body = re.sub(r"(?i)sources?", "", match.group(1))
        for part in re.split(r"[,;]", body):
            part = part.strip()
            if not part:
                continue
            bounds = re.split(r"\s*[-–]\s*", part)
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
                low, high = int(bounds[0]), int(bounds[1])
                numbers = list(range(low, high + 1)) if 0 < high - low < 20 else [low, high]
            else:
                numbers = [int(p) for p in bounds if p.isdigit()]
            for number in numbers:
                if number not in found:
                    found.append(number)
    return found


def citation_spans(text: str) -> list[tuple[int, int, list[int]]]:
    """Where the citations are in ``text``: (start, end, the numbers cited there), in order
    (the chat turns each one into links)."""
    return [(m.start(), m.end(), parse_citations(m.group(0))) for m in CITATION.finditer(text)]


def strip_citations(text: str) -> str:
    """``text`` without its citation marks (an earlier answer sent back as history: its
    numbers referred to that answer's sources, not to the next one's)."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", CITATION.sub("", text)).strip()
