"""Every request the server answers, kept like a chat: a conversation per API client titled
"API: …", each request its question and the answer with full provenance (model sha256, every
setting, the seed used, the request's own parameters), so an answer a script got can be traced
like one from the window. Also the counts and the last errors the window shows.

Writes happen on one thread of their own (SQLite: one connection per thread), after the reply
is finished, also when the client went away mid-reply (the answer is then marked stopped).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken
from desktop_app.core.conversations.chat import make_provenance
from desktop_app.core.conversations.store import ConversationStore, Provenance
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.server.generation import Served
from desktop_app.core.settings import SamplingSettings

log = logging.getLogger(__name__)

TITLE_PREFIX = "API: "
LAST_ERRORS = 10


@dataclass(frozen=True)
class ServedEvent:
    at: float
    endpoint: str
    client: str
    model: str
    ok: bool
    finish: str = ""  # "stop" | "length" | "cancelled" for a generation
    message: str = ""  # what went wrong, in words
    conversation_id: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    """What the API knows about a generation request, to be stored with its answer."""

    endpoint: str
    client: str
    model: str
    response_id: str
    user_text: str
    system_prompt: str
    sampling: SamplingSettings
    api: dict[str, Any] = field(default_factory=dict)
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class ServerStats:
    served: int
    errors: list[ServedEvent]
    last: ServedEvent | None


def served_provenance(record: RequestRecord, served: Served) -> Provenance:
    """The chat's provenance of the answer, plus the request as the API received it."""
    provenance = make_provenance(served.model, served.sha256, record.sampling, record.system_prompt, served.reply)
    settings = dict(provenance.settings)
    template = getattr(served.model, "template", None)
    if "template" not in settings and template is not None:
        settings["template"] = template.to_dict()
    settings["api"] = {"endpoint": record.endpoint, "client": record.client, "id": record.response_id, **record.api}
    return replace(provenance, settings=settings)


class RequestLog:
    def __init__(self, db_path: Path | None = None, listener: Callable[[ServedEvent], None] | None = None) -> None:
        self.db_path = db_path or paths.db_path()  # fixed at start: the log never moves mid-run
        self._listener = listener
        self._lock = threading.Lock()
        self._served = 0
        self._errors: collections.deque[ServedEvent] = collections.deque(maxlen=LAST_ERRORS)
        self._last: ServedEvent | None = None
        self._conversations: dict[str, int] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-serve-log")

    # -- what the API reports -----------------------------------------------------------------

    def record_generation(self, record: RequestRecord, future: Future[Served]) -> None:
        """Stores the answer once ``future`` is done (on the log's own thread)."""
        future.add_done_callback(lambda done: self._writer.submit(self._write_generation, record, done))

    def record_embeddings(self, client: str, model: str) -> None:
        self._event(ServedEvent(time.time(), "/v1/embeddings", client, model, ok=True))

    def record_failure(self, endpoint: str, client: str, message: str, model: str = "") -> None:
        self._event(ServedEvent(time.time(), endpoint, client, model, ok=False, message=message))

    # -- what the window reads ------------------------------------------------------------------

    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(self._served, list(self._errors), self._last)

    def drain(self, timeout: float = 30) -> None:
        """Waits until every answer finished so far is stored (tests, shutting down)."""
        self._writer.submit(lambda: None).result(timeout)

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    # -- on the writer thread ---------------------------------------------------------------------

    def _write_generation(self, record: RequestRecord, future: Future[Served]) -> None:
        try:
            served = future.result()
        except Cancelled:  # the client left before its turn came: nothing was generated
            self._event(ServedEvent(time.time(), record.endpoint, record.client, record.model, False, "cancelled"))
            return
        except HearthError as exc:
            self.record_failure(record.endpoint, record.client, str(exc), record.model)
            return
        except Exception as exc:
            log.error("A served request failed", exc_info=exc)
            self.record_failure(record.endpoint, record.client, f"unexpected error: {exc!r}", record.model)
            return
        try:
            conversation_id = self._store(record, served)
        except Exception:
            log.exception("Could not store a served request")
            conversation_id = None
        finish = served.reply.finish
        self._event(
            ServedEvent(time.time(), record.endpoint, record.client, record.model, True, finish, "", conversation_id)
        )

    def _store(self, record: RequestRecord, served: Served) -> int:
        store = ConversationStore(self.db_path)
        try:
            conversation_id = self._conversation(store, record.client)
            store.add_message(conversation_id, "user", record.user_text)
            store.add_message(conversation_id, "assistant", served.reply.text, served_provenance(record, served))
            return conversation_id
        finally:
            store.close()

    def _conversation(self, store: ConversationStore, client: str) -> int:
        title = TITLE_PREFIX + client
        known = self._conversations.get(client)
        if known is not None:
            try:
                store.get(known)
                return known
            except HearthError:  # the user deleted it: the next request starts a new one
                pass
        existing = next((c.id for c in store.list() if c.title == title), None)
        conversation_id = existing if existing is not None else store.create(title).id
        self._conversations[client] = conversation_id
        return conversation_id

    def _event(self, event: ServedEvent) -> None:
        with self._lock:
            self._last = event
            if event.ok:
                self._served += 1
            elif event.finish != "cancelled":
                self._errors.append(event)
        if self._listener is not None:
            try:
                self._listener(event)
            except Exception:
                log.exception("A served-request listener failed")
