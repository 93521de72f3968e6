"""Log-probabilities of tokens, as the OpenAI API returns them and evaluation harnesses read them.

Two uses, both on the engine's ``Llama`` (its owner's thread only):

- :func:`score_prompt`: every token of a prompt with its log-probability given the tokens before
  it (``echo`` + ``logprobs`` on /v1/completions: how lm-evaluation-harness scores the choices
  of a multiple-choice question). The prompt is evaluated in batches asking llama.cpp for the
  logits of every position, without the model having been loaded with ``logits_all``.
- :func:`stream_scored`: a reply, token by token, each with its log-probability and the most
  likely alternatives, read from the logits the token was sampled from.

Log-probabilities are those of the model's own distribution (a log-softmax of the logits, before
temperature or a grammar), as llama-cpp-python's server and OpenAI report them. Everything
returned is plain data (picklable), so it can cross a process boundary.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference import sampler
from desktop_app.core.inference.stop_text import StopText
from desktop_app.core.settings import SamplingSettings

if TYPE_CHECKING:
    import numpy as np
    from llama_cpp import Llama


SCORE_BATCH = 128  # positions per llama_decode when scoring (the logits of each are kept)


@dataclass(frozen=True)
class Alternative:
    token: int
    text: str
    logprob: float


@dataclass(frozen=True)
class ScoredEnd:
    """How a scored generation ended (the engine makes its Reply of it)."""

    text: str
    finish: str
    seed: int
    prompt_tokens: int
    gen_tokens: int
    ttft_s: float
    total_s: float


@dataclass(frozen=True)
class ScoredToken:
    token: int
    text: str  # the token's own text (a token inside a UTF-8 character shows U+FFFD)
    raw: bytes  # its bytes
    logprob: float | None  # None for a prompt's first token: nothing comes before it
    top: list[Alternative] = field(default_factory=list)  # most likely first


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    rows = logits.astype(np.float64)
    rows -= rows.max(axis=-1, keepdims=True)
    rows -= np.log(np.exp(rows).sum(axis=-1, keepdims=True))
    return rows


def _piece(llm: Llama, token: int) -> tuple[str, bytes]:
    raw = llm.detokenize([token], special=False)
    return raw.decode("utf-8", errors="replace"), raw


def _scored(llm: Llama, token: int, row: np.ndarray | None, top_n: int) -> ScoredToken:
    import numpy as np

    text, raw = _piece(llm, token)
    if row is None:
        return ScoredToken(token, text, raw, None)
    top: list[Alternative] = []
    if top_n > 0:
        best = np.argpartition(-row, top_n - 1)[:top_n]
        for index in sorted(best.tolist(), key=lambda i: -row[i]):
            top.append(Alternative(int(index), _piece(llm, int(index))[0], float(row[index])))
    return ScoredToken(token, text, raw, float(row[token]), top)


def check_tokens(llm: Llama, tokens: Sequence[int]) -> None:
    """Refuses token ids outside the vocabulary (llama.cpp fails on them) or too many for the context."""
    n_vocab = llm.n_vocab()
    bad = next((t for t in tokens if not 0 <= t < n_vocab), None)
    if bad is not None:
        raise HearthError(f"Token id {bad} is not in this model's vocabulary (0 to {n_vocab - 1}).")
    if len(tokens) >= llm.n_ctx():
        raise HearthError(f"The prompt has {len(tokens):,} tokens, more than this model's context of {llm.n_ctx():,}.")


def score_prompt(llm: Llama, tokens: Sequence[int], top_n: int, cancel: CancelToken) -> list[ScoredToken]:
    """Each token of ``tokens`` scored given those before it (the first has no log-probability).
    The prompt stays in the KV cache: a generation from it evaluates only its last token again."""
    import llama_cpp
    import numpy as np

    tokens = [int(t) for t in tokens]
    if not tokens:
        raise HearthError("The prompt is empty: there is nothing to score.")
    check_tokens(llm, tokens)
    n_vocab = llm.n_vocab()
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    scored = [_scored(llm, tokens[0], None, 0)]
    size = max(1, min(SCORE_BATCH, llm.n_batch))
    for start in range(0, len(tokens), size):
        if cancel.cancelled:
            raise Cancelled
        batch = tokens[start : start + size]
        llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[start : start + len(batch)] = batch
        llm.n_tokens = start + len(batch)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm._ctx.ctx), shape=(len(batch), n_vocab))
        rows = _log_softmax(logits)
        for i in range(len(batch)):
            position = start + i + 1  # row i predicts the token after it
            if position < len(tokens):
                scored.append(_scored(llm, tokens[position], rows[i], top_n))
    llm._requires_eval = True  # the sampler reads fresh logits: generate() re-evaluates the last token
    return scored


def stream_scored(
    llm: Llama,
    is_eog: Callable[[int], bool],
    template_stops: Sequence[str],
    prompt: Sequence[int],
    sampling: SamplingSettings,
    cancel: CancelToken,
    max_new_tokens: int | None,
    top_n: int,
    grammar: Any,
) -> Iterator[ScoredToken | ScoredEnd]:
    """Generates from ``prompt`` as the engine does, yielding each token scored, then how it
    ended (the text with the template's stop strings removed)."""
    import llama_cpp
    import numpy as np

    from desktop_app.core.inference.abort_flag import AbortFlag

    prompt = [int(t) for t in prompt]
    check_tokens(llm, prompt)
    seed, limit, generator = sampler.start(llm, prompt, sampling, max_new_tokens, grammar)
    n_vocab = llm.n_vocab()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    stop_text = StopText(template_stops)
    pieces: list[str] = []
    finish, n_gen, t_first = "length", 0, 0.0
    started = time.perf_counter()
    flag = AbortFlag(llama_cpp.ggml_abort_callback)
    cancel.on_cancel(flag.set)
    try:
        token: int | None = None
        if limit > 0:
            llama_cpp.llama_set_abort_callback(llm._ctx.ctx, flag.callback, flag.data)
            try:
                token = next(generator, None)
            except RuntimeError as exc:
                if not cancel.cancelled:
                    raise HearthError(f"llama.cpp failed while reading the prompt: {exc}") from None
            finally:
                llama_cpp.llama_set_abort_callback(llm._ctx.ctx, llama_cpp.ggml_abort_callback(), None)
            if token is None and cancel.cancelled:
                finish = "cancelled"
        while token is not None:
            t_first = t_first or time.perf_counter()
            if is_eog(token):
                finish = "stop"
                break
            n_gen += 1
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,))
            item = _scored(llm, token, _log_softmax(logits), top_n)
            piece, stopped = stop_text.feed(decoder.decode(item.raw))
            pieces.append(piece)
            yield item
            if stopped:
                finish = "stop"
                break
            if cancel.cancelled:
                finish = "cancelled"
                break
            if n_gen >= limit:
                break
            try:
                token = next(generator, None)
            except RuntimeError as exc:
                raise HearthError(f"llama.cpp stopped with an error while generating: {exc}") from None
    finally:
        generator.close()
    if finish != "stop":
        pieces.append(stop_text.flush())
    pieces.append(decoder.decode(b"", final=True))
    ttft = (t_first - started) if t_first else 0.0
    yield ScoredEnd("".join(pieces), finish, seed, len(prompt), n_gen, ttft, time.perf_counter() - started)
