"""Collections of documents: what the user added (SQLite, catalog.py), and the chunks' vectors
(Chroma: vectors.py on this computer, remote_store.py on a server).

Two stores, one rule that keeps them consistent: **a file counts as indexed only
once all its chunks are in Chroma.** Writing a file is: upsert its chunks (ids are
derived from the path, the file's sha256 and the chunk's span, so writing the same
file twice changes nothing) -> delete the chunks of its previous version -> record
it in the manifest (``rag_files``). A crash between those steps leaves either
chunks the manifest does not know (searches ignore them, and the next run sweeps
them away) or a manifest row that is still the old version's (the file is simply
indexed again). Removing a file deletes its chunks first, then its row.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import locks
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.catalog import Catalog, CollectionInfo, FileRecord, covered
from desktop_app.core.rag.remote_store import SharedCollections
from desktop_app.core.rag.vectors import TEXT_KEY, Health, LocalVectors, chunk_id, chunk_metadata, chunk_text

if TYPE_CHECKING:
    import numpy as np

    from desktop_app.core.rag.chunking import Chunk

log = logging.getLogger(__name__)

SHARED_SWEEP_GRACE_S = 3600


@dataclass(frozen=True)
class FileWrite:
    """A file to store: its manifest record, its chunks with their vectors (one row each), the
    metadata every chunk carries, and whether an earlier version's chunks are to be dropped."""

    record: FileRecord
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    metadata: dict[str, Any]
    replaces: bool = True


