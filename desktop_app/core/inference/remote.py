"""OpenAI-compatible servers as model backends: llama.cpp's llama-server, llama-cpp-python's
server, vLLM, Ollama, or another Hearth.

:class:`RemoteClient` speaks the OpenAI API over httpx (imported lazily) and the few extras
each server has: what it says about itself (llama-server's and Hearth's ``/props``, vLLM's
``/version``, Ollama's ``/api/version``), its tokenizer where it has one, and how it takes a
constrained output (a JSON schema, or a llama.cpp grammar). What cannot be known from a server
is said, not guessed: no server reports the model file's sha256 except Hearth.

Failures are plain words: :class:`ServerGoneError` (unreachable, or the connection dropped),
:class:`ServerBusyError` (429 / 5xx: worth retrying later), :class:`RemoteRequestError` (the
server refused this request), all :class:`HearthError`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from desktop_app.core import secrets
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message, Reply, Timings
from desktop_app.core.settings import RemoteEndpoint, SamplingSettings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 600.0  # a long prompt on a busy server can take minutes before its first token
PROBE_TIMEOUT_S = 5.0
ASSUMED_N_CTX = 4096
LLAMA_CPP_PYTHON_N_CTX = 2048  # llama_cpp.server's own default, which it does not report

KINDS = {
    "llama-server": "llama.cpp server",
    "llama-cpp-python": "llama-cpp-python server",
    "hearth": "Hearth",
    "vllm": "vLLM",
    "ollama": "Ollama",
    "openai-compatible": "OpenAI-compatible server",
}
GRAMMAR_KINDS = ("llama-server", "llama-cpp-python", "hearth")


class ServerGoneError(HearthError):
    """The server cannot be reached, or dropped the connection: nothing more can be sent now."""


class ServerBusyError(HearthError):
    """429 or a 5xx: the server is there but cannot answer now; retrying later may work."""

    def __init__(self, message: str, hint: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class RemoteRequestError(HearthError):
    """The server refused this request (4xx): retrying the same request will not help."""

    def __init__(self, message: str, hint: str = "", status: int = 400) -> None:
        super().__init__(message, hint)
        self.status = status


def normalise_url(url: str) -> str:
    """The server's root URL (no trailing ``/v1``); a plain-words error for anything else."""
    text = url.strip().rstrip("/")
    if text and "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HearthError(f"“{url}” is not a server address.", "Write it like http://192.168.1.20:8080.")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def short_model_name(model_id: str) -> str:
    """A server's model id to show: llama-cpp-python's server names a model by its file path."""
    return PurePath(model_id).name if "/" in model_id or "\\" in model_id else model_id


def key_name(endpoint_id: str) -> str:
    return f"endpoint:{endpoint_id}"


def endpoint_key(endpoint: RemoteEndpoint) -> str | None:
    return secrets.get(key_name(endpoint.id)) if endpoint.has_key else None


def new_endpoint_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class ServerInfo:
    """What a server says about itself and one of its models; ``unavailable`` says what it does not."""

    kind: str
    version: str = ""
    n_ctx: int = 0  # 0: not reported
    model_path: str = ""
    model_sha256: str = ""
    props: dict[str, Any] = field(default_factory=dict)  # the server's own words (e.g. /props)
    unavailable: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RemoteModel:
    """A model on a server, as chosen in the picker: the remote counterpart of LoadedModel."""

    endpoint_id: str
    endpoint_name: str
    url: str  # the server's root
    model_id: str
    info: ServerInfo
    n_ctx: int
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return short_model_name(self.model_id)

    @property
    def backend(self) -> str:
        return f"{self.info.label} at {urlsplit(self.url).netloc}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint_name,
            "url": self.url,
            "model": self.model_id,
            "n_ctx": self.n_ctx,
            "server": self.info.to_dict(),
        }


