"""Indexing a collection: scan its sources, then read, embed and store what is new or changed
(index_pipeline.py), with progress and cancel; one indexer per collection at a time.

Restarts and crashes: progress is the manifest itself. A file is recorded as indexed
only after all its chunks are stored, so an interrupted run (cancel, crash, power
cut) is resumed by simply running again: finished files are skipped by the scan,
unfinished ones are indexed again under the same chunk ids (no duplicates), and
chunks left by a crash are swept (see store.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag import embed_backends, embed_rates
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.chunking import chunker_id
from desktop_app.core.rag.disk_room import DiskRoom
from desktop_app.core.rag.embedder import Embedder, expected_model_id, export_needed, fallback_reason, get_embedder
from desktop_app.core.rag.index_pipeline import IndexPipeline
from desktop_app.core.rag.index_report import IndexProgress, IndexProgressCallback, IngestReport
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.rag.vectors import CollectionDamagedError, StoreDamagedError, is_disk_full
from desktop_app.core.rag.watch import scan

log = logging.getLogger(__name__)


LOCK_WAIT_S = 6 * 3600.0  # a second indexer of one collection waits (with a message) rather than fail


def create_collection(
    store: DocumentStore,
    name: str,
    settings: rag_config.RagSettings | None = None,
    server: str | None = None,
    token: str | None = None,
) -> CollectionInfo:
    """A new collection in the local store, or on the Chroma server at ``server`` (joined when
    another client made it there; ``token`` None: the one saved for that server, if any)."""
    settings = settings or rag_config.load()
    backend = embed_backends.for_new_collection(settings.embed_backend)
    if server:
        return store.shared.create(
            name, server, token, settings.embed_model, backend, settings.chunk_tokens, settings.chunk_overlap,
            lambda model, chosen: embed_backends.vector_space(expected_model_id(model), chosen),
        )  # fmt: skip
    return store.create_collection(
        name, settings.embed_model, settings.chunk_tokens, settings.chunk_overlap, embed_backend=backend
    )


def ensure_collection(
    store: DocumentStore, name: str, settings: rag_config.RagSettings | None = None
) -> CollectionInfo:
    return store.find(name) or create_collection(store, name, settings)


def add_paths(
    store: DocumentStore,
    name: str,
    targets: Sequence[str | Path],
    watch: bool | None = None,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Adds files and folders to a collection (created when new) and indexes them."""
    info = ensure_collection(store, name)
    added = [store.add_source(info, target, watch) for target in targets]
    return index_collection(store, info.name, [s.path for s in added], cancel, progress, report)