class DocumentStore(Catalog):
    """Collections, sources, the manifest (Catalog) and the vectors, kept consistent. Safe to
    share between threads: each call opens its own short SQLite connection; Chroma's client is
    thread-safe."""

    def __init__(self, db_path: Path | None = None, chroma_path: Path | None = None) -> None:
        super().__init__(db_path, chroma_path)
        self.local = LocalVectors(chroma_path)
        self.shared = SharedCollections(self)
        self._batch_sizes: dict[str, int] = {}

    def client(self) -> Any:
        return self.local.client()

    def vectors(self, info: CollectionInfo) -> Any:
        """The Chroma collection holding ``info``'s chunks (created on first use; on a server,
        made by SharedCollections.create); failures in plain words."""
        return self.shared.vectors(info) if info.server_url else self.local.collection(info)

    def _batch_size(self, info: CollectionInfo) -> int:
        """Chroma's largest write (asked once per store: on a server it is a request)."""
        key = info.server_url or "local"
        size = self._batch_sizes.get(key)
        if size is None:
            chroma = self.shared.server(info) if info.server_url else self.client()
            size = self._batch_sizes[key] = max(1, min(5000, int(chroma.get_max_batch_size())))
        return size

    # -- health ----------------------------------------------------------------------------------

    def probe(self, info: CollectionInfo) -> None:
        """One query through the collection's index (loading it): a damaged index fails here, as a
        :class:`CollectionDamagedError` naming the collection, rather than later or silently."""
        collection = self.vectors(info)
        first = collection.get(limit=1, include=["embeddings"])
        embeddings = first.get("embeddings")
        if embeddings is not None and len(embeddings):
            collection.query(query_embeddings=[[float(x) for x in embeddings[0]]], n_results=1, include=["distances"])

    def store_problem(self) -> str:
        """Why the local document store cannot be used ("" when it opens)."""
        return self.local.store_problem()

    def indexing_lock(self, info: CollectionInfo) -> Path:
        # Beside the store, not in it: a damaged store is moved aside whole, locks held or not.
        return self.chroma_path.parent / "locks" / f"collection-{info.id}.lock"

    def being_indexed_by(self, info: CollectionInfo) -> str:
        """Who is indexing the collection now (another program or task), or ""."""
        try:
            with locks.hold(self.indexing_lock(info), "", wait_s=0):
                return ""
        except locks.LockHeldError:
            return locks.holder(self.indexing_lock(info)) or "another Hearth program"
        except OSError:
            return ""

    def health(self, info: CollectionInfo, writing: bool = False, quick: bool = False) -> Health:
        """The collection's state, checked cheaply: its index files on disk, Chroma's count of
        its chunks against the manifest, and whether an indexing run was left unfinished.
        ``writing``: the caller holds the collection's lock (it is not "being indexed").
        ``quick``: without opening Chroma (the window's list: no heavy import on the GUI thread)."""
        if info.server_url:
            return Health("ok")
        who = "" if writing else self.being_indexed_by(info)
        if who:
            return Health("indexing", who)
        problem = (self.local.catalogue_problem() if quick else self.store_problem()) or self.local.segment_problem(
            info
        )
        if problem:
            return Health("damaged", problem.rstrip("."))
        if info.chunks and not quick:
            try:
                count = self.chunk_count(info)
            except HearthError as exc:
                return Health("damaged", exc.message)
            if count < info.chunks:
                return Health("damaged", f"{info.chunks - count:,} of its {info.chunks:,} chunks are missing")
        if info.dirty:
            return Health("interrupted", "an indexing run stopped before the end")
        return Health("ok")

    def reset_vectors(self, info: CollectionInfo) -> CollectionInfo:
        """Drops a local collection's vectors (whatever state their files are in) and empties its
        manifest; its settings and sources stay, so indexing it again rebuilds it. When Chroma
        cannot open the store at all, the store is moved aside (dated) and a new one begun."""
        if info.server_url:
            raise HearthError(
                f"“{info.name}” is kept on the Chroma server {info.server_url}: it is rebuilt there, not here.",
                "Ask the server's keeper, or make a new collection.",
            )
        if self.store_problem():
            self.local.move_aside()
        else:
            self.local.drop(info)
        self._restart_collection(info, dirty=0)
        shutil.rmtree(self.bm25_dir(info), ignore_errors=True)
        return self.refresh(info)

    # -- collections -----------------------------------------------------------------------------

    def delete_collection(self, name: str) -> None:
        """Deletes a local collection and its index. One on a server is only forgotten here: the
        server's copy is shared with others, and stays."""
        info = self.collection(name)
        with self.writing(info, wait_s=0):
            if info.server_url:
                self.shared.forget(info)
            elif not self.store_problem():  # else nothing of it can be read; a rebuild moves the store aside
                self.local.drop(info)
            self.local.forget(info.store_name)
            self._forget_collection(info)
            shutil.rmtree(self.bm25_dir(info), ignore_errors=True)
        with contextlib.suppress(OSError):
            self.indexing_lock(info).unlink()

    def writing(
        self,
        info: CollectionInfo,
        wait_s: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        """The collection's writer lock (indexing, rebuild, drop): one program at a time."""
        return locks.hold(
            self.indexing_lock(info),
            f"The collection “{info.name}”",
            wait_s=wait_s,
            on_wait=on_wait,
            cancelled=cancelled,
            hint="It is being indexed; wait for that to finish (or stop it), then try again.",
        )

    def set_embed_model(self, info: CollectionInfo, model: str, backend: str | None = None) -> CollectionInfo:
        """Switches the collection to ``model`` (and ``backend``, when given): its vectors are
        dropped and every file will be indexed again on the next sync (see
        model_change.plan_model_change for the estimate)."""
        if info.server_url:
            raise HearthError(
                f"“{info.name}” is shared on a Chroma server: it keeps the model its vectors were made with.",
                "Make a new collection to use another model.",
            )
        self.local.drop(info)
        self._restart_collection(info, embed_model=model, embed_backend=backend or info.embed_backend)
        shutil.rmtree(self.bm25_dir(info), ignore_errors=True)
        return self.refresh(info)

    # -- sources ---------------------------------------------------------------------------------

    def remove_source(self, info: CollectionInfo, path: str | Path) -> list[str]:
        """Takes ``path`` out of the collection and returns the files whose chunks were removed.

        ``path`` may be something that was added, or a file or folder inside an added folder
        (it is then excluded, so a later scan of the folder does not bring it back)."""
        sources, known = self._take_out_source(info, path)
        remaining = self.sources(info)
        # What the removed source brought in (a shared collection also has other clients' files).
        gone = [p for p in known if covered(p, sources) and not covered(p, remaining)]
        self.remove_files(info, gone)
        return sorted(gone)

    # -- files: chunks first, then the manifest ----------------------------------------------------

    def write_file(
        self,
        info: CollectionInfo,
        record: FileRecord,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        metadata: dict[str, Any],
        replaces: bool = True,
    ) -> None:
        """Stores a file's chunks, drops its previous version's, then records it as indexed.

        ``replaces=False`` (the manifest has no earlier version of this path) skips the delete:
        a query over every chunk's metadata, the costliest part of a write in a large
        collection. Chunks a crash left behind are swept at the next run anyway.
        """
        self.write_files(info, [FileWrite(record, chunks, vectors, metadata, replaces)])

    def write_files(self, info: CollectionInfo, files: Sequence[FileWrite]) -> None:
        """``write_file`` for several files at once: all their chunks, then all their records (one
        Chroma write and one manifest commit, each a disk sync, instead of one per file)."""
        import numpy as np

        if not files:
            return
        ids: list[str] = []
        metadatas: list[dict[str, Any]] = []
        documents: list[str] = []
        for file in files:
            record = file.record
            ids += [chunk_id(record.path, record.sha256, record.chunker, record.embed_model_id, c) for c in file.chunks]
            metadatas += [chunk_metadata(record, c, file.metadata) for c in file.chunks]
            if info.server_url:
                documents += [c.text for c in file.chunks]
            else:  # see TEXT_KEY
                for meta, c in zip(metadatas[-len(file.chunks) :], file.chunks, strict=True):
                    meta[TEXT_KEY] = c.text
        vectors = np.vstack([file.vectors for file in files]) if len(files) > 1 else files[0].vectors
        collection = self.vectors(info)
        step = self._batch_size(info)
        for start in range(0, len(ids), step):
            collection.upsert(
                ids=ids[start : start + step],
                embeddings=vectors[start : start + step],
                documents=documents[start : start + step] or None,
                metadatas=metadatas[start : start + step],
            )
        for file in files:
            if file.replaces:
                path, sha = file.record.path, file.record.sha256
                collection.delete(where={"$and": [{"path": path}, {"file_sha": {"$ne": sha}}]})
        self._record(info, [file.record for file in files])

    def _record(self, info: CollectionInfo, records: Sequence[FileRecord]) -> None:
        if info.server_url:  # the server's manifest first: it is what other clients trust
            self.shared.push(info, records)
        self._record_files(info, records)

    def mark_skipped(self, info: CollectionInfo, path: str, size: int, mtime_ns: int, sha256: str, reason: str) -> None:
        """Records a file that cannot be read (its earlier chunks, if any, are removed)."""
        self.vectors(info).delete(where={"path": path})
        record = FileRecord(path, "skipped", size, mtime_ns, sha256, reason, "", "", None, 0, "", "", "", time.time())
        self._record(info, [record])

    def touch_file(self, info: CollectionInfo, path: str, size: int, mtime_ns: int) -> None:
        """The file's date changed but not its content: nothing to embed again."""
        if info.server_url:
            known = self.file(info, path)
            if known is not None:
                self.shared.push(info, [replace(known, size=size, mtime_ns=mtime_ns)])
        self._touch_row(info, path, size, mtime_ns)

    def remove_files(self, info: CollectionInfo, file_paths: Sequence[str]) -> None:
        if not file_paths:
            return
        collection = self.vectors(info)
        for start in range(0, len(file_paths), 200):
            collection.delete(where={"path": {"$in": list(file_paths[start : start + 200])}})
        if info.server_url:
            self.shared.drop_records(info, file_paths)
        self._delete_rows(info, file_paths)

    def sweep_orphans(self, info: CollectionInfo) -> int:
        """Deletes chunks that no indexed file version owns (left by a crash). Returns how many."""
        versions = self.indexed_versions(info)
        collection = self.vectors(info)
        # On a server another client may be writing a file right now (its chunks go in before its
        # manifest record): only chunks older than that could take are swept there.
        before = time.time() - SHARED_SWEEP_GRACE_S if info.server_url else float("inf")
        stale: list[str] = []
        for ids, metadatas, _ in self.iter_chunks(info, include_documents=False):
            for chunk, meta in zip(ids, metadatas, strict=True):
                orphan = versions.get(str(meta.get("path"))) != meta.get("file_sha")
                if orphan and float(meta.get("written_at", 0) or 0) < before:
                    stale.append(chunk)
        for start in range(0, len(stale), 1000):
            collection.delete(ids=stale[start : start + 1000])
        if stale:
            log.info("Removed %d orphaned chunks from %s", len(stale), info.name)
        return len(stale)

    def iter_chunks(
        self, info: CollectionInfo, include_documents: bool = True, page_size: int = 5000
    ) -> Iterator[tuple[list[str], list[dict[str, Any]], list[str]]]:
        """All stored chunks, in pages: (ids, metadatas, texts); without documents the texts are ""."""
        collection = self.vectors(info)
        include = ["metadatas", "documents"] if include_documents else ["metadatas"]
        offset = 0
        while True:
            result = collection.get(include=include, limit=page_size, offset=offset)
            ids = list(result["ids"])
            if not ids:
                return
            metadatas = [dict(m or {}) for m in result["metadatas"]]
            documents = list(result.get("documents") or [None] * len(ids))
            texts = [chunk_text(d, m) for d, m in zip(documents, metadatas, strict=True)]
            yield ids, metadatas, texts if include_documents else [""] * len(ids)
            if len(ids) < page_size:
                return
            offset += page_size

    def chunk_count(self, info: CollectionInfo) -> int:
        return int(self.vectors(info).count())
