"""Fitting a long conversation into the context (issue 18): the same cut as the engine's old
loop (drop the oldest exchange until the prompt fits), found in linear time, and cancellable."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import pytest

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.inference.prompt_fit import fit_conversation


def old_loop(messages: Sequence[Message], n_ctx: int, reserve: int, tokenize: Any) -> tuple[list[int], int]:
    """The engine's plan_prompt before issue 18 (quadratic), kept as the reference."""
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])
    dropped = 0
    while True:
        tokens = tokenize(system + rest)
        if len(tokens) + reserve <= n_ctx:
            return tokens, dropped
        if len(rest) <= 1:
            raise HearthError("too long")
        cut = 2 if len(rest) > 2 and rest[0].role == "user" and rest[1].role == "assistant" else 1
        rest = rest[cut:]
        dropped += cut


class Words:
    """A template-like renderer whose tokens are words, counting its renders."""

    def __init__(self) -> None:
        self.renders = 0

    def chat(self, messages: Sequence[Message]) -> list[int]:
        self.renders += 1
        text = "<s> " + " ".join(f"<{m.role}> {m.content} </{m.role}>" for m in messages) + " <assistant>"
        return [hash(w) % 1000 for w in text.split()]

    @staticmethod
    def count(text: str) -> int:
        return len(text.split())


def conversation(rng: random.Random, n: int, system: bool) -> list[Message]:
    messages = [Message("system", "be kind " * rng.randint(1, 20))] if system else []
    roles = ["user", "assistant"]
    for i in range(n):
        role = roles[i % 2] if rng.random() > 0.1 else rng.choice(roles)  # now and then two in a row
        messages.append(Message(role, "word " * rng.randint(0, 60)))
    return messages


@pytest.mark.parametrize("seed", range(40))
def test_the_cut_is_the_old_loops_cut(seed: int) -> None:
    rng = random.Random(seed)
    messages = conversation(rng, rng.randint(1, 120), system=seed % 2 == 0)
    n_ctx, reserve = rng.choice([256, 512, 1024]), rng.choice([16, 64])
    words = Words()
    try:
        expected: tuple[list[int], int] | None = old_loop(messages, n_ctx, reserve, words.chat)
    except HearthError:
        expected = None
    if expected is None:
        with pytest.raises(HearthError, match="tokens, more than"):
            fit_conversation(messages, n_ctx, reserve, words.chat, words.count)
    else:
        assert fit_conversation(messages, n_ctx, reserve, words.chat, words.count) == expected


def test_four_thousand_messages_take_a_handful_of_renders() -> None:
    messages = conversation(random.Random(1), 4000, system=True)
    words = Words()
    tokens, dropped = fit_conversation(messages, 2048, 256, words.chat, words.count)
    assert len(tokens) <= 2048 - 256 and dropped > 3900
    assert words.renders <= 30  # the old loop rendered the conversation ~4,000 times


def test_cancel_reaches_the_fitting() -> None:
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        fit_conversation(conversation(random.Random(2), 50, True), 64, 16, Words().chat, Words.count, cancel)


def test_the_engine_fits_four_thousand_messages_as_its_old_loop_did(engine: Any) -> None:
    rng = random.Random(3)
    messages = [Message("system", "You are brief.")]
    for i in range(4000):
        messages.append(Message("user" if i % 2 == 0 else "assistant", f"Message {i}: " + "la " * rng.randint(1, 30)))
    started = time.perf_counter()
    plan = engine.plan_prompt(messages, 256)
    took = time.perf_counter() - started
    assert plan.dropped_messages > 3800 and len(plan.tokens) <= 2048 - 256
    # The same cut as the old loop on the part that matters (the old loop on all 4,000 takes an hour).
    tail = messages[:1] + messages[-200:]
    assert engine.plan_prompt(tail, 256).tokens == old_loop(tail, 2048, 256, engine.tokenize_chat)[0]
    assert took < 60  # generous: the old loop took over an hour on this conversation

    cancel = CancelToken()
    cancel.cancel()
    reply = engine.generate(messages, cancel=cancel)  # Stop reaches the fitting: nothing is written
    assert reply.finish == "cancelled" and reply.text == ""
