"""Answers from documents with a remote model (issue 11, part 2): retrieval and citations stay
Hearth's, the model is llama-cpp-python's own server on loopback (tests/api_servers.py), and
the prompt is fitted with the server's own token counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.conversations.chat import make_remote_provenance
from desktop_app.core.inference.remote import RemoteClient, RemoteReply
from desktop_app.core.inference.remote_chat import RemoteChat
from desktop_app.core.rag import answer
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.settings import SamplingSettings


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    from desktop_app.core.rag import ingest
    from desktop_app.core.rag.store import DocumentStore

    root = tmp_path_factory.mktemp("remote-rag")
    notes = root / "notes.md"
    notes.write_text(
        "# Lab notes\n\n## Storage\n\nSamples are stored at minus eighty degrees in freezer 3, rack C.\n\n"
        "## Safety\n\nThe fire extinguisher is next to room 204, beside the lift.\n",
        encoding="utf-8",
    )
    store = DocumentStore(db_path=root / "hearth.db", chroma_path=root / "chroma")
    ingest.create_collection(store, "notes", RagSettings())
    ingest.add_paths(store, "notes", [notes])
    return store


def test_a_remote_model_answers_from_documents_with_citations(small_store: Any, llama_cpp_server: Any) -> None:
    client = RemoteClient(llama_cpp_server.url, llama_cpp_server.key, "lab box")
    try:
        chat = RemoteChat(client, client.describe_model(llama_cpp_server.model_id, "e1", n_ctx=2048))
        question = "Where is the fire extinguisher?"
        prompt = answer.prepare(chat, small_store, ["notes"], question, (), "Be brief.", RagSettings(top_k=2), None, 48)
        assert prompt.sources and prompt.sources[0].name == "notes.md"
        assert prompt.budget.prompt + prompt.budget.answer <= 2048
        assert len(prompt.tokens) == chat.count_chat(prompt.messages)  # counted by the server's tokenizer
        assert not chat.estimated
        sampling = SamplingSettings(temperature=0.0, max_tokens=prompt.max_new_tokens, seed=1)
        items = list(chat.stream_messages(prompt.messages, sampling))
        reply = items[-1]
        assert isinstance(reply, RemoteReply) and reply.text
        result = answer.finish(prompt, reply)
        assert [c.number for c in result.citations] == list(range(1, len(result.citations) + 1))
        assert Path(result.citations[0].source).name == "notes.md"
        numbers = [n for n in answer.parse_citations(result.text) if 1 <= n <= len(result.citations)]
        assert sorted(c.number for c in result.cited) == sorted(numbers)
        assert result.grounded or result.no_answer or any("cites none" in w for w in result.warnings)
        provenance = make_remote_provenance(chat.model, sampling, prompt.messages[0].content, reply)
        assert provenance.settings["remote"]["model_reported"] == llama_cpp_server.model_id
        assert "Cite" in provenance.settings["system_prompt"]  # the grounding rules the server saw
    finally:
        client.close()
