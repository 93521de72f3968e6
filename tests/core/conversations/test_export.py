"""Exporting a conversation to cite and reproduce it: Markdown and JSON built from a real
conversation (real SmolLM2 replies with real provenance, and an answer from documents
checked by the real citation code), and atomic writes that survive a failed write."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.conversations import export
from desktop_app.core.conversations.chat import build_messages, make_provenance
from desktop_app.core.conversations.store import ConversationStore, StoredMessage
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, Reply
from desktop_app.core.models.fingerprint import cached_sha256
from desktop_app.core.rag import answer as rag_answer
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag.retrieve import Hit, Retrieval
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.settings import SamplingSettings

SYSTEM = "You are a careful lab assistant."
SAMPLING = SamplingSettings(
    temperature=0.8, top_p=0.9, top_k=30, min_p=0.07, repeat_penalty=1.15, max_tokens=12, seed=4242
)
QUESTION = "How fast must the centrifuge spin for plasma separation?"


@dataclass
class Built:
    store: ConversationStore
    conversation_id: int
    plain: StoredMessage  # a plain reply
    grounded: StoredMessage  # an answer from documents


def _hits() -> list[Hit]:
    # Stand-in for the vector/BM25 search (it needs the embedding model and an indexed corpus,
    # covered in tests/core/rag): the passages are handed to the real prompt assembly and citation
    # check as retrieval would return them.
    return [
        Hit(
            chunk_id="c-report-2", text="Plasma separation. The centrifuge must run at 4,500 rpm for 12 minutes "
            "during the plasma separation step, at a temperature of 4 degrees.", source="/docs/report.pdf",
            name="report.pdf", title="Aurora report", page=2, page_label=None, heading="Plasma separation",
            start=0, end=140, collection="Lab papers", vector_score=0.71, keyword_score=5.2, fused_score=0.032,
        ),
        Hit(
            chunk_id="c-notes-1", text="Samples are stored in freezer 3 at minus 80 degrees.", source="/docs/notes.md",
            name="notes.md", title="Notes", page=None, page_label=None, heading="", start=0, end=52,
            collection="Lab papers", vector_score=0.42, keyword_score=0.8, fused_score=0.016,
        ),
    ]  # fmt: skip


def _generate(engine: Engine, tokens: list[int], max_new: int, dropped: int) -> Reply:
    reply = None
    for item in engine.stream_tokens(tokens, SAMPLING, None, max_new, dropped):
        if isinstance(item, Reply):
            reply = item
    assert reply is not None
    return reply


@pytest.fixture
def built(engine: Engine) -> Iterator[Built]:
    model = engine.model
    assert model is not None
    sha256 = cached_sha256(model.path)
    store = ConversationStore()
    conversation = store.create("Centrifuge: speed / time?", SYSTEM)
    DocumentStore().create_collection("Lab papers", "all-MiniLM-L6-v2", 256, 32)
    store.set_collections(conversation.id, ["Lab papers"])

    # A plain reply, produced and stored the way the chat does it.
    store.add_message(conversation.id, "user", "Name one colour of the sky.")
    reply = engine.generate(build_messages(SYSTEM, store.messages(conversation.id)), SAMPLING)
    plain = store.add_message(
        conversation.id, "assistant", reply.text, make_provenance(model, sha256, SAMPLING, SYSTEM, reply)
    )

    # An answer from documents, as ModelWorker.generate_rag makes it.
    store.add_message(conversation.id, "user", QUESTION)
    retrieval = Retrieval(QUESTION, ["Lab papers"], _hits(), _hits(), k=2, min_similarity=0.3)
    prompt = rag_answer.prepare(
        engine, DocumentStore(), ["Lab papers"], QUESTION, [], SYSTEM, rag_config.RagSettings(), None,
        SAMPLING.max_tokens, False, retrieval,
    )  # fmt: skip
    rag_reply = _generate(engine, prompt.tokens, prompt.max_new_tokens, prompt.history_dropped)
    result = rag_answer.finish(prompt, rag_reply)
    provenance = make_provenance(model, sha256, SAMPLING, prompt.messages[0].content, rag_reply)
    grounded = store.add_message(conversation.id, "assistant", result.text, provenance, result)
    yield Built(store, conversation.id, plain, grounded)
    store.close()


def test_markdown_has_what_produced_each_answer_and_its_sources(built: Built) -> None:
    text = export.conversation_markdown(built.store, built.conversation_id)
    p = built.plain.provenance
    assert p is not None
    assert text.startswith("# Centrifuge: speed / time?\n")
    assert f"Hearth {export.hearth_version()}" in text
    assert SYSTEM in text
    assert built.plain.content.strip() in text and built.grounded.content.strip() in text
    assert "Name one colour of the sky." in text and QUESTION in text
    assert text.count("**Reply details**") == 2
    # The model file, its sha256 short and full, quant, llama.cpp, seed and every sampling setting.
    assert f"`{Path(p.model_path).name}`" in text
    assert f"`{p.model_sha256[:12]}`" in text and f"`{p.model_sha256}`" in text
    assert len(p.model_sha256) == 64 and p.quant in text
    assert p.llama_cpp_version in text
    assert f"seed {SAMPLING.seed}" in text
    for part in ("temperature 0.8", "top-p 0.9", "top-k 30", "min-p 0.07", "repeat penalty 1.15", "max tokens 12"):
        assert part in text
    assert f"context length {p.settings['load']['n_ctx']}" in text
    assert f"{p.timings['gen_tokens']} generated at" in text and "tok/s" in text
    # The answer from documents: its sources, numbered like its [n], cited or only retrieved.
    rag = built.grounded.rag
    assert rag is not None
    assert "**Sources** (from Lab papers)" in text
    for citation in rag.citations:
        status = "cited" if citation.cited else "retrieved, not cited"
        page = f", page {citation.page}" if citation.page is not None else ""
        assert f"- [{citation.number}] `{citation.name}`{page}" in text
        assert f"*{status}*" in text
        assert citation.snippet in text
    assert "- [1] `report.pdf`, page 2 — Plasma separation — *" in text
    # Its system prompt carried the grounding rules, so it is given with the reply.
    assert "<summary>System prompt for this reply</summary>" in text
    assert (rag_answer.INSTRUCTIONS_OPEN.splitlines()[0]) in text


def test_markdown_says_when_a_reply_was_stopped_or_its_context_truncated(engine: Engine) -> None:
    model = engine.model
    assert model is not None
    store = ConversationStore()
    conversation = store.create("Long")
    store.add_message(conversation.id, "user", "Count from one to fifty in words.")
    sampling = dataclasses.replace(SAMPLING, max_tokens=4)
    reply = engine.generate(build_messages("", store.messages(conversation.id)), sampling)
    assert reply.finish == "length"
    real = make_provenance(model, cached_sha256(model.path), sampling, "", reply)
    store.add_message(conversation.id, "assistant", reply.text, real)
    before = export.conversation_markdown(store, conversation.id)
    assert "**Cut off** at the token limit (4 tokens)" in before
    assert "Stopped" not in before and "Context truncated" not in before
    # The same reply as the chat stores it when the user stops it in a long conversation.
    store.add_message(conversation.id, "user", "Again.")
    store.add_message(
        conversation.id, "assistant", reply.text, dataclasses.replace(real, finish="cancelled", dropped_messages=3)
    )
    after = export.conversation_markdown(store, conversation.id)
    assert "**Stopped** by the user" in after
    assert "**Context truncated**, 3 earlier messages dropped" in after
    store.close()


def test_json_round_trips_with_full_provenance_and_citations(built: Built) -> None:
    data = export.conversation_json(built.store, built.conversation_id)
    text = export.render(built.store, built.conversation_id, "json")
    again = json.loads(text)
    assert again["format"] == data["format"] == "hearth-conversation"
    assert again["version"] == 1
    assert again["hearth_version"] == export.hearth_version()
    assert again["conversation"]["title"] == "Centrifuge: speed / time?"
    assert again["conversation"]["system_prompt"] == SYSTEM
    assert again["conversation"]["collections"] == ["Lab papers"]
    stored = built.store.messages(built.conversation_id)
    assert [(m["role"], m["content"]) for m in again["messages"]] == [(m.role, m.content) for m in stored]
    for exported, message in zip(again["messages"], stored, strict=True):
        if message.provenance is None:
            assert exported["provenance"] is None
        else:
            assert exported["provenance"] == dataclasses.asdict(message.provenance)
            assert type(message.provenance)(**exported["provenance"]) == message.provenance
        assert exported["rag"] == (message.rag.to_dict() if message.rag is not None else None)
        assert exported["stopped"] == message.stopped
    grounded = again["messages"][3]
    assert grounded["rag"]["citations"][0]["source"] == "/docs/report.pdf"
    assert grounded["rag"]["inspector"]["collections"] == ["Lab papers"]
    assert grounded["provenance"]["seed"] == SAMPLING.seed


def test_write_export_writes_each_format_by_its_suffix(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    md = export.write_export(built.store, built.conversation_id, out / "talk.md", "md")
    as_json = export.write_export(built.store, built.conversation_id, out / "talk.json")  # from the suffix
    assert md.read_text(encoding="utf-8").startswith("# Centrifuge")
    assert json.loads(as_json.read_text(encoding="utf-8"))["format"] == "hearth-conversation"
    assert sorted(p.name for p in out.iterdir()) == ["talk.json", "talk.md"]  # no temporary file left
    with pytest.raises(HearthError, match="no longer exists"):
        export.write_export(built.store, 999, out / "gone.md", "md")
    with pytest.raises(HearthError, match="cannot export to “pdf”"):
        export.write_export(built.store, built.conversation_id, out / "talk.pdf", "pdf")
    assert sorted(p.name for p in out.iterdir()) == ["talk.json", "talk.md"]


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Makes ``folder`` unwritable: its mode for a normal user; root ignores modes, so for
    root the folder is also made immutable (chattr +i), or the test is skipped."""
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip("running as root, and this file system cannot make a folder read-only")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def test_a_failed_write_raises_in_plain_words_and_keeps_the_earlier_file(built: Built, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    earlier = folder / "talk.md"
    earlier.write_text("an earlier export", encoding="utf-8")
    with _read_only(folder), pytest.raises(HearthError) as caught:
        export.write_export(built.store, built.conversation_id, earlier, "md")
    assert str(folder) in caught.value.message and "not allowed to write" in caught.value.message
    assert caught.value.hint
    assert earlier.read_text(encoding="utf-8") == "an earlier export"
    assert [p.name for p in folder.iterdir()] == ["talk.md"]
    # A folder that does not exist, and a folder where the file should be.
    with pytest.raises(HearthError, match="does not exist"):
        export.write_export(built.store, built.conversation_id, tmp_path / "missing" / "talk.md", "md")
    with pytest.raises(HearthError, match="is a folder"):
        export.write_export(built.store, built.conversation_id, folder, "md")
    assert earlier.read_text(encoding="utf-8") == "an earlier export"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Plasma: 4,500 rpm?", "Plasma 4,500 rpm.md"),
        ('a/b\\c*d|e<f>g"h', "a b c d e f g h.md"),
        ("  ...  ", "conversation.md"),
        ("CON", "CON (chat).md"),
        ("x" * 200, "x" * 80 + ".md"),
    ],
)
def test_export_file_name_is_safe_everywhere(title: str, expected: str) -> None:
    assert export.export_file_name(title) == expected
    assert export.export_file_name(title, "json") == expected[:-3] + ".json"


