"""Switching a collection's embedding model or backend: what it costs first (from measured
embedding speeds; nothing when the new backend makes the same vectors), then the switch itself
(index_collection then embeds again)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import embed_backends, embed_rates
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.embedder import fallback_reason, get_embedder
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.units import about_duration, plural


@dataclass(frozen=True)
class ModelChangePlan:
    collection: str
    current_model: str
    new_model: str
    files: int
    chunks: int  # chunks to embed again (the count now; the new tokenizer may cut a little differently)
    seconds: float | None  # estimate from a measured rate; None when no rate is known
    rate: float  # chunks per second used for the estimate
    rate_measured: bool  # measured for this very model and backend (not borrowed from another)
    current_backend: str = ""
    new_backend: str = ""
    reembed: bool = True  # False: the new backend makes the same vectors, nothing is embedded again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        new_label = embed_backends.backend(self.new_backend).label if self.new_backend else ""
        if not self.reembed:
            old_label = embed_backends.backend(self.current_backend).label
            return (
                f"Nothing is embedded again: {old_label} and {new_label} make the same vectors "
                f"(checked to a cosine of at least 0.999). New files will be embedded with {new_label}."
            )
        what = self.new_model + (f" ({new_label})" if new_label else "")
        text = f"{plural(self.chunks, 'chunk')} in {plural(self.files, 'file')} will be embedded again with {what}"
        if self.seconds is not None:
            basis = "" if self.rate_measured else " (estimated from the current model's speed)"
            text += f": about {about_duration(self.seconds)}{basis}"
        return text + "."


def plan_model_change(
    store: DocumentStore, name: str, new_model: str, new_backend: str | None = None
) -> ModelChangePlan:
    """What switching a collection's embedding model (or only its backend) costs, before doing it.
    A backend that makes the same vectors as the current one (PyTorch fp32 and ONNX fp32) costs
    nothing; any other change embeds every chunk again."""
    info = store.collection(name)
    backend = embed_backends.backend(new_backend or info.embed_backend).name
    same_model = new_model.strip() == info.embed_model
    reembed = not (same_model and embed_backends.same_vectors(info.embed_backend, backend))
    rates = embed_rates.rates(store)

    def model_of(key: str) -> str:
        return key.split("@")[0]

    def backend_of(key: str) -> str:
        return key.rpartition("#")[2] if "#" in key else "torch"  # rates from before backends were PyTorch's

    measured = next(
        (r for k, r in rates.items() if model_of(k) == new_model.strip() and backend_of(k) == backend), None
    )
    fallback = next((r for k, r in rates.items() if model_of(k) == info.embed_model), None)
    rate = measured or fallback or 0.0
    seconds = info.chunks / rate if rate and reembed else (0.0 if not reembed else None)
    return ModelChangePlan(
        info.name, info.embed_model, new_model.strip(), info.files, info.chunks if reembed else 0, seconds, rate,
        bool(measured), info.embed_backend, backend, reembed,
    )  # fmt: skip


def change_model(store: DocumentStore, name: str, new_model: str, new_backend: str | None = None) -> CollectionInfo:
    """Switches the model and/or backend (checking first that it loads); run index_collection
    next to re-embed (when the plan says so)."""
    info = store.collection(name)
    new_model = new_model.strip()
    backend = embed_backends.backend(new_backend or info.embed_backend).name
    if new_model == info.embed_model and backend == info.embed_backend:
        raise HearthError(f"“{info.name}” already uses {new_model} on {embed_backends.backend(backend).label}.")
    embedder = get_embedder(new_model, backend)  # fails here, in plain words, before anything is dropped
    if embedder.backend != backend:
        raise HearthError(
            f"The embedding backend “{embed_backends.backend(backend).label}” cannot run here.",
            fallback_reason(new_model, backend),
        )
    if new_model == info.embed_model and embed_backends.same_vectors(info.embed_backend, backend):
        return store.set_embed_backend(info, backend)
    return store.set_embed_model(info, new_model, backend)
