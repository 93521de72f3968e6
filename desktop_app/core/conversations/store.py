"""Conversations and messages in SQLite, with the provenance of every answer.

Every assistant message records what produced it: the model file (name, path,
size, sha256), its quantisation, the llama.cpp version, every load and sampling
setting, the seed, and the timings. A stopped reply is kept, marked as stopped.

A conversation can be attached to document collections; an answer from them keeps
its citations, context budget and retrieval inspector as JSON (``rag_json``), written and read
back here only: ``RagAnswer.to_dict()`` / ``RagAnswer.from_dict()``.
"""

from __future__ import annotations

import builtins
import functools
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import db as dbmod
from desktop_app.core import records
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Timings
from desktop_app.core.rag.answer_record import RagAnswer


@dataclass(frozen=True)
class TemplateUsed:
    """The chat template a prompt was written in (``ChatTemplate.to_dict()``)."""

    name: str = ""
    description: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class ServerSoftware:
    kind: str = ""
    version: str = ""


@dataclass(frozen=True)
class ServerUsed:
    """A reply from a model on a server: where it was asked, and what the server said of itself."""

    endpoint: str = ""
    url: str = ""
    model_requested: str = ""
    model_reported: str = ""
    server: ServerSoftware = field(default_factory=ServerSoftware)
    unavailable: list[str] = field(default_factory=list)  # what the server does not say (a file's sha256…)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseFormat:
    type: str = "text"


@dataclass(frozen=True)
class ApiRequest:
    """An answer Hearth's own server gave a program (the request's other fields stay in ``settings``)."""

    endpoint: str = ""
    client: str = ""
    id: str = ""
    stream: bool = False
    response_format: ResponseFormat | None = None


@dataclass(frozen=True)
class ReplySettings:
    """``Provenance.settings`` as a typed record. ``load`` and ``sampling`` stay as recorded, one
    entry per setting by llama.cpp's name (shown and exported key by key)."""

    load: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = ""
    template: TemplateUsed = field(default_factory=TemplateUsed)
    remote: ServerUsed | None = None
    api: ApiRequest | None = None

    @property
    def n_ctx(self) -> int:
        value = self.load.get("n_ctx", 0)
        return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class Provenance:
    model_name: str
    model_path: str
    model_size: int
    model_sha256: str
    quant: str
    llama_cpp_version: str
    settings: dict[str, Any]  # {"load": {...}, "sampling": {...}, "system_prompt": ...}
    seed: int
    timings: dict[str, Any]
    finish: str  # "stop" | "length" | "cancelled" | "crashed" (the engine process ended mid-reply)
    dropped_messages: int = 0

    @functools.cached_property
    def settings_record(self) -> ReplySettings:
        """``settings`` read as a typed record (older replies lack parts: defaults)."""
        return records.from_dict(ReplySettings, self.settings)

    @functools.cached_property
    def timings_record(self) -> Timings:
        return records.from_dict(Timings, self.timings)

    @property
    def template_description(self) -> str:
        """The chat template the prompt was written in ("unrecorded" for answers from before it was)."""
        template = self.settings_record.template
        described = template.description or "unrecorded"
        return f"{described} (sha256 {template.sha256})" if template.sha256 else described


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    system_prompt: str
    created_at: float
    updated_at: float
    documents_only: bool | None = None  # None: the documents settings' default


@dataclass(frozen=True)
class ReplyVersion:
    """One version of a reply: ``id`` None for the one in the thread (``current``)."""

    id: int | None
    message: StoredMessage
    current: bool


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    position: int
    role: str
    content: str
    created_at: float
    provenance: Provenance | None = field(default=None)
    rag_json: str | None = field(default=None, repr=False)  # an answer from documents (RagAnswer.to_dict())

    @property
    def stopped(self) -> bool:
        return self.provenance is not None and self.provenance.finish == "cancelled"

    @property
    def cut_short(self) -> bool:
        """The engine process ended while writing this reply (a crash): what it wrote is kept."""
        return self.provenance is not None and self.provenance.finish == "crashed"

    @functools.cached_property
    def rag(self) -> RagAnswer | None:
        """The answer's citations, budget and inspector record, or None for a plain reply (read
        back tolerantly: a record stored by an older version gets defaults for what it lacks)."""
        if not self.rag_json:
            return None
        try:
            data = json.loads(self.rag_json)
        except ValueError:
            return None
        return RagAnswer.from_dict(data) if isinstance(data, dict) else None


def _conversation(row: sqlite3.Row) -> Conversation:
    only = row["documents_only"]
    return Conversation(
        row["id"], row["title"], row["system_prompt"], row["created_at"], row["updated_at"],
        None if only is None else bool(only),
    )  # fmt: skip


