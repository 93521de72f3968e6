"""The chunks' vectors on this computer: Chroma, embedded (``PersistentClient`` under
``paths.chroma_dir()``), telemetry off. Hearth always passes the vectors itself, so Chroma never
loads (or downloads) an embedding model of its own.

Also how a damaged store or collection is found (Chroma's catalogue and index files read
without Chroma) and told: the failure names the collection and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import db as dbmod
from desktop_app.core import paths
from desktop_app.core.errors import HearthError
from desktop_app.core.heavy_imports import import_heavy

if TYPE_CHECKING:
    from desktop_app.core.rag.catalog import CollectionInfo, FileRecord
    from desktop_app.core.rag.chunking import Chunk

log = logging.getLogger(__name__)

_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()
# Files of a vector segment that are never empty once written (Chroma's local HNSW index).
_SEGMENT_FILES = ("header.bin", "data_level0.bin", "length.bin", "index_metadata.pickle")  # link_lists.bin may be empty


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


def chroma_client(path: Path) -> Any:
    """The embedded Chroma client for ``path`` (one per folder per process), telemetry off.
    A store Chroma cannot open is a :class:`StoreDamagedError` in plain words."""
    folder = str(path.resolve())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(folder)
        if client is None:
            os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
            import_heavy("chromadb")  # the local server may be importing pydantic meanwhile
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


def collection_failure(name: str, folder: Path, exc: BaseException) -> HearthError:
    if is_disk_full(exc):
        return dbmod.disk_full_error(folder, f"the collection “{name}” could not be written")
    return CollectionDamagedError(
        f"The collection “{name}” is damaged: its vectors cannot be read ({_short(exc)}).",
        f"Rebuild it: hearth docs rebuild “{name}” (or Rebuild in Documents). Your files are indexed again.",
    )


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


def chunk_id(path: str, file_sha: str, chunker: str, model_id: str, chunk: Chunk) -> str:
    key = f"{path}\n{file_sha}\n{chunker}\n{model_id}\n{chunk.page}\n{chunk.start}\n{chunk.end}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


# A local chunk's text is kept under this metadata key, not as Chroma's "document": a local Chroma
# builds a full-text (trigram) index of every document, which Hearth never searches (it keeps its
# own keyword index) and which cost a third of each write's CPU and of the store's size (measured:
# 354 chunks 0.37 -> 0.24 CPU-s, 15.1 -> 9.8 KB a chunk). Shared collections keep documents, as
# other clients of the server expect; collections written before read theirs as they are.
TEXT_KEY = "text"


def chunk_text(document: str | None, meta: dict[str, Any]) -> str:
    """A stored chunk's text, wherever it was kept; takes the text out of ``meta``."""
    kept = meta.pop(TEXT_KEY, None)
    if document:
        return document
    return kept if isinstance(kept, str) else ""


def chunk_metadata(record: FileRecord, chunk: Chunk, extra: dict[str, Any]) -> dict[str, Any]:
    """What Chroma keeps beside a chunk's vector (the same locally and on a server)."""
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


class LocalVectors:
    """The embedded Chroma store of one folder: a handle per collection, opened once."""

    def __init__(self, chroma_path: Path | None = None) -> None:
        self._path = chroma_path
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path or paths.chroma_dir()

    def client(self) -> Any:
        return chroma_client(self.path)

    def collection(self, info: CollectionInfo) -> Any:
        """The Chroma collection holding ``info``'s chunks (created on first use). Damaged files
        are found when it is opened, and any later failure of Chroma's names the collection and
        the fix (:class:`CollectionDamagedError`)."""
        with self._lock:
            handle = self._handles.get(info.store_name)
            if handle is None:
                problem = self.segment_problem(info)
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
                    raise collection_failure(info.name, self.path, exc) from exc
                handle = _GuardedCollection(raw, info.name, self.path)
                self._handles[info.store_name] = handle
            return handle

    def forget(self, store_name: str) -> None:
        with self._lock:
            self._handles.pop(store_name, None)

    # -- damage, found without Chroma ----------------------------------------------------------------

    def segment_dirs(self, info: CollectionInfo) -> list[Path]:
        """The folders of the collection's vector index, read from Chroma's own catalogue
        (without opening Chroma: a cheap look that works while Chroma cannot)."""
        catalogue = self.path / "chroma.sqlite3"
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
        return [self.path / str(r[0]) for r in rows if (self.path / str(r[0])).is_dir()]

    def segment_problem(self, info: CollectionInfo) -> str:
        """What is wrong with the index files on disk ("" when nothing is seen)."""
        for folder in self.segment_dirs(info):
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

    def catalogue_problem(self) -> str:
        """Chroma's catalogue (chroma.sqlite3) read with SQLite alone: damage found without Chroma."""
        catalogue = self.path / "chroma.sqlite3"
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

    def store_problem(self) -> str:
        """Why the local document store cannot be used ("" when it opens)."""
        try:
            self.client()
        except HearthError as exc:
            return exc.message
        return ""

    # -- dropping --------------------------------------------------------------------------------

    def drop(self, info: CollectionInfo) -> None:
        """Deletes the Chroma collection and its index folder (Chroma leaves the folder)."""
        folders = self.segment_dirs(info)
        with contextlib.suppress(Exception):  # a missing or damaged Chroma collection is fine
            self.client().delete_collection(info.store_name)
        self.forget(info.store_name)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def move_aside(self) -> Path:
        """Moves a store Chroma cannot open aside (dated) and begins a new one."""
        folder = self.path
        aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        _forget_client(folder)
        with self._lock:
            self._handles.clear()
        os.replace(folder, aside)
        folder.mkdir(mode=0o700, exist_ok=True)
        log.warning("The document store was damaged; moved aside as %s", aside)
        return aside
