"""What the user added to their document collections, in SQLite: the collections, their sources
(files and folders, included or left out) and the manifest of indexed files (``rag_files``).

SQLite only: the vectors are Chroma's (vectors.py), a shared collection's manifest is mirrored
from its server (remote_store.py), and store.py keeps the two consistent. The tables are made by
the ``m003_documents`` migration in core/db.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import db as dbmod
from desktop_app.core import paths
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.embed_backends import DEFAULT_BACKEND
from desktop_app.core.rag.parsers.pictures import NO_TEXT

MAX_NAME = 80


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
    skipped: int = 0  # files that could not be read
    sources: int = 0
    embed_backend: str = "torch"  # what makes its vectors (embed_backends.py); "torch" before it was recorded
    server_url: str = ""  # a Chroma server holds it (remote_store.py); "" for the local store
    remote_digest: str = ""  # the server's manifest as last mirrored into rag_files
    no_text: int = 0  # pictures left out for having no text in them (not counted in ``skipped``)

    @property
    def shared(self) -> bool:
        return bool(self.server_url)

    @property
    def where(self) -> str:
        return f"on the Chroma server {self.server_url}" if self.server_url else "on this computer"

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

    def row(self, collection_id: int) -> tuple[Any, ...]:
        """The values of its ``rag_files`` row, in FILE_COLUMNS' order."""
        return (
            collection_id, self.path, self.status, self.size, self.mtime_ns, self.sha256, self.reason, self.kind,
            self.title, self.pages, self.chunks, self.chunker, self.embed_model_id, self.notes, self.indexed_at,
        )  # fmt: skip


FILE_COLUMNS = (
    "collection_id, path, status, size, mtime_ns, sha256, reason, kind, title, pages, chunks, chunker,"
    " embed_model_id, notes, indexed_at"
)
INSERT_FILE = f"INSERT OR REPLACE INTO rag_files ({FILE_COLUMNS}) VALUES ({', '.join('?' * 15)})"


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


def norm_path(path: str | Path) -> str:
    """The form every path is stored in: absolute, resolved (symlinks followed), as text."""
    return str(Path(path).expanduser().resolve())


def covered(path: str, sources: Sequence[Source]) -> bool:
    """Whether ``path`` belongs to the collection: inside an included source and not inside
    an excluded one (the most specific source wins)."""
    best: Source | None = None
    for source in sources:
        inside = path == source.path or (source.is_folder and path.startswith(source.path.rstrip(os.sep) + os.sep))
        if inside and (best is None or len(source.path) > len(best.path)):
            best = source
    return best is not None and best.mode == "include"


def new_store_name() -> str:
    """A fresh Chroma collection name for a local collection."""
    return f"hearth-{uuid.uuid4().hex[:16]}"


