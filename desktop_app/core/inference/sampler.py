"""llama.cpp's token generator started with Hearth's sampling settings, for the engine's replies
and the scored replies of :mod:`logprobs` alike: the seed (a fresh one when the settings say -1),
the room left in the context for new tokens, and the generator (it runs at its first ``next``)."""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from desktop_app.core.settings import SamplingSettings

if TYPE_CHECKING:
    from llama_cpp import Llama


def start(
    llm: Llama, prompt: Sequence[int], sampling: SamplingSettings, max_new_tokens: int | None, grammar: Any
) -> tuple[int, int, Generator[int, Any, None]]:
    """(the seed used, how many tokens may be generated, the token generator)."""
    seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
    llm.set_seed(seed)
    limit = max_new_tokens if max_new_tokens is not None else sampling.max_tokens
    limit = max(0, min(limit, llm.n_ctx() - len(prompt)))
    generator = llm.generate(
        prompt,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        min_p=sampling.min_p,
        temp=sampling.temperature,
        repeat_penalty=sampling.repeat_penalty,
        grammar=grammar,
    )
    return seed, limit, generator
