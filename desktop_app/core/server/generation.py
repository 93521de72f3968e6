"""What a served request asks the engine to do, as jobs for the model thread.

A job streams the reply's text through ``emit`` (the API's thread-safe hand-off) and returns a
:class:`Served` with everything needed to answer and to record it. Stop strings are applied
here: text that may start one is held back, so a stop string never reaches the client, and
reaching one ends generation with finish "stop".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, LoadedModel, Message, Reply
from desktop_app.core.inference.stop_text import StopText
from desktop_app.core.settings import SamplingSettings

Emit = Callable[[str], None]


@dataclass(frozen=True)
class Served:
    reply: Reply  # its text and finish are what the client got (stop strings applied)
    model: LoadedModel
    sha256: str
    prompt_tokens: int


def _run(
    items: Any, stops: Sequence[str], generation: CancelToken, cancel: CancelToken, emit: Emit
) -> tuple[Reply, str, bool]:
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
            emit(text)
        if hit:
            generation.cancel()  # the engine stops after this token
    if reply is None:
        raise HearthError("The model stopped without finishing its reply.")
    if not hit:
        tail = stop.flush()
        if tail:
            sent.append(tail)
            emit(tail)
    if hit and not cancel.cancelled:
        reply = dataclasses.replace(reply, finish="stop")
    return dataclasses.replace(reply, text="".join(sent)), "".join(sent), hit


def _linked(cancel: CancelToken) -> CancelToken:
    """A token for the generation itself: the client's cancel, or a stop string reached."""
    generation = CancelToken()
    cancel.on_cancel(generation.cancel)
    return generation


def chat_job(
    messages: Sequence[Message],
    sampling: SamplingSettings,
    grammar: str | None,
    stops: Sequence[str],
    cancel: CancelToken,
    emit: Emit,
) -> Callable[[Engine, str], Served]:
    def job(engine: Engine, sha256: str) -> Served:
        assert engine.model is not None
        generation = _linked(cancel)
        items = engine.stream_chat(list(messages), sampling, generation, grammar=grammar)
        reply, _text, _hit = _run(items, stops, generation, cancel, emit)
        return Served(reply, engine.model, sha256, reply.timings.prompt_tokens)

    return job


def completion_job(
    prompt: str,
    sampling: SamplingSettings,
    grammar: str | None,
    stops: Sequence[str],
    cancel: CancelToken,
    emit: Emit,
) -> Callable[[Engine, str], Served]:
    """Plain text continuation: the prompt as given, no chat template."""

    def job(engine: Engine, sha256: str) -> Served:
        assert engine.model is not None
        tokens = engine.tokenize_text(prompt)
        if len(tokens) >= engine.model.n_ctx:
            raise HearthError(
                f"The prompt has {len(tokens):,} tokens, more than this model's context of {engine.model.n_ctx:,}."
            )
        generation = _linked(cancel)
        items = engine.stream_tokens(tokens, sampling, generation, sampling.max_tokens, grammar=grammar)
        reply, _text, _hit = _run(items, stops, generation, cancel, emit)
        return Served(reply, engine.model, sha256, len(tokens))

    return job