def index_collection(
    store: DocumentStore,
    name: str,
    only: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Brings the index up to date with the collection's sources (or only those in ``only``):
    new and changed files are indexed, deleted ones removed. Raises Cancelled when stopped;
    ``report`` (if given) then holds what was done."""
    cancel = cancel or CancelToken()
    info = store.collection(name)
    report = report if report is not None else IngestReport(info.name)
    report.collection = info.name

    def waiting(text: str) -> None:
        log.warning("%s", text)
        if progress:
            progress(IndexProgress(0, None, text, phase="waiting"))

    # One writer per collection: a second program (or task) waits for the first, then finds its work done.
    with store.writing(info, wait_s=LOCK_WAIT_S, on_wait=waiting, cancelled=lambda: cancel.cancelled):
        return _index_locked(store, store.collection(info.name), only, cancel, progress, report)


def _index_locked(
    store: DocumentStore,
    info: CollectionInfo,
    only: Sequence[str] | None,
    cancel: CancelToken,
    progress: IndexProgressCallback | None,
    report: IngestReport,
) -> IngestReport:
    started = time.perf_counter()
    chunker = chunker_id(info.chunk_tokens, info.chunk_overlap)
    model_id = embed_backends.vector_space(expected_model_id(info.embed_model), info.embed_backend)
    # A shared collection: other clients' files first (and a refusal if its vectors are another model's).
    info = store.shared.pull(info, model_id, force=True)
    if not info.shared:
        problem = store.store_problem()
        if problem:
            raise store_damaged(info, problem)
    if info.chunks and not info.shared and store.chunk_count(info) == 0:
        # The vector store was deleted or replaced behind Hearth's back: index everything again.
        log.warning("The vectors of %s are gone; indexing its files again", info.name)
        store.forget_files(info)
        info = store.refresh(info)
    health = store.health(info, writing=True) if not info.shared else None
    if health is not None and health.state == "damaged":
        raise CollectionDamagedError(
            f"The collection “{info.name}” is damaged: {health.reason}.", health.advice(info.name)
        )
    if info.chunks and not info.shared:
        store.probe(info)  # a damaged index fails here in plain words, never as "N unchanged"
    if info.dirty:
        store.sweep_orphans(info)  # the last run did not finish: drop what it half-wrote
    room = DiskRoom(store.chroma_path, info.name)
    room.check()
    store.set_dirty(info, True)
    embedder: Embedder | None = None
    try:
        if progress:
            progress(IndexProgress(0, None, "Looking for new and changed files", phase="scanning"))
        plan = scan(
            store,
            info,
            only,
            cancel,
            needs_reindex=lambda r: r.status == "indexed" and (r.chunker != chunker or r.embed_model_id != model_id),
        )
        report.unchanged += plan.unchanged
        report.ignored = dict(Counter(report.ignored) + plan.ignored)
        report.missing_sources.extend(plan.missing_sources)
        for record in plan.still_skipped:
            report.add_skipped(record.path, record.reason)
        if plan.to_remove:
            if progress:
                progress(IndexProgress(0, None, "Removing deleted files", phase="removing"))
            store.remove_files(info, plan.to_remove)
            report.removed.extend(plan.to_remove)
        if plan.to_index:
            # The model loads only when there is something to embed: a scan that finds no change is cheap.
            if progress:
                message = (
                    "Preparing the embedding model for fast indexing (once)"
                    if export_needed(info.embed_model, info.embed_backend)
                    else "Loading the embedding model"
                )
                progress(IndexProgress(0, len(plan.to_index), message, phase="loading"))
            embedder = get_embedder(info.embed_model, info.embed_backend)
            report.backend = embedder.backend
            report.backend_note = fallback_reason(info.embed_model, info.embed_backend)
            cancel.raise_if_cancelled()
            pipeline = IndexPipeline(store, info, embedder, chunker, plan, cancel, progress, report, started)
            pipeline.room = room
            pipeline.run()
        elif progress:
            progress(IndexProgress(0, 0, "Up to date", phase="done"))
        store.mark_scanned(info, plan.scanned_sources)
    except Cancelled:
        store.set_dirty(info, False)  # a cancel stops between files: everything written is complete
        raise
    except HearthError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise room.full(len(report.indexed)) from exc
        raise
    else:
        store.set_dirty(info, False)  # (after any other error it stays set: the next run sweeps)
    finally:
        report.elapsed_s = time.perf_counter() - started
        if embedder is not None and embedder.rate:
            with contextlib.suppress(HearthError, OSError):
                embed_rates.record_rate(store, embedder.rate_key, embedder.rate)
    return report


def store_damaged(info: CollectionInfo, problem: str) -> HearthError:
    return StoreDamagedError(
        f"The collection “{info.name}” cannot be used: {problem[:1].lower()}{problem[1:]}",
        f"Rebuild it: hearth docs rebuild “{info.name}” (or Rebuild in Documents).",
    )


def rebuild_collection(
    store: DocumentStore,
    name: str,
    cancel: CancelToken | None = None,
    progress: IndexProgressCallback | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Rebuilds a collection whose vectors are damaged or lost: drops them, keeps its settings
    (model, backend, chunk sizes) and sources, and indexes every file again from the sources."""
    info = store.collection(name)
    with store.writing(info, wait_s=0):
        store.reset_vectors(info)
    return index_collection(store, info.name, None, cancel, progress, report)
