"""Fitting a conversation into the context, in time linear in its length.

The rule (the engine's since the start): keep the system prompt and the latest message, drop the
oldest exchanges (a user message with the assistant's answer together, else one message) until
the rendered prompt leaves room for the answer. Rendering and tokenizing the whole conversation
once per dropped message is quadratic: 4,000 messages took over an hour. Here each message's
tokens are counted once, the cut is estimated from those counts, and only a few renders of what
is kept (at most a context's worth each) confirm the exact cut the old loop would have chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError


class _Message(Protocol):  # the engine's Message (not imported: the engine imports this module)
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


Message = TypeVar("Message", bound=_Message)

CHECK_EVERY = 256  # messages counted between looks at the cancel token
SURELY_TOO_LONG = 1.25  # texts alone this much over the budget: the whole cannot fit, not rendered
MARKUP_SAMPLE = 16  # latest messages rendered to measure the template's markup per message


def cut_points(rest: Sequence[Message]) -> list[int]:
    """Where the kept messages start after 0, 1, 2… drops, down to the latest message alone."""
    cuts = [0]
    while len(rest) - cuts[-1] > 1:
        i = cuts[-1]
        pair = len(rest) - i > 2 and rest[i].role == "user" and rest[i + 1].role == "assistant"
        cuts.append(i + (2 if pair else 1))
    return cuts


def fit_conversation(
    messages: Sequence[Message],
    n_ctx: int,
    reserve: int,
    tokenize_chat: Callable[[Sequence[Message]], list[int]],
    count_tokens: Callable[[str], int],
    cancel: CancelToken | None = None,
) -> tuple[list[int], int]:
    """(prompt tokens, messages dropped) for the longest tail of ``messages`` that fits."""
    cancel = cancel or CancelToken()
    budget = n_ctx - reserve
    system = list(messages[:1]) if messages and messages[0].role == "system" else []
    rest = list(messages[len(system) :])
    cuts = cut_points(rest)

    def render(k: int) -> list[int]:
        if cancel.cancelled:
            raise Cancelled
        return tokenize_chat(system + rest[cuts[k] :])

    last = len(cuts) - 1
    sizes = []  # each message's own text in tokens
    for i, message in enumerate(messages):
        if i % CHECK_EVERY == 0 and cancel.cancelled:
            raise Cancelled
        sizes.append(count_tokens(message.content))
    if sum(sizes) <= SURELY_TOO_LONG * budget + 64:
        tokens = render(0)  # it may well fit whole: the usual case, one render
        if len(tokens) <= budget:
            return tokens, 0
        if last == 0:
            raise _too_long(len(tokens), n_ctx)
        markup = max(0.0, (len(tokens) - sum(sizes)) / len(messages))
    else:
        # Far too long to fit whole (a long pasted history): rendering all of it costs more than
        # everything else here, so the template's markup is measured on the latest messages only.
        sample = system + rest[-min(len(rest), MARKUP_SAMPLE) :]
        written = len(tokenize_chat(sample))
        markup = max(0.0, (written - sum(sizes[: len(system)]) - sum(sizes[-(len(sample) - len(system)) :]))
                     / len(sample))  # fmt: skip
        if last == 0:
            raise _too_long(len(render(0)), n_ctx)
    shares = [size + markup for size in sizes[len(system) :]]
    kept = float(sum(sizes[: len(system)]) + markup * len(system))
    tail = [0.0] * (len(rest) + 1)
    for i in range(len(rest) - 1, -1, -1):
        tail[i] = tail[i + 1] + shares[i]
    guess = next((k for k, cut in enumerate(cuts) if kept + tail[cut] <= budget), last)

    # The estimate is close, not exact: find the first cut that really fits, galloping out from
    # the guess and then halving (fewer messages never make a longer prompt).
    fitting: dict[int, list[int]] = {}

    def fits(k: int) -> bool:
        found = render(k)
        if len(found) <= budget:
            fitting[k] = found
            return True
        return False

    if fits(guess):
        low, high, step = 0, guess, 1  # k=0 does not fit (seen above)
        while high - step > low:
            if not fits(high - step):
                low = high - step
                break
            high -= step
            step *= 2
    else:
        low, step = guess, 1
        while True:
            probe = min(low + step, last)
            if fits(probe):
                high = probe
                break
            if probe == last:
                raise _too_long(len(render(last)), n_ctx)
            low, step = probe, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return fitting[high], cuts[high]


def _too_long(n_tokens: int, n_ctx: int) -> HearthError:
    return HearthError(
        f"This message needs {n_tokens:,} tokens, more than this model's context of {n_ctx:,} leaves room for.",
        "Shorten it, or load the model with a larger context in the settings.",
    )
