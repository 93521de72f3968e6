"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests (the real Hub is not reachable here).

tests/conftest.py loads it as a plugin, so every test can ask for ``hub_stub`` (the stand-in,
with HF_ENDPOINT pointed at it), ``hub_stub_server`` (the session's servers) and
``smollm2_split`` (SmolLM2 cut into a three-part split model).

It speaks the HTTP API exactly as huggingface_hub 2.x calls it (read from its source:
``hf_api.list_models`` / ``model_info``, ``file_download.get_hf_file_metadata`` /
``http_get``, ``utils._http.hf_raise_for_status``):

- ``GET /api/models?search=&filter=gguf&sort=&limit=&expand=`` — search, sorted descending;
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` — model info with
  ``sha``, ``cardData``, ``gated``, ``gguf`` and ``siblings`` (``size``, ``blobId`` and
  ``lfs`` when ``blobs=True``);
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` — for an LFS file a 302 to a CDN-like
  server on another port (so, as with the real CDN, huggingface_hub stops at the
  redirect, reads ``X-Linked-Size`` / ``X-Linked-Etag`` / ``X-Repo-Commit`` from it,
  and drops the token), for a git file the bytes with ``ETag`` = its git sha1;
- the CDN answers ``Range`` requests with 206 and ``Content-Range`` (416 past the end);
- ``GET /api/whoami-v2`` — the account behind the ``Authorization`` token (401 for any other);
- errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``, ``GatedRepo``) as the Hub's do, so they map to the same exceptions.

