"""The SQLite conversation store: CRUD, search, provenance, WAL, migrations."""

from __future__ import annotations

from desktop_app.core import db, paths
from desktop_app.core.conversations.store import ConversationStore, Provenance


def _provenance(finish: str = "stop") -> Provenance:
    return Provenance(
        model_name="m",
        model_path="/m.gguf",
        model_size=10,
        model_sha256="ab" * 32,
        quant="Q4_1",
        llama_cpp_version="0.3.36",
        settings={"sampling": {"seed": 7}},
        seed=7,
        timings={"gen_tok_s": 12.5},
        finish=finish,
        dropped_messages=2,
    )


def test_create_list_rename_delete() -> None:
    store = ConversationStore()
    a = store.create("First")
    b = store.create("Second")
    assert [c.id for c in store.list()] == [b.id, a.id]
    store.rename(a.id, "Renamed")
    assert store.get(a.id).title == "Renamed"
    store.add_message(b.id, "user", "hello")
    store.delete(b.id)
    assert [c.id for c in store.list()] == [a.id]
    # Messages went with their conversation.
    assert store.messages(b.id) == []


def test_search_by_title_and_text() -> None:
    store = ConversationStore()
    a = store.create("Protein folding")
    b = store.create("Other")
    store.add_message(b.id, "user", "What is 100% of the CRISPR_cas9 budget?")
    assert [c.id for c in store.list("folding")] == [a.id]
    assert [c.id for c in store.list("crispr_cas9")] == [b.id]
    assert [c.id for c in store.list("100%")] == [b.id]
    assert store.list("nothing-like-this") == []


def test_provenance_round_trip_and_stopped_flag() -> None:
    store = ConversationStore()
    conv = store.create()
    store.add_message(conv.id, "user", "hi")
    stored = store.add_message(conv.id, "assistant", "partial ans", _provenance("cancelled"))
    again = ConversationStore().messages(conv.id)  # a second connection sees it (committed)
    assert [m.role for m in again] == ["user", "assistant"]
    assert again[1].provenance == stored.provenance == _provenance("cancelled")
    assert again[1].stopped
    assert not again[0].stopped


def test_delete_from_position_for_regenerate() -> None:
    store = ConversationStore()
    conv = store.create()
    for i in range(4):
        store.add_message(conv.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    store.delete_from(conv.id, 2)
    assert [m.content for m in store.messages(conv.id)] == ["m0", "m1"]
    new = store.add_message(conv.id, "user", "again")
    assert new.position == 2


def test_wal_and_migrations_recorded() -> None:
    ConversationStore().close()
    conn = db.connect(paths.db_path())
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert applied == [name for name, _ in db.MIGRATIONS]
    db.migrate(conn)  # idempotent
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == applied


def test_regenerated_replies_are_kept_as_versions_until_the_turn_is_edited() -> None:
    store = ConversationStore()
    conversation = store.create("Versions")
    store.add_message(conversation.id, "user", "Name a fruit.")
    first = store.add_message(conversation.id, "assistant", "Apple")
    store.set_aside_reply(conversation.id, first.position)
    assert [m.role for m in store.messages(conversation.id)] == ["user"]
    second = store.add_message(conversation.id, "assistant", "Pear")
    versions = store.reply_versions(conversation.id, second.position)
    assert [(v.message.content, v.current) for v in versions] == [("Apple", False), ("Pear", True)]

    restored = store.switch_reply(conversation.id, second.position, versions[0].id or 0)
    assert restored.content == "Apple" and restored.position == second.position
    assert [m.content for m in store.messages(conversation.id)] == ["Name a fruit.", "Apple"]
    again = store.reply_versions(conversation.id, second.position)
    assert [(v.message.content, v.current) for v in again] == [("Apple", True), ("Pear", False)]

    store.delete_from(conversation.id, 0)  # edit-and-resend from the question: its replies go too
    assert store.messages(conversation.id) == []
    assert store.reply_versions(conversation.id, second.position) == []
    store.close()
