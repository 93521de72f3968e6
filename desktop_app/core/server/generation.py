"""What a served request asks the engine to do, as jobs for the model thread.

A job writes one or more *choices* (several prompts, ``n`` answers each, one after another:
a CPU runs one at a time anyway), streams each reply's text through ``emit(index, text)`` (the
API's thread-safe hand-off) and returns a :class:`Served` with everything needed to answer and
to record it: each choice's reply, seed, log-probabilities and tool calls. Stop strings are
applied here: text that may start one is held back, so a stop string never reaches the client,
and reaching one ends generation with finish "stop".

Each choice has its own seed: the request's seed plus the choice's index (a fresh one per choice
when the request sets none), recorded, so any single choice can be replayed.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, LoadedModel, Reply
from desktop_app.core.inference.logprobs import ScoredToken
from desktop_app.core.inference.stop_text import StopText
from desktop_app.core.server import tools as tool_calls
from desktop_app.core.settings import SamplingSettings

SEED_RANGE = 2**31


class Emit(Protocol):
    """Hands streamed text to the API: the choice's index, the text, the tokens scored for it."""

    def __call__(self, index: int, text: str, scored: Sequence[ScoredToken] = ()) -> None: ...


@dataclass(frozen=True)
class Choice:
    index: int
    reply: Reply  # its text and finish are what the client got (stop strings applied)
    logprobs: dict[str, Any] | None = None  # in the endpoint's OpenAI shape
    tool_calls: list[dict[str, Any]] | None = None
    text: str = ""  # what the client gets as the choice's text (with an echoed prompt)


@dataclass(frozen=True)
class Served:
    choices: list[Choice]
    model: LoadedModel
    sha256: str
    prompt_tokens: int  # all prompts, each once

    @property
    def reply(self) -> Reply:
        """The first choice's reply (what a conversation stores)."""
        return self.choices[0].reply

    @property
    def completion_tokens(self) -> int:
        return sum(c.reply.timings.gen_tokens for c in self.choices)

    @property
    def finish(self) -> str:
        finishes = {c.reply.finish for c in self.choices}
        return "cancelled" if "cancelled" in finishes else self.reply.finish


def choice_seed(seed: int, index: int) -> int:
    """The seed of choice ``index``: the request's plus the index; -1 (fresh, recorded) if none."""
    return (seed + index) % SEED_RANGE if seed >= 0 else -1


def _run(
    items: Iterator[str | Reply], stops: Sequence[str], generation: CancelToken, cancel: CancelToken, emit: Emit,
    index: int,
) -> Reply:  # fmt: skip
    stop = StopText(stops)
    sent: list[str] = []
    hit = False
    reply: Reply | None = None
    for item in items:
        if isinstance(item, Reply):
            reply = item
            break
        if hit:
            continue
        text, hit = stop.feed(item)
        if text:
            sent.append(text)
            emit(index, text)
        if hit:
            generation.cancel()  # the engine stops after this token
    if reply is None:
        raise HearthError("The model stopped without finishing its reply.")
    if not hit:
        tail = stop.flush()
        if tail:
            sent.append(tail)
            emit(index, tail)
    if hit and not cancel.cancelled:
        reply = dataclasses.replace(reply, finish="stop")
    return dataclasses.replace(reply, text="".join(sent))


def _silent(index: int, text: str, scored: Sequence[ScoredToken] = ()) -> None:
    pass


def _linked(cancel: CancelToken) -> CancelToken:
    """A token for the generation itself: the client's cancel, or a stop string reached."""
    generation = CancelToken()
    cancel.on_cancel(generation.cancel)
    return generation


def _as_text(items: Iterator[ScoredToken | Reply], scored: list[ScoredToken]) -> Iterator[str | Reply]:
    """A scored stream as text pieces (whole UTF-8 characters), keeping the scored tokens."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for item in items:
        if isinstance(item, ScoredToken):
            scored.append(item)
            piece = decoder.decode(item.raw)
            if piece:
                yield piece
        else:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            yield item


def _generate(
    engine: Engine,
    tokens: list[int],
    sampling: SamplingSettings,
    max_new: int,
    grammar: str | None,
    stops: Sequence[str],
    cancel: CancelToken,
    emit: Emit,
    index: int,
    top_n: int | None,
    dropped: int = 0,
) -> tuple[Reply, list[ScoredToken]]:
    generation = _linked(cancel)
    found: list[ScoredToken] = []
    items: Iterator[Any]
    sent = 0

    def with_scores(index: int, text: str, scored: Sequence[ScoredToken] = ()) -> None:
        nonlocal sent  # each piece goes with the tokens scored since the one before
        emit(index, text, found[sent:])
        sent = len(found)

    if top_n is None:
        items = engine.stream_tokens(tokens, sampling, generation, max_new, dropped, grammar=grammar)
    else:
        items = _as_text(engine.stream_scored(tokens, sampling, generation, max_new, top_n, grammar), found)
    reply = _run(items, stops, generation, cancel, emit if top_n is None else with_scores, index)
    scored: list[ScoredToken] = []
    if top_n is not None:  # the tokens whose text the client got (a stop string cut the rest)
        kept, length = [], 0
        for token in found:
            if length >= len(reply.text.encode("utf-8")):
                break
            kept.append(token)
            length += len(token.raw)
        scored = kept
    return reply, scored


def completion_logprobs(tokens: Sequence[ScoredToken], start_offset: int = 0) -> dict[str, Any]:
    """/v1/completions' shape (what lm-evaluation-harness reads): parallel lists per token."""
    offsets, offset = [], start_offset
    for token in tokens:
        offsets.append(offset)
        offset += len(token.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [None if t.logprob is None else {a.text: a.logprob for a in t.top} for t in tokens],
        "text_offset": offsets,
    }


