"""Every request the server answers, in a log of its own, and — a setting, on by default —
kept like a chat: a conversation per API client titled "API: …", each request its question and
the answer with full provenance (model sha256, every setting, the seed used, the request's own
parameters), so an answer a script got can be traced like one from the window. A client that
sends thousands of requests (a benchmark) turns the conversations off for itself with the header
``X-Hearth-Save-Conversation: false`` (or ``"hearth_save_conversation": false`` in the body);
the log still records each request.

The log (``server-log.db`` beside the database; Settings → Local server shows it) is bounded:
the newest :data:`MAX_LOG_ROWS` requests, each with its request and answer cut to
:data:`MAX_STORED_CHARS`; a conversation stores the request's messages only up to that size too.
Also the counts and the last errors the window shows.

Writes happen on one thread of their own (SQLite: one connection per thread), after the reply
is finished, also when the client went away mid-reply (the answer is then marked stopped).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import sqlite3
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
from desktop_app.core.server.failures import REQUEST_FAILED, unexpected
from desktop_app.core.server.generation import Served
from desktop_app.core.settings import SamplingSettings

log = logging.getLogger(__name__)

TITLE_PREFIX = "API: "
LAST_ERRORS = 10
LOG_FILE = "server-log.db"
MAX_LOG_ROWS = 5000
MAX_STORED_CHARS = 64 * 1024
_SCHEMA = """CREATE TABLE IF NOT EXISTS served (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, endpoint TEXT NOT NULL, client TEXT NOT NULL, model TEXT NOT NULL,
    ok INTEGER NOT NULL, finish TEXT NOT NULL, message TEXT NOT NULL, response_id TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, seeds TEXT NOT NULL,
    conversation_id INTEGER, request TEXT NOT NULL, response TEXT NOT NULL)"""


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
    save_conversation: bool = True


@dataclass(frozen=True)
class LoggedRequest:
    """One row of the log, as Settings → Local server lists it."""

    at: float
    endpoint: str
    client: str
    model: str
    ok: bool
    finish: str
    message: str
    response_id: str
    prompt_tokens: int
    completion_tokens: int
    seeds: list[int]
    conversation_id: int | None
    request: str  # JSON, cut to MAX_STORED_CHARS
    response: str


@dataclass(frozen=True)
class ServerStats:
    served: int
    errors: list[ServedEvent]
    last: ServedEvent | None


def bounded(api: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters as stored: a prompt or messages larger than MAX_STORED_CHARS are
    replaced by their size and sha256 (the answer is stored whole)."""
    kept = dict(api)
    for name in ("messages", "prompt"):
        if name not in kept:
            continue
        text = json.dumps(kept[name], ensure_ascii=False)
        if len(text) > MAX_STORED_CHARS:
            count = len(kept[name]) if isinstance(kept[name], list) else 1
            digest = hashlib.sha256(text.encode()).hexdigest()
            kept[name] = {"omitted": True, "items": count, "chars": len(text), "sha256": digest}
    return kept


def served_provenance(record: RequestRecord, served: Served) -> Provenance:
    """The chat's provenance of the answer, plus the request as the API received it."""
    provenance = make_provenance(served.model, served.sha256, record.sampling, record.system_prompt, served.reply)
    settings = dict(provenance.settings)
    template = getattr(served.model, "template", None)
    if "template" not in settings and template is not None:
        settings["template"] = template.to_dict()
    api = bounded(record.api)
    if len(served.choices) > 1:
        api["choices"] = [{"index": c.index, "seed": c.reply.seed, "text": c.text[:MAX_STORED_CHARS],
                           "finish": c.reply.finish} for c in served.choices]  # fmt: skip
    settings["api"] = {"endpoint": record.endpoint, "client": record.client, "id": record.response_id, **api}
    return replace(provenance, settings=settings)


def log_path(db_path: Path) -> Path:
    return db_path.parent / LOG_FILE


