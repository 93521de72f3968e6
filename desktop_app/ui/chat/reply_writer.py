"""The reply being written: asked of the model thread, streamed into the transcript, saved when it ends.

The Chat section has one :class:`ReplyWriter`. It asks the :class:`ModelHost` for a reply (or, in a
conversation attached to document collections, an answer from them), keeps what has arrived so far
(the text, what an answer from documents is doing, its context budget) so a conversation reopened
mid-reply shows it, and saves the reply with its provenance when it finishes — also when it was
stopped, or cut short by the engine's crash (an answer from documents with the sources it had).
Only the GUI thread uses it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.conversations.chat import build_messages
from desktop_app.core.conversations.store import Conversation, Provenance
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message, Reply
from desktop_app.core.rag.answer import strip_citations
from desktop_app.core.rag.answer_record import Budget, RagAnswer
from desktop_app.ui.chat.transcript_view import TranscriptView
from desktop_app.ui.context import AppContext
from desktop_app.ui.model_host import SEARCHING_DOCUMENTS, GenerationRequest, RagRequest


class ReplyWriter(QObject):
    """One reply at a time; ``shown`` says which conversation the transcript shows now."""

    started = Signal()  # a reply was asked for
    ended = Signal()  # no reply is being written any more (saved or discarded follows)
    saved = Signal(object)  # StoredMessage, once a reply (finished or stopped) is in the store
    discarded = Signal(str, str)  # message, hint ("" when there is nothing to say): failed, or its chat deleted

    def __init__(
        self, context: AppContext, transcript: TranscriptView, shown: Callable[[], int | None],
        parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self._context = context
        self._store = context.store
        self._models = context.models
        self._transcript = transcript
        self._shown = shown
        self.request: GenerationRequest | None = None
        self.text = ""  # what has arrived so far
        self.status = ""  # what an answer from documents is doing, before its first words
        self.budget: Budget | None = None
        models = self._models
        models.tokens_received.connect(self._on_models_tokens_received)
        models.reply_finished.connect(self._on_models_reply_finished)
        models.generation_failed.connect(self._on_models_generation_failed)
        models.rag_status.connect(self._on_models_rag_status)
        models.rag_prepared.connect(self._on_models_rag_prepared)
        models.rag_finished.connect(self._on_models_rag_finished)

    @property
    def writing(self) -> bool:
        return self.request is not None

    def writing_in(self, conversation_id: int) -> bool:
        return self.request is not None and self.request.conversation_id == conversation_id

    def start(self, conversation_id: int) -> None:
        """Asks for a reply to the conversation's last message (raises HearthError when it cannot)."""
        conversation = self._store.get(conversation_id)
        collections = self._store.collections(conversation_id)
        if collections:
            self.request = self._request_answer(conversation, collections)
        else:
            messages = build_messages(conversation.system_prompt, self._store.messages(conversation_id))
            self.request = self._models.generate(
                conversation_id, messages, self._context.settings.sampling, conversation.system_prompt
            )
        self.text = ""
        self.budget = None
        self.status = SEARCHING_DOCUMENTS if collections else ""
        self.started.emit()
        view = self._transcript.begin_reply(author=self._models.model_name)
        if self.status:
            view.set_status(self.status)

    def _request_answer(self, conversation: Conversation, collections: list[str]) -> RagRequest:
        """Asks for an answer from ``collections`` to the conversation's last question."""
        history = self._store.messages(conversation.id)
        last = max((i for i, m in enumerate(history) if m.role == "user"), default=-1)
        if last < 0:
            raise HearthError("There is no question to answer.")
        # Earlier answers go back without their [n]: those numbers named other sources.
        turns = [
            Message(m.role, strip_citations(m.content) if m.role == "assistant" else m.content)
            for m in history[:last]
            if m.role in ("user", "assistant") and m.content.strip()
        ]
        return self._models.generate_rag(
            conversation.id, collections, history[last].content, turns, self._context.settings.sampling,
            conversation.system_prompt, conversation.documents_only,
        )  # fmt: skip

    def show_in_transcript(self, conversation_id: int) -> None:
        """The conversation was opened again while its reply is being written: shows what has come."""
        if not self.writing_in(conversation_id):
            return
        view = self._transcript.begin_reply(self.text, self._models.model_name)
        if self.budget is not None:
            view.set_budget(self.budget)
        if self.status and not self.text:
            view.set_status(self.status)

    def stop(self) -> None:
        if self.request is None:
            return
        self._models.stop()
        if self._transcript.reply_view is not None:
            self._transcript.reply_view.set_stopping()

    def _ours(self, request_id: int) -> bool:
        return self.request is not None and request_id == self.request.request_id

    def _on_screen(self) -> bool:
        return self.request is not None and self.request.conversation_id == self._shown()

    def _finish(self) -> GenerationRequest:
        request, self.request = self.request, None
        assert request is not None
        self.text = ""
        self.status = ""
        self.budget = None
        self.ended.emit()
        return request

    # -- model worker reports ------------------------------------------------------------------------

    @Slot(int, str)
    def _on_models_tokens_received(self, request_id: int, text: str) -> None:
        if not self._ours(request_id):
            return
        self.text += text
        if self._on_screen():
            self._transcript.append_to_reply(text)

    @Slot(int, object, object)
    def _on_models_reply_finished(self, request_id: int, reply: Reply, provenance: Provenance) -> None:
        if self._ours(request_id):
            self._save(self._finish(), reply.text, provenance)

    @Slot(int, object, object, object)
    def _on_models_rag_finished(
        self, request_id: int, reply: Reply | None, provenance: Provenance | None, answer: RagAnswer
    ) -> None:
        if self._ours(request_id):
            self._save(self._finish(), reply.text if reply is not None else answer.text, provenance, answer)

    @Slot(int, str)
    def _on_models_rag_status(self, request_id: int, text: str) -> None:
        if not self._ours(request_id):
            return
        self.status = text
        view = self._transcript.reply_view
        if self._on_screen() and view is not None and not self._models.stopping:
            view.set_status(text)

    @Slot(int, object)
    def _on_models_rag_prepared(self, request_id: int, budget: Budget) -> None:
        if not self._ours(request_id):
            return
        self.budget = budget
        view = self._transcript.reply_view
        if self._on_screen() and view is not None:
            view.set_budget(budget)

    @Slot(int, str, str)
    def _on_models_generation_failed(self, request_id: int, message: str, hint: str) -> None:
        if not self._ours(request_id):
            return
        request = self._finish()
        if request.conversation_id == self._shown():
            self._transcript.end_reply(None)
        self.discarded.emit(message, hint)

    def _save(
        self, request: GenerationRequest, text: str, provenance: Provenance | None, rag: RagAnswer | None = None
    ) -> None:
        shown = request.conversation_id == self._shown()
        try:
            self._store.get(request.conversation_id)
        except HearthError:  # deleted while the reply was being written
            if shown:
                self._transcript.end_reply(None)
            self.discarded.emit("", "")
            return
        message = self._store.add_message(request.conversation_id, "assistant", text, provenance, rag)
        if shown:
            self._transcript.end_reply(message)
        self.saved.emit(message)
