"""The shared Chroma server's probe never hands its token to another origin. Two real HTTP servers
on 127.0.0.1 (two ports: two origins): the first redirects every request to the second, which
answers as Chroma does and records the headers it got. A redirect within the first origin keeps
the token (a proxy adding a trailing slash, say)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from desktop_app.core.rag import remote_store

TOKEN = "s3cret-token-for-the-lab-proxy"


class _Recorder(http.server.ThreadingHTTPServer):
    def __init__(self, redirect_to: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.redirect_to = redirect_to
        self.seen: list[dict[str, str]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.server.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/same/"):  # a redirect inside this origin
            self.send_response(308)
            self.send_header("Location", self.path.removeprefix("/same"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body: dict[str, Any] = {"nanosecond heartbeat": 1} if self.path.endswith("heartbeat") else {}
        data = json.dumps(body if body else "1.0.21").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(server: _Recorder) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def servers() -> Iterator[tuple[_Recorder, _Recorder]]:
    other = _Recorder()
    first = _Recorder(redirect_to=other.url)
    threads = [_serve(other), _serve(first)]
    yield first, other
    for server in (first, other):
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(timeout=5)


def test_a_redirect_to_another_origin_does_not_carry_the_token(servers: tuple[_Recorder, _Recorder]) -> None:
    first, other = servers
    assert remote_store.probe(first.url, TOKEN) == "1.0.21"  # followed, and answered by the other origin
    assert first.seen and all(seen.get("x-chroma-token") == TOKEN for seen in first.seen)
    assert other.seen, "the redirect was not followed"
    for seen in other.seen:
        assert "x-chroma-token" not in seen and "authorization" not in seen, seen
        assert TOKEN not in json.dumps(seen)


def test_a_redirect_within_the_origin_keeps_the_token(servers: tuple[_Recorder, _Recorder]) -> None:
    _first, other = servers
    assert remote_store.probe(f"{other.url}/same", TOKEN) == "1.0.21"
    assert [seen["path"] for seen in other.seen][:2] == ["/same/api/v2/heartbeat", "/api/v2/heartbeat"]
    assert all(seen.get("x-chroma-token") == TOKEN for seen in other.seen)
