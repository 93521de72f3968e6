"""An answer from documents is stored as JSON and read back as the same typed record; one stored
by an older Hearth (fewer keys, others it no longer writes) reads back with defaults."""

from __future__ import annotations

import json

from desktop_app.core import db
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.inference.engine import Message
from desktop_app.core.rag.answer_record import (
    Budget,
    Citation,
    DroppedPassage,
    Inspector,
    PromptRecord,
    RagAnswer,
    RetrievedPassage,
)
from desktop_app.core.rag.claims import SentenceCheck
from desktop_app.core.rag.retrieve import Hit

# As the first version with citations stored it (before claims, passages and OCR marks), plus a
# key no version reads.
OLD_RECORD = {
    "answer": "Spin it at 4,500 rpm [1].",
    "citations": [
        {"number": 1, "source": "/docs/report.pdf", "name": "report.pdf", "page": 3, "page_label": "ii",
         "heading": "Plasma", "text": "Spin at 4,500 rpm for 12 minutes.", "snippet": "Spin at 4,500 rpm…",
         "score": 0.031, "vector_score": 0.62, "keyword_score": 3.1, "cited": True, "chunk_id": "c1",
         "collection": "papers", "start": 0, "end": 33},
    ],
    "invalid_citations": [],
    "no_answer": False,
    "grounded": True,
    "warnings": [],
    "sentences": [{"text": "Spin it at 4,500 rpm [1].", "cited": [1], "matches": [1], "unsupported": []}],
    "budget": {"n_ctx": 2048, "system": 90, "template": 12, "history": 0, "sources": 40, "question": 15,
               "answer": 256, "free": 1635, "prompt": 157},
    "inspector": {
        "query": "How fast?", "collections": ["papers"], "k": 4, "min_similarity": 0.3,
        "retrieved": [{"chunk_id": "c1", "text": "Spin at 4,500 rpm for 12 minutes.", "source": "/docs/report.pdf",
                       "name": "report.pdf", "page": 3, "vector_score": 0.62, "keyword_score": 3.1,
                       "fused_score": 0.031, "score": 0.031, "rank": 1, "number": 1, "status": "sent", "cited": True}],
        "dropped": [{"chunk_id": "c9", "source": "/docs/notes.md", "page": None,
                     "reason": "did not fit in the context"}],
        "prompt": {"messages": [{"role": "user", "content": "Sources: …"}], "text": "<|im_start|>user…",
                   "tokens": 157},
    },
    "reranker_used": "none",
}  # fmt: skip


def _store_raw(store: ConversationStore, rag_json: str) -> int:
    """Writes a reply as an older Hearth wrote it: the JSON as it was, straight into the table."""
    conversation = store.create("Old answers")
    connection = db.connect()
    with connection:
        connection.execute(
            "INSERT INTO messages (conversation_id, position, role, content, created_at, rag_json)"
            " VALUES (?, 0, 'assistant', ?, 1.0, ?)",
            (conversation.id, "Spin it at 4,500 rpm [1].", rag_json),
        )
    connection.close()
    return conversation.id


def test_an_answer_stored_by_an_older_version_reads_back_with_defaults() -> None:
    store = ConversationStore()
    conversation_id = _store_raw(store, json.dumps(OLD_RECORD))
    (message,) = store.messages(conversation_id)
    answer = message.rag
    assert answer is not None and answer.text == "Spin it at 4,500 rpm [1]." and answer.reply is None
    (citation,) = answer.citations
    assert citation.location == "report.pdf, page ii" and citation.page_words == "page ii"
    assert citation.passage == "" and citation.matches_answer is False and citation.ocr_confidence is None
    assert citation.ocr_note == ""
    assert answer.cited == [citation] and answer.claims == [] and answer.budget.prompt == 157
    (sentence,) = answer.sentences
    assert sentence.cited == [1] and sentence.claim is False and sentence.supported is None
    inspector = answer.inspector
    assert inspector.query == "How fast?" and inspector.reranker == "" and inspector.documents_only is False
    (row,) = inspector.retrieved
    assert (row.rank, row.number, row.status, row.cited) == (1, 1, "sent", True)
    assert row.hit.vector_score == 0.62 and row.hit.relevant and row.location == "report.pdf, page 3"
    assert inspector.dropped[0].location == "notes.md" and inspector.dropped[0].reason == "did not fit in the context"
    assert inspector.prompt.messages == [Message("user", "Sources: …")] and inspector.prompt.max_new_tokens == 0
    assert inspector.budget is None and inspector.sentences == []
    json.dumps(answer.to_dict())  # writable again as it is now


