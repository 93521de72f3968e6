"""Document collections on a Chroma server (``chroma run``, or a Chroma behind a proxy), shared
by several Hearth clients.

What lives where:
- on the server, in the collection's own Chroma collection: the chunks (vectors, texts and the
  same metadata as locally), and in its metadata the embedding model's vector space, the
  backend and the chunk sizes, so a client with another model refuses instead of mixing;
- on the server, in a second collection (``<name>.files``): the file manifest, one record per
  file with what the local ``rag_files`` row holds. Another client's files are known from it;
  a file counts as indexed once its record is there, written after all its chunks;
- on each computer: the sources (folders are the user's own), and a mirror of the manifest in
  ``rag_files``, refreshed from the server (``pull``) in worker threads, so the window reads
  SQLite only and never waits on the network.

Chunk ids are derived from the path, the file's sha256, the chunker and the model, the same on
every client: two clients indexing the same file write the same ids (an upsert), not copies.

Chroma's own server (1.x) has no authentication: a token is for a proxy in front of it, sent
both as ``Authorization: Bearer`` and ``X-Chroma-Token`` (the two headers Chroma's clients use).
Every failure is told in plain words: nothing answers, not a Chroma server, a server too old,
a refused token, the server gone mid-way.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlparse, urlunparse

from desktop_app.core import secrets
from desktop_app.core.errors import HearthError
from desktop_app.core.heavy_imports import import_heavy
from desktop_app.core.rag import embed_backends
from desktop_app.core.rag.catalog import INSERT_FILE, Catalog, CollectionInfo, FileRecord, bump, check_name

log = logging.getLogger(__name__)

FORMAT = 1  # what Hearth keeps on the server; a newer format is refused by an older client
SUPPORTED_MAJOR = 1
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 120.0
PULL_EVERY_S = 5.0  # a shared collection's manifest is mirrored at most this often (unless forced)
_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def normalize_url(text: str) -> str:
    """``http://host:port`` (8000 when no port is given) plus any path, without a trailing slash."""
    raw = text.strip()
    if not raw:
        raise HearthError("A Chroma server needs an address.", "For example http://192.168.1.20:8000.")
    if "://" not in raw:
        raw = "http://" + raw
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise HearthError(f"“{text}” is not a server address.", "Write it as http://host:port.")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    except ValueError:
        raise HearthError(f"“{text}” has a port that is not a number.", "Write it as http://host:port.") from None
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return urlunparse((parsed.scheme, f"{host}:{port}", parsed.path.rstrip("/"), "", "", ""))


def token_key(url: str) -> str:
    return f"chroma-server:{url}"


def saved_token(url: str) -> str:
    return secrets.get(token_key(url)) or ""


def save_token(url: str, token: str) -> None:
    if token:
        secrets.put(token_key(url), token)
    else:
        secrets.delete(token_key(url))


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Chroma-Token": token} if token else {}


