"""Starts and stops Hearth's server: uvicorn on a socket Hearth binds itself.

Binding first means a refused address (no key for a non-loopback host) or a port in use is a
plain-words :class:`HearthError` before anything listens, instead of uvicorn exiting the
process. In the window the server runs on a thread of its own; ``hearth serve`` runs it in the
foreground until Ctrl+C.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop_app.core import settings as settings_store
from desktop_app.core.errors import HearthError
from desktop_app.core.server import access
from desktop_app.core.server.model_access import ModelAccess
from desktop_app.core.server.request_log import RequestLog, ServedEvent, ServerStats

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10


def bind(host: str, port: int, api_key: str | None) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one."""
    access.check_bind(host, api_key)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise HearthError(f"Port {port} on {host} is already in use.", "Choose another port.") from None
        raise HearthError(f"The server cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class LocalServer:
    """One running server. ``start`` returns once it accepts connections."""

    def __init__(
        self,
        models: ModelAccess,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        defaults: Callable[[], settings_store.Settings] = settings_store.load,
        db_path: Path | None = None,
        listener: Callable[[ServedEvent], None] | None = None,
    ) -> None:
        self._models = models
        self.host = host
        self.port = port
        self.api_key = api_key
        self._defaults = defaults
        self.log = RequestLog(db_path, listener)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> ServerStats:
        return self.log.stats()

    def _prepare(self) -> Any:
        import uvicorn

        from desktop_app.core.server.app import create_app

        self._socket = bind(self.host, self.port, self.api_key)
        self.port = int(self._socket.getsockname()[1])
        app = create_app(self._models, self.log, self.api_key, self._defaults, bound_host=self.host)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        return self._server

    def start(self) -> None:
        """Listens in a background thread; HearthError if it cannot."""
        server = self._prepare()
        sockets = [self._socket]
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name="hearth-serve")
        self._thread.daemon = True
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise HearthError(f"The server on {self.url} did not start.")
            time.sleep(0.02)
        log.info("Serving on %s", self.url)

    def serve_forever(self, on_listening: Callable[[str], None] | None = None) -> None:
        """Runs in this thread until Ctrl+C (``hearth serve``); ``on_listening`` gets the address."""
        server = self._prepare()
        if on_listening is not None:
            on_listening(self.url)
        try:
            server.run(sockets=[self._socket])
        finally:
            self._close()

    def stop(self) -> None:
        """Stops listening; a request in progress gets a moment to finish, then is cut off."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
        self._close()

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None
        self.log.release()
