"""Collections of documents: what the user added (SQLite), and the chunks' vectors (Chroma).

Two stores, one rule that keeps them consistent: **a file counts as indexed only
once all its chunks are in Chroma.** Writing a file is: upsert its chunks (ids are
derived from the path, the file's sha256 and the chunk's span, so writing the same
file twice changes nothing) -> delete the chunks of its previous version -> record
it in the manifest (``rag_files``). A crash between those steps leaves either
chunks the manifest does not know (searches ignore them, and the next run sweeps
them away) or a manifest row that is still the old version's (the file is simply
indexed again). Removing a file deletes its chunks first, then its row.

SQLite tables are created by the ``m003_documents`` migration in core/db.py. Chroma
runs embedded (``PersistentClient`` under ``paths.chroma_dir()``), with telemetry
off; Hearth always passes the vectors itself, so Chroma never loads (or downloads)
an embedding model of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import db as dbmod
from desktop_app.core import paths
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.embed_backends import DEFAULT_BACKEND

if TYPE_CHECKING:
    import numpy as np

    from desktop_app.core.rag.chunking import Chunk

log = logging.getLogger(__name__)

MAX_NAME = 80
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def chroma_client(path: Path | None = None) -> Any:
    """The embedded Chroma client for ``path`` (one per folder per process), telemetry off."""
    folder = str((path or paths.chroma_dir()).resolve())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(folder)
        if client is None:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            import chromadb
            from chromadb.config import Settings

            client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
            _CLIENTS[folder] = client
        return client


def norm_path(path: str | Path) -> str:
    """The form every path is stored in: absolute, resolved (symlinks followed), as text."""
    return str(Path(path).expanduser().resolve())


def chunk_id(path: str, file_sha: str, chunker: str, model_id: str, chunk: Chunk) -> str:
    key = f"{path}\n{file_sha}\n{chunker}\n{model_id}\n{chunk.page}\n{chunk.start}\n{chunk.end}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    store_name: str  # the Chroma collection
    embed_model: str
    chunk_tokens: int
    chunk_overlap: int
    revision: int  # goes up with every change to the indexed content
    dirty: bool  # an indexing run started and did not finish (crash): sweep before trusting
    created_at: float
    updated_at: float
    files: int = 0
    chunks: int = 0
    skipped: int = 0
    sources: int = 0
    embed_backend: str = "torch"  # what makes its vectors (embed_backends.py); "torch" before it was recorded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Source:
    id: int
    path: str
    is_folder: bool
    mode: str  # "include" | "exclude" (a file or folder inside an included folder, left out)
    watch: bool
    added_at: float
    scanned_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileRecord:
    path: str
    status: str  # "indexed" | "skipped"
    size: int
    mtime_ns: int
    sha256: str
    reason: str  # why it was skipped, in plain words
    kind: str
    title: str
    pages: int | None
    chunks: int
    chunker: str
    embed_model_id: str
    notes: str
    indexed_at: float

    @property
    def name(self) -> str:
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        row["path"], row["status"], row["size"], row["mtime_ns"], row["sha256"], row["reason"], row["kind"],
        row["title"], row["pages"], row["chunks"], row["chunker"], row["embed_model_id"], row["notes"],
        row["indexed_at"],
    )  # fmt: skip


def _source(row: sqlite3.Row) -> Source:
    return Source(
        row["id"], row["path"], bool(row["is_folder"]), row["mode"], bool(row["watch"]), row["added_at"],
        row["scanned_at"],
    )  # fmt: skip


def covered(path: str, sources: Sequence[Source]) -> bool:
    """Whether ``path`` belongs to the collection: inside an included source and not inside
    an excluded one (the most specific source wins)."""
    best: Source | None = None
    for source in sources:
        inside = path == source.path or (source.is_folder and path.startswith(source.path.rstrip(os.sep) + os.sep))
        if inside and (best is None or len(source.path) > len(best.path)):
            best = source
    return best is not None and best.mode == "include"


class DocumentStore:
    """Collections, sources, the manifest and the vectors. Safe to share between threads:
    each call opens its own short SQLite connection; Chroma's client is thread-safe."""

    def __init__(self, db_path: Path | None = None, chroma_path: Path | None = None) -> None:
        self._db_path = db_path
        self._chroma_path = chroma_path
        self._handles: dict[str, Any] = {}
        self._handles_lock = threading.Lock()

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = dbmod.connect(self._db_path)
        try:
            yield connection
        finally:
            connection.close()

    @property
    def chroma_path(self) -> Path:
        return self._chroma_path or paths.chroma_dir()

    def client(self) -> Any:
        return chroma_client(self._chroma_path)

    def vectors(self, info: CollectionInfo) -> Any:
        """The Chroma collection holding ``info``'s chunks (created on first use)."""
        with self._handles_lock:
            handle = self._handles.get(info.store_name)
            if handle is None:
                handle = self.client().get_or_create_collection(
                    info.store_name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"hearth_collection": info.name},
                )
                self._handles[info.store_name] = handle
            return handle

    # -- collections -----------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        with self._db() as db:
            rows = db.execute(self._COLLECTION_QUERY + " ORDER BY c.name COLLATE NOCASE").fetchall()
        return [self._collection(row) for row in rows]

    _COLLECTION_QUERY = """
        SELECT c.*,
            (SELECT COUNT(*) FROM rag_files f WHERE f.collection_id = c.id AND f.status = 'indexed') AS n_files,
            (SELECT COALESCE(SUM(chunks), 0) FROM rag_files f WHERE f.collection_id = c.id
                AND f.status = 'indexed') AS n_chunks,
            (SELECT COUNT(*) FROM rag_files f WHERE f.collection_id = c.id AND f.status = 'skipped') AS n_skipped,
            (SELECT COUNT(*) FROM rag_sources s WHERE s.collection_id = c.id AND s.mode = 'include') AS n_sources
        FROM rag_collections c"""

    @staticmethod
    def _collection(row: sqlite3.Row) -> CollectionInfo:
        return CollectionInfo(
            row["id"], row["name"], row["store_name"], row["embed_model"], row["chunk_tokens"], row["chunk_overlap"],
            row["revision"], bool(row["dirty"]), row["created_at"], row["updated_at"], row["n_files"],
            row["n_chunks"], row["n_skipped"], row["n_sources"], row["embed_backend"],
        )  # fmt: skip

    def find(self, name: str) -> CollectionInfo | None:
        with self._db() as db:
            row = db.execute(self._COLLECTION_QUERY + " WHERE c.name = ?", (name.strip(),)).fetchone()
        return self._collection(row) if row else None

    def collection(self, name: str) -> CollectionInfo:
        info = self.find(name)
        if info is None:
            raise HearthError(f"There is no document collection named “{name}”.", "Check the name, or create it first.")
        return info

    def refresh(self, info: CollectionInfo) -> CollectionInfo:
        with self._db() as db:
            row = db.execute(self._COLLECTION_QUERY + " WHERE c.id = ?", (info.id,)).fetchone()
        if row is None:
            raise HearthError(f"The collection “{info.name}” was deleted.")
        return self._collection(row)

    @staticmethod
    def _check_name(name: str) -> str:
        name = re.sub(r"\s+", " ", name).strip()
        if not name:
            raise HearthError("A collection needs a name.")
        if len(name) > MAX_NAME:
            raise HearthError(f"That name is too long (at most {MAX_NAME} characters).")
        return name

    def create_collection(
        self, name: str, embed_model: str, chunk_tokens: int, chunk_overlap: int, embed_backend: str = DEFAULT_BACKEND
    ) -> CollectionInfo:
        name = self._check_name(name)
        now = time.time()
        store_name = f"hearth-{uuid.uuid4().hex[:16]}"
        try:
            with self._db() as db, db:
                db.execute(
                    "INSERT INTO rag_collections (name, store_name, embed_model, embed_backend, chunk_tokens,"
                    " chunk_overlap, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, store_name, embed_model, embed_backend, chunk_tokens, chunk_overlap, now, now),
                )
        except sqlite3.IntegrityError:
            raise HearthError(f"A collection named “{name}” already exists.", "Pick another name.") from None
        return self.collection(name)

    def rename_collection(self, old: str, new: str) -> CollectionInfo:
        info = self.collection(old)
        new = self._check_name(new)
        try:
            with self._db() as db, db:
                db.execute(
                    "UPDATE rag_collections SET name = ?, updated_at = ? WHERE id = ?", (new, time.time(), info.id)
                )
        except sqlite3.IntegrityError:
            raise HearthError(f"A collection named “{new}” already exists.", "Pick another name.") from None
        return self.collection(new)

    def delete_collection(self, name: str) -> None:
        info = self.collection(name)
        with contextlib.suppress(Exception):  # a missing Chroma collection is fine
            self.client().delete_collection(info.store_name)
        with self._handles_lock:
            self._handles.pop(info.store_name, None)
        with self._db() as db, db:
            db.execute("DELETE FROM rag_collections WHERE id = ?", (info.id,))
        shutil.rmtree(self.bm25_dir(info), ignore_errors=True)

    def set_embed_model(self, info: CollectionInfo, model: str, backend: str | None = None) -> CollectionInfo:
        """Switches the collection to ``model`` (and ``backend``, when given): its vectors are
        dropped and every file will be indexed again on the next sync (see
        ingest.plan_model_change for the estimate)."""
        with contextlib.suppress(Exception):
            self.client().delete_collection(info.store_name)
        with self._handles_lock:
            self._handles.pop(info.store_name, None)
        with self._db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            db.execute(
                "UPDATE rag_collections SET embed_model = ?, embed_backend = ?, store_name = ?,"
                " revision = revision + 1, updated_at = ? WHERE id = ?",
                (model, backend or info.embed_backend, f"hearth-{uuid.uuid4().hex[:16]}", time.time(), info.id),
            )
        shutil.rmtree(self.bm25_dir(info), ignore_errors=True)
        return self.refresh(info)

    def set_embed_backend(self, info: CollectionInfo, backend: str) -> CollectionInfo:
        """Records another backend that makes the *same* vectors (embed_backends.same_vectors):
        nothing is embedded again; new files are embedded with it."""
        with self._db() as db, db:
            db.execute(
                "UPDATE rag_collections SET embed_backend = ?, updated_at = ? WHERE id = ?",
                (backend, time.time(), info.id),
            )
        return self.refresh(info)

    def bm25_dir(self, info: CollectionInfo) -> Path:
        return self.chroma_path / "hearth-bm25" / info.store_name

    # -- sources ---------------------------------------------------------------------------------

    def sources(self, info: CollectionInfo) -> list[Source]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM rag_sources WHERE collection_id = ? ORDER BY path", (info.id,)).fetchall()
        return [_source(row) for row in rows]

    def add_source(self, info: CollectionInfo, path: str | Path, watch: bool | None = None) -> Source:
        """Adds a file or folder (an earlier exclusion of the same path is lifted)."""
        target = Path(path).expanduser()
        if not target.exists():
            raise HearthError(f"“{target}” does not exist.", "Check the path.")
        text = norm_path(target)
        is_folder = Path(text).is_dir()
        with self._db() as db, db:
            row = db.execute(
                "SELECT * FROM rag_sources WHERE collection_id = ? AND path = ?", (info.id, text)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO rag_sources (collection_id, path, is_folder, mode, watch, added_at)"
                    " VALUES (?, ?, ?, 'include', ?, ?)",
                    (info.id, text, int(is_folder), int(bool(watch) and is_folder), time.time()),
                )
            else:
                new_watch = row["watch"] if watch is None else int(watch and is_folder)
                db.execute(
                    "UPDATE rag_sources SET mode = 'include', watch = ?, is_folder = ? WHERE id = ?",
                    (new_watch, int(is_folder), row["id"]),
                )
            result = db.execute(
                "SELECT * FROM rag_sources WHERE collection_id = ? AND path = ?", (info.id, text)
            ).fetchone()
        return _source(result)

    def set_watch(self, info: CollectionInfo, path: str, watch: bool) -> None:
        with self._db() as db, db:
            db.execute(
                "UPDATE rag_sources SET watch = ? WHERE collection_id = ? AND path = ? AND is_folder = 1",
                (int(watch), info.id, path),
            )

    def mark_scanned(self, info: CollectionInfo, source_paths: Sequence[str]) -> None:
        with self._db() as db, db:
            db.executemany(
                "UPDATE rag_sources SET scanned_at = ? WHERE collection_id = ? AND path = ?",
                [(time.time(), info.id, p) for p in source_paths],
            )

    def remove_source(self, info: CollectionInfo, path: str | Path) -> list[str]:
        """Takes ``path`` out of the collection and returns the files whose chunks were removed.

        ``path`` may be something that was added, or a file or folder inside an added folder
        (it is then excluded, so a later scan of the folder does not bring it back)."""
        text = norm_path(path)
        sources = self.sources(info)
        exact = next((s for s in sources if s.path == text), None)
        inside = any(
            s.mode == "include" and s.is_folder and text.startswith(s.path.rstrip(os.sep) + os.sep)
            for s in sources
            if s is not exact
        )
        known = {f.path for f in self.files(info)}
        if exact is None and not inside and text not in known:
            raise HearthError(f"“{path}” is not part of the collection “{info.name}”.")
        with self._db() as db, db:
            if exact is not None:
                db.execute("DELETE FROM rag_sources WHERE id = ?", (exact.id,))
            if inside:
                db.execute(
                    "INSERT OR REPLACE INTO rag_sources (collection_id, path, is_folder, mode, watch, added_at)"
                    " VALUES (?, ?, ?, 'exclude', 0, ?)",
                    (info.id, text, int(Path(text).is_dir() or (exact is not None and exact.is_folder)), time.time()),
                )
        remaining = self.sources(info)
        gone = [p for p in known if not covered(p, remaining)]
        self.remove_files(info, gone)
        return sorted(gone)

    # -- the manifest ----------------------------------------------------------------------------

    def files(self, info: CollectionInfo, status: str | None = None) -> list[FileRecord]:
        query = "SELECT * FROM rag_files WHERE collection_id = ?"
        args: tuple[Any, ...] = (info.id,)
        if status:
            query += " AND status = ?"
            args += (status,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY path", args).fetchall()
        return [_file(row) for row in rows]

    def file_map(self, info: CollectionInfo) -> dict[str, FileRecord]:
        return {f.path: f for f in self.files(info)}

    def indexed_versions(self, info: CollectionInfo) -> dict[str, str]:
        """path -> sha256 of the version whose chunks count (searches ignore any other)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT path, sha256 FROM rag_files WHERE collection_id = ? AND status = 'indexed'", (info.id,)
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def set_dirty(self, info: CollectionInfo, dirty: bool) -> None:
        with self._db() as db, db:
            db.execute("UPDATE rag_collections SET dirty = ? WHERE id = ?", (int(dirty), info.id))

    def _bump(self, db: sqlite3.Connection, info: CollectionInfo) -> None:
        db.execute(
            "UPDATE rag_collections SET revision = revision + 1, updated_at = ? WHERE id = ?", (time.time(), info.id)
        )

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
        ids = [chunk_id(record.path, record.sha256, record.chunker, record.embed_model_id, c) for c in chunks]
        metadatas = [self._chunk_metadata(record, c, metadata) for c in chunks]
        collection = self.vectors(info)
        step = max(1, min(5000, int(self.client().get_max_batch_size())))
        for start in range(0, len(ids), step):
            collection.upsert(
                ids=ids[start : start + step],
                embeddings=vectors[start : start + step],
                documents=[c.text for c in chunks[start : start + step]],
                metadatas=metadatas[start : start + step],
            )
        if replaces:
            collection.delete(where={"$and": [{"path": record.path}, {"file_sha": {"$ne": record.sha256}}]})
        self._record(info, record)

    @staticmethod
    def _chunk_metadata(record: FileRecord, chunk: Chunk, extra: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": record.path,
            "name": Path(record.path).name,
            "title": record.title,
            "kind": record.kind,
            "heading": chunk.heading,
            "start": chunk.start,
            "end": chunk.end,
            "index": chunk.index,
            "tokens": chunk.n_tokens,
            "file_sha": record.sha256,
            "chunk_sha": chunk.sha256,
            "chunker": record.chunker,
            "model": record.embed_model_id,
        }
        if chunk.page is not None:
            data["page"] = chunk.page
        if chunk.page_label:
            data["page_label"] = chunk.page_label
        data.update({k: v for k, v in extra.items() if v is not None})
        return data

    def _record(self, info: CollectionInfo, record: FileRecord) -> None:
        with self._db() as db, db:
            db.execute(
                "INSERT OR REPLACE INTO rag_files (collection_id, path, status, size, mtime_ns, sha256, reason, kind,"
                " title, pages, chunks, chunker, embed_model_id, notes, indexed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id, record.path, record.status, record.size, record.mtime_ns, record.sha256, record.reason,
                    record.kind, record.title, record.pages, record.chunks, record.chunker, record.embed_model_id,
                    record.notes, record.indexed_at,
                ),
            )  # fmt: skip
            self._bump(db, info)

    def mark_skipped(self, info: CollectionInfo, path: str, size: int, mtime_ns: int, sha256: str, reason: str) -> None:
        """Records a file that cannot be read (its earlier chunks, if any, are removed)."""
        self.vectors(info).delete(where={"path": path})
        record = FileRecord(path, "skipped", size, mtime_ns, sha256, reason, "", "", None, 0, "", "", "", time.time())
        self._record(info, record)

    def forget_files(self, info: CollectionInfo) -> None:
        """Empties the manifest (the sources stay), so the next run indexes every file again."""
        with self._db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            self._bump(db, info)

    def touch_file(self, info: CollectionInfo, path: str, size: int, mtime_ns: int) -> None:
        """The file's date changed but not its content: nothing to embed again."""
        with self._db() as db, db:
            db.execute(
                "UPDATE rag_files SET size = ?, mtime_ns = ? WHERE collection_id = ? AND path = ?",
                (size, mtime_ns, info.id, path),
            )

    def remove_files(self, info: CollectionInfo, file_paths: Sequence[str]) -> None:
        if not file_paths:
            return
        collection = self.vectors(info)
        for start in range(0, len(file_paths), 200):
            collection.delete(where={"path": {"$in": list(file_paths[start : start + 200])}})
        with self._db() as db, db:
            db.executemany(
                "DELETE FROM rag_files WHERE collection_id = ? AND path = ?", [(info.id, p) for p in file_paths]
            )
            self._bump(db, info)

    def sweep_orphans(self, info: CollectionInfo) -> int:
        """Deletes chunks that no indexed file version owns (left by a crash). Returns how many."""
        versions = self.indexed_versions(info)
        collection = self.vectors(info)
        stale: list[str] = []
        for ids, metadatas, _ in self.iter_chunks(info, include_documents=False):
            for chunk, meta in zip(ids, metadatas, strict=True):
                if versions.get(str(meta.get("path"))) != meta.get("file_sha"):
                    stale.append(chunk)
        for start in range(0, len(stale), 1000):
            collection.delete(ids=stale[start : start + 1000])
        if stale:
            log.info("Removed %d orphaned chunks from %s", len(stale), info.name)
        return len(stale)

    def iter_chunks(
        self, info: CollectionInfo, include_documents: bool = True, page_size: int = 5000
    ) -> Iterator[tuple[list[str], list[dict[str, Any]], list[str]]]:
        """All stored chunks, in pages: (ids, metadatas, documents)."""
        collection = self.vectors(info)
        include = ["metadatas", "documents"] if include_documents else ["metadatas"]
        offset = 0
        while True:
            result = collection.get(include=include, limit=page_size, offset=offset)
            ids = list(result["ids"])
            if not ids:
                return
            documents = list(result.get("documents") or [""] * len(ids))
            yield ids, [dict(m or {}) for m in result["metadatas"]], documents
            if len(ids) < page_size:
                return
            offset += page_size

    def chunk_count(self, info: CollectionInfo) -> int:
        return int(self.vectors(info).count())

    # -- measured embedding speed (for re-embed estimates) ------------------------------------

    def record_rate(self, model_id: str, chunks_per_s: float) -> None:
        if chunks_per_s <= 0:
            return
        with self._db() as db, db:
            db.execute(
                "INSERT OR REPLACE INTO rag_embed_rates (model_id, chunks_per_s, measured_at) VALUES (?, ?, ?)",
                (model_id, chunks_per_s, time.time()),
            )

    def rates(self) -> dict[str, float]:
        with self._db() as db:
            return {row[0]: float(row[1]) for row in db.execute("SELECT model_id, chunks_per_s FROM rag_embed_rates")}
