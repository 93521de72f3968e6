"""A remote model in the places a loaded engine goes: the chat and answers from documents.

:class:`RemoteChat` offers what those need from an :class:`Engine` (``model.n_ctx`` and
``model.name``, token counts, the prompt as text, streaming) for a model on a server. Token
counts come from the server's tokenizer where it has one; elsewhere they are estimated on the
high side (and the model's notes say so). The chat template is the server's: ``render`` shows
the messages as sent, not the server's prompt text.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.inference.remote import OutputRule, RemoteClient, RemoteModel, RemoteReply
from desktop_app.core.settings import SamplingSettings

PER_MESSAGE_TOKENS = 8  # a chat template's own tokens around one message, on the high side
CHARS_PER_TOKEN_ESTIMATE = 3.0  # fewer characters per token than most tokenizers: estimates run high
ESTIMATE_NOTE = "This server has no tokenizer endpoint: token counts are estimated from the text's length."


class PromptModel(Protocol):
    """What prompt building needs of a model, local (:class:`Engine`) or remote (:class:`RemoteChat`)."""

    @property
    def model(self) -> _Sized | None: ...

    def count_tokens(self, text: str) -> int: ...

    def tokenize_chat(self, messages: Sequence[Message]) -> list[int]: ...

    def render(self, messages: Sequence[Message]) -> str: ...


class _Sized(Protocol):
    @property
    def n_ctx(self) -> int: ...

    @property
    def name(self) -> str: ...


class RemoteChat:
    def __init__(self, client: RemoteClient, model: RemoteModel) -> None:
        self.client = client
        self._model = model
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.estimated = False

    @property
    def model(self) -> RemoteModel:
        return self._model

    def with_note(self, note: str) -> None:
        if note not in self._model.notes:
            self._model = dataclasses.replace(self._model, notes=[*self._model.notes, note])

    # -- tokens ----------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        with self._lock:
            known = self._counts.get(text)
        if known is not None:
            return known
        count = None if self.estimated else self.client.count_tokens(self._model.model_id, text)
        if count is None:
            self.estimated = True
            self.with_note(ESTIMATE_NOTE)
            count = int(len(text) / CHARS_PER_TOKEN_ESTIMATE) + 1
        with self._lock:
            if len(self._counts) > 4096:
                self._counts.clear()
            self._counts[text] = count
        return count

    def count_chat(self, messages: Sequence[Message]) -> int:
        return PER_MESSAGE_TOKENS + sum(self.count_tokens(m.content) + PER_MESSAGE_TOKENS for m in messages)

    def tokenize_chat(self, messages: Sequence[Message]) -> list[int]:
        """Stand-in token ids (zeros) as many as the conversation takes: the server holds the
        tokenizer and the template, so only the count is known here."""
        return [0] * self.count_chat(messages)

    def render(self, messages: Sequence[Message]) -> str:
        return "\n\n".join(f"<{m.role}>\n{m.content}" for m in messages) + "\n\n(the server applies its chat template)"

    # -- the conversation within the context ------------------------------------------------------

    def fit(self, messages: Sequence[Message], max_tokens: int) -> tuple[list[Message], int, int]:
        """(messages that fit with room for the answer, how many were dropped, max new tokens):
        the engine's rule, keeping the system prompt and the latest message."""
        n_ctx = self._model.n_ctx
        reserve = max(16, min(max_tokens, n_ctx // 4))
        system = [m for m in messages[:1] if m.role == "system"]
        rest = list(messages[len(system) :])
        dropped = 0
        while True:
            used = self.count_chat(system + rest)
            if used + reserve <= n_ctx:
                return system + rest, dropped, max(1, min(max_tokens, n_ctx - used))
            if len(rest) <= 1:
                raise HearthError(
                    f"This message needs about {used:,} tokens, more than the server's context of {n_ctx:,} "
                    "leaves room for.",
                    "Shorten it, or set the server's real context size in Settings → Servers.",
                )
            cut = 2 if len(rest) > 2 and rest[0].role == "user" and rest[1].role == "assistant" else 1
            rest = rest[cut:]
            dropped += cut

    # -- generating ---------------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        rule: OutputRule | None = None,
    ) -> Iterator[str | RemoteReply]:
        """The conversation fitted into the context, streamed from the server."""
        fitted, dropped, max_new = self.fit(messages, sampling.max_tokens)
        for item in self.stream_messages(fitted, dataclasses.replace(sampling, max_tokens=max_new), cancel, rule):
            if isinstance(item, RemoteReply):
                item.dropped_messages = dropped
            yield item

    def stream_messages(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        rule: OutputRule | None = None,
    ) -> Iterator[str | RemoteReply]:
        """``messages`` as they are (an answer from documents has fitted them already)."""
        return self.client.stream_chat(self._model.model_id, messages, sampling, cancel, rule)
