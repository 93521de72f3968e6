"""Answers from documents: the prompt within the context budget, citations, the inspector,
and a real answer from SmolLM2 (tiny: the test checks structure, never wording)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.inference.engine import Message
from desktop_app.core.rag import answer, ingest
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.settings import SamplingSettings
from tests.documents_fixtures import Indexed

GREEDY = SamplingSettings(temperature=0.0, max_tokens=48, seed=1)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("The centrifuge runs at 4,500 rpm [2].", [2]),
        ("Stored at -80 °C [1][3], in freezer 3 [1, 2].", [1, 3, 2]),
        ("See [Source 4] and [sources 5; 6].", [4, 5, 6]),
        ("Ranges [2-4] and [7–8].", [2, 3, 4, 7, 8]),
        ("Footnote style[^1] and full width 【2】.", [1, 2]),
        ("No citations here (1), nor [a] nor [1a].", []),
    ],
)
def test_parse_citations(text: str, numbers: list[int]) -> None:
    assert answer.parse_citations(text) == numbers


def test_prompt_fits_the_budget_and_numbers_its_sources(engine: Any, indexed: Indexed) -> None:
    history = [Message("user", "Hello"), Message("assistant", "Hello! How can I help?")]
    prompt = answer.prepare(
        engine, indexed.store, ["papers"], "How fast must the centrifuge spin?", history, "Be brief.",
        RagSettings(), k=3, max_answer_tokens=64,
    )  # fmt: skip
    budget = prompt.budget
    assert budget.prompt == len(prompt.tokens)
    assert budget.prompt + budget.answer + budget.free == budget.n_ctx == engine.model.n_ctx
    assert budget.answer == prompt.max_new_tokens == 64
    assert budget.sources > 0 and budget.history > 0 and budget.system > 0
    assert prompt.sources[0].name == "report.pdf" and prompt.sources[0].page == 2
    user = prompt.messages[-1].content
    assert user.startswith("Sources:\n\n[1] report.pdf, page 2")
    assert "Question: How fast must the centrifuge spin?" in user
    assert prompt.messages[0].content.startswith("Be brief.")
    assert prompt.prompt_text == engine.render(prompt.messages)
    assert prompt.tokens == engine.tokenize_chat(prompt.messages)


def test_the_room_for_the_answer_is_the_settings_figure(engine: Any, indexed: Indexed) -> None:
    """What Settings calls "Room for the answer" is what the budget bar keeps free and the answer may use,
    capped by the reply length."""
    question = "How fast must the centrifuge spin?"
    roomy = answer.prepare(engine, indexed.store, ["papers"], question, (), "", RagSettings(answer_tokens=192), k=3,
                           max_answer_tokens=1024)  # fmt: skip
    assert roomy.budget.answer == roomy.max_new_tokens == 192
    capped = answer.prepare(engine, indexed.store, ["papers"], question, (), "", RagSettings(answer_tokens=192), k=3,
                            max_answer_tokens=40)  # fmt: skip
    assert capped.budget.answer == capped.max_new_tokens == 40


def test_sources_that_do_not_fit_are_dropped_and_shown(engine: Any, tmp_path: Path, embedder: Any) -> None:
    store = DocumentStore()
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(12):
        body = " ".join(f"Observation {i}.{j}: the incubator temperature stayed at 37 degrees." for j in range(25))
        (folder / f"log-{i:02}.txt").write_text(body, encoding="utf-8")
    ingest.add_paths(store, "logs", [folder])
    settings = RagSettings(min_similarity=0.0)
    prompt = answer.prepare(
        engine, store, ["logs"], "What temperature did the incubator keep?", (), "", settings, k=12,
        max_answer_tokens=256,
    )  # fmt: skip
    dropped = [hit for hit, reason in prompt.dropped if reason == "did not fit in the context"]
    assert dropped and prompt.sources
    assert len(prompt.tokens) + prompt.max_new_tokens <= engine.model.n_ctx
    result = answer.finish(prompt, "The incubator stayed at 37 degrees [1].")
    statuses = {r.hit.chunk_id: r.status for r in result.inspector.retrieved}
    assert all(statuses[hit.chunk_id] == "did not fit in the context" for hit in dropped)
    assert any("did not fit" in w for w in result.warnings)


def test_long_history_gives_way_to_sources(engine: Any, indexed: Indexed) -> None:
    history: list[Message] = []
    for i in range(30):
        history.append(Message("user", f"Question {i} about the weather in a city far away, with details. " * 3))
        history.append(Message("assistant", f"Answer {i}: it was sunny and mild all week long, said the report. " * 3))
    prompt = answer.prepare(
        engine, indexed.store, ["papers"], "Which foundation pays for the reagents?", history, "", RagSettings(),
        k=3, max_answer_tokens=128,
    )  # fmt: skip
    assert prompt.history_dropped > 0
    assert prompt.sources and prompt.sources[0].page == 3
    kept = prompt.messages[1:-1]
    assert kept and kept[0].role == "user"  # roles still alternate
    assert len(prompt.tokens) + prompt.max_new_tokens <= engine.model.n_ctx


def test_citations_are_checked_against_their_sources(engine: Any, indexed: Indexed) -> None:
    prompt = answer.prepare(
        engine, indexed.store, ["papers"], "Where is the fire extinguisher?", (), "", RagSettings(), k=3
    )
    assert prompt.sources[0].name == "safety.html"
    text = (
        "The fire extinguisher is next to room 204, beside the lift [1]. The centrifuge spins at 9,000 rpm [1]. "
        "See [9]."
    )
    result = answer.finish(prompt, text)
    assert [c.number for c in result.cited] == [1]
    assert result.invalid_citations == [9]
    assert result.citations[0].matches_answer
    checks = result.sentences
    assert checks[0].cited == [1] and 1 in checks[0].matches and checks[0].unsupported == []
    assert checks[1].unsupported == [1]  # cites [1], which says nothing about a centrifuge
    assert any("[9]" in w for w in result.warnings)
    assert any("does not seem to say" in w for w in result.warnings)


def test_nothing_relevant_answers_without_asking_the_model(engine: Any, indexed: Indexed) -> None:
    result = answer.ask(
        engine, indexed.store, ["papers"], "Who won the football world cup in 1998?", GREEDY,
        settings=RagSettings(documents_only=True),
    )  # fmt: skip
    assert result.no_answer and result.text == answer.NO_ANSWER
    assert result.reply is None  # the model was not asked
    assert result.citations == []
    assert result.inspector.nothing_relevant is True
    assert all(
        r.status in ("below the relevance threshold", "below the top k") for r in result.inspector.retrieved
    )


def test_smollm2_answer_carries_citations_that_map_to_retrieved_chunks(engine: Any, indexed: Indexed) -> None:
    result = answer.ask(
        engine, indexed.store, ["papers"], "Where is the fire extinguisher?", GREEDY, settings=RagSettings(top_k=3)
    )
    assert result.reply is not None and result.reply.timings.gen_tokens > 0
    assert result.text.strip()
    # Every source sent is listed once, numbered in order, with file, page and snippet.
    assert [c.number for c in result.citations] == list(range(1, len(result.citations) + 1))
    assert result.citations and result.citations[0].name == "safety.html"
    for citation in result.citations:
        assert Path(citation.source).is_file() and citation.text and citation.snippet
    # ``cited`` is exactly what the answer's [n] marks say.
    numbers = [n for n in answer.parse_citations(result.text) if 1 <= n <= len(result.citations)]
    assert sorted(c.number for c in result.cited) == sorted(numbers)
    # Every cited source is a chunk that retrieval returned and the prompt contained.
    retrieved = {r.hit.chunk_id: r for r in result.inspector.retrieved}
    for citation in result.citations:
        entry = retrieved[citation.chunk_id]
        assert entry.status == "sent" and entry.number == citation.number
        assert entry.cited == citation.cited
        assert f"[{citation.number}] {citation.location}" in result.inspector.prompt.text
    # Grounded, or flagged: an answer without citations always carries a warning.
    assert result.grounded or result.no_answer or any("cites none" in w for w in result.warnings)
    # The inspector is plain data the chat can store with the message.
    record = json.loads(json.dumps(result.inspector.to_dict()))
    assert record["query"] == "Where is the fire extinguisher?"
    assert record["prompt"]["tokens"] == result.budget.prompt
    assert {"vector_score", "keyword_score", "fused_score"} <= set(record["retrieved"][0])
    stored = json.loads(json.dumps(result.to_dict()))
    # Read back as the chat reads a stored answer: the same record, field for field.
    again = answer.RagAnswer.from_dict(stored)
    assert again.to_dict() == stored and again.inspector == result.inspector and again.citations == result.citations


def test_every_claim_is_checked_and_counts_in_the_verdict(engine: Any, indexed: Indexed) -> None:
    prompt = answer.prepare(
        engine, indexed.store, ["papers"], "How fast must the centrifuge spin for plasma separation?", (), "",
        RagSettings(), k=3,
    )  # fmt: skip
    right = next(i for i, h in enumerate(prompt.sources, start=1) if h.name == "report.pdf" and h.page == 2)
    # One sentence cites its source; the next cites nothing and states a number no source has.
    mixed = answer.finish(prompt, f"The centrifuge must run at 4,500 rpm [{right}]. It must spin for 30 minutes.")
    assert [c.text for c in mixed.unsupported_claims] == ["It must spin for 30 minutes."]
    assert mixed.unsupported_claims[0].missing == ["30"] and mixed.cited
    assert not mixed.grounded
    record = mixed.to_dict()
    assert record["grounded"] is False and record["claims"] == {"checked": 2, "unsupported": 1}
    assert any("It must spin for 30 minutes." in w and "“30”" in w for w in mixed.warnings)
    assert [s["supported"] for s in record["sentences"]] == [True, False]

    right_answer = answer.finish(prompt, f"The centrifuge must run at 4,500 rpm for 12 minutes [{right}].")
    assert right_answer.grounded and right_answer.to_dict()["claims"] == {"checked": 1, "unsupported": 0}
    # The source's snippet and passage: the sentence that matched, not the page's first words.
    citation = right_answer.citations[right - 1]
    assert citation.passage.startswith("The centrifuge must run at 4,500 rpm")
    assert citation.to_dict()["passage"] == citation.passage and citation.passage in citation.text


def test_the_snippet_is_around_the_sentence_that_matched(engine: Any, tmp_path: Path, embedder: Any) -> None:
    store = DocumentStore()
    folder = tmp_path / "notes"
    folder.mkdir()
    filler = [f"Entry {i}: the bench was wiped and the pipettes were put back in drawer {i}." for i in range(9)]
    fact = "The liquid nitrogen tank is refilled every 31 days by the supplier."
    (folder / "log.txt").write_text(" ".join([*filler, fact, "Entry 10: nothing else happened."]), encoding="utf-8")
    ingest.add_paths(store, "notes", [folder])
    prompt = answer.prepare(engine, store, ["notes"], "How often is the nitrogen tank refilled?", (), "", RagSettings())
    hit = prompt.sources[0]
    assert hit.text.index(fact) > 400  # far from the chunk's start
    result = answer.finish(prompt, "The tank is refilled every 31 days [1].")
    citation = result.citations[0]
    assert citation.passage == fact and citation.matches_answer and result.grounded
    assert fact in citation.snippet and citation.snippet.startswith("… ")
    assert not citation.snippet.startswith(answer.snippet(hit.text)[:40])
    # An answer that invents the number is flagged, and says what the source has.
    wrong = answer.finish(prompt, "The tank is refilled every 9 days.")
    assert not wrong.grounded and wrong.unsupported_claims[0].missing == ["9"]
    assert "“31”" in wrong.unsupported_claims[0].reason