def read_log(path: Path, limit: int = 200) -> list[LoggedRequest]:
    """The newest ``limit`` requests of the log at ``path`` (none if there is no log yet)."""
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute(
                "SELECT at, endpoint, client, model, ok, finish, message, response_id, prompt_tokens,"
                " completion_tokens, seeds, conversation_id, request, response FROM served ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise HearthError(f"The local server's request log could not be read: {exc}") from None
    return [
        LoggedRequest(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9], json.loads(r[10] or "[]"),
                      r[11], r[12], r[13])
        for r in rows
    ]


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
        self._log_db: sqlite3.Connection | None = None  # opened on the writer thread

    # -- what the API reports -----------------------------------------------------------------

    def record_generation(self, record: RequestRecord, future: Future[Served]) -> None:
        """Stores the answer once ``future`` is done (on the log's own thread)."""
        future.add_done_callback(lambda done: self._writer.submit(self._write_generation, record, done))

    def record_embeddings(self, client: str, model: str, inputs: int, tokens: int) -> None:
        event = ServedEvent(time.time(), "/v1/embeddings", client, model, ok=True)
        self._event(event)
        self._writer.submit(self._append, event, "", tokens, 0, [], json.dumps({"inputs": inputs}), "")

    def record_failure(self, endpoint: str, client: str, message: str, model: str = "") -> None:
        event = ServedEvent(time.time(), endpoint, client, model, ok=False, message=message)
        self._event(event)
        self._writer.submit(self._append, event, "", 0, 0, [], "", "")

    @property
    def path(self) -> Path:
        return log_path(self.db_path)

    # -- what the window reads ------------------------------------------------------------------

    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(self._served, list(self._errors), self._last)

    def drain(self, timeout: float = 30) -> None:
        """Waits until every answer finished so far is stored (tests, shutting down)."""
        self._writer.submit(lambda: None).result(timeout)

    def release(self, timeout: float = 30) -> None:
        """Stores what is pending and closes the log file (reopened by the next request)."""
        self._writer.submit(self._close_log).result(timeout)

    def close(self) -> None:
        self._writer.submit(self._close_log)
        self._writer.shutdown(wait=True)

    # -- on the writer thread ---------------------------------------------------------------------

    def _write_generation(self, record: RequestRecord, future: Future[Served]) -> None:
        try:
            served = future.result()
        except Cancelled:  # the client left before its turn came: nothing was generated
            event = ServedEvent(time.time(), record.endpoint, record.client, record.model, False, "cancelled")
            self._event(event)
            self._append(event, record.response_id, 0, 0, [], self._request_json(record), "")
            return
        except HearthError as exc:
            self._failed(record, str(exc))
            return
        except Exception as exc:
            log.error("A served request failed", exc_info=exc)
            self._failed(record, unexpected(REQUEST_FAILED))
            return
        conversation_id = None
        if record.save_conversation:
            try:
                conversation_id = self._store(record, served)
            except Exception:
                log.exception("Could not store a served request")
        event = ServedEvent(
            time.time(), record.endpoint, record.client, record.model, True, served.finish, "", conversation_id
        )
        self._event(event)
        answer = json.dumps([{"index": c.index, "text": c.text, "tool_calls": c.tool_calls, "finish": c.reply.finish}
                             for c in served.choices], ensure_ascii=False)  # fmt: skip
        seeds = [c.reply.seed for c in served.choices]
        self._append(event, record.response_id, served.prompt_tokens, served.completion_tokens, seeds,
                     self._request_json(record), answer)  # fmt: skip

    def _failed(self, record: RequestRecord, message: str) -> None:
        event = ServedEvent(time.time(), record.endpoint, record.client, record.model, ok=False, message=message)
        self._event(event)
        self._append(event, record.response_id, 0, 0, [], self._request_json(record), "")

    @staticmethod
    def _request_json(record: RequestRecord) -> str:
        return json.dumps(bounded(record.api), ensure_ascii=False, default=str)

    def _append(
        self, event: ServedEvent, response_id: str, prompt_tokens: int, completion_tokens: int, seeds: list[int],
        request: str, response: str,
    ) -> None:  # fmt: skip
        """One row in the log (on the writer thread); the oldest go beyond MAX_LOG_ROWS."""
        try:
            if self._log_db is None:
                self._log_db = sqlite3.connect(self.path, timeout=10)
                self._log_db.execute("PRAGMA journal_mode=WAL")
                self._log_db.execute(_SCHEMA)
            with self._log_db as db:
                cursor = db.execute(
                    "INSERT INTO served (at, endpoint, client, model, ok, finish, message, response_id, prompt_tokens,"
                    " completion_tokens, seeds, conversation_id, request, response)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (event.at, event.endpoint, event.client, event.model, int(event.ok), event.finish,
                     event.message[:MAX_STORED_CHARS], response_id, prompt_tokens, completion_tokens,
                     json.dumps(seeds), event.conversation_id, request[:MAX_STORED_CHARS],
                     response[:MAX_STORED_CHARS]),
                )  # fmt: skip
                newest = int(cursor.lastrowid or 0)
                if newest % 100 == 0:  # now and then: the log keeps its newest rows only
                    db.execute("DELETE FROM served WHERE id <= ?", (newest - MAX_LOG_ROWS,))
        except sqlite3.Error:
            log.exception("Could not write the local server's request log")

    def _close_log(self) -> None:
        if self._log_db is not None:
            self._log_db.close()
            self._log_db = None

    def _store(self, record: RequestRecord, served: Served) -> int:
        store = ConversationStore(self.db_path)
        try:
            conversation_id = self._conversation(store, record.client)
            question = record.user_text
            if len(question) > MAX_STORED_CHARS:
                question = question[:MAX_STORED_CHARS] + f"\n\n[… {len(record.user_text):,} characters in all]"
            store.add_message(conversation_id, "user", question)
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