It serves real files (the conftest's SmolLM2 and Gemma GGUFs) and has knobs to break
things: drop the connection after N bytes, corrupt the bytes, stall until released,
ignore ``Range``; a gated repository; a repository with a hostile file name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

VALID_TOKEN = "hf_stubTokenThatUnlocksGatedRepos"
STUB_USER = "hearth-tester"  # whoami-v2's name for VALID_TOKEN
_HASHES: dict[tuple[str, int, int], tuple[str, str]] = {}


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file, computed once per session."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        sha256 = hashlib.sha256()
        git = hashlib.sha1(f"blob {stat.st_size}\0".encode(), usedforsecurity=False)
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                sha256.update(chunk)
                git.update(chunk)
        _HASHES[key] = (sha256.hexdigest(), git.hexdigest())
    return _HASHES[key]


@dataclass
class StubFile:
    rfilename: str
    source: Path | None = None
    data: bytes | None = None
    lfs: bool = True
    size: int = 0
    sha256: str = ""
    git_oid: str = ""

    def __post_init__(self) -> None:
        if self.source is not None:
            self.size = self.source.stat().st_size
            self.sha256, self.git_oid = file_hashes(self.source)
        else:
            data = self.data or b""
            self.size = len(data)
            self.sha256 = hashlib.sha256(data).hexdigest()
            self.git_oid = hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()

    @property
    def blob(self) -> str:
        return self.sha256 if self.lfs else self.git_oid

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) in chunks."""
        if self.data is not None or self.source is None:
            yield (self.data or b"")[start:end]
            return
        with self.source.open("rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(1 << 20, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


@dataclass
class StubRepo:
    repo_id: str
    files: list[StubFile]
    sha: str = ""
    gated: str | bool = False
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2025-01-01T00:00:00.000Z"
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    pipeline_tag: str = "text-generation"
    card_data: dict[str, Any] = field(default_factory=dict)
    gguf: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = hashlib.sha1(self.repo_id.encode(), usedforsecurity=False).hexdigest()

    def file(self, name: str) -> StubFile | None:
        return next((f for f in self.files if f.rfilename == name), None)


@dataclass
class Knobs:
    """Ways to break the next downloads. Each ``drop_after`` entry fires ``drop_times`` times."""

    drop_after: dict[str, int] = field(default_factory=dict)
    drop_times: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    stall_after: dict[str, int] = field(default_factory=dict)
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    ignore_range: bool = False


@dataclass
class Served:
    method: str
    path: str
    status: int
    range: str = ""
    sent: int = 0  # body bytes
    file: str = ""
    authorized: bool = False


class HubStub:
    """Two loopback servers: the Hub (API + resolve) and its CDN. Start/stop from a fixture."""

    def __init__(self) -> None:
        self.repos: dict[str, StubRepo] = {}
        self.knobs = Knobs()
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self.endpoint = ""
        self.cdn = ""

    # -- catalogue ---------------------------------------------------------------------------------

    def add_repo(self, repo: StubRepo) -> StubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def find_blob(self, blob: str) -> tuple[StubRepo, StubFile] | None:
        for repo in self.repos.values():
            for f in repo.files:
                if f.blob == blob:
                    return repo, f
        return None

    # -- accounting --------------------------------------------------------------------------------

    def record(self, served: Served) -> None:
        with self._lock:
            self.served.append(served)

    def requests(self, method: str | None = None, file: str | None = None) -> list[Served]:
        with self._lock:
            return [
                s for s in self.served if (method is None or s.method == method) and (file is None or s.file == file)
            ]

    def bytes_sent(self, file: str) -> int:
        return sum(s.sent for s in self.requests(file=file))

    def reset_log(self) -> None:
        with self._lock:
            self.served.clear()

    # -- life --------------------------------------------------------------------------------------

    def start(self) -> None:
        for role in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, role))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"hubstub-{role}", daemon=True).start()
            self._servers.append(server)
        self.endpoint = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn = f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def stop(self) -> None:
        self.knobs.release.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()


def _make_handler(stub: HubStub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.stub = stub
    Handler.role = role
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub: HubStub
    role: str

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        try:
            if self.role == "cdn":
                self._cdn(method, path)
            elif path == "/api/whoami-v2":
                self._whoami()
            elif path == "/api/models":
                self._search(query)
            elif path.startswith("/api/models/"):
                self._model_info(path.removeprefix("/api/models/"), query)
            elif "/resolve/" in path:
                self._resolve(method, path)
            else:
                self._json(404, {"error": "Not found"}, error_code="")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"", method: str = "") -> None:
        method = method or self.command  # a HEAD answer never carries a body
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)

    def _json(
        self,
        status: int,
        data: Any,
        error_code: str = "",
        extra: dict[str, str] | None = None,
        record_file: str = "",
    ) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", **(extra or {})}
        if error_code:
            headers["X-Error-Code"] = error_code
            headers["X-Error-Message"] = str(data.get("error", "")) if isinstance(data, dict) else ""
        # Recorded before the answer leaves: a test that reads the log once its client has the
        # answer must find the request there (recording afterwards raced with reset_log).
        self.stub.record(Served(self.command, self.path, status, file=record_file))
        self._send(status, headers, json.dumps(data).encode())

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {VALID_TOKEN}"

    # -- API ---------------------------------------------------------------------------------------

    def _search(self, query: dict[str, list[str]]) -> None:
        repos = list(self.stub.repos.values())
        text = (query.get("search") or [""])[0].lower()
        if text:
            repos = [r for r in repos if text in r.repo_id.lower()]
        for wanted in query.get("filter", []):
            repos = [r for r in repos if wanted in r.tags]
        sort = (query.get("sort") or [""])[0]
        keys: dict[str, Callable[[StubRepo], Any]] = {
            "downloads": lambda r: r.downloads,
            "likes": lambda r: r.likes,
            "lastModified": lambda r: r.last_modified,
        }
        if sort in keys:
            repos.sort(key=keys[sort], reverse=True)
        limit = int((query.get("limit") or ["1000"])[0])
        expand = query.get("expand") or query.get("expand[]") or []
        items = [self._summary(r, expand) for r in repos[:limit]]
        self._json(200, items)

    def _summary(self, repo: StubRepo, expand: list[str]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "author": repo.repo_id.split("/")[0],
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified,
            "gated": repo.gated,
            "tags": repo.tags,
            "pipeline_tag": repo.pipeline_tag,
            "library_name": "gguf",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "private": False,
        }
        fields = expand or ["likes", "downloads", "tags", "pipeline_tag", "library_name", "createdAt", "private"]
        data: dict[str, Any] = {"_id": repo.sha[:24], "id": repo.repo_id}
        data.update({k: full[k] for k in fields if k in full})
        return data

    def _model_info(self, rest: str, query: dict[str, list[str]]) -> None:
        match = re.fullmatch(r"([^/]+/[^/]+)(?:/revision/(.+))?", rest)
        repo = self.stub.repos.get(match.group(1)) if match else None
        if repo is None or match is None:
            self._json(401, {"error": "Repository not found"}, error_code="RepoNotFound")
            return
        revision = unquote(match.group(2) or "main")
        if revision not in ("main", repo.sha):
            self._json(404, {"error": f"Invalid rev id: {revision}"}, error_code="RevisionNotFound")
            return
        blobs = (query.get("blobs") or ["false"])[0].lower() == "true"
        siblings = []
        for f in repo.files:
            sibling: dict[str, Any] = {"rfilename": f.rfilename}
            if blobs:
                sibling["size"] = f.size if not f.lfs else 135  # an LFS file's git blob is its pointer
                sibling["blobId"] = f.git_oid
                if f.lfs:
                    sibling["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 135}
            siblings.append(sibling)
        data = {
            "_id": repo.sha[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "lastModified": repo.last_modified,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "private": False,
            "gated": repo.gated,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": repo.tags,
            "pipeline_tag": repo.pipeline_tag,
            "library_name": "gguf",
            "cardData": repo.card_data,
            "siblings": siblings,
            "spaces": [],
            "usedStorage": sum(f.size for f in repo.files),
        }
        if repo.gguf is not None:
            data["gguf"] = repo.gguf
        self._json(200, data)

    def _whoami(self) -> None:
        """As the Hub answers: the user and the token's name and role, or 401 for a bad token."""
        if not self._authorized():
            self._json(401, {"error": "Invalid credentials in Authorization header"})
            return
        self._json(
            200,
            {
                "type": "user",
                "id": "6500000000000000000000aa",
                "name": STUB_USER,
                "fullname": "Hearth Tester",
                "email": None,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "hearth-test", "role": "read"}},
            },
        )

    # -- files -------------------------------------------------------------------------------------

    def _resolve(self, method: str, path: str) -> None:
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match is None:
            self._json(404, {"error": "Not found"})
            return
        repo = self.stub.repos.get(unquote(match.group(1)))
        revision, name = unquote(match.group(2)), unquote(match.group(3))
        if repo is None:
            self._json(401, {"error": "Repository not found"}, error_code="RepoNotFound")
            return
        if revision not in ("main", repo.sha):
            self._json(404, {"error": f"Invalid rev id: {revision}"}, error_code="RevisionNotFound")
            return
        authorized = self._authorized()
        if repo.gated and not authorized:
            message = (
                f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in."
            )
            self._json(401, {"error": message}, error_code="GatedRepo", record_file=name)
            return
        f = repo.file(name)
        if f is None:
            self._json(404, {"error": "Entry not found"}, error_code="EntryNotFound", extra={"X-Repo-Commit": repo.sha})
            return
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes", "Vary": "Origin, Accept-Encoding"}
        if f.lfs:
            location = (
                f"{self.stub.cdn}/repos/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}"
                f"?X-Amz-Signature=stub&response-content-disposition={quote(name)}"
            )
            body = f"Found. Redirecting to {location}".encode()
            headers = {
                **common,
                "Location": location,
                "Content-Type": "text/plain; charset=utf-8",
                "ETag": f'W/"{len(body):x}-{f.sha256[:16]}"',
                "X-Linked-Size": str(f.size),
                "X-Linked-Etag": f'"{f.sha256}"',
            }
            self.stub.record(Served(method, path, 302, file=name, authorized=authorized))
            self._send(302, headers, body, method)
            return
        self._serve_bytes(method, f, {**common, "ETag": f'"{f.git_oid}"'}, path, authorized)

    def _cdn(self, method: str, path: str) -> None:
        blob = path.rsplit("/", 1)[-1]
        found = self.stub.find_blob(blob)
        if found is None:
            self._send(404, {"Content-Type": "text/plain"}, b"NoSuchKey", method)
            return
        _repo, f = found
        self._serve_bytes(
            method,
            f,
            {"ETag": f'"{f.sha256}"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"},
            path,
            authorized=bool(self.headers.get("Authorization")),
        )

    def _serve_bytes(self, method: str, f: StubFile, headers: dict[str, str], path: str, authorized: bool) -> None:
        knobs = self.stub.knobs
        start, end, status = 0, f.size, 200
        range_header = self.headers.get("Range", "")
        if range_header and not knobs.ignore_range:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if match is None:
                self._send(400, {"Content-Type": "text/plain"}, b"bad range", method)
                return
            a, b = match.groups()
            if a == "":
                start, end = max(0, f.size - int(b)), f.size
            else:
                start = int(a)
                end = min(f.size, int(b) + 1) if b else f.size
            if start >= f.size:
                self.stub.record(Served(method, path, 416, range_header, file=f.rfilename))
                self._send(416, {"Content-Range": f"bytes */{f.size}", "Content-Type": "text/plain"}, b"", method)
                return
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{f.size}"}
        headers = {
            **headers,
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start),
        }
        served = Served(method, path, status, range_header, 0, f.rfilename, authorized)
        self.stub.record(served)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method == "HEAD":
            return
        drop_at = knobs.drop_after.get(f.rfilename)
        stall_at = knobs.stall_after.get(f.rfilename)
        position = start
        for chunk in f.read(start, end):
            if f.rfilename in knobs.corrupt:
                chunk = bytes(b ^ 0x5A for b in chunk)
            if drop_at is not None and served.sent + len(chunk) >= drop_at:
                self._write(chunk[: max(0, drop_at - served.sent)], served)
                self._count_drop(f.rfilename)
                self._hang_up()
                return
            if stall_at is not None and position - start + len(chunk) >= stall_at:
                self._write(chunk[: max(0, stall_at - served.sent)], served)
                knobs.stalled.set()
                knobs.release.wait(60)
                self._hang_up()
                return
            self._write(chunk, served)
            position += len(chunk)

    def _write(self, data: bytes, served: Served) -> None:
        if data:
            served.sent += len(data)  # counted first: the client may read it before this thread resumes
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                served.sent -= len(data)
                raise

    def _count_drop(self, name: str) -> None:
        knobs = self.stub.knobs
        left = knobs.drop_times.get(name, 1) - 1
        if left <= 0:
            knobs.drop_after.pop(name, None)
            knobs.drop_times.pop(name, None)
        else:
            knobs.drop_times[name] = left

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def split_gguf(source: Path, folder: Path, stem: str, n_parts: int) -> list[Path]:
    """Writes ``source`` as ``n_parts`` GGUF split files (metadata in each, tensors shared out)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    per_part = -(-len(reader.tensors) // n_parts)
    folder.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(folder / f"{stem}.gguf", arch, split_max_tensors=per_part)
    for kv in reader.fields.values():
        if kv.name.startswith("GGUF.") or kv.name in ("general.architecture", "general.alignment"):
            continue
        value_type = kv.types[0]
        sub_type = kv.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(kv.name, kv.contents(), value_type, sub_type=sub_type)
    for tensor in reader.tensors:
        # The reader's data is shaped in bytes per row for quantised types, as the writer wants it.
        writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return [folder / f"{stem}-{i:05d}-of-{n_parts:05d}.gguf" for i in range(1, n_parts + 1)]


# -- the catalogue the tests use ---------------------------------------------------------------------

SMOL_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_REPO = "unsloth/gemma-3-270m-it-GGUF"
GEMMA_FILE = "gemma-3-270m-it-Q4_K_M.gguf"
GATED_REPO = "meta-llama/Gated-Tiny-GGUF"
HOSTILE_REPO = "mallory/hostile-GGUF"
HOSTILE_FILE = "../../evil.gguf"
SPLIT_REPO = "bartowski/SmolLM2-135M-Instruct-split-GGUF"
SPLIT_STEM = "SmolLM2-135M-Instruct-Q4_1"
README = b"---\nlicense: apache-2.0\n---\n# A model card\n"


def gguf_card(path: Path) -> dict[str, Any]:
    """The Hub's ``gguf`` field for a file: parameters, architecture and context, from its header."""
    from desktop_app.core.models.gguf_meta import read_local

    info = read_local(path)
    return {"total": info.n_params, "architecture": info.architecture, "context_length": info.context_length}


