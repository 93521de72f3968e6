"""Reading a GGUF header over HTTP with range requests (gguf_meta.read_remote / read_hub).

The Hugging Face Hub is not reachable from the test machines, so a real HTTP server on
127.0.0.1 stands in for it: it serves the real model files, honours (or, on request,
ignores) Range, redirects like the Hub's resolve URLs do, demands a token on a "gated"
path, and counts the bytes it sends.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from desktop_app.core.errors import HearthError, ModelLoadError
from desktop_app.core.models import gguf_meta

TOKEN = "hf_test_token"


@dataclass
class Served:
    files: dict[str, Path] = field(default_factory=dict)
    bytes_sent: int = 0
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # path, Range, Authorization
    lock: threading.Lock = field(default_factory=threading.Lock)
    truncate_at: int | None = None  # serve files as if they ended here


class Handler(BaseHTTPRequestHandler):
    served: Served

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        served = self.server.served  # type: ignore[attr-defined]
        with served.lock:
            served.requests.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect"))
            self.end_headers()
            return
        if self.path.startswith("/gated/") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._status(401)
            return
        if self.path.startswith("/forbidden/"):
            self._status(403)
            return
        name = self.path.rsplit("/", 1)[-1]
        path = served.files.get(name)
        if path is None:
            self._status(404)
            return
        size = path.stat().st_size if served.truncate_at is None else served.truncate_at
        start, end = 0, size - 1
        ranged = self.headers.get("Range")
        honour = ranged and not self.path.startswith("/norange/")
        if honour:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", ranged or "")
            assert match, ranged
            start = int(match.group(1))
            end = min(int(match.group(2) or size - 1), size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        length = end - start + 1
        self.send_header("Content-Length", str(length))
        self.end_headers()
        with path.open("rb") as fh:
            fh.seek(start)
            remaining = length
            try:
                while remaining:
                    chunk = fh.read(min(remaining, 256 * 1024))
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
                    with served.lock:
                        served.bytes_sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client had what it needed

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server(smollm2_path: Path, gemma_path: Path, tmp_path: Path) -> Iterator[tuple[str, Served]]:
    text = tmp_path / "notes.gguf"
    text.write_text("not a model at all\n" * 1000)
    served = Served(files={"smollm2.gguf": smollm2_path, "gemma.gguf": gemma_path, "notes.gguf": text})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.served = served  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize(("name", "fixture"), [("smollm2.gguf", "smollm2_path"), ("gemma.gguf", "gemma_path")])
def test_remote_header_equals_local_and_reads_little(
    server: tuple[str, Served], name: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    base, served = server
    local_path: Path = request.getfixturevalue(fixture)
    remote = gguf_meta.read_remote(f"{base}/files/{name}")
    assert remote == gguf_meta.read_local(local_path)
    size = local_path.stat().st_size
    # The header (1.8 MB for SmolLM2, 6.5 MB for Gemma's 262k-token vocabulary) and little more.
    assert served.bytes_sent <= max(2 * remote.data_offset, gguf_meta.REMOTE_INITIAL_BYTES)
    assert served.bytes_sent < size / 10
    ranges = [r for _, r, _ in served.requests]
    assert all(r and r.startswith("bytes=") for r in ranges)
    # Each request asks only for the bytes not yet held, doubling the total.
    starts = [int(r.split("=")[1].split("-")[0]) for r in ranges if r]
    ends = [int(r.split("-")[1]) + 1 for r in ranges if r]
    assert starts == [0, *ends[:-1]]
    assert all(b == 2 * a for a, b in itertools.pairwise(ends))


def test_redirects_are_followed(server: tuple[str, Served], smollm2_path: Path) -> None:
    base, served = server
    info = gguf_meta.read_remote(f"{base}/redirect/files/smollm2.gguf")
    assert info == gguf_meta.read_local(smollm2_path)
    assert served.requests[0][0] == "/redirect/files/smollm2.gguf"


def test_server_that_ignores_range(server: tuple[str, Served], smollm2_path: Path) -> None:
    base, _served = server
    assert gguf_meta.read_remote(f"{base}/norange/smollm2.gguf") == gguf_meta.read_local(smollm2_path)


def test_gated_repository_needs_a_token(server: tuple[str, Served], smollm2_path: Path) -> None:
    base, served = server
    with pytest.raises(HearthError, match="gated or private") as caught:
        gguf_meta.read_remote(f"{base}/gated/smollm2.gguf")
    assert "token" in caught.value.hint
    info = gguf_meta.read_remote(f"{base}/gated/smollm2.gguf", headers=gguf_meta.hub_auth_headers(TOKEN))
    assert info == gguf_meta.read_local(smollm2_path)
    assert served.requests[-1][2] == f"Bearer {TOKEN}"
    with pytest.raises(HearthError, match=r"gated or private.*403"):
        gguf_meta.read_remote(f"{base}/forbidden/smollm2.gguf")


def test_missing_file(server: tuple[str, Served]) -> None:
    base, _served = server
    with pytest.raises(HearthError, match="not found"):
        gguf_meta.read_remote(f"{base}/files/nope.gguf")


def test_not_a_gguf_file(server: tuple[str, Served]) -> None:
    base, _served = server
    with pytest.raises(ModelLoadError, match="not a GGUF model file"):
        gguf_meta.read_remote(f"{base}/files/notes.gguf")


def test_file_ending_inside_its_header(server: tuple[str, Served]) -> None:
    base, served = server
    served.truncate_at = 3 * 1024 * 1024  # Gemma's header runs to 6.5 MB
    with pytest.raises(ModelLoadError, match="incomplete"):
        gguf_meta.read_remote(f"{base}/files/gemma.gguf")


def test_header_larger_than_the_cap(server: tuple[str, Served]) -> None:
    base, served = server
    with pytest.raises(HearthError, match="larger than 4 MiB"):
        gguf_meta.read_remote(f"{base}/files/gemma.gguf", max_bytes=4 * 1024 * 1024)
    assert served.bytes_sent <= 4 * 1024 * 1024


def test_unreachable_server_says_offline() -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HearthError, match=r"offline|unreachable"):
        gguf_meta.read_remote(f"http://127.0.0.1:{port}/x.gguf", timeout=5)


def test_hub_offline_mode_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    # Refused before any connection is attempted (the Hub is not reachable from here anyway).
    with pytest.raises(HearthError, match="offline mode"):
        gguf_meta.read_remote("https://huggingface.co/org/repo/resolve/main/model.gguf")


def test_read_hub_builds_the_resolve_url_on_hf_endpoint(
    server: tuple[str, Served], smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    base, served = server
    # HF_ENDPOINT is read into huggingface_hub.constants.ENDPOINT: point it at the local server.
    monkeypatch.setattr(constants, "ENDPOINT", base)
    assert gguf_meta.hub_file_url("org/repo", "sub dir/smollm2.gguf", "v1.0") == (
        f"{base}/org/repo/resolve/v1.0/sub%20dir/smollm2.gguf"
    )
    info = gguf_meta.read_hub("org/repo", "smollm2.gguf", token=TOKEN)
    assert info == gguf_meta.read_local(smollm2_path)
    assert served.requests[0][0] == "/org/repo/resolve/main/smollm2.gguf"
    assert served.requests[0][2] == f"Bearer {TOKEN}"


def test_cancel_between_requests(server: tuple[str, Served]) -> None:
    from desktop_app.core.cancel import CancelToken
    from desktop_app.core.errors import Cancelled

    base, served = server
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        gguf_meta.read_remote(f"{base}/files/gemma.gguf", cancel=cancel)
    assert served.requests == []


def test_cli_fit_of_a_remote_file(
    server: tuple[str, Served], gemma_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hearth fit URL` plans from the header alone: the 250 MB file is not downloaded."""
    import json

    from desktop_app.cli import run

    base, served = server
    assert run(["fit", f"{base}/files/gemma.gguf", "--ctx", "4096", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["architecture"] == "gemma3"
    assert data["kv_bytes"] == 18 * 2 * 256 * 2 * 4096
    assert served.bytes_sent < gemma_path.stat().st_size / 10
