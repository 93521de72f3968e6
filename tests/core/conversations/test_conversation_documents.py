"""Conversations attached to document collections, their "documents only" switch, and
answers stored with their citations record (migration m006)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from desktop_app.core import db, migrations, paths
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.answer import citation_spans, strip_citations
from desktop_app.core.rag.answer_record import RagAnswer
from desktop_app.core.rag.store import DocumentStore


def _collections(*names: str) -> DocumentStore:
    store = DocumentStore()
    for name in names:
        store.create_collection(name, "all-MiniLM-L6-v2", 256, 32)
    return store


def test_attach_collections_in_order_and_detach() -> None:
    _collections("papers", "Notes", "manuals")
    store = ConversationStore()
    conversation = store.create("Centrifuge")
    assert store.collections(conversation.id) == []
    store.set_collections(conversation.id, ["papers", "manuals", "PAPERS"])  # names match without case, once
    assert store.collections(conversation.id) == ["papers", "manuals"]
    store.set_collections(conversation.id, ["Notes"])
    assert store.collections(conversation.id) == ["Notes"]
    assert ConversationStore().collections(conversation.id) == ["Notes"]  # committed
    store.set_collections(conversation.id, [])
    assert store.collections(conversation.id) == []
    with pytest.raises(HearthError, match="no document collection named “gone”"):
        store.set_collections(conversation.id, ["papers", "gone"])
    assert store.collections(conversation.id) == []  # nothing half-done


def test_attachment_follows_renames_and_deletions() -> None:
    documents = _collections("papers", "notes")
    store = ConversationStore()
    first = store.create("One")
    second = store.create("Two")
    store.set_collections(first.id, ["papers", "notes"])
    store.set_collections(second.id, ["papers"])
    documents.rename_collection("papers", "Lab papers")
    assert store.collections(first.id) == ["Lab papers", "notes"]
    # What DocumentStore.delete_collection does in SQLite (its Chroma half is not needed here).
    connection = db.connect()
    with connection:
        connection.execute("DELETE FROM rag_collections WHERE name = ?", ("Lab papers",))
    assert store.collections(first.id) == ["notes"]
    assert store.collections(second.id) == []
    store.delete(first.id)
    assert connection.execute("SELECT COUNT(*) FROM conversation_collections").fetchone()[0] == 0
    connection.close()


def test_documents_only_switch_per_conversation() -> None:
    store = ConversationStore()
    a = store.create("A")
    b = store.create("B")
    assert a.documents_only is None  # the documents settings' default
    store.set_documents_only(a.id, False)
    store.set_documents_only(b.id, True)
    assert store.get(a.id).documents_only is False
    assert store.get(b.id).documents_only is True
    assert [c.documents_only for c in ConversationStore().list()] == [True, False]
    store.set_documents_only(b.id, None)
    assert store.get(b.id).documents_only is None


def test_answer_stored_with_its_record() -> None:
    store = ConversationStore()
    conversation = store.create()
    store.add_message(conversation.id, "user", "How fast?")
    record = {
        "answer": "4,500 rpm [1].",
        "citations": [{"number": 1, "source": "/docs/report.pdf", "page": 2, "cited": True}],
        "budget": {"n_ctx": 1024, "system": 100, "template": 10, "history": 0, "sources": 80, "question": 12,
                   "answer": 24, "free": 798, "prompt": 202},
        "inspector": {"query": "How fast?", "prompt": {"text": "<|im_start|>system…"}},
    }  # fmt: skip
    saved = store.add_message(conversation.id, "assistant", "4,500 rpm [1].", None, RagAnswer.from_dict(record))
    again = ConversationStore().messages(conversation.id)
    assert again[1].rag == saved.rag == RagAnswer.from_dict(record)
    assert json.loads(again[1].rag_json or "") == RagAnswer.from_dict(record).to_dict()
    assert again[0].rag is None and again[0].rag_json is None
    assert again[1].provenance is None and not again[1].stopped


def test_an_older_database_is_upgraded_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    path = paths.db_path()
    before = [m for m in db.MIGRATIONS if m[0] < "m006"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)  # the registry migrate() reads
    old = db.connect(path)
    old.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('Old', 1, 1)")
    old.execute(
        "INSERT INTO messages (conversation_id, position, role, content, created_at) VALUES (1, 0, 'user', 'hi', 1)"
    )
    old.commit()
    old.close()
    monkeypatch.undo()
    store = ConversationStore(path)
    conversation = store.get(1)
    assert conversation.title == "Old" and conversation.documents_only is None
    assert [(m.content, m.rag) for m in store.messages(1)] == [("hi", None)]
    assert store.collections(1) == []
    connection = sqlite3.connect(path)
    applied = [r[0] for r in connection.execute("SELECT name FROM _migrations")]
    connection.close()
    assert applied == [name for name, _ in db.MIGRATIONS]


def test_citation_spans_and_history_without_citations() -> None:
    text = "Runs at 4,500 rpm [1], kept at -80 °C [2, 3]."
    spans = citation_spans(text)
    assert [(text[s:e], numbers) for s, e, numbers in spans] == [("[1]", [1]), ("[2, 3]", [2, 3])]
    assert strip_citations(text) == "Runs at 4,500 rpm, kept at -80 °C."
    assert strip_citations("No citations here.") == "No citations here."
