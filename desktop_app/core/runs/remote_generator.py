"""Dataset runs against an OpenAI-compatible server: the :class:`~desktop_app.core.runs.generators.RowGenerator`
protocol over :class:`~desktop_app.core.inference.remote.RemoteClient`.

Up to ``concurrency`` rows are in flight at once (the endpoint's "Requests at once" setting), so a
server that batches requests (llama-server with several slots, vLLM) keeps its GPU busy. A busy
server (429, 5xx) is retried with exponential backoff and jitter, honouring Retry-After; a server
that goes away is given one more try a moment later, then the run stops with a plain-words
message and is marked paused (the runner's rule for a backend error), to resume later without
losing or repeating a row. A request the server refuses for this row only (400: the prompt is too
long, say) fails that row and the run goes on.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.inference.remote import (
    OutputRule,
    RemoteClient,
    RemoteModel,
    RemoteReply,
    RemoteRequestError,
    ServerBusyError,
    ServerGoneError,
)
from desktop_app.core.runs.generators import Constraint, Generation, RowError
from desktop_app.core.runs.manifest import ModelRecord
from desktop_app.core.settings import RemoteEndpoint, SamplingSettings

BUSY_RETRIES = 5
GONE_RETRIES = 1
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
FATAL_STATUSES = (401, 403, 404)  # the key or the model: no row can succeed
SERIAL_NOTE = (
    "llama-cpp-python's server answers one request at a time and cuts a running reply short when "
    "another arrives, so rows are sent to it one at a time."
)


def _render(messages: Sequence[Message]) -> str:
    return "\n\n".join(f"<{m.role}>\n{m.content}" for m in messages)


class RemoteGenerator:
    def __init__(
        self,
        client: RemoteClient,
        model: RemoteModel,
        concurrency: int = 4,
        backoff_s: float = BACKOFF_S,
        busy_retries: int = BUSY_RETRIES,
        serial_server_one_at_a_time: bool = True,
    ) -> None:
        self.client = client
        self.model = model
        self.concurrency = max(1, int(concurrency))
        self.note = ""
        if serial_server_one_at_a_time and model.info.kind == "llama-cpp-python" and self.concurrency > 1:
            # It answers one request at a time anyway, and by default cuts a running reply short
            # when another arrives (interrupt_requests): several in flight would undo each other.
            self.concurrency = 1
            self.note = SERIAL_NOTE
        self.backoff_s = backoff_s
        self.busy_retries = busy_retries
        self.retries = 0  # requests sent again after a busy or absent server (for the summary)
        self._lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, endpoint: RemoteEndpoint, model_id: str) -> RemoteGenerator:
        client = RemoteClient.for_endpoint(endpoint)
        try:
            model = client.describe_model(model_id, endpoint.id, endpoint.n_ctx)
        except BaseException:
            client.close()
            raise
        return cls(client, model, endpoint.concurrency)

    def close(self) -> None:
        self.client.close()

    def describe(self) -> ModelRecord:
        info = self.model.info
        return ModelRecord(
            kind="remote",
            name=self.model.name,
            endpoint=self.model.endpoint_name,
            url=self.model.url,
            model_id=self.model.model_id,
            server=info,
            sha256=info.model_sha256 or None,  # None: the server does not say which file it runs
            path=info.model_path or None,
            n_ctx=self.model.n_ctx,
            concurrency=self.concurrency,
            unavailable=list(info.unavailable),
            notes=[*self.model.notes, *([self.note] if self.note else [])],
        )

    def share_prefix(self, a: Sequence[Message], b: Sequence[Message]) -> None:
        """Nothing to do here: servers keep their own prompt cache (llama-server's cache_prompt)."""

    def _rule(self, constraint: Constraint | None) -> OutputRule | None:
        if constraint is None:
            return None
        if constraint.kind == "json":
            return OutputRule(schema=constraint.schema or {})
        return OutputRule(gbnf=constraint.gbnf)

    def _wait(self, seconds: float, cancel: CancelToken) -> None:
        woken = threading.Event()
        cancel.on_cancel(woken.set)
        woken.wait(seconds)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(MAX_BACKOFF_S, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
        return max(delay, retry_after or 0.0)

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken,
        constraint: Constraint | None = None,
    ) -> Generation:
        rule = self._rule(constraint)
        prompt_text = _render(messages)
        busy = gone = 0
        while True:
            try:
                reply = self.client.generate(self.model.model_id, messages, sampling, cancel, rule)
                break
            except ServerBusyError as exc:
                if busy >= self.busy_retries or cancel.cancelled:
                    raise HearthError(
                        f"The server stayed busy after {busy + 1} tries: {exc.message}",
                        "The run is paused; resume it when the server is less busy.",
                    ) from None
                self._wait(self._delay(busy, exc.retry_after), cancel)
                busy += 1
            except ServerGoneError as exc:
                if gone >= GONE_RETRIES or cancel.cancelled:
                    raise ServerGoneError(
                        exc.message, "The run is paused; resume it once the server is back."
                    ) from None
                self._wait(self._delay(gone, None), cancel)
                gone += 1
            except RemoteRequestError as exc:
                if exc.status in FATAL_STATUSES:
                    raise
                raise RowError(exc.message, exc.hint, prompt_text) from None
            with self._lock:
                self.retries += 1
        return self._generation(reply, prompt_text)

    @staticmethod
    def _generation(reply: RemoteReply, prompt_text: str) -> Generation:
        extra: dict[str, Any] = {"model_reported": reply.model_reported}
        hearth = reply.server_fields.get("hearth")
        if isinstance(hearth, dict) and hearth.get("model_sha256"):
            extra["model_sha256"] = hearth["model_sha256"]  # another Hearth says which file answered
        if reply.server_fields.get("system_fingerprint"):
            extra["system_fingerprint"] = reply.server_fields["system_fingerprint"]
        return Generation.of(reply, prompt_text, extra)


def for_run(model: ModelRecord, endpoints: Sequence[RemoteEndpoint]) -> RemoteGenerator:
    """The backend a stored run was made with on a server (its manifest's ``model``): the same
    server (found by its address, else its name among those added) and the same model id, so
    a paused run resumes where it was made. Plain words when the server is gone from the list."""
    url, name, model_id = model.url or "", model.endpoint or "", model.model_id or ""
    endpoint = next((e for e in endpoints if url and e.url == url), None) or next(
        (e for e in endpoints if name and e.name == name), None
    )
    if endpoint is None or not model_id:
        raise HearthError(
            f"This run was made on the server {name or url} ({url}), which is not among the servers added.",
            f"Add it again (Settings › Servers, or: hearth servers add NAME {url}), then resume the run.",
        )
    return RemoteGenerator.for_endpoint(endpoint, model_id)