def test_a_damaged_or_odd_record_is_never_an_error() -> None:
    store = ConversationStore()
    for stored in ("not json", "[1, 2]"):
        (message,) = store.messages(_store_raw(store, stored))
        assert message.rag is None
    odd = {"answer": 7, "citations": [{"number": "one", "page": "3"}, "junk"], "budget": [], "inspector": None}
    (message,) = store.messages(_store_raw(store, json.dumps(odd)))
    answer = message.rag
    assert answer is not None and answer.text == "" and answer.budget == Budget()
    (citation,) = answer.citations  # what is not a record is left out; wrong types take defaults
    assert citation.number == 0 and citation.page is None and answer.inspector == Inspector()


def test_an_answer_reads_back_as_the_record_it_was() -> None:
    hit = Hit(
        "c2", "The scanned page says 196 degrees.", "/docs/scan.pdf", "scan.pdf", "Scan", 2, None, "", 0, 35,
        "papers", vector_score=0.7, keyword_score=2.0, keyword_coverage=0.5, fused_score=0.03, ocr_confidence=0.934,
    )  # fmt: skip
    citation = Citation(
        1, hit.source, hit.name, 2, None, "", hit.text, hit.text, 0.03, 0.7, 2.0, True, True, 0.81, "c2", "papers",
        0, 35, 4, 35, ocr_confidence=0.934,
    )  # fmt: skip
    check = SentenceCheck("It is kept at 196 degrees [1].", [1], [1], [], claim=True, supported=True)
    budget = Budget(1024, 80, 10, 0, 30, 12, 64, 828)
    inspector = Inspector(
        query="How cold?", collections=["papers"], model="SmolLM2", k=3, min_similarity=0.3,
        retrieved=[RetrievedPassage(hit, 1, 1, "sent", True)],
        dropped=[DroppedPassage("c3", "/docs/a.md", None, "below the relevance threshold")], budget=budget,
        prompt=PromptRecord([Message("system", "Cite."), Message("user", "Sources: …")], "…", 132, 64),
        retrieval_timings_ms={"vector_ms": 4.5}, generation={"gen_tokens": 9}, answer=check.text, cited=[1],
        sentences=[check],
    )  # fmt: skip
    answer = RagAnswer(check.text, [citation], [], False, [], budget, inspector, [check], None, "stop")
    store = ConversationStore()
    conversation = store.create("Scans")
    saved = store.add_message(conversation.id, "assistant", answer.text, None, answer)
    (again,) = ConversationStore().messages(conversation.id)
    assert again.rag == saved.rag == answer
    assert json.loads(again.rag_json or "") == answer.to_dict()
    assert again.rag is not None and again.rag.grounded
    assert again.rag.to_dict()["claims"] == {"checked": 1, "unsupported": 0}
    # A passage read by text recognition says so, in plain words, in the answer and in the inspector.
    assert again.rag.citations[0].ocr_note == "read from a scanned page · 93% sure"
    assert again.rag.inspector.retrieved[0].ocr_note == "read from a scanned page · 93% sure"


def test_a_replys_settings_and_timings_read_as_records() -> None:
    """What a reply recorded of how it was made reads as typed records: from a server, through
    Hearth's API, or from a version that recorded less (no template, no timings)."""
    from desktop_app.core.conversations.store import Provenance

    remote = {
        "load": {"n_ctx": 4096, "backend": "server"}, "sampling": {"temperature": 0.2, "seed": 7},
        "system_prompt": "Be brief.", "template": {"name": "chatml", "description": "ChatML", "sha256": "ab12"},
        "remote": {"endpoint": "lab", "url": "http://127.0.0.1:8080", "model_requested": "m", "model_reported": "",
                   "server": {"kind": "llama.cpp", "version": "b5000", "extra": 1}, "unavailable": ["sha256"]},
        "api": {"endpoint": "/v1/chat/completions", "client": "curl", "id": "chatcmpl-1", "stream": True,
                "response_format": {"type": "json_schema"}, "stop": ["\n"]},
    }  # fmt: skip
    timings = {"prompt_tokens": 12, "prompt_eval_tokens": 0, "gen_tokens": 5, "gen_tok_s": 31, "old_key": 1}
    p = Provenance("m", "", 0, "", "", "", remote, 7, timings, "stop")
    used = p.settings_record
    assert used.n_ctx == 4096 and used.sampling == {"temperature": 0.2, "seed": 7} and used.system_prompt == "Be brief."
    assert used.remote is not None and used.remote.server.kind == "llama.cpp" and used.remote.unavailable == ["sha256"]
    assert used.api is not None and used.api.stream and used.api.response_format is not None
    assert used.api.response_format.type == "json_schema"
    assert p.template_description == "ChatML (sha256 ab12)"
    assert p.timings_record.gen_tok_s == 31.0 and p.timings_record.prompt_eval_tokens == 0
    older = Provenance("m", "", 0, "", "", "", {"load": {"n_ctx": "big"}}, 1, {}, "stop")
    assert older.settings_record.remote is None and older.settings_record.api is None
    assert older.settings_record.n_ctx == 0 and older.template_description == "unrecorded"
    assert older.timings_record.gen_tokens == 0