def build_catalogue(stub: HubStub, smollm2: Path, gemma: Path, split_parts: list[Path] | None = None) -> None:
    stub.add_repo(
        StubRepo(
            SMOL_REPO,
            [StubFile("README.md", data=README, lfs=False), StubFile(SMOL_FILE, source=smollm2)],
            downloads=5000,
            likes=40,
            last_modified="2024-11-01T00:00:00.000Z",
            tags=["gguf", "llama", "text-generation"],
            card_data={"license": "apache-2.0", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct"},
            gguf=gguf_card(smollm2),
        )
    )
    stub.add_repo(
        StubRepo(
            GEMMA_REPO,
            [StubFile("README.md", data=README, lfs=False), StubFile(GEMMA_FILE, source=gemma)],
            downloads=9000,
            likes=20,
            last_modified="2025-03-01T00:00:00.000Z",
            tags=["gguf", "gemma3", "text-generation"],
            card_data={"license": "gemma", "base_model": ["google/gemma-3-270m-it"]},
            gguf=gguf_card(gemma),
        )
    )
    stub.add_repo(
        StubRepo(
            GATED_REPO,
            [StubFile("tiny-Q4_1.gguf", source=smollm2)],
            gated="manual",
            downloads=100,
            likes=90,
            last_modified="2025-06-01T00:00:00.000Z",
            card_data={"license": "other", "license_name": "llama-community"},
        )
    )
    stub.add_repo(
        StubRepo(
            HOSTILE_REPO,
            [StubFile(HOSTILE_FILE, data=b"GGUF not really"), StubFile("fine-Q8_0.gguf", data=b"GGUF")],
            downloads=1,
            likes=0,
        )
    )
    if split_parts:
        stub.add_repo(
            StubRepo(
                SPLIT_REPO,
                [StubFile(f"Q4_1/{p.name}", source=p) for p in split_parts],
                downloads=50,
                likes=2,
                card_data={"license": "apache-2.0"},
            )
        )
    stub.add_repo(
        StubRepo(
            "acme/not-a-gguf-model", [StubFile("model.safetensors", data=b"{}")], tags=["safetensors"], downloads=10**6
        )
    )


@contextlib.contextmanager
def running_stub(smollm2: Path, gemma: Path, split_parts: list[Path] | None = None) -> Iterator[HubStub]:
    stub = HubStub()
    build_catalogue(stub, smollm2, gemma, split_parts)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def point_hub_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Sends huggingface_hub to ``endpoint``: the env var for subprocesses, and what it read at
    import (ENDPOINT, the resolve-URL template, its shared HfApi) for this process. Offline mode, which
    the root conftest turns on so nothing reaches the real Hub, is lifted for this loopback Hub."""
    from huggingface_hub import constants, hf_api

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    # The module-level HfApi behind huggingface_hub.whoami (which login() calls) read it then too.
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="session", name="smollm2_split")
def smollm2_split_fixture(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """SmolLM2 as a real two-part split model (written once per session)."""
    return split_gguf(smollm2_path, tmp_path_factory.mktemp("split"), SPLIT_STEM, n_parts=2)


@pytest.fixture(scope="session", name="hub_stub_server")
def hub_stub_server_fixture(smollm2_path: Path, gemma_path: Path, smollm2_split: list[Path]) -> Iterator[HubStub]:
    with running_stub(smollm2_path, gemma_path, smollm2_split) as stub:
        yield stub


@pytest.fixture(name="hub_stub")
def hub_stub_fixture(hub_stub_server: HubStub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubStub]:
    """The stand-in Hub, with huggingface_hub pointed at it, a clean log and no broken knobs,
    no token, and a private Hugging Face cache."""
    from desktop_app.core.hub import client as hub_client

    stub = hub_stub_server
    stub.knobs = Knobs()
    stub.reset_log()
    point_hub_at(monkeypatch, stub.endpoint)
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))  # beside it, as by default
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    hub_client.HEADERS.clear()
    yield stub
    stub.knobs.release.set()
    hub_client.HEADERS.clear()


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env(stub: HubStub, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    env.update({"HEARTH_HOME": str(home), "HF_ENDPOINT": stub.endpoint, "HF_TOKEN_PATH": str(home / "no-token")})
    env.update(extra)
    return env