def check_name(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip()
    if not name:
        raise HearthError("A collection needs a name.")
    if len(name) > MAX_NAME:
        raise HearthError(f"That name is too long (at most {MAX_NAME} characters).")
    return name


class Catalog:
    """The SQLite side of the document collections. Safe to share between threads: each call
    opens its own short SQLite connection."""

    def __init__(self, db_path: Path | None = None, chroma_path: Path | None = None) -> None:
        self._db_path = db_path
        self._chroma_path = chroma_path

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        connection = dbmod.connect(self._db_path)
        try:
            yield connection
        finally:
            connection.close()

    @property
    def chroma_path(self) -> Path:
        return self._chroma_path or paths.chroma_dir()

    def bm25_dir(self, info: CollectionInfo) -> Path:
        return self.chroma_path / "hearth-bm25" / info.store_name

    # -- collections -----------------------------------------------------------------------------

    _COLLECTION_QUERY = f"""
        SELECT c.*,
            (SELECT COUNT(*) FROM rag_files f WHERE f.collection_id = c.id AND f.status = 'indexed') AS n_files,
            (SELECT COALESCE(SUM(chunks), 0) FROM rag_files f WHERE f.collection_id = c.id
                AND f.status = 'indexed') AS n_chunks,
            (SELECT COUNT(*) FROM rag_files f WHERE f.collection_id = c.id AND f.status = 'skipped'
                AND f.reason NOT LIKE '{NO_TEXT}%') AS n_skipped,
            (SELECT COUNT(*) FROM rag_files f WHERE f.collection_id = c.id AND f.status = 'skipped'
                AND f.reason LIKE '{NO_TEXT}%') AS n_no_text,
            (SELECT COUNT(*) FROM rag_sources s WHERE s.collection_id = c.id AND s.mode = 'include') AS n_sources
        FROM rag_collections c"""  # a picture with no text is not a file that failed

    @staticmethod
    def _collection(row: sqlite3.Row) -> CollectionInfo:
        return CollectionInfo(
            row["id"], row["name"], row["store_name"], row["embed_model"], row["chunk_tokens"], row["chunk_overlap"],
            row["revision"], bool(row["dirty"]), row["created_at"], row["updated_at"], row["n_files"],
            row["n_chunks"], row["n_skipped"], row["n_sources"], row["embed_backend"], row["server_url"],
            row["remote_digest"], row["n_no_text"],
        )  # fmt: skip

    def list_collections(self) -> list[CollectionInfo]:
        with self.db() as db:
            rows = db.execute(self._COLLECTION_QUERY + " ORDER BY c.name COLLATE NOCASE").fetchall()
        return [self._collection(row) for row in rows]

    def find(self, name: str) -> CollectionInfo | None:
        with self.db() as db:
            row = db.execute(self._COLLECTION_QUERY + " WHERE c.name = ?", (name.strip(),)).fetchone()
        return self._collection(row) if row else None

    def collection(self, name: str) -> CollectionInfo:
        info = self.find(name)
        if info is None:
            raise HearthError(f"There is no document collection named “{name}”.", "Check the name, or create it first.")
        return info

    def refresh(self, info: CollectionInfo) -> CollectionInfo:
        with self.db() as db:
            row = db.execute(self._COLLECTION_QUERY + " WHERE c.id = ?", (info.id,)).fetchone()
        if row is None:
            raise HearthError(f"The collection “{info.name}” was deleted.")
        return self._collection(row)

    def create_collection(
        self, name: str, embed_model: str, chunk_tokens: int, chunk_overlap: int, embed_backend: str = DEFAULT_BACKEND
    ) -> CollectionInfo:
        name = check_name(name)
        now = time.time()
        try:
            with self.db() as db, db:
                db.execute(
                    "INSERT INTO rag_collections (name, store_name, embed_model, embed_backend, chunk_tokens,"
                    " chunk_overlap, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, new_store_name(), embed_model, embed_backend, chunk_tokens, chunk_overlap, now, now),
                )
        except sqlite3.IntegrityError:
            raise HearthError(f"A collection named “{name}” already exists.", "Pick another name.") from None
        return self.collection(name)

    def rename_collection(self, old: str, new: str) -> CollectionInfo:
        info = self.collection(old)
        new = check_name(new)
        try:
            with self.db() as db, db:
                db.execute(
                    "UPDATE rag_collections SET name = ?, updated_at = ? WHERE id = ?", (new, time.time(), info.id)
                )
        except sqlite3.IntegrityError:
            raise HearthError(f"A collection named “{new}” already exists.", "Pick another name.") from None
        return self.collection(new)

    def set_embed_backend(self, info: CollectionInfo, backend: str) -> CollectionInfo:
        """Records another backend that makes the *same* vectors (embed_backends.same_vectors):
        nothing is embedded again; new files are embedded with it."""
        with self.db() as db, db:
            db.execute(
                "UPDATE rag_collections SET embed_backend = ?, updated_at = ? WHERE id = ?",
                (backend, time.time(), info.id),
            )
        return self.refresh(info)

    def _restart_collection(self, info: CollectionInfo, **columns: Any) -> None:
        """Empties the manifest and gives the collection a new Chroma name (and ``columns``)."""
        sets = "".join(f"{name} = ?, " for name in columns)
        with self.db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            db.execute(
                f"UPDATE rag_collections SET {sets}store_name = ?, revision = revision + 1, updated_at = ?"
                " WHERE id = ?",
                (*columns.values(), new_store_name(), time.time(), info.id),
            )

    def _forget_collection(self, info: CollectionInfo) -> None:
        with self.db() as db, db:
            db.execute("DELETE FROM rag_collections WHERE id = ?", (info.id,))

    # -- sources ---------------------------------------------------------------------------------

    def sources(self, info: CollectionInfo) -> list[Source]:
        with self.db() as db:
            rows = db.execute("SELECT * FROM rag_sources WHERE collection_id = ? ORDER BY path", (info.id,)).fetchall()
        return [_source(row) for row in rows]

    def add_source(self, info: CollectionInfo, path: str | Path, watch: bool | None = None) -> Source:
        """Adds a file or folder (an earlier exclusion of the same path is lifted)."""
        target = Path(path).expanduser()
        if not target.exists():
            raise HearthError(f"“{target}” does not exist.", "Check the path.")
        text = norm_path(target)
        is_folder = Path(text).is_dir()
        with self.db() as db, db:
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
        with self.db() as db, db:
            db.execute(
                "UPDATE rag_sources SET watch = ? WHERE collection_id = ? AND path = ? AND is_folder = 1",
                (int(watch), info.id, path),
            )

    def mark_scanned(self, info: CollectionInfo, source_paths: Sequence[str]) -> None:
        with self.db() as db, db:
            db.executemany(
                "UPDATE rag_sources SET scanned_at = ? WHERE collection_id = ? AND path = ?",
                [(time.time(), info.id, p) for p in source_paths],
            )

    def _take_out_source(self, info: CollectionInfo, path: str | Path) -> tuple[list[Source], set[str]]:
        """Takes ``path`` out of the collection's sources (see DocumentStore.remove_source): the
        sources before, and the files the manifest knows."""
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
        with self.db() as db, db:
            if exact is not None:
                db.execute("DELETE FROM rag_sources WHERE id = ?", (exact.id,))
            if inside:
                db.execute(
                    "INSERT OR REPLACE INTO rag_sources (collection_id, path, is_folder, mode, watch, added_at)"
                    " VALUES (?, ?, ?, 'exclude', 0, ?)",
                    (info.id, text, int(Path(text).is_dir() or (exact is not None and exact.is_folder)), time.time()),
                )
        return sources, known

    # -- the manifest ----------------------------------------------------------------------------

    def files(self, info: CollectionInfo, status: str | None = None) -> list[FileRecord]:
        query = "SELECT * FROM rag_files WHERE collection_id = ?"
        args: tuple[Any, ...] = (info.id,)
        if status:
            query += " AND status = ?"
            args += (status,)
        with self.db() as db:
            rows = db.execute(query + " ORDER BY path", args).fetchall()
        return [_file(row) for row in rows]

    def file(self, info: CollectionInfo, path: str) -> FileRecord | None:
        with self.db() as db:
            row = db.execute("SELECT * FROM rag_files WHERE collection_id = ? AND path = ?", (info.id, path)).fetchone()
        return _file(row) if row else None

    def file_map(self, info: CollectionInfo) -> dict[str, FileRecord]:
        return {f.path: f for f in self.files(info)}

    def indexed_versions(self, info: CollectionInfo) -> dict[str, str]:
        """path -> sha256 of the version whose chunks count (searches ignore any other)."""
        with self.db() as db:
            rows = db.execute(
                "SELECT path, sha256 FROM rag_files WHERE collection_id = ? AND status = 'indexed'", (info.id,)
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def set_dirty(self, info: CollectionInfo, dirty: bool) -> None:
        with self.db() as db, db:
            db.execute("UPDATE rag_collections SET dirty = ? WHERE id = ?", (int(dirty), info.id))

    def forget_files(self, info: CollectionInfo) -> None:
        """Empties the manifest (the sources stay), so the next run indexes every file again."""
        with self.db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            bump(db, info)

    def _record_files(self, info: CollectionInfo, records: Sequence[FileRecord]) -> None:
        with self.db() as db, db:
            db.executemany(INSERT_FILE, [record.row(info.id) for record in records])
            bump(db, info)

    def _touch_row(self, info: CollectionInfo, path: str, size: int, mtime_ns: int) -> None:
        with self.db() as db, db:
            db.execute(
                "UPDATE rag_files SET size = ?, mtime_ns = ? WHERE collection_id = ? AND path = ?",
                (size, mtime_ns, info.id, path),
            )

    def _delete_rows(self, info: CollectionInfo, file_paths: Sequence[str]) -> None:
        with self.db() as db, db:
            db.executemany(
                "DELETE FROM rag_files WHERE collection_id = ? AND path = ?", [(info.id, p) for p in file_paths]
            )
            bump(db, info)


def bump(db: sqlite3.Connection, info: CollectionInfo) -> None:
    """The collection's content changed: its revision goes up (the keyword index catches up)."""
    db.execute(
        "UPDATE rag_collections SET revision = revision + 1, updated_at = ? WHERE id = ?", (time.time(), info.id)
    )