def chat_logprobs(tokens: Sequence[ScoredToken]) -> dict[str, Any]:
    """/v1/chat/completions' shape: one entry per token with its bytes and alternatives."""
    return {
        "content": [
            {
                "token": t.text,
                "logprob": t.logprob,
                "bytes": list(t.raw),
                "top_logprobs": [
                    {"token": a.text, "logprob": a.logprob, "bytes": list(a.text.encode("utf-8"))} for a in t.top
                ],
            }
            for t in tokens
        ],
        "refusal": None,
    }


def chat_job(
    conversation: list[dict[str, Any]],
    tools: tool_calls.ToolRequest | None,
    sampling: SamplingSettings,
    grammar: str | None,
    stops: Sequence[str],
    n: int,
    top_n: int | None,
    cancel: CancelToken,
    emit: Emit,
) -> Callable[[Engine, str], Served]:
    def job(engine: Engine, sha256: str) -> Served:
        assert engine.model is not None
        has_tool_turns = any(m.get("tool_calls") or m["role"] == "tool" for m in conversation)
        native = engine.tool_format() if (tools is not None or has_tool_turns) else ""
        dropped = 0
        if native:
            specs = [{"type": "function", "function": f} for f in tools.functions] if tools else None
            tokens = engine.tokenize_with_tools(tool_calls.structured(conversation), specs)
            n_ctx = engine.model.n_ctx
            if len(tokens) >= n_ctx:
                raise HearthError(f"The conversation has {len(tokens):,} tokens, more than this model's context "
                                  f"of {n_ctx:,}.")  # fmt: skip
            max_new = min(sampling.max_tokens, n_ctx - len(tokens))
        else:
            messages = tool_calls.as_engine_messages(conversation, tools)
            plan = engine.plan_prompt(messages, sampling.max_tokens, cancel)
            tokens, max_new, dropped = plan.tokens, plan.max_new_tokens, plan.dropped_messages
        constraint = tool_calls.grammar(tools, native) if tools is not None else grammar
        choices = []
        for index in range(n):
            choice_sampling = dataclasses.replace(sampling, seed=choice_seed(sampling.seed, index))
            quiet: Emit = _silent if tools is not None else emit  # calls are sent whole
            reply, scored = _generate(engine, tokens, choice_sampling, max_new, constraint, stops, cancel, quiet,
                                      index, top_n, dropped)  # fmt: skip
            calls = tool_calls.parse_calls(reply.text, tools, native) if tools is not None else None
            if tools is not None and calls is None:
                emit(index, reply.text)  # "auto", and the model answered in words
            logprobs = chat_logprobs(scored) if top_n is not None else None
            choices.append(Choice(index, reply, logprobs, calls, reply.text))
        return Served(choices, engine.model, sha256, len(tokens))

    return job


def completion_job(
    prompts: Sequence[str | list[int]],
    sampling: SamplingSettings,
    grammar: str | None,
    stops: Sequence[str],
    n: int,
    top_n: int | None,
    echo: bool,
    cancel: CancelToken,
    emit: Emit,
) -> Callable[[Engine, str], Served]:
    """Plain text continuation: each prompt as given (text or token ids), no chat template."""

    def job(engine: Engine, sha256: str) -> Served:
        assert engine.model is not None
        n_ctx = engine.model.n_ctx
        choices: list[Choice] = []
        prompt_tokens = 0
        for p, prompt in enumerate(prompts):
            tokens = engine.tokenize_text(prompt) if isinstance(prompt, str) else list(prompt)
            if not isinstance(prompt, str):
                engine.check_prompt_tokens(tokens)
            if len(tokens) >= n_ctx:
                raise HearthError(
                    f"The prompt has {len(tokens):,} tokens, more than this model's context of {n_ctx:,}."
                )
            prompt_tokens += len(tokens)
            echoed: list[ScoredToken] = []
            if echo and top_n is not None:
                echoed = engine.score_prompt(tokens, top_n, cancel)
            echo_text = (prompt if isinstance(prompt, str) else engine.detokenize_text(tokens)) if echo else ""
            for j in range(n):
                index = p * n + j
                choice_sampling = dataclasses.replace(sampling, seed=choice_seed(sampling.seed, index))
                if echo_text:
                    emit(index, echo_text)
                reply, scored = _generate(engine, tokens, choice_sampling, sampling.max_tokens, grammar, stops,
                                          cancel, emit, index, top_n)  # fmt: skip
                logprobs = completion_logprobs(echoed + scored) if top_n is not None else None
                choices.append(Choice(index, reply, logprobs, None, echo_text + reply.text))
        return Served(choices, engine.model, sha256, prompt_tokens)

    return job
