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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import db as dbmod
from desktop_app.core import locks, paths
from desktop_app.core.errors import HearthError
from desktop_app.core.rag import embed_backends, remote_store
from desktop_app.core.rag.embed_backends import DEFAULT_BACKEND

if TYPE_CHECKING:
    import numpy as np

    from desktop_app.core.rag.chunking import Chunk

log = logging.getLogger(__name__)

MAX_NAME = 80
SHARED_SWEEP_GRACE_S = 3600
PULL_EVERY_S = 5.0
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def chroma_client(path: Path | None = None) -> Any:
    """The embedded Chroma client for ``path`` (one per folder per process), telemetry off.
    A store Chroma cannot open is a :class:`StoreDamagedError` in plain words."""
    folder = str((path or paths.chroma_dir()).resolve())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(folder)
        if client is None:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            import chromadb
            from chromadb.config import Settings

            try:
                client = chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
            except Exception as exc:
                if is_disk_full(exc):
                    raise dbmod.disk_full_error(Path(folder), "the document store could not be opened") from exc
                raise StoreDamagedError(
                    f"The document store in “{folder}” cannot be opened ({_short(exc)}).",
                    "Rebuild a collection (hearth docs rebuild NAME, or Rebuild in Documents): the damaged "
                    "store is moved aside and your collections are indexed again from their files.",
                ) from exc
            _CLIENTS[folder] = client
        return client


def _forget_client(path: Path) -> None:
    folder = str(path.resolve())
    with _CLIENTS_LOCK:
        _CLIENTS.pop(folder, None)
    with contextlib.suppress(Exception):
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def is_disk_full(exc: BaseException) -> bool:
    """Whether a failure (an OSError, SQLite's or Chroma's own) comes from a full disk."""
    import errno

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen).lower()
        if "no space left" in text or "disk is full" in text or "database or disk is full" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class StoreDamagedError(HearthError):
    """Chroma cannot open the local document store (its files are damaged)."""


class CollectionDamagedError(HearthError):
    """A collection's vectors cannot be read, or fewer are there than the manifest says."""


@dataclass(frozen=True)
class Health:
    """A collection's state as listed: ``ok``, ``indexing`` (another program is at it),
    ``interrupted`` (an indexing run stopped before the end) or ``damaged``."""

    state: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "indexing")

    @property
    def flag(self) -> str:
        return {"ok": "", "indexing": "being indexed", "interrupted": "interrupted", "damaged": "DAMAGED"}[self.state]

    def advice(self, name: str) -> str:
        if self.state == "damaged":
            return f"Rebuild it: hearth docs rebuild “{name}” (or Rebuild in Documents)."
        if self.state == "interrupted":
            return f"Finish it: hearth docs sync “{name}” (or Update in Documents)."
        return ""

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}


# Files of a vector segment that are never empty once written (Chroma's local HNSW index).
_SEGMENT_FILES = ("header.bin", "data_level0.bin", "length.bin", "index_metadata.pickle")  # link_lists.bin may be empty


class _GuardedCollection:
    """A local Chroma collection whose failures name the collection and the fix (a damaged
    index raises all sorts of things from Chroma's core)."""

    def __init__(self, target: Any, name: str, folder: Path) -> None:
        self._target = target
        self._name = name
        self._folder = folder

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except HearthError:
                raise
            except Exception as exc:
                raise collection_failure(self._name, self._folder, exc) from exc

        return call


def collection_failure(name: str, folder: Path, exc: BaseException) -> HearthError:
    if is_disk_full(exc):
        return dbmod.disk_full_error(folder, f"the collection “{name}” could not be written")
    return CollectionDamagedError(
        f"The collection “{name}” is damaged: its vectors cannot be read ({_short(exc)}).",
        f"Rebuild it: hearth docs rebuild “{name}” (or Rebuild in Documents). Your files are indexed again.",
    )


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
    server_url: str = ""  # a Chroma server holds it (remote_store.py); "" for the local store
    remote_digest: str = ""  # the server's manifest as last mirrored into rag_files

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


def _manifest_id(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:40]


def _meta_from_record(record: FileRecord) -> dict[str, Any]:
    """A manifest record on the server (Chroma metadata holds no None)."""
    data = {k: v for k, v in asdict(record).items() if v is not None}
    data["mtime_ns"] = str(record.mtime_ns)  # beyond what every JSON reader keeps exact
    return data


