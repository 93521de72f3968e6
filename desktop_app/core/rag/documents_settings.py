"""Settings for documents, persisted as JSON (``documents.json`` in the data directory).

Kept apart from the app's main settings file so the document pipeline can evolve
its options without touching the chat's; same rules: unknown keys are ignored,
missing or malformed ones take their defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import json_settings, paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.rag.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS
from desktop_app.core.rag.embed_backends import DEFAULT_BACKEND
from desktop_app.core.rag.embedder import DEFAULT_MODEL

FILE_NAME = "documents.json"


@dataclass
class RagSettings:
    """``embed_model``, ``embed_backend`` and the chunk sizes apply to new collections (a
    collection keeps the model and backend its vectors were made with until it is switched).
    ``min_similarity`` is the cosine similarity below which a retrieved chunk counts as unrelated
    to the question. ``reranker`` names a local cross-encoder model folder; empty means no reranking."""

    embed_model: str = DEFAULT_MODEL
    embed_backend: str = DEFAULT_BACKEND
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    chunk_overlap: int = DEFAULT_OVERLAP_TOKENS
    top_k: int = 5
    candidates: int = 40
    min_similarity: float = 0.25
    documents_only: bool = True
    reranker: str = ""
    answer_tokens: int = 512
    watch_interval_s: int = 60

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RagSettings:
        return json_settings.fill(cls, data, "documents setting", exact_bools=True)


def settings_path() -> Path:
    return paths.home() / FILE_NAME


def load(path: Path | None = None) -> RagSettings:
    return RagSettings.from_dict(json_settings.read_object(path or settings_path(), "Documents settings"))


def save(settings: RagSettings, path: Path | None = None) -> None:
    write_json_atomically(path or settings_path(), settings.to_dict())
