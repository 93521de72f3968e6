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
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse, urlunparse

from desktop_app.core import secrets
from desktop_app.core.errors import HearthError

log = logging.getLogger(__name__)

FORMAT = 1  # what Hearth keeps on the server; a newer format is refused by an older client
SUPPORTED_MAJOR = 1
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 120.0
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