@dataclass
class RemoteReply(Reply):
    """A :class:`Reply` from a server, with what the server said about the answer."""

    model_reported: str = ""  # the "model" field of the server's response
    server_fields: dict[str, Any] = field(default_factory=dict)  # system_fingerprint, timings, Hearth's fields


@dataclass(frozen=True)
class OutputRule:
    """A constrained output: JSON matching ``schema``, or a llama.cpp grammar (``gbnf``)."""

    schema: dict[str, Any] | None = None
    gbnf: str | None = None


def connection_words(exc: BaseException) -> str:
    """What went wrong on the way to a server, in plain words (httpx's exception class and the
    system's message stay in the log)."""
    import httpx

    log.info("Server connection failed: %s: %s", type(exc).__name__, exc)
    text = str(exc).lower()
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "its address must start with http:// or https://"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy in between refused the connection"
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "a secure (https) connection could not be set up with it"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "nothing is listening at that address (the connection was refused)"
        if "name or service" in text or "getaddrinfo" in text or "nodename" in text or "resol" in text:
            return "no computer of that name was found"
        if "unreachable" in text:
            return "the network cannot reach that address"
        return "no connection could be made"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "it closed the connection without a proper answer"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke"
    return "the connection failed"


def _describe_http_error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    if isinstance(error, str):
        return error[:300]
    detail = data.get("detail") if isinstance(data, dict) else None
    return str(detail or data)[:300]