def _message(row: sqlite3.Row | Mapping[str, Any]) -> StoredMessage:
    provenance = None
    if row["finish"] is not None:
        provenance = Provenance(
            model_name=row["model_name"],
            model_path=row["model_path"],
            model_size=row["model_size"],
            model_sha256=row["model_sha256"],
            quant=row["quant"],
            llama_cpp_version=row["llama_cpp_version"],
            settings=json.loads(row["settings_json"] or "{}"),
            seed=row["seed"],
            timings=json.loads(row["timings_json"] or "{}"),
            finish=row["finish"],
            dropped_messages=row["dropped_messages"] or 0,
        )
    return StoredMessage(
        row["id"], row["conversation_id"], row["position"], row["role"], row["content"], row["created_at"], provenance,
        row["rag_json"],
    )  # fmt: skip


class ConversationStore:
    """Owns one connection: use it from one thread (the GUI thread in the app)."""

    def __init__(self, path: Path | None = None) -> None:
        self._db = dbmod.connect(path)

    def close(self) -> None:
        self._db.close()

    # -- conversations ----------------------------------------------------------------------

    def create(self, title: str = "New chat", system_prompt: str = "") -> Conversation:
        now = time.time()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO conversations (title, system_prompt, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (title, system_prompt, now, now),
            )
        return self.get(int(cur.lastrowid or 0))

    def get(self, conversation_id: int) -> Conversation:
        row = self._db.execute("SELECT * FROM conversations WHERE id=?", (conversation_id,)).fetchone()
        if row is None:
            raise HearthError("That conversation no longer exists.")
        return _conversation(row)

    def list(self, search: str = "") -> list[Conversation]:
        """Newest first. ``search`` matches titles and message text, case-insensitively."""
        if not search.strip():
            rows = self._db.execute("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC")
        else:
            pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._db.execute(
                """SELECT * FROM conversations c WHERE c.title LIKE :p ESCAPE '\\' OR EXISTS (
                       SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE :p ESCAPE '\\')
                   ORDER BY updated_at DESC, id DESC""",
                {"p": pattern},
            )
        return [_conversation(r) for r in rows]

    def message_counts(self) -> dict[int, int]:
        """How many messages each conversation has, by id (one query)."""
        rows = self._db.execute("SELECT conversation_id, COUNT(*) FROM messages GROUP BY conversation_id")
        return {int(cid): int(n) for cid, n in rows}

    def unique_title(self, title: str, now: float | None = None) -> str:
        """``title``, with the date and time added when another conversation already has it."""
        taken = self._db.execute("SELECT 1 FROM conversations WHERE title=? LIMIT 1", (title,)).fetchone()
        if taken is None:
            return title
        return f"{title} ({time.strftime('%d %b %Y, %H:%M', time.localtime(now or time.time()))})"

    def rename(self, conversation_id: int, title: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE conversations SET title=?, updated_at=? WHERE id=?",
                (title.strip() or "Untitled", time.time(), conversation_id),
            )

    def set_system_prompt(self, conversation_id: int, system_prompt: str) -> None:
        with self._db:
            self._db.execute("UPDATE conversations SET system_prompt=? WHERE id=?", (system_prompt, conversation_id))

    def delete(self, conversation_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))

    # -- documents ---------------------------------------------------------------------------

    def collections(self, conversation_id: int) -> builtins.list[str]:
        """The names of the document collections the conversation is attached to, in the
        order they were attached (a deleted collection is no longer listed)."""
        rows = self._db.execute(
            """SELECT c.name FROM conversation_collections a JOIN rag_collections c ON c.id = a.collection_id
               WHERE a.conversation_id = ? ORDER BY a.position, c.name COLLATE NOCASE""",
            (conversation_id,),
        )
        return [r[0] for r in rows]

    def set_collections(self, conversation_id: int, names: Sequence[str]) -> None:
        """Attaches exactly ``names`` (an empty list detaches every collection)."""
        ids: builtins.list[int] = []
        for name in names:
            row = self._db.execute("SELECT id FROM rag_collections WHERE name = ?", (name.strip(),)).fetchone()
            if row is None:
                raise HearthError(
                    f"There is no document collection named “{name}”.", "It may have been deleted or renamed."
                )
            if row[0] not in ids:
                ids.append(row[0])
        with self._db:
            self._db.execute("DELETE FROM conversation_collections WHERE conversation_id=?", (conversation_id,))
            self._db.executemany(
                "INSERT INTO conversation_collections (conversation_id, collection_id, position) VALUES (?, ?, ?)",
                [(conversation_id, collection_id, i) for i, collection_id in enumerate(ids)],
            )

    def set_documents_only(self, conversation_id: int, documents_only: bool | None) -> None:
        """Whether answers must come from the documents alone (None: the documents settings' default)."""
        with self._db:
            self._db.execute(
                "UPDATE conversations SET documents_only=? WHERE id=?",
                (None if documents_only is None else int(documents_only), conversation_id),
            )

    # -- messages ----------------------------------------------------------------------------

    def messages(self, conversation_id: int) -> builtins.list[StoredMessage]:
        rows = self._db.execute("SELECT * FROM messages WHERE conversation_id=? ORDER BY position", (conversation_id,))
        return [_message(r) for r in rows]

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        provenance: Provenance | None = None,
        rag: RagAnswer | None = None,
    ) -> StoredMessage:
        now = time.time()
        p = provenance
        with self._db:
            (position,) = self._db.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id=?", (conversation_id,)
            ).fetchone()
            cur = self._db.execute(
                """INSERT INTO messages (conversation_id, position, role, content, created_at, finish, model_name,
                       model_path, model_size, model_sha256, quant, llama_cpp_version, settings_json, seed,
                       timings_json, dropped_messages, rag_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    conversation_id,
                    position,
                    role,
                    content,
                    now,
                    p.finish if p else None,
                    p.model_name if p else None,
                    p.model_path if p else None,
                    p.model_size if p else None,
                    p.model_sha256 if p else None,
                    p.quant if p else None,
                    p.llama_cpp_version if p else None,
                    json.dumps(p.settings) if p else None,
                    p.seed if p else None,
                    json.dumps(p.timings) if p else None,
                    p.dropped_messages if p else None,
                    json.dumps(rag.to_dict()) if rag is not None else None,
                ),
            )
            self._db.execute("UPDATE conversations SET updated_at=? WHERE id=?", (now, conversation_id))
        row = self._db.execute("SELECT * FROM messages WHERE id=?", (cur.lastrowid,)).fetchone()
        return _message(row)

    def edit_message(self, message_id: int, content: str) -> None:
        with self._db:
            self._db.execute("UPDATE messages SET content=? WHERE id=?", (content, message_id))

    def delete_from(self, conversation_id: int, position: int) -> None:
        """Deletes the message at ``position`` and every later one, earlier versions too (edit-and-resend)."""
        with self._db:
            self._db.execute(
                "DELETE FROM messages WHERE conversation_id=? AND position>=?", (conversation_id, position)
            )
            self._db.execute(
                "DELETE FROM reply_versions WHERE conversation_id=? AND position>=?", (conversation_id, position)
            )

    # -- versions of a reply (regenerate keeps the earlier ones) -------------------------------------

    def set_aside_reply(self, conversation_id: int, position: int) -> None:
        """Keeps the reply at ``position`` as an earlier version and takes it out of the thread."""
        with self._db:
            row = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id=? AND position=? AND role='assistant'",
                (conversation_id, position),
            ).fetchone()
            if row is None:
                return
            self._keep_version(row)
            self._db.execute("DELETE FROM messages WHERE id=?", (row["id"],))

    def reply_versions(self, conversation_id: int, position: int) -> builtins.list[ReplyVersion]:
        """Every version of the reply at ``position``, oldest first; the one in the thread is current."""
        current = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id=? AND position=? AND role='assistant'",
            (conversation_id, position),
        ).fetchone()
        kept = self._db.execute(
            "SELECT id, message_json FROM reply_versions WHERE conversation_id=? AND position=?"
            " ORDER BY created_at, id",
            (conversation_id, position),
        ).fetchall()
        versions = [ReplyVersion(int(r["id"]), _message(json.loads(r["message_json"])), False) for r in kept]
        if current is not None:
            versions.append(ReplyVersion(None, _message(current), True))
        return sorted(versions, key=lambda v: v.message.created_at)

    def switch_reply(self, conversation_id: int, position: int, version_id: int) -> StoredMessage:
        """Puts the kept version ``version_id`` back in the thread; the reply that was there is kept."""
        with self._db:
            kept = self._db.execute(
                "SELECT message_json FROM reply_versions WHERE id=? AND conversation_id=? AND position=?",
                (version_id, conversation_id, position),
            ).fetchone()
            if kept is None:
                raise HearthError("That version of the reply is gone.")
            self.set_aside_reply(conversation_id, position)
            row = json.loads(kept["message_json"])
            columns = [c for c in row if c != "id"]
            placeholders = ", ".join("?" for _ in columns)
            cursor = self._db.execute(
                f"INSERT INTO messages ({', '.join(columns)}) VALUES ({placeholders})", [row[c] for c in columns]
            )
            self._db.execute("DELETE FROM reply_versions WHERE id=?", (version_id,))
            restored = self._db.execute("SELECT * FROM messages WHERE id=?", (cursor.lastrowid,)).fetchone()
        return _message(restored)

    def _keep_version(self, row: sqlite3.Row) -> None:
        self._db.execute(
            "INSERT INTO reply_versions (conversation_id, position, created_at, message_json) VALUES (?, ?, ?, ?)",
            (row["conversation_id"], row["position"], row["created_at"], json.dumps(dict(row))),
        )
