"""Servers for the shared-collection tests, all on 127.0.0.1 and stopped by the tests:

- ``ChromaServer``: the real ``chroma run`` (Chroma's own server, from the chromadb package) on
  a free port with its own temporary folder; it can be killed and started again on the same
  folder and port.
- ``TokenProxy``: what a lab puts in front of Chroma to require a token (Chroma 1.x's server has
  no authentication of its own): requests without ``Authorization: Bearer <token>`` get 401,
  the others are passed to the real server.
- ``OldChroma``: answers as a Chroma 0.5 server does (the v1 API only), for the version check.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMA = REPO / ".venv" / "bin" / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ChromaServer:
        import httpx

        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("chroma run did not start in time")

    def kill(self) -> None:
        """As a crash or a power cut: no chance to finish anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
            self.process = None


class _Server:
    """A threaded http.server on a free loopback port, for the two stand-ins below."""

    handler: type[http.server.BaseHTTPRequestHandler]

    def __enter__(self) -> Any:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


class TokenProxy(_Server):
    def __init__(self, upstream: str, token: str) -> None:
        import httpx

        upstream_client = self.upstream = httpx.Client(base_url=upstream, timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {token}":
                    body = b"Unauthorized"
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                reply = upstream_client.request(self.command, self.path, content=data, headers=headers)
                self.send_response(reply.status_code)
                self.send_header("Content-Type", reply.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):  # http.server looks up do_GET, do_POST…: all are forwarded
                    return self._forward
                raise AttributeError(name)

        self.handler = Handler

    def __exit__(self, *args: object) -> None:
        super().__exit__(*args)
        self.upstream.close()


class OldChroma(_Server):
    def __init__(self, version: str = "0.5.23") -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/api/v1/version":
                    body, status = json.dumps(version).encode(), 200
                elif self.path == "/api/v1/heartbeat":
                    body, status = b'{"nanosecond heartbeat": 1}', 200
                else:
                    body, status = b'{"detail": "Not Found"}', 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler


class NotChroma(_Server):
    """Some other web server: every page is 404."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_error(404)

        self.handler = Handler
