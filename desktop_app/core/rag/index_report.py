"""What an indexing run tells: its progress as it goes (``IndexProgress``) and its outcome
(``IngestReport``: files indexed, unchanged, removed, left out and why, speed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core.cancel import Progress
from desktop_app.core.rag.parsers.pictures import found_no_text
from desktop_app.core.units import about_duration, plural


@dataclass(frozen=True)
class IndexProgress(Progress):
    """``done``/``total`` count files; the rest is what the progress bar's label shows."""

    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_queued: int = 0  # chunks found so far (the reader runs ahead of the embedder)
    rate: float = 0.0  # chunks per second, end to end
    eta_s: float | None = None
    current: str = ""
    phase: str = "indexing"  # "waiting" | "loading" | "scanning" | "removing" | "indexing" | "done"
    ocr: str = ""  # "recognising page 3 of 12 of scan.pdf" while a scanned page is read (ocr.py)

    def describe(self) -> str:
        parts = [f"{self.files_done:,} of {plural(self.files_total, 'file')}", plural(self.chunks_done, "chunk")]
        if self.ocr:
            parts.append(self.ocr)
        if self.rate:
            parts.append(f"{self.rate:,.0f} chunks/s")
        if self.eta_s is not None and self.files_done < self.files_total:
            parts.append(f"about {about_duration(self.eta_s)} left")
        return " · ".join(parts)


IndexProgressCallback = Callable[[IndexProgress], None]


@dataclass
class SkippedFile:
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class IngestReport:
    """What an indexing run did; filled in as it goes, so a cancelled run's report is accurate."""

    collection: str
    indexed: list[str] = field(default_factory=list)  # new or changed files, now indexed
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # could not be read
    no_text: list[str] = field(default_factory=list)  # pictures with no text in them: left out, not failures
    notes: list[SkippedFile] = field(default_factory=list)  # indexed, with a remark (pages without text…)
    ignored: dict[str, int] = field(default_factory=dict)  # file types not read, by extension
    missing_sources: list[str] = field(default_factory=list)
    chunks_added: int = 0
    elapsed_s: float = 0.0  # all of it, loading the embedding model included
    index_s: float = 0.0  # reading, embedding and writing the files
    embed_s: float = 0.0
    cancelled: bool = False
    backend: str = ""  # what embedded this run's chunks
    backend_note: str = ""  # why it is not the collection's own backend (an exact one fell back to PyTorch)

    @property
    def rate(self) -> float:
        """Chunks per second, end to end (read, chunk, embed, store), model loading aside."""
        return self.chunks_added / self.index_s if self.index_s > 0 else 0.0

    def add_skipped(self, path: str, reason: str) -> None:
        """A file left out: a picture with no text apart from the files that could not be read."""
        if found_no_text(reason):
            self.no_text.append(path)
        else:
            self.skipped.append(SkippedFile(path, reason))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files_indexed"] = len(self.indexed)
        data["chunks"] = self.chunks_added
        data["chunks_per_s"] = round(self.rate, 1)
        return data

    def summary(self) -> str:
        text = f"{plural(len(self.indexed), 'file')} indexed ({plural(self.chunks_added, 'chunk')})"
        if self.unchanged:
            text += f", {self.unchanged} unchanged"
        if self.removed:
            text += f", {len(self.removed)} removed"
        if self.skipped:
            text += f", {len(self.skipped)} could not be read"
        if self.no_text:
            text += f", {plural(len(self.no_text), 'picture')} had no text"
        return text + (" — stopped before the end" if self.cancelled else "")
