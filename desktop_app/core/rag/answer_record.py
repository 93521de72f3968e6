"""An answer from documents as a typed record: what the chat shows, stores and reads back.

:class:`RagAnswer` holds the answer's text, its sources (:class:`Citation`), the check of its
sentences (``SentenceCheck``), the context :class:`Budget` and the :class:`Inspector` record
(every candidate passage, what was dropped and why, the exact prompt). ``to_dict()`` is the JSON
a conversation stores and ``hearth ask --json`` prints; ``RagAnswer.from_dict`` reads it back,
also as stored by older versions (missing keys take defaults: ``core/records.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import records
from desktop_app.core.inference.engine import Message, Reply
from desktop_app.core.rag.claims import CheckedSentences, SentenceCheck
from desktop_app.core.rag.retrieve import Hit


def page_location(name: str, page: int | None, page_label: str | None = None) -> str:
    """ "report.pdf, page 3" (the printed page label when the PDF has one): how a source is named."""
    return name if page is None else f"{name}, {page_words(page, page_label)}"


def page_words(page: int | None, page_label: str | None = None) -> str:
    return "" if page is None else f"page {page_label or page}"


def ocr_words(confidence: float | None) -> str:
    """ "read from a scanned page · 93% sure" for a passage text recognition read; "" otherwise."""
    if confidence is None:
        return ""
    return f"read from a scanned page · {max(0.0, min(1.0, confidence)):.0%} sure"


OCR_TIP = "The page is a picture of text: Hearth read it by text recognition (OCR), and says how sure it was."


@dataclass(frozen=True)
class Budget:
    """Where the model's context goes. prompt = system + template + history + sources + question;
    prompt + answer + free = n_ctx. ``template`` is the chat template's own tokens."""

    n_ctx: int = 0
    system: int = 0
    template: int = 0
    history: int = 0
    sources: int = 0
    question: int = 0
    answer: int = 0  # kept free for the answer
    free: int = 0  # left over

    @property
    def prompt(self) -> int:
        return self.system + self.template + self.history + self.sources + self.question

    def to_dict(self) -> dict[str, int]:
        data = asdict(self)
        data["prompt"] = self.prompt
        return data


@dataclass
class Citation:
    number: int  # the [n] in the answer
    source: str  # file path
    name: str
    page: int | None
    page_label: str | None
    heading: str
    text: str  # the chunk as the model saw it
    snippet: str
    score: float
    vector_score: float | None
    keyword_score: float
    cited: bool  # False: retrieved and sent, but the answer does not refer to it
    matches_answer: bool  # Hearth's own check: some sentence of the answer says what this source says
    match: float  # how well the best-matching sentence matches it (0..1)
    chunk_id: str
    collection: str
    start: int
    end: int
    # The chunk's sentence closest to the answer (what the snippet and the viewer show): its span in ``text``.
    passage_start: int = -1
    passage_end: int = -1
    ocr_confidence: float | None = None  # the page was a scan read by text recognition, this sure

    @property
    def passage(self) -> str:
        return self.text[self.passage_start : self.passage_end] if self.passage_start >= 0 else ""

    @property
    def file_name(self) -> str:
        return self.name or Path(self.source).name

    @property
    def page_words(self) -> str:
        """ "page 3" (the printed label when the PDF has one), "" for a file without pages."""
        return page_words(self.page, self.page_label)

    @property
    def location(self) -> str:
        return page_location(self.file_name, self.page, self.page_label)

    @property
    def ocr_note(self) -> str:
        return ocr_words(self.ocr_confidence)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passage"] = self.passage
        return data


@dataclass
class RetrievedPassage:
    """One candidate of the search, best first, and what became of it (stored flattened: the
    hit's fields beside ``rank``, ``number``, ``status`` and ``cited``)."""

    hit: Hit
    rank: int = 0
    number: int | None = None  # the source number it was sent as
    status: str = ""  # "sent", "below the top k", why it was dropped
    cited: bool | None = None  # None: not sent

    @property
    def location(self) -> str:
        return page_location(self.hit.name or Path(self.hit.source).name, self.hit.page, self.hit.page_label)

    @property
    def ocr_note(self) -> str:
        return ocr_words(self.hit.ocr_confidence)

    def to_dict(self) -> dict[str, Any]:
        return {**self.hit.to_dict(), "rank": self.rank, "number": self.number, "status": self.status,
                "cited": self.cited}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> RetrievedPassage:
        return records.from_dict(cls, data, hit=records.from_dict(Hit, data))


@dataclass
class DroppedPassage:
    """Retrieved but not sent to the model, and why."""

    chunk_id: str = ""
    source: str = ""
    page: int | None = None
    reason: str = ""

    @property
    def location(self) -> str:
        return page_location(Path(self.source).name, self.page)


@dataclass
class PromptRecord:
    messages: list[Message] = field(default_factory=list)
    text: str = ""  # exactly what the model was given, in its chat template
    tokens: int = 0
    max_new_tokens: int = 0


@dataclass
class Inspector:
    """Everything needed to see why the answer is what it is."""

    query: str = ""
    collections: list[str] = field(default_factory=list)
    model: str = ""
    documents_only: bool = False
    nothing_relevant: bool = False
    k: int = 0
    min_similarity: float = 0.0
    reranker: str = ""
    notes: list[str] = field(default_factory=list)
    retrieved: list[RetrievedPassage] = field(default_factory=list)
    dropped: list[DroppedPassage] = field(default_factory=list)
    history_dropped: int = 0
    budget: Budget | None = None
    prompt: PromptRecord = field(default_factory=PromptRecord)
    retrieval_timings_ms: dict[str, float] = field(default_factory=dict)
    generation: dict[str, Any] | None = None  # the reply's Timings.to_dict(): shown as stored
    answer: str = ""
    cited: list[int] = field(default_factory=list)
    sentences: list[SentenceCheck] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["retrieved"] = [r.to_dict() for r in self.retrieved]
        data["budget"] = self.budget.to_dict() if self.budget is not None else None
        return data


@dataclass
class RagAnswer(CheckedSentences):  # claims, unsupported_claims
    text: str
    citations: list[Citation]  # every source sent, in number order; ``cited`` tells which the answer used
    invalid_citations: list[int]  # numbers in the answer that match no source
    no_answer: bool  # the answer says the documents do not contain it
    warnings: list[str]
    budget: Budget
    inspector: Inspector
    sentences: list[SentenceCheck] = field(default_factory=list)
    reply: Reply | None = None  # the live reply (not stored: None when read back)
    finish: str = "stop"

    @property
    def cited(self) -> list[Citation]:
        return [c for c in self.citations if c.cited]

    @property
    def grounded(self) -> bool:
        """It cites its sources, and every claim it makes is in them."""
        return bool(self.cited) and not self.unsupported_claims

    def citation(self, number: int) -> Citation | None:
        return next((c for c in self.citations if c.number == number), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "invalid_citations": self.invalid_citations,
            "no_answer": self.no_answer,
            "grounded": self.grounded,
            "claims": {"checked": len(self.claims), "unsupported": len(self.unsupported_claims)},
            "warnings": self.warnings,
            "sentences": [c.to_dict() for c in self.sentences],
            "budget": self.budget.to_dict(),
            "finish": self.finish,
            "inspector": self.inspector.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> RagAnswer:
        """The answer as stored (``to_dict()``), by this version or an older one; ``reply`` is None."""
        stored = dict(data) if isinstance(data, dict) else {}
        stored["text"] = stored.pop("answer", "")
        stored.pop("reply", None)
        return records.from_dict(cls, stored)
