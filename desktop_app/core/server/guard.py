"""What every request must pass before the API reads it: who it is addressed to, where a browser
sent it from, and how big it is.

- **DNS rebinding**: a web page can point a name it controls at 127.0.0.1 and then talk to the
  server as "its own" site. Such requests carry that name in ``Host``, so only loopback names
  and the address the server was started on are accepted there (any host when listening on all
  addresses, which needs the API key anyway).
- **Cross-site requests**: a browser says which site sent a request in ``Origin``; a site other
  than this computer is refused, so a page the user visits cannot drive the server.
- **Size**: a body larger than :data:`MAX_BODY_BYTES` is refused with 413 while it arrives,
  before it is parsed or kept anywhere.

A plain ASGI middleware (no FastAPI needed), so it also guards the schema and unknown routes.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from desktop_app.core.server import access

MAX_BODY_BYTES = 8 * 1024 * 1024
DRAIN_BYTES = 256 * 1024 * 1024  # a larger body is not even read to its end before refusing it

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or an origin's netloc, without port or brackets, lowercase."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


class RequestGuard:
    """Refuses requests addressed to a foreign host, sent by a foreign site, or too big."""

    def __init__(self, app: App, bound_host: str, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body
        self._any_host = _wildcard(bound_host)
        self._named = "" if self._any_host else _host_name(bound_host)
        self._allowed = {"localhost", self._named} - {""}

    def host_allowed(self, host: str) -> bool:
        name = _host_name(host)
        if not name:
            return False
        return self._any_host or name in self._allowed or name.endswith(".localhost") or access.is_loopback(name)

    def origin_allowed(self, origin: str) -> bool:
        """Pages on this computer only (a local notebook, a tool's own page), never "null"."""
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed page, a file) and anything odd
        name = _host_name(parts.netloc)
        return name == "localhost" or name.endswith(".localhost") or access.is_loopback(name) or name == self._named

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.host_allowed(headers.get("host", "")):
            await _refuse(send, 403, "This server answers only requests addressed to this computer (the Host header).")
            return
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            await _refuse(send, 403, "Requests from web pages of other sites are refused (the Origin header).")
            return
        body = bytearray()
        size = 0
        more = True
        while more:  # the whole body, counted as it arrives (chunked bodies declare no length)
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", receive, message), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size <= self.max_body:
                body += chunk
            elif size > DRAIN_BYTES:
                break  # read no further: the connection is closed after the answer
            else:
                body.clear()  # read on, keeping nothing, so the client gets its answer, not a reset
        if size > self.max_body:
            await _refuse(send, 413, self._too_big())
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_big(self) -> str:
        return f"The request is larger than {self.max_body // (1024 * 1024)} MB, the most this server accepts."


def _replay(body: bytes, receive: Receive, pending: Message | None = None) -> Receive:
    """The body read above, then the connection's own messages (a disconnect, for cancelling)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return pending if pending is not None else {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, status: int, message: str) -> None:
    kind = "invalid_request_error"
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