def remote_name(name: str) -> str:
    """The Chroma collection a Hearth collection of this name is on every client (so a second
    client joins it by name). Chroma allows [a-zA-Z0-9._-], 3 to 512 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:40] or "collection"
    return f"hearth-{slug}-{hashlib.sha1(name.strip().casefold().encode()).hexdigest()[:8]}"


def manifest_name(store_name: str) -> str:
    return f"{store_name}.files"


# -- connecting ----------------------------------------------------------------------------------


def probe(url: str, token: str = "") -> str:
    """Checks that a Chroma server Hearth can use answers at ``url``; returns its version.
    Raises HearthError saying what is wrong, in plain words."""
    import httpx

    headers = _headers(token)
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S * 2, connect=CONNECT_TIMEOUT_S)
    try:
        # A redirect is followed, but the token never leaves the origin the user gave it for.
        hooks = {"request": [_token_stays_home(url)]}
        with httpx.Client(timeout=timeout, headers=headers, follow_redirects=True, event_hooks=hooks) as http:
            beat = http.get(f"{url}/api/v2/heartbeat")
            if beat.status_code == 404:
                old = http.get(f"{url}/api/v1/version")
                if old.status_code == 200 and _version(old):
                    raise _too_old(url, _version(old))
                raise HearthError(f"{url} is not a Chroma server.", "Check the address and the port.")
            _check_status(beat, url)
            if "nanosecond heartbeat" not in _json(beat):
                raise HearthError(f"{url} is not a Chroma server.", "Check the address and the port.")
            reply = http.get(f"{url}/api/v2/version")
            _check_status(reply, url)
            version = _version(reply)
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if not version or not version.split(".")[0].isdigit():
        raise HearthError(f"The Chroma server at {url} did not say which version it runs.", "Check the address.")
    if int(version.split(".")[0]) < SUPPORTED_MAJOR:
        raise _too_old(url, version)
    if int(version.split(".")[0]) > SUPPORTED_MAJOR:
        raise HearthError(
            f"The Chroma server at {url} runs Chroma {version}, newer than this Hearth knows.",
            f"Update Hearth, or use a Chroma {SUPPORTED_MAJOR}.x server.",
        )
    return version


def _token_stays_home(url: str) -> Any:
    """An httpx request hook dropping the token headers from any request (a redirect's) to an
    origin (scheme, host, port) other than ``url``'s."""
    import httpx

    home = httpx.URL(url)

    def hook(request: Any) -> None:
        there = request.url
        if (there.scheme, there.host, there.port) != (home.scheme, home.host, home.port):
            for name in _headers("x"):
                request.headers.pop(name, None)

    return hook


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _version(response: Any) -> str:
    value = _json(response)
    return value.strip() if isinstance(value, str) else ""


def _too_old(url: str, version: str) -> HearthError:
    return HearthError(
        f"The Chroma server at {url} runs Chroma {version}, which this Hearth cannot use.",
        f"Hearth needs a Chroma {SUPPORTED_MAJOR}.x server (pip install 'chromadb>=1.0', then chroma run).",
    )


def _check_status(response: Any, url: str) -> None:
    if response.status_code in (401, 403):
        raise HearthError(
            f"The server at {url} refused Hearth's token.",
            "Check the token (Documents → the collection's server), or ask whoever runs the server.",
        )
    if response.status_code >= 400:
        raise HearthError(f"The Chroma server at {url} answered with an error ({response.status_code}).")


def unreachable(url: str, exc: BaseException) -> HearthError:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return HearthError(f"The Chroma server at {url} did not answer in time.", "Check that it is running.")
    return HearthError(
        f"Nothing answers at {url}.",
        "Check that the Chroma server is running and that the address and port are right. "
        "Collections on this computer are not affected.",
    )


def client(url: str, token: str | None = None) -> Any:
    """A Chroma HTTP client for ``url`` (one per address and token per process), checked first."""
    token = saved_token(url) if token is None else token
    key = (url, token)
    with _CLIENTS_LOCK:
        cached = _CLIENTS.get(key)
    if cached is not None:
        return cached
    probe(url, token)
    import_heavy("chromadb")  # the local server may be importing pydantic meanwhile
    import chromadb
    from chromadb.config import Settings

    with translated(url):
        made = chromadb.HttpClient(host=url, headers=_headers(token), settings=Settings(anonymized_telemetry=False))
    # Chroma's client waits forever by default: a server that hangs would hang the indexing thread.
    session = getattr(getattr(made, "_server", None), "_session", None)
    if session is not None:
        import httpx

        session.timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    with _CLIENTS_LOCK:
        _CLIENTS[key] = made
    return made


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Turns what the network and Chroma's client raise into plain words."""
    import httpx

    try:
        yield
    except HearthError:
        raise
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    except Exception as exc:  # noqa: BLE001 - Chroma's client raises bare Exception(text) for HTTP errors
        from chromadb.errors import AuthorizationError, ChromaAuthError, NotFoundError

        text = str(exc).lower()
        if isinstance(exc, ChromaAuthError | AuthorizationError) or any(w in text for w in ("401", "403", "unauthor")):
            raise HearthError(f"The server at {url} refused Hearth's token.", "Check the token.") from None
        if isinstance(exc, NotFoundError):
            raise HearthError(
                f"The collection is no longer on the Chroma server at {url}.",
                "Someone may have deleted it there; remove it from this computer, or make it again.",
            ) from None
        if isinstance(exc, ConnectionError | OSError):
            raise unreachable(url, exc) from None
        raise HearthError(
            f"The Chroma server at {url} could not do what Hearth asked.",
            f"Details: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
        ) from None


class Guarded:
    """A Chroma collection (or client) whose every call fails in plain words (see ``translated``)."""

    def __init__(self, target: Any, url: str) -> None:
        self._target = target
        self._url = url

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with translated(self._url):
                return value(*args, **kwargs)

        return call


# -- what a collection keeps on the server -------------------------------------------------------


def describe_model(meta: dict[str, Any]) -> str:
    return f"{meta.get('hearth_embed_model', '?')} ({meta.get('hearth_vectors', '?')})"


def check_compatible(meta: dict[str, Any], vectors: str, name: str, url: str) -> None:
    """Refuses a collection whose vectors another model (or an inexact backend) made."""
    if int(meta.get("hearth_format", 0) or 0) > FORMAT:
        raise HearthError(
            f"“{name}” on {url} was written by a newer Hearth.", "Update Hearth on this computer to use it."
        )
    theirs = str(meta.get("hearth_vectors", ""))
    if theirs and theirs != vectors:
        raise HearthError(
            f"“{name}” on {url} was embedded with {describe_model(meta)}; this computer would embed "
            f"with {vectors}. Its vectors would not match, so Hearth does not search it.",
            "Use the same embedding model (the same files) and backend as the collection, "
            "or make a new collection for this model.",
        )


# -- a shared collection's manifest and this computer's mirror of it ------------------------------


def manifest_id(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:40]


def meta_from_record(record: FileRecord) -> dict[str, Any]:
    """A manifest record on the server (Chroma metadata holds no None)."""
    data = {k: v for k, v in record.to_dict().items() if v is not None}
    data["mtime_ns"] = str(record.mtime_ns)  # beyond what every JSON reader keeps exact
    return data


def record_from_meta(meta: dict[str, Any]) -> FileRecord:
    pages = meta.get("pages")
    return FileRecord(
        str(meta["path"]), str(meta.get("status", "indexed")), int(meta.get("size", 0)),
        int(meta.get("mtime_ns", 0)), str(meta.get("sha256", "")), str(meta.get("reason", "")),
        str(meta.get("kind", "")), str(meta.get("title", "")), int(pages) if pages is not None else None,
        int(meta.get("chunks", 0)), str(meta.get("chunker", "")), str(meta.get("embed_model_id", "")),
        str(meta.get("notes", "")), float(meta.get("indexed_at", 0.0)),
    )  # fmt: skip


def manifest_digest(records: list[FileRecord]) -> str:
    return hashlib.sha256(
        "\n".join(
            f"{r.path}\t{r.status}\t{r.sha256}\t{r.size}\t{r.mtime_ns}\t{r.chunks}\t{r.chunker}\t{r.embed_model_id}"
            for r in sorted(records, key=lambda r: r.path)
        ).encode("utf-8")
    ).hexdigest()[:32]


class SharedCollections:
    """The collections of this catalogue kept on Chroma servers: their handles (one per server
    and collection), making or joining one, and the manifest mirrored both ways."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pulled: dict[str, float] = {}  # when each collection's manifest was last mirrored

    def server(self, info: CollectionInfo) -> Any:
        """The collection's server's client, failing in plain words."""
        return Guarded(client(info.server_url), info.server_url)

    def handle(self, info: CollectionInfo, name: str) -> Any:
        key = f"{info.server_url}#{name}"
        with self._lock:
            found = self._handles.get(key)
        if found is None:
            found = Guarded(self.server(info).get_collection(name, embedding_function=None), info.server_url)
            with self._lock:
                self._handles[key] = found
        return found

    def vectors(self, info: CollectionInfo) -> Any:
        return self.handle(info, info.store_name)

    def manifest(self, info: CollectionInfo) -> Any:
        """The server's file manifest of a shared collection."""
        return self.handle(info, manifest_name(info.store_name))

    def forget(self, info: CollectionInfo) -> None:
        with self._lock:
            for key in [k for k in self._handles if k.startswith(f"{info.server_url}#{info.store_name}")]:
                del self._handles[key]

    def metadata(self, info: CollectionInfo) -> dict[str, Any]:
        return dict(self.vectors(info).metadata or {})

    def create(
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
        name = check_name(name)
        url = normalize_url(url)
        if self._catalog.find(name) is not None:
            raise HearthError(f"A collection named “{name}” already exists.", "Pick another name.")
        if token is not None:
            save_token(url, token.strip())
        from chromadb.errors import NotFoundError

        server = client(url, token.strip() if token is not None else None)
        store_name = remote_name(name)
        with translated(url):
            try:  # join it when it is there (get_or_create would rewrite the owner's metadata)
                collection = server.get_collection(store_name, embedding_function=None)
            except NotFoundError:
                wanted = {
                    "hearth_collection": name,
                    "hearth_format": FORMAT,
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
            check_compatible(meta, vectors, name, url)
            # The manifest: one record per file; Chroma wants a vector per record, so each gets [1.0].
            server.get_or_create_collection(
                manifest_name(store_name), embedding_function=None, metadata={"hearth_manifest_of": name}
            )
        now = time.time()
        try:
            with self._catalog.db() as db, db:
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
        return self.pull(self._catalog.collection(name), vectors, force=True)

    def pull(self, info: CollectionInfo, vectors: str, force: bool = False) -> CollectionInfo:
        """Mirrors a shared collection's manifest from its server into rag_files (other clients'
        files appear, removed ones go), after checking the collection's vectors are ``vectors``.
        At most every PULL_EVERY_S seconds unless ``force``; a local collection is returned as is."""
        if not info.server_url:
            return info
        now = time.monotonic()
        if not force and now - self._pulled.get(info.store_name, -PULL_EVERY_S) < PULL_EVERY_S:
            return info
        check_compatible(self.metadata(info), vectors, info.name, info.server_url)
        records: list[FileRecord] = []
        manifest = self.manifest(info)
        offset = 0
        while True:
            page = manifest.get(include=["metadatas"], limit=2000, offset=offset)
            metadatas = [dict(m or {}) for m in page["metadatas"] or []]
            records.extend(record_from_meta(m) for m in metadatas if m.get("path"))
            if len(metadatas) < 2000:
                break
            offset += 2000
        digest = manifest_digest(records)
        self._pulled[info.store_name] = now
        if digest == info.remote_digest:
            return info
        with self._catalog.db() as db, db:
            db.execute("DELETE FROM rag_files WHERE collection_id = ?", (info.id,))
            db.executemany(INSERT_FILE, [r.row(info.id) for r in records])
            db.execute("UPDATE rag_collections SET remote_digest = ? WHERE id = ?", (digest, info.id))
            bump(db, info)
        return self._catalog.refresh(info)

    def push(self, info: CollectionInfo, records: Sequence[FileRecord]) -> None:
        """Writes files' records to the server's manifest (after all their chunks are there)."""
        self.manifest(info).upsert(
            ids=[manifest_id(r.path) for r in records],
            embeddings=[[1.0] for _ in records],
            metadatas=[meta_from_record(r) for r in records],
        )

    def drop_records(self, info: CollectionInfo, file_paths: Sequence[str]) -> None:
        self.manifest(info).delete(ids=[manifest_id(p) for p in file_paths])