class RemoteClient:
    """One server. Thread-safe (httpx's client is): dataset runs send from several threads."""

    def __init__(self, url: str, api_key: str | None = None, name: str = "") -> None:
        import httpx

        self.url = normalise_url(url)
        self.name = name or urlsplit(self.url).netloc
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=8)
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, limits=limits)
        self._kind: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, endpoint: RemoteEndpoint) -> RemoteClient:
        return cls(endpoint.url, endpoint_key(endpoint), endpoint.name)

    def close(self) -> None:
        self._http.close()

    # -- plain requests ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, timeout=timeout or httpx.USE_CLIENT_DEFAULT, **kwargs)
        except httpx.TimeoutException:
            raise ServerGoneError(
                f"The server at {self.url} did not answer in time.", "Check that it is running and not overloaded."
            ) from None
        except httpx.HTTPError as exc:
            raise ServerGoneError(
                f"The server at {self.url} cannot be reached: {connection_words(exc)}.",
                "Check that it is running and that the address is right.",
            ) from None
        self._raise_for_status(response)
        return response

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if not response.is_closed:
            response.read()
        detail = _describe_http_error(response)
        if status in (401, 403):
            raise RemoteRequestError(
                f"The server at {self.url} refused the API key ({status}: {detail}).",
                "Check the key in Settings → Servers.",
                status,
            )
        if status == 429 or status >= 500:
            retry = response.headers.get("retry-after", "")
            raise ServerBusyError(
                f"The server at {self.url} could not answer now ({status}: {detail}).",
                "Try again in a moment.",
                float(retry) if retry.replace(".", "", 1).isdigit() else None,
            )
        if status == 404:
            raise RemoteRequestError(f"The server at {self.url} has no such model or endpoint ({detail}).", "", 404)
        raise RemoteRequestError(f"The server at {self.url} refused the request ({status}: {detail}).", "", status)

    def _probe(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        """A JSON answer from an optional endpoint, or None when the server has no such endpoint."""
        try:
            response = self._request(method, path, timeout=PROBE_TIMEOUT_S, **kwargs)
        except RemoteRequestError as exc:
            if exc.status in (401, 403):
                raise
            return None
        except ServerBusyError:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # -- what the server has and is ------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        """The server's models as it lists them (each has at least an ``id``)."""
        try:
            data = self._request("GET", "/v1/models", timeout=PROBE_TIMEOUT_S * 2).json()
        except ValueError:
            raise RemoteRequestError(f"{self.url} does not look like an OpenAI-compatible server.") from None
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            # Ollama's native list, for a URL pointed at it without /v1.
            raise RemoteRequestError(f"{self.url} does not list models the OpenAI way (GET /v1/models).")
        return [m for m in items if isinstance(m, dict) and m.get("id")]

    def model_ids(self) -> list[str]:
        return [str(m["id"]) for m in self.list_models()]

    def kind(self) -> str:
        """Which server this is, found once from what it answers to."""
        with self._lock:
            if self._kind is None:
                self._kind = self._detect_kind()
            return self._kind

    def _detect_kind(self) -> str:
        props = self._probe("GET", "/props")
        if props is not None:
            if props.get("server") == "hearth":
                return "hearth"
            if "default_generation_settings" in props or "build_info" in props:
                return "llama-server"
        if self._probe("GET", "/api/version") is not None:
            return "ollama"
        version = self._probe("GET", "/version")
        if version is not None and "version" in version:
            return "vllm"
        models = self._probe("GET", "/v1/models") or {}
        owners = {m.get("owned_by") for m in models.get("data", []) if isinstance(m, dict)}
        if owners == {"me"} and self._probe("POST", "/extras/tokenize/count", json={"input": "a"}) is not None:
            return "llama-cpp-python"
        return "openai-compatible"

    def server_info(self, model_id: str) -> ServerInfo:
        kind = self.kind()
        unavailable = ["the model file's sha256 (the server does not report it)"]
        if kind == "hearth":
            props = self._probe("GET", "/props", params={"model": model_id}) or {}
            found = props.get("model")
            loaded: dict[str, Any] = found if isinstance(found, dict) else {}
            sha = str(loaded.get("sha256", "")) if loaded.get("id") == model_id else ""
            return ServerInfo(
                kind, str(props.get("version", "")), int(loaded.get("n_ctx", 0) or 0) if sha else 0,
                str(loaded.get("path", "")) if sha else "", sha, props,
                [] if sha else ["the model file's sha256 until the server has loaded it (each answer records it)"],
            )  # fmt: skip
        if kind == "llama-server":
            props = self._probe("GET", "/props") or {}
            settings = props.get("default_generation_settings") or {}
            n_ctx = int(props.get("n_ctx") or settings.get("n_ctx") or 0)
            small = {k: v for k, v in props.items() if k != "chat_template" and not isinstance(v, dict | list)}
            small["chat_template_chars"] = len(str(props.get("chat_template", "")))
            return ServerInfo(kind, str(props.get("build_info", "")), n_ctx, str(props.get("model_path", "")), "",
                              small, unavailable)  # fmt: skip
        if kind == "vllm":
            version = self._probe("GET", "/version") or {}
            entry = next((m for m in self.list_models() if m.get("id") == model_id), {})
            return ServerInfo(kind, str(version.get("version", "")), int(entry.get("max_model_len") or 0),
                              str(entry.get("root", "")), "", {"model": entry}, unavailable)  # fmt: skip
        if kind == "ollama":
            version = self._probe("GET", "/api/version") or {}
            show = self._probe("POST", "/api/show", json={"model": model_id}) or {}
            details = show.get("details") if isinstance(show.get("details"), dict) else {}
            digest = ""
            tags = self._probe("GET", "/api/tags") or {}
            for entry in tags.get("models", []):
                if isinstance(entry, dict) and model_id in (entry.get("name"), entry.get("model")):
                    digest = str(entry.get("digest", ""))
            return ServerInfo(
                kind, str(version.get("version", "")), 0, "", "", {"details": details, "digest": digest},
                [*unavailable, "the context size it runs the model with"],
            )  # fmt: skip
        if kind == "llama-cpp-python":
            return ServerInfo(kind, "", 0, "", "", {}, [*unavailable, "its version", "its context size"])
        return ServerInfo(kind, "", 0, "", "", {}, [*unavailable, "what software it is", "its context size"])

    def describe_model(self, model_id: str, endpoint_id: str = "", n_ctx: int = 0) -> RemoteModel:
        """The chosen model with what its server says (``n_ctx`` > 0 overrides the server's figure)."""
        if model_id not in self.model_ids():
            raise RemoteRequestError(f"The server at {self.url} has no model “{model_id}”.", "", 404)
        info = self.server_info(model_id)
        notes: list[str] = []
        if n_ctx <= 0:
            n_ctx = info.n_ctx
        if n_ctx <= 0:
            n_ctx = LLAMA_CPP_PYTHON_N_CTX if info.kind == "llama-cpp-python" else ASSUMED_N_CTX
            notes.append(
                f"The server does not say its context size: {n_ctx:,} tokens are assumed. "
                "Set the real figure in Settings → Servers if it differs."
            )
        return RemoteModel(endpoint_id, self.name, self.url, model_id, info, n_ctx, notes)

    # -- tokens ----------------------------------------------------------------------------------------

    def count_tokens(self, model_id: str, text: str) -> int | None:
        """The server's own count for ``text``, or None when it has no tokenizer endpoint."""
        kind = self.kind()
        if kind in ("llama-cpp-python", "hearth"):
            data = self._probe("POST", "/extras/tokenize/count", json={"input": text, "model": model_id})
            return int(data["count"]) if data and "count" in data else None
        if kind == "llama-server":
            data = self._probe("POST", "/tokenize", json={"content": text})
            return len(data["tokens"]) if data and isinstance(data.get("tokens"), list) else None
        if kind == "vllm":
            data = self._probe("POST", "/tokenize", json={"model": model_id, "prompt": text})
            return int(data["count"]) if data and "count" in data else None
        return None

    # -- generating ------------------------------------------------------------------------------------

    def _body(
        self,
        model_id: str,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        seed: int,
        rule: OutputRule | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model_id,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": seed,
            "stream": True,
        }
        kind = self.kind()
        body["stream_options"] = {"include_usage": True}  # servers that do not know it ignore it
        if kind in GRAMMAR_KINDS or kind == "vllm":  # llama.cpp's own sampling settings, understood there
            body.update(top_k=sampling.top_k, min_p=sampling.min_p, repeat_penalty=sampling.repeat_penalty)
        if rule is not None and rule.schema is not None:
            if kind == "llama-cpp-python":
                # Its own schema converter lets raw control characters into strings (invalid JSON):
                # Hearth's grammar for the schema (the same converter, corrected) goes instead.
                from desktop_app.core.inference import grammars

                body["grammar"] = grammars.json_schema(rule.schema)
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": rule.schema, "strict": True},
                }
        elif rule is not None and rule.gbnf:
            if kind in GRAMMAR_KINDS:
                body["grammar"] = rule.gbnf
            elif kind == "vllm":
                body["guided_grammar"] = rule.gbnf
            else:
                raise RemoteRequestError(
                    f"The server at {self.url} ({KINDS.get(kind, kind)}) cannot hold an answer to a grammar.",
                    "Use a llama.cpp, Hearth or vLLM server for labels and numbers, or JSON output.",
                )
        return body

    def stream_chat(
        self,
        model_id: str,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        rule: OutputRule | None = None,
    ) -> Iterator[str | RemoteReply]:
        """Yields text as the server writes it, then one :class:`RemoteReply`. Cancelling closes the
        connection, which stops generation on servers that watch for it (all of these do)."""
        import httpx

        cancel = cancel or CancelToken()
        seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
        body = self._body(model_id, messages, sampling, seed, rule)
        pieces: list[str] = []
        finish = "length"
        reported = ""
        fields: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        chunks = 0
        done = finished = False  # [DONE], and a finish reason: every complete reply has both
        started = time.perf_counter()
        first = last = 0.0
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                self._raise_for_status(response)
                cancel.on_cancel(response.close)  # wakes a read that waits for the next token
                for line in response.iter_lines():
                    if cancel.cancelled:
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    event = json.loads(data)
                    if "error" in event:
                        raise RemoteRequestError(f"The server at {self.url} stopped: {_error_text(event)}")
                    reported = str(event.get("model") or reported)
                    for name in ("system_fingerprint", "hearth", "timings"):
                        if event.get(name):
                            fields[name] = event[name]
                    if event.get("usage"):
                        usage = event["usage"]
                    for choice in event.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        if text:
                            now = time.perf_counter()
                            first = first or now
                            last = now
                            chunks += 1
                            pieces.append(text)
                            yield text
                        if choice.get("finish_reason"):
                            finished = True
                            finish = "length" if choice["finish_reason"] == "length" else "stop"
        except httpx.ConnectError as exc:
            hint = "Check that it is running and that the address is right."
            words = connection_words(exc)
            raise ServerGoneError(f"The server at {self.url} cannot be reached: {words}.", hint) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            if not cancel.cancelled:
                raise self._broke_off(connection_words(exc)) from None
        except ValueError as exc:  # an event that is not JSON
            raise RemoteRequestError(f"The server at {self.url} sent something unreadable: {exc}") from None
        if cancel.cancelled:
            finish = "cancelled"
        elif done and not finished:
            # llama-cpp-python's server does this to a reply when another request arrives
            # (its interrupt_requests setting): cut short, not finished, so worth sending again.
            raise ServerBusyError(f"The server at {self.url} cut the reply short.", "Send it again in a moment.")
        elif not finished:
            raise self._broke_off("the reply stopped half-way")
        end = time.perf_counter()
        gen_tokens = int(usage.get("completion_tokens") or chunks)
        server_timings = fields.get("timings") or {}
        timings = Timings(
            prompt_tokens=int(usage.get("prompt_tokens") or server_timings.get("prompt_n") or 0),
            prompt_eval_tokens=int(server_timings.get("prompt_n") or 0),
            prompt_tok_s=float(server_timings.get("prompt_per_second") or 0.0),
            gen_tokens=gen_tokens,
            gen_tok_s=(gen_tokens - 1) / (last - first) if gen_tokens > 1 and last > first else 0.0,
            ttft_s=(first - started) if first else 0.0,
            total_s=end - started,
        )
        hearth_fields = fields.get("hearth") or {}
        yield RemoteReply(
            text="".join(pieces),
            finish=finish,
            seed=int(hearth_fields.get("seed", seed)),
            timings=timings,
            context_used=timings.prompt_tokens + gen_tokens,
            model_reported=reported,
            server_fields=fields,
        )

    def _broke_off(self, why: str) -> ServerGoneError:
        return ServerGoneError(
            f"The connection to the server at {self.url} broke off ({why}).", "Check that the server is still running."
        )

    def generate(
        self,
        model_id: str,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        rule: OutputRule | None = None,
    ) -> RemoteReply:
        for item in self.stream_chat(model_id, messages, sampling, cancel, rule):
            if isinstance(item, RemoteReply):
                return item
        raise AssertionError("stream_chat ended without a reply")


@dataclass(frozen=True)
class EndpointModels:
    """What one configured server offers now, or why it could not be asked."""

    endpoint: RemoteEndpoint
    model_ids: list[str]
    error: str = ""


def list_endpoints(endpoints: Sequence[RemoteEndpoint]) -> list[EndpointModels]:
    """Every configured server's models (the model picker lists them; a server that does not
    answer is listed with its error, and the others are still asked)."""
    found: list[EndpointModels] = []
    for endpoint in endpoints:
        try:
            client = RemoteClient.for_endpoint(endpoint)
        except HearthError as exc:
            found.append(EndpointModels(endpoint, [], str(exc)))
            continue
        try:
            found.append(EndpointModels(endpoint, client.model_ids()))
        except HearthError as exc:
            found.append(EndpointModels(endpoint, [], str(exc)))
        finally:
            client.close()
    return found


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