def test_an_answer_the_model_was_not_asked_for(engine: Engine) -> None:
    """Documents only, and nothing relevant retrieved: the answer is stored without provenance."""
    store = ConversationStore()
    conversation = store.create("Nothing relevant")
    store.add_message(conversation.id, "user", QUESTION)
    hits = [dataclasses.replace(h, relevant=False) for h in _hits()]
    retrieval = Retrieval(QUESTION, ["Lab papers"], hits, hits, k=2, min_similarity=0.3)
    DocumentStore().create_collection("Lab papers", "all-MiniLM-L6-v2", 256, 32)
    prompt = rag_answer.prepare(
        engine, DocumentStore(), ["Lab papers"], QUESTION, [], "", rag_config.RagSettings(), None, 12, True, retrieval
    )
    assert prompt.nothing_relevant
    result = rag_answer.finish(prompt, rag_answer.NO_ANSWER)
    store.add_message(conversation.id, "assistant", result.text, None, result)
    text = export.conversation_markdown(store, conversation.id)
    assert rag_answer.NO_ANSWER in text
    assert "No passage in the documents was relevant: the model was not asked." in text
    assert "**Reply details**" not in text and "No details were recorded" not in text
    data = json.loads(export.render(store, conversation.id, "json"))
    assert data["messages"][1]["provenance"] is None
    assert data["messages"][1]["rag"]["inspector"]["nothing_relevant"] is True
    store.close()


def test_json_safe_turns_values_json_cannot_hold_into_plain_ones() -> None:
    odd: dict[Any, Any] = {"ratio": float("nan"), "speed": float("inf"), "pair": ("a", 1), 3: Path("/x")}
    assert export._json_safe(odd) == {"ratio": None, "speed": None, "pair": ["a", 1], "3": "/x"}