def _record_from_meta(meta: dict[str, Any]) -> FileRecord:
    pages = meta.get("pages")
    return FileRecord(
        str(meta["path"]), str(meta.get("status", "indexed")), int(meta.get("size", 0)),
        int(meta.get("mtime_ns", 0)), str(meta.get("sha256", "")), str(meta.get("reason", "")),
        str(meta.get("kind", "")), str(meta.get("title", "")), int(pages) if pages is not None else None,
        int(meta.get("chunks", 0)), str(meta.get("chunker", "")), str(meta.get("embed_model_id", "")),
        str(meta.get("notes", "")), float(meta.get("indexed_at", 0.0)),
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
        self._pulled: dict[str, float] = {}  # shared collections: when their manifest was last mirrored
        self._batch_sizes: dict[str, int] = {}

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

    def client_for(self, info: CollectionInfo) -> Any:
        """The local Chroma client, or the collection's server's (failing in plain words)."""
        if info.server_url:
            return remote_store.Guarded(remote_store.client(info.server_url), info.server_url)
        return self.client()

    def vectors(self, info: CollectionInfo) -> Any:
        """The Chroma collection holding ``info``'s chunks (created on first use; on a server,
        made by create_remote_collection). Damaged files are found when it is opened, and any
        later failure of Chroma's names the collection and the fix (:class:`CollectionDamagedError`)."""
        if info.server_url:
            return self._remote_handle(info, info.store_name)
        with self._handles_lock:
            handle = self._handles.get(info.store_name)
            if handle is None:
                problem = self._segment_problem(info)
                if problem:
                    raise CollectionDamagedError(
                        f"The collection “{info.name}” is damaged: {problem}.", Health("damaged").advice(info.name)
                    )
                try:
                    client = self.client()
                except StoreDamagedError as exc:  # named: which collection cannot be used, and its fix
                    raise StoreDamagedError(
                        f"The collection “{info.name}” cannot be used: {exc.message[0].lower()}{exc.message[1:]}",
                        Health("damaged").advice(info.name) + " The damaged store is moved aside first.",
                    ) from exc
                try:
                    raw = client.get_or_create_collection(
                        info.store_name,
                        embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}},
                        metadata={"hearth_collection": info.name},
                    )
                except HearthError:
                    raise
                except Exception as exc:
                    raise collection_failure(info.name, self.chroma_path, exc) from exc
                handle = _GuardedCollection(raw, info.name, self.chroma_path)
                self._handles[info.store_name] = handle
            return handle

    # -- health ----------------------------------------------------------------------------------

    def _segment_dirs(self, info: CollectionInfo) -> list[Path]:
        """The folders of the collection's vector index, read from Chroma's own catalogue
        (without opening Chroma: a cheap look that works while Chroma cannot)."""
        catalogue = self.chroma_path / "chroma.sqlite3"
        if not catalogue.is_file() or catalogue.stat().st_size == 0:
            return []
        try:
            db = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True, timeout=5)
            try:
                rows = db.execute(
                    "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE c.name = ?",
                    (info.store_name,),
                ).fetchall()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return []
        return [self.chroma_path / str(r[0]) for r in rows if (self.chroma_path / str(r[0])).is_dir()]

    def _segment_problem(self, info: CollectionInfo) -> str:
        """What is wrong with the index files on disk ("" when nothing is seen)."""
        for folder in self._segment_dirs(info):
            for name in _SEGMENT_FILES:
                file = folder / name
                try:
                    size = file.stat().st_size
                except OSError:
                    continue
                if size == 0:
                    return f"its index file “{name}” is empty"
                if name.endswith(".pickle"):
                    with contextlib.suppress(OSError), open(file, "rb") as f:
                        if f.read(1) != b"\x80":
                            return f"its index file “{name}” is not readable"
        return ""

    def _catalogue_problem(self) -> str:
        """Chroma's catalogue (chroma.sqlite3) read with SQLite alone: damage found without Chroma."""
        catalogue = self.chroma_path / "chroma.sqlite3"
        if not catalogue.is_file():
            return ""
        try:
            db = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True, timeout=5)
            try:
                db.execute("SELECT COUNT(*) FROM collections").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc).lower():
                return ""
            return f"the document store's catalogue cannot be read ({exc})"
        return ""

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
        try:
            self.client()
        except HearthError as exc:
            return exc.message
        return ""

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
        problem = (self._catalogue_problem() if quick else self.store_problem()) or self._segment_problem(info)
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
            self._move_store_aside()
        else:
            self._drop_store_collection(info)
        with self._db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            db.execute(
                "UPDATE rag_collections SET store_name = ?, dirty = 0, revision = revision + 1, updated_at = ?"
                " WHERE id = ?",
                (f"hearth-{uuid.uuid4().hex[:16]}", time.time(), info.id),
            )
        shutil.rmtree(self.bm25_dir(info), ignore_errors=True)
        return self.refresh(info)

    def _drop_store_collection(self, info: CollectionInfo) -> None:
        """Deletes the Chroma collection and its index folder (Chroma leaves the folder)."""
        folders = self._segment_dirs(info)
        with contextlib.suppress(Exception):  # a missing or damaged Chroma collection is fine
            self.client().delete_collection(info.store_name)
        with self._handles_lock:
            self._handles.pop(info.store_name, None)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def _move_store_aside(self) -> Path:
        folder = self.chroma_path
        aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        _forget_client(folder)
        with self._handles_lock:
            self._handles.clear()
        os.replace(folder, aside)
        folder.mkdir(mode=0o700, exist_ok=True)
        log.warning("The document store was damaged; moved aside as %s", aside)
        return aside

    def _batch_size(self, info: CollectionInfo) -> int:
        """Chroma's largest write (asked once per store: on a server it is a request)."""
        key = info.server_url or "local"
        size = self._batch_sizes.get(key)
        if size is None:
            size = self._batch_sizes[key] = max(1, min(5000, int(self.client_for(info).get_max_batch_size())))
        return size

    def _remote_handle(self, info: CollectionInfo, name: str) -> Any:
        key = f"{info.server_url}#{name}"
        with self._handles_lock:
            handle = self._handles.get(key)
        if handle is None:
            server = self.client_for(info)
            handle = remote_store.Guarded(server.get_collection(name, embedding_function=None), info.server_url)
            with self._handles_lock:
                self._handles[key] = handle
        return handle

    def _manifest(self, info: CollectionInfo) -> Any:
        """The server's file manifest of a shared collection (remote_store.py)."""
        return self._remote_handle(info, remote_store.manifest_name(info.store_name))

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
            row["n_chunks"], row["n_skipped"], row["n_sources"], row["embed_backend"], row["server_url"],
            row["remote_digest"],
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
        """Deletes a local collection and its index. One on a server is only forgotten here: the
        server's copy is shared with others, and stays."""
        info = self.collection(name)
        with self.writing(info, wait_s=0):
            if not info.server_url:
                if self.store_problem():
                    pass  # nothing of it can be read; a later rebuild moves the whole store aside
                else:
                    self._drop_store_collection(info)
            with self._handles_lock:
                self._handles.pop(info.store_name, None)
            with self._db() as db, db:
                db.execute("DELETE FROM rag_collections WHERE id = ?", (info.id,))
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
        ingest.plan_model_change for the estimate)."""
        if info.server_url:
            raise HearthError(
                f"“{info.name}” is shared on a Chroma server: it keeps the model its vectors were made with.",
                "Make a new collection to use another model.",
            )
        self._drop_store_collection(info)
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
        # What the removed source brought in (a shared collection also has other clients' files).
        gone = [p for p in known if covered(p, sources) and not covered(p, remaining)]
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
        step = self._batch_size(info)
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
            "written_at": round(time.time(), 3),  # a shared collection's sweep spares recent chunks
        }
        if chunk.page is not None:
            data["page"] = chunk.page
        if chunk.page_label:
            data["page_label"] = chunk.page_label
        data.update({k: v for k, v in extra.items() if v is not None})
        return data

    def _record(self, info: CollectionInfo, record: FileRecord) -> None:
        if info.server_url:  # the server's manifest first: it is what other clients trust
            self._push_records(info, [record])
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
        if info.server_url:
            with self._db() as db:
                row = db.execute(
                    "SELECT * FROM rag_files WHERE collection_id = ? AND path = ?", (info.id, path)
                ).fetchone()
            known = _file(row) if row else None
            if known is not None:
                self._push_records(info, [replace(known, size=size, mtime_ns=mtime_ns)])
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
        if info.server_url:
            self._manifest(info).delete(ids=[_manifest_id(p) for p in file_paths])
        with self._db() as db, db:
            db.executemany(
                "DELETE FROM rag_files WHERE collection_id = ? AND path = ?", [(info.id, p) for p in file_paths]
            )
            self._bump(db, info)

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

    # -- collections on a Chroma server (remote_store.py) -------------------------------------------

    def create_remote_collection(
        self,
        name: str,
        url: str,
        token: str | None,
        embed_model: str,
        embed_backend: str,
        chunk_tokens: int,
        chunk_overlap: int,
        vectors_for: Callable[[str, str], str],
    ) -> CollectionInfo:
        """Makes the collection ``name`` on the server at ``url``, or joins it when another client
        made it (its model, backend and chunk sizes are then the server's). ``vectors_for(model,
        backend)`` is the vector space this computer makes with them (embed_backends.vector_space):
        a collection whose vectors another model made is refused. A token is kept with secrets.py."""
        name = self._check_name(name)
        url = remote_store.normalize_url(url)
        if self.find(name) is not None:
            raise HearthError(f"A collection named “{name}” already exists.", "Pick another name.")
        if token is not None:
            remote_store.save_token(url, token.strip())
        from chromadb.errors import NotFoundError

        server = remote_store.client(url, token.strip() if token is not None else None)
        store_name = remote_store.remote_name(name)
        with remote_store.translated(url):
            try:  # join it when it is there (get_or_create would rewrite the owner's metadata)
                collection = server.get_collection(store_name, embedding_function=None)
            except NotFoundError:
                wanted = {
                    "hearth_collection": name,
                    "hearth_format": remote_store.FORMAT,
                    "hearth_embed_model": embed_model,
                    "hearth_backend": embed_backend,
                    "hearth_vectors": vectors_for(embed_model, embed_backend),
                    "hearth_chunk_tokens": chunk_tokens,
                    "hearth_chunk_overlap": chunk_overlap,
                }
                collection = server.get_or_create_collection(
                    store_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=wanted
                )
            meta = dict(collection.metadata or {})
            embed_model = str(meta.get("hearth_embed_model", embed_model))
            embed_backend = embed_backends.for_new_collection(str(meta.get("hearth_backend", embed_backend)))
            vectors = vectors_for(embed_model, embed_backend)
            remote_store.check_compatible(meta, vectors, name, url)
            # The manifest: one record per file; Chroma wants a vector per record, so each gets [1.0].
            server.get_or_create_collection(
                remote_store.manifest_name(store_name), embedding_function=None, metadata={"hearth_manifest_of": name}
            )
        now = time.time()
        try:
            with self._db() as db, db:
                db.execute(
                    "INSERT INTO rag_collections (name, store_name, embed_model, embed_backend, chunk_tokens,"
                    " chunk_overlap, created_at, updated_at, server_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name, store_name, embed_model, embed_backend,
                        int(meta.get("hearth_chunk_tokens", chunk_tokens)),
                        int(meta.get("hearth_chunk_overlap", chunk_overlap)), now, now, url,
                    ),
                )  # fmt: skip
        except sqlite3.IntegrityError:
            raise HearthError(
                f"“{name}” on {url} is already a collection on this computer.", "It is in the list already."
            ) from None
        return self.pull(self.collection(name), vectors, force=True)

    def server_metadata(self, info: CollectionInfo) -> dict[str, Any]:
        return dict(self.vectors(info).metadata or {})

    def pull(self, info: CollectionInfo, vectors: str, force: bool = False) -> CollectionInfo:
        """Mirrors a shared collection's manifest from its server into rag_files (other clients'
        files appear, removed ones go), after checking the collection's vectors are ``vectors``.
        At most every PULL_EVERY_S seconds unless ``force``; a local collection is returned as is."""
        if not info.server_url:
            return info
        now = time.monotonic()
        if not force and now - self._pulled.get(info.store_name, -PULL_EVERY_S) < PULL_EVERY_S:
            return info
        remote_store.check_compatible(self.server_metadata(info), vectors, info.name, info.server_url)
        records: list[FileRecord] = []
        manifest = self._manifest(info)
        offset = 0
        while True:
            page = manifest.get(include=["metadatas"], limit=2000, offset=offset)
            metadatas = [dict(m or {}) for m in page["metadatas"] or []]
            records.extend(_record_from_meta(m) for m in metadatas if m.get("path"))
            if len(metadatas) < 2000:
                break
            offset += 2000
        digest = hashlib.sha256(
            "\n".join(
                f"{r.path}\t{r.status}\t{r.sha256}\t{r.size}\t{r.mtime_ns}\t{r.chunks}\t{r.chunker}\t{r.embed_model_id}"
                for r in sorted(records, key=lambda r: r.path)
            ).encode("utf-8")
        ).hexdigest()[:32]
        self._pulled[info.store_name] = now
        if digest == info.remote_digest:
            return info
        with self._db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            db.executemany(
                "INSERT INTO rag_files (collection_id, path, status, size, mtime_ns, sha256, reason, kind, title,"
                " pages, chunks, chunker, embed_model_id, notes, indexed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        info.id, r.path, r.status, r.size, r.mtime_ns, r.sha256, r.reason, r.kind, r.title, r.pages,
                        r.chunks, r.chunker, r.embed_model_id, r.notes, r.indexed_at,
                    )
                    for r in records
                ],
            )  # fmt: skip
            db.execute("UPDATE rag_collections SET remote_digest = ? WHERE id = ?", (digest, info.id))
            self._bump(db, info)
        return self.refresh(info)

    def _push_records(self, info: CollectionInfo, records: Sequence[FileRecord]) -> None:
        self._manifest(info).upsert(
            ids=[_manifest_id(r.path) for r in records],
            embeddings=[[1.0] for _ in records],
            metadatas=[_meta_from_record(r) for r in records],
        )

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
