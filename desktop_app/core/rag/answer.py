"""Answers from the user's documents: prompt within the context budget, citations, inspector.

The flow, shared by the chat (which streams) and ``hearth ask``:

1. :func:`prepare` retrieves the best chunks and assembles the prompt: the system
   prompt with the grounding instructions, as much recent history as fits, as many
   numbered sources as fit, the question, and room for the answer. Every count is
   made with the loaded model's own tokenizer, and the final prompt is tokenized
   whole to be sure it fits.
2. The model generates from ``RagPrompt.tokens`` (``Engine.stream_tokens``).
3. :func:`finish` reads the citations [1], [2] out of the answer, marks each source
   ``cited`` or not, checks every sentence that states something against the sources,
   cited or not (``claims``), and builds the inspector record (``answer_record.Inspector``,
   stored with the message). The answer is ``grounded`` only when it cites its sources
   and no claim is unsupported.

With "documents only" on, the model is told to say it does not know when the
sources do not hold the answer, and when retrieval finds nothing relevant at all
(no chunk above the similarity threshold nor matching most of the question's
words), the model is not asked: the answer says so directly.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, Message, Reply
from desktop_app.core.inference.remote_chat import PromptModel, RemoteChat
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag.answer_record import (
    Budget,
    Citation,
    DroppedPassage,
    Inspector,
    PromptRecord,
    RagAnswer,
    RetrievedPassage,
)
from desktop_app.core.rag.citations import citation_spans as citation_spans  # re-exported: the chat's Markdown
from desktop_app.core.rag.citations import parse_citations as parse_citations
from desktop_app.core.rag.citations import strip_citations as strip_citations
from desktop_app.core.rag.claims import SentenceCheck, check_answer, says_not_found
from desktop_app.core.rag.retrieve import Hit, Retrieval, search
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.settings import SamplingSettings

NO_ANSWER = "I could not find this in your documents."

INSTRUCTIONS_STRICT = (
    "Answer the user's question using only the numbered sources in their message; they are excerpts from the "
    "user's own documents. Cite the source of every statement with its number in square brackets, for example "
    "[1] or [2][3], right after the statement. Cite only sources that really say what you state. Do not use "
    f'knowledge from outside the sources. If the sources do not contain the answer, reply only: "{NO_ANSWER}"\n'
    'Example of the expected form: "The samples are kept at -80 °C [1] in freezer 3 [2]."'
)
INSTRUCTIONS_OPEN = (
    "The user's message contains numbered sources: excerpts from the user's own documents. Use them where they "
    "help and cite them with their number in square brackets, for example [1] or [2][3], right after the "
    "statement they support. If you add anything that is not in the sources, say clearly that it does not come "
    "from the user's documents, and do not put a source number on it."
)

CITE_REMINDER = "(Answer from the sources above and cite them by number, like [1].)"
_SNIPPET_CHARS = 280
_PER_MESSAGE_OVERHEAD = 8  # template tokens around one message (checked exactly at the end)


def snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(",;:") + " …"


def snippet_around(text: str, span: tuple[int, int] | None, limit: int = _SNIPPET_CHARS) -> str:
    """About ``limit`` characters of ``text`` around ``span`` (the sentence that matched the
    answer): a little before it, the rest after, cut between words."""
    if span is None or len(re.sub(r"\s+", " ", text).strip()) <= limit:
        return snippet(text, limit)
    start, end = span
    if end - start >= limit:
        return ("… " if start > 0 else "") + snippet(text[start:end], limit)
    room = limit - (end - start)
    left = max(0, start - room // 4)
    right = min(len(text), end + room - (start - left))
    left = max(0, min(left, right - limit))
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else start
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else end
    body = re.sub(r"\s+", " ", text[left:right]).strip()
    return ("… " if left > 0 else "") + body + (" …" if right < len(text) else "")


@dataclass
class RagPrompt:
    question: str
    messages: list[Message]
    tokens: list[int]
    max_new_tokens: int
    sources: list[Hit]  # numbered 1..n in this order
    dropped: list[tuple[Hit, str]]  # retrieved but not sent, and why
    budget: Budget
    retrieval: Retrieval
    documents_only: bool
    nothing_relevant: bool  # documents only, and retrieval found nothing relevant: no need to ask the model
    history_dropped: int
    prompt_text: str
    model_name: str = ""
    embed_model: str = ""  # the retrieval model, reused to check the answer against its sources


def format_source(number: int, hit: Hit) -> str:
    header = f"[{number}] {hit.location}"
    if hit.heading:
        header += f" — {hit.heading}"
    return f"{header}\n{hit.text.strip()}"


def _user_message(blocks: Sequence[str], question: str) -> str:
    if not blocks:
        return f"Sources: none were found in the documents.\n\nQuestion: {question}"
    return "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\n{CITE_REMINDER}"


def prepare(
    engine: PromptModel,
    store: DocumentStore,
    collections: Sequence[str],
    question: str,
    history: Sequence[Message] = (),
    system_prompt: str = "",
    settings: rag_config.RagSettings | None = None,
    k: int | None = None,
    max_answer_tokens: int | None = None,
    documents_only: bool | None = None,
    retrieval: Retrieval | None = None,
) -> RagPrompt:
    """Retrieves and assembles the prompt for ``question`` (``history`` excludes it).

    Sources get priority over history: the newest turns are kept while at most a quarter
    of the free context goes to them, then sources fill what is left, then older history.
    """
    if engine.model is None:
        raise HearthError("No model is loaded.", "Pick a model first.")
    settings = settings or rag_config.load()
    documents_only = settings.documents_only if documents_only is None else documents_only
    question = question.strip()
    retrieval = retrieval or search(store, collections, question, k, settings)
    k = retrieval.k
    n_ctx = engine.model.n_ctx
    # "Room for the answer" (Settings) is what the budget keeps free, never more than the reply
    # may be long (``max_answer_tokens``) nor half the context, which the sources need too.
    room = min(settings.answer_tokens, max_answer_tokens or settings.answer_tokens)
    reserve = max(64, min(room, n_ctx // 2))

    instructions = INSTRUCTIONS_STRICT if documents_only else INSTRUCTIONS_OPEN
    system_text = f"{system_prompt.strip()}\n\n{instructions}" if system_prompt.strip() else instructions
    system = Message("system", system_text)
    turns = [m for m in history if m.role in ("user", "assistant") and m.content.strip()]

    dropped: list[tuple[Hit, str]] = []
    if documents_only:
        wanted = [h for h in retrieval.candidates if h.relevant][:k]
        dropped.extend((h, "below the relevance threshold") for h in retrieval.hits if not h.relevant)
    else:
        wanted = list(retrieval.hits)
    nothing_relevant = documents_only and not wanted

    base = len(engine.tokenize_chat([system, Message("user", _user_message([], question))]))
    available = n_ctx - reserve - base
    if available < 0:
        raise HearthError(
            f"The question needs {base:,} tokens, more than this model's context of {n_ctx:,} leaves room for.",
            "Shorten it, or load the model with a larger context.",
        )
    turn_costs = [engine.count_tokens(m.content) + _PER_MESSAGE_OVERHEAD for m in turns]
    history_reserve = min(_newest_fitting(turn_costs, available // 4), available)

    sources: list[Hit] = []
    blocks: list[str] = []
    used = 0
    for hit in wanted:
        block = format_source(len(sources) + 1, hit)
        cost = engine.count_tokens(block) + 2
        if used + cost > available - history_reserve:
            dropped.append((hit, "did not fit in the context"))
            continue
        sources.append(hit)
        blocks.append(block)
        used += cost
    kept = _newest_turns(turns, turn_costs, available - used)

    # Exact check with the real template; trim if the estimates were short.
    while True:
        messages = [system, *kept, Message("user", _user_message(blocks, question))]
        tokens = engine.tokenize_chat(messages)
        if len(tokens) + reserve <= n_ctx or (not kept and not sources):
            break
        if kept:
            kept = kept[2:] if len(kept) > 1 else []
        else:
            dropped.append((sources.pop(), "did not fit in the context"))
            blocks = [format_source(i + 1, h) for i, h in enumerate(sources)]

    system_tokens = engine.count_tokens(system_text)
    history_tokens = sum(engine.count_tokens(m.content) for m in kept)
    source_tokens = engine.count_tokens("Sources:\n\n" + "\n\n".join(blocks)) if blocks else 0
    question_tokens = engine.count_tokens(f"Question: {question}" + (f"\n{CITE_REMINDER}" if blocks else ""))
    template = max(0, len(tokens) - system_tokens - history_tokens - source_tokens - question_tokens)
    max_new = max(0, min(room, n_ctx - len(tokens)))
    budget = Budget(
        n_ctx=n_ctx,
        system=system_tokens,
        template=template,
        history=history_tokens,
        sources=source_tokens,
        question=question_tokens,
        answer=max_new,
        free=max(0, n_ctx - len(tokens) - max_new),
    )
    return RagPrompt(
        question=question,
        messages=messages,
        tokens=tokens,
        max_new_tokens=max_new,
        sources=sources,
        dropped=dropped,
        budget=budget,
        retrieval=retrieval,
        documents_only=documents_only,
        nothing_relevant=nothing_relevant,
        history_dropped=len(turns) - len(kept),
        prompt_text=engine.render(messages),
        model_name=engine.model.name,
        embed_model=store.collection(retrieval.collections[0]).embed_model if retrieval.collections else "",
    )


def _newest_fitting(costs: Sequence[int], budget: int) -> int:
    """Tokens taken by the newest turns that fit in ``budget``."""
    total = 0
    for cost in reversed(costs):
        if total + cost > budget:
            break
        total += cost
    return total


def _newest_turns(turns: Sequence[Message], costs: Sequence[int], budget: int) -> list[Message]:
    """The newest turns that fit, starting with a user turn so roles keep alternating."""
    total = 0
    start = len(turns)
    for i in range(len(turns) - 1, -1, -1):
        if total + costs[i] > budget:
            break
        total += costs[i]
        start = i
    kept = list(turns[start:])
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def finish(prompt: RagPrompt, reply: Reply | str) -> RagAnswer:
    """Citations, their check against the sources, and the inspector record for the answer
    generated from ``prompt``."""
    text = reply.text if isinstance(reply, Reply) else reply
    numbers = parse_citations(text)
    valid = [n for n in numbers if 1 <= n <= len(prompt.sources)]
    invalid = [n for n in numbers if n not in valid]
    no_answer = prompt.nothing_relevant or says_not_found(text)
    verdict = check_answer("" if no_answer else text, prompt.sources, prompt.embed_model, prompt.question)
    checks, best, passages = verdict.sentences, verdict.best, verdict.passages
    matched = {n for c in checks for n in c.matches}
    citations = [
        Citation(
            number=i,
            source=hit.source,
            name=hit.name,
            page=hit.page,
            page_label=hit.page_label,
            heading=hit.heading,
            text=hit.text,
            snippet=snippet_around(hit.text, passages[i - 1]),
            score=hit.score,
            vector_score=hit.vector_score,
            keyword_score=hit.keyword_score,
            cited=i in valid,
            matches_answer=i in matched,
            match=round(best[i - 1], 3),
            chunk_id=hit.chunk_id,
            collection=hit.collection,
            start=hit.start,
            end=hit.end,
            passage_start=(passages[i - 1] or (-1, -1))[0],
            passage_end=(passages[i - 1] or (-1, -1))[1],
            ocr_confidence=hit.ocr_confidence,
        )
        for i, hit in enumerate(prompt.sources, start=1)
    ]
    warnings: list[str] = []
    if invalid:
        listed = ", ".join(f"[{n}]" for n in invalid)
        warnings.append(f"The answer cites {listed}, which match no source: treat those statements with care.")
    for check in checks:
        if check.unsupported:
            listed = ", ".join(f"[{n}]" for n in check.unsupported)
            warnings.append(f"“{snippet(check.text, 80)}” cites {listed}, but the source does not seem to say that.")
        elif check.claim and not check.supported:
            warnings.append(f"“{snippet(check.text, 80)}” is not in your documents: {check.reason}.")
    if not valid and not no_answer and text.strip():
        found = sorted(matched)
        hint = f" Its wording matches source {', '.join(f'[{n}]' for n in found)}." if found else ""
        warnings.append(f"The answer cites none of your documents: check it before relying on it.{hint}")
    if any(reason == "did not fit in the context" for _, reason in prompt.dropped):
        warnings.append("Some relevant passages did not fit in the model's context and were left out.")
    finish_reason = reply.finish if isinstance(reply, Reply) else "stop"
    if finish_reason == "length":
        warnings.append("The answer was cut off at the token limit.")
    elif finish_reason == "crashed":  # the words so far, kept: the rest was never written
        warnings.append("The answer is cut short: the model's engine stopped (crashed) before it finished.")
    generated = reply if isinstance(reply, Reply) else None
    return RagAnswer(
        text=text,
        citations=citations,
        invalid_citations=invalid,
        no_answer=no_answer,
        warnings=warnings,
        budget=prompt.budget,
        inspector=inspector_record(prompt, text, valid, generated, checks),
        sentences=checks,
        reply=generated,
        finish=finish_reason,
    )


def inspector_record(
    prompt: RagPrompt,
    answer: str,
    cited: Sequence[int],
    reply: Reply | None,
    checks: Sequence[SentenceCheck] = (),
) -> Inspector:
    """Everything needed to see why the answer is what it is."""
    number = {hit.chunk_id: i for i, hit in enumerate(prompt.sources, start=1)}
    reasons = {hit.chunk_id: reason for hit, reason in prompt.dropped}
    top = {hit.chunk_id for hit in prompt.retrieval.hits}
    retrieved = []
    for rank, hit in enumerate(prompt.retrieval.candidates, start=1):
        n = number.get(hit.chunk_id)
        if n is not None:
            status = "sent"
        elif hit.chunk_id in reasons:
            status = reasons[hit.chunk_id]
        elif hit.chunk_id in top:
            status = "not sent"
        else:
            status = "below the top k"
        retrieved.append(RetrievedPassage(hit, rank, n, status, (n in cited) if n else None))
    return Inspector(
        query=prompt.question,
        collections=list(prompt.retrieval.collections),
        model=prompt.model_name,
        documents_only=prompt.documents_only,
        nothing_relevant=prompt.nothing_relevant,
        k=prompt.retrieval.k,
        min_similarity=prompt.retrieval.min_similarity,
        reranker=prompt.retrieval.reranker,
        notes=list(prompt.retrieval.notes),
        retrieved=retrieved,
        dropped=[DroppedPassage(hit.chunk_id, hit.source, hit.page, reason) for hit, reason in prompt.dropped],
        history_dropped=prompt.history_dropped,
        budget=prompt.budget,
        prompt=PromptRecord(list(prompt.messages), prompt.prompt_text, len(prompt.tokens), prompt.max_new_tokens),
        retrieval_timings_ms=dict(prompt.retrieval.timings),
        generation=reply.timings.to_dict() if reply else None,
        answer=answer,
        cited=list(cited),
        sentences=list(checks),
    )


@dataclass
class AskOptions:
    k: int | None = None
    documents_only: bool | None = None
    system_prompt: str = ""
    max_answer_tokens: int | None = None
    history: list[Message] = field(default_factory=list)


def answer_stream(
    engine: PromptModel,
    store: DocumentStore,
    collections: Sequence[str],
    question: str,
    sampling: SamplingSettings | None = None,
    cancel: CancelToken | None = None,
    options: AskOptions | None = None,
    settings: rag_config.RagSettings | None = None,
    on_prepared: Callable[[RagPrompt], None] | None = None,
) -> Iterator[str | RagAnswer]:
    """Yields the answer's text as it is generated, then one :class:`RagAnswer`.

    ``engine`` is the loaded :class:`Engine` or a :class:`RemoteChat`; ``on_prepared`` hears
    the prompt (its budget, sources) before the model starts. The CLI, the chat's model thread
    and dataset runs all answer from documents through here.
    """
    options = options or AskOptions()
    sampling = sampling or SamplingSettings()
    prompt = prepare(
        engine, store, collections, question, options.history, options.system_prompt, settings,
        options.k, options.max_answer_tokens or sampling.max_tokens, options.documents_only,
    )  # fmt: skip
    if on_prepared is not None:
        on_prepared(prompt)
    if prompt.nothing_relevant:
        yield NO_ANSWER
        yield finish(prompt, NO_ANSWER)
        return
    reply: Reply | None = None
    for item in _stream_prompt(engine, prompt, sampling, cancel):
        if isinstance(item, Reply):
            reply = item
        else:
            yield item
    assert reply is not None
    yield finish(prompt, reply)


def _stream_prompt(
    engine: PromptModel, prompt: RagPrompt, sampling: SamplingSettings, cancel: CancelToken | None
) -> Iterator[str | Reply]:
    """The model's answer to an assembled prompt: exact tokens for the local engine; for a model
    on a server, the messages (the server applies its own template), within the same budget."""
    if isinstance(engine, RemoteChat):
        answer_sampling = dataclasses.replace(sampling, max_tokens=prompt.max_new_tokens)
        return engine.stream_messages(prompt.messages, answer_sampling, cancel)
    assert isinstance(engine, Engine)
    return engine.stream_tokens(prompt.tokens, sampling, cancel, prompt.max_new_tokens, prompt.history_dropped)


def ask(
    engine: Engine,
    store: DocumentStore,
    collections: Sequence[str],
    question: str,
    sampling: SamplingSettings | None = None,
    cancel: CancelToken | None = None,
    options: AskOptions | None = None,
    settings: rag_config.RagSettings | None = None,
) -> RagAnswer:
    """The whole answer at once (CLI, scripts, tests)."""
    for item in answer_stream(engine, store, collections, question, sampling, cancel, options, settings):
        if isinstance(item, RagAnswer):
            return item
    raise AssertionError("answer_stream ended without an answer")
