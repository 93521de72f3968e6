"""/v1/embeddings: the embedding models Hearth's documents use, by the names clients know them by.

The models served are the one chosen in Settings → Documents and those of the existing
collections. Each answers to its name as Hearth keeps it, to its short name, and to its Hugging
Face repository id (``sentence-transformers/all-MiniLM-L6-v2``), case aside. Input is text, or
token ids of the model's own vocabulary (decoded to text first). Runs off the event loop.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.server.model_access import ModelNotFoundError


@dataclass(frozen=True)
class EmbeddingModel:
    id: str  # the name Hearth keeps (Settings → Documents, a collection)
    aliases: frozenset[str]  # lowercase names that also reach it


def _aliases(name: str) -> frozenset[str]:
    name = name.strip()
    short = Path(name).name if ("/" in name or "\\" in name) else name
    names = {name, short, f"sentence-transformers/{short}"}
    return frozenset(n.lower() for n in names if n)


def embedding_models(db_path: Path) -> list[EmbeddingModel]:
    """The documents' embedding model, then the other models existing collections use."""
    from desktop_app.core.rag import documents_settings as rag_config

    names = [rag_config.load().embed_model]
    if db_path.exists():
        try:
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            try:
                names += [r[0] for r in db.execute("SELECT DISTINCT embed_model FROM rag_collections") if r[0]]
            finally:
                db.close()
        except sqlite3.Error:  # no documents yet (or an older database): the setting's model only
            pass
    seen: dict[str, EmbeddingModel] = {}
    for name in names:
        seen.setdefault(name.strip(), EmbeddingModel(name.strip(), _aliases(name)))
    return list(seen.values())


def find(models: list[EmbeddingModel], requested: str) -> EmbeddingModel:
    wanted = requested.strip().lower()
    for model in models:
        if wanted in model.aliases:
            return model
    names = ", ".join(m.id for m in models)
    raise ModelNotFoundError(
        f"Hearth embeds with the documents' embedding models ({names}), not “{requested}”.",
        "Send one of those names (the documents' model is chosen in Settings → Documents).",
    )


def embed(model: str, inputs: list[str | list[int]], encoding: str, dimensions: int | None) -> tuple[list[Any], int]:
    """(one embedding per input, as floats or base64 of little-endian float32; tokens read)."""
    from desktop_app.core.rag.embedder import get_embedder

    embedder = get_embedder(model)
    if dimensions is not None and dimensions != embedder.dimension:
        raise HearthError(f"“{model}” makes vectors of {embedder.dimension} dimensions, not {dimensions}.")
    texts: list[str] = []
    for item in inputs:
        if isinstance(item, str):
            texts.append(item)
            continue
        texts.append(embedder.decode_tokens(item))
    vectors = embedder.encode(texts)
    tokens = sum(len(i) if isinstance(i, list) else embedder.count_tokens(i) for i in inputs)
    if encoding == "base64":
        data: list[Any] = [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    else:
        data = vectors.tolist()
    return data, tokens
