"""The Chat section: conversations, the transcript, the message box and the side panel.

Only this view and its reply writer (on the GUI thread) write conversations to the store.
A reply is requested from the model worker, streams into the transcript, and is saved with
its provenance when it finishes — also when it was stopped (``reply_writer.py``).

A conversation attached to document collections (the "Documents" button under the
message box) gets answers from them: the worker retrieves, reports the context
budget before the model starts, streams the answer, and the answer is saved with
its citations and retrieval record.
"""

from __future__ import annotations

from PySide6.QtCore import QEventLoop, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.conversations.store import StoredMessage
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import LoadedModel
from desktop_app.core.inference.remote import RemoteModel
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.units import plural
from desktop_app.ui.chat.chat_settings_panel import ChatSettingsPanel
from desktop_app.ui.chat.composer import ComposerEdit
from desktop_app.ui.chat.conversation_list_view import ConversationListView
from desktop_app.ui.chat.documents_picker import DocumentsPicker
from desktop_app.ui.chat.model_picker import LoadProgressView, ModelPicker
from desktop_app.ui.chat.reply_writer import ReplyWriter
from desktop_app.ui.chat.transcript_view import TranscriptView
from desktop_app.ui.context import AppContext
from desktop_app.ui.model_host import HostState
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind
from desktop_app.ui.shared.resources import icon

TITLE_LENGTH = 60
SPLITTER_KEY = "chat/splitter"
PANEL_KEY = "chat/panel_visible"
CLOSE_WAIT_MS = 15_000  # how long closing the window waits for a stopped reply to come back
PLAIN_PLACEHOLDER = "Message the model…"  # Enter and Shift+Enter are explained above, while it is empty
DOCUMENTS_PLACEHOLDER = "Ask your documents…"


def title_from(text: str) -> str:
    """A conversation title from its first message: the first line, shortened."""
    first = text.strip().splitlines()[0].strip() if text.strip() else "New chat"
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1].rstrip() + "…"


class ChatView(QWidget):
    """The Chat section."""

    reply_saved = Signal(object)  # StoredMessage, once a reply (finished or stopped) is in the store
    reply_discarded = Signal()  # a reply failed or its conversation was deleted meanwhile
    documents_requested = Signal()  # "Manage collections…": the window shows the Documents section
    conversation_changed = Signal(object)  # the id of the conversation now shown, None for a new chat

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._store = context.store
        self._models = context.models
        self._conversation_id: int | None = None
        # A new chat's attachment, stored with the conversation when its first message is sent.
        self._pending_collections: list[str] = []
        self._pending_documents_only: bool | None = None
        self._closing = False

        self.conversations = ConversationListView(self._store)
        self.conversations.conversation_selected.connect(self._on_conversations_conversation_selected)
        self.conversations.new_requested.connect(self._on_conversations_new_requested)
        self.conversations.conversation_deleted.connect(self._on_conversations_conversation_deleted)
        self.conversations.conversation_exported.connect(self._on_conversations_conversation_exported)

        self.model_picker = ModelPicker(context)
        self.load_progress = LoadProgressView(context)
        self.panel_button = QToolButton()
        self.panel_button.setIcon(icon("sliders"))
        self.panel_button.setCheckable(True)
        self.panel_button.setChecked(True)
        self.panel_button.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.panel_button.setToolTip("Show or hide the system prompt and settings")
        self.panel_button.toggled.connect(self._on_panel_button_toggled)
        top_bar = QHBoxLayout()
        top_bar.setContentsMargins(0, 0, 0, 0)
        top_bar.addWidget(self.model_picker, 1)
        top_bar.addWidget(self.panel_button)

        self.notice = NoticeBar()
        self.transcript = TranscriptView()
        self.transcript.edit_submitted.connect(self._on_transcript_edit_submitted)
        self.transcript.version_requested.connect(self._on_transcript_version_requested)
        self.writer = ReplyWriter(context, self.transcript, lambda: self._conversation_id, self)
        self.writer.started.connect(self.notice.dismiss)
        self.writer.ended.connect(self._update_actions)
        self.writer.saved.connect(self._on_writer_saved)
        self.writer.discarded.connect(self._on_writer_discarded)

        self.composer = ComposerEdit()
        self.composer.submitted.connect(self._on_composer_submitted)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primaryButton")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the reply (Esc); what was written so far is kept")
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.regenerate_button = QPushButton(icon("regenerate"), "Regenerate")
        self.regenerate_button.setToolTip("Replace the last reply with a new one")
        self.regenerate_button.clicked.connect(self._on_regenerate_button_clicked)
        composer_frame = QFrame()
        composer_frame.setObjectName("composerFrame")
        composer_layout = QHBoxLayout(composer_frame)
        composer_layout.setContentsMargins(10, 6, 6, 6)
        composer_layout.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        composer_layout.addLayout(buttons)
        composer_layout.setAlignment(buttons, Qt.AlignmentFlag.AlignBottom)
        self.documents = DocumentsPicker(context.documents)
        self.documents.collections_picked.connect(self._on_documents_collections_picked)
        self.documents.documents_only_toggled.connect(self._on_documents_documents_only_toggled)
        self.documents.manage_requested.connect(self.documents_requested)
        below_composer = QHBoxLayout()
        below_composer.setContentsMargins(0, 0, 0, 0)
        below_composer.addWidget(self.documents)
        below_composer.addStretch(1)
        below_composer.addWidget(self.regenerate_button)

        center = QWidget()
        center.setObjectName("chatCenter")
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(12, 10, 12, 10)
        center_layout.setSpacing(8)
        center_layout.addLayout(top_bar)
        center_layout.addWidget(self.load_progress)
        center_layout.addWidget(self.notice)
        center_layout.addWidget(self.transcript, 1)
        center_layout.addWidget(composer_frame)
        center_layout.addLayout(below_composer)

        self.settings_panel = ChatSettingsPanel(context)
        self.settings_panel.system_prompt_edited.connect(self._on_settings_panel_system_prompt_edited)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.settings_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([240, 760, 300])
        state = context.window_state.value(SPLITTER_KEY)
        if state is not None:
            self.splitter.restoreState(state)
        self.splitter.splitterMoved.connect(self._on_splitter_splitter_moved)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._on_stop_button_clicked)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_conversation)
        QShortcut(QKeySequence("Ctrl+Shift+E"), self, self._on_export_shortcut_activated)
        QShortcut(QKeySequence.StandardKey.Find, self, self._on_find_shortcut_activated)
        panel_shown = context.window_state.value(PANEL_KEY, True)
        self.panel_button.setChecked(panel_shown not in (False, "false"))  # the ini file stores text
        self.settings_panel.setVisible(self.panel_button.isChecked())

        self._models.state_changed.connect(self._on_models_state_changed)
        self._models.model_changed.connect(self._on_models_model_changed)
        self._models.remote_changed.connect(self._on_models_model_changed)
        self._models.load_failed.connect(self._on_models_load_failed)
        self._models.engine_crashed.connect(self._on_models_load_failed)  # a reply cut short: say why
        context.server.request_served.connect(self._on_server_request_served)  # "API: …" conversations

        self.new_conversation()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1200, 760)

    # -- what is shown ------------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The conversation shown, or None for a new chat not yet started."""
        return self._conversation_id

    @property
    def generating(self) -> bool:
        return self.writer.writing

    def flush(self) -> None:
        """The window is closing: saves a pending system-prompt edit, and stops a reply in
        progress and saves what it has so far (as a stopped reply)."""
        self._closing = True  # the store closes next: late reports from other sections are ignored
        self.settings_panel.flush()
        self.model_picker.shutdown()
        self.conversations.stop_search()  # a search typed just before closing must not read a closed store
        if not self.writer.writing:
            return
        self.stop()
        loop = QEventLoop()
        self.reply_saved.connect(loop.quit)
        self.reply_discarded.connect(loop.quit)
        deadline = QTimer(loop)  # dies with the loop: nothing fires after this method returns
        deadline.setSingleShot(True)
        deadline.timeout.connect(loop.quit)
        deadline.start(CLOSE_WAIT_MS)
        if self.writer.writing:
            loop.exec()
        self.reply_saved.disconnect(loop.quit)
        self.reply_discarded.disconnect(loop.quit)

    def new_conversation(self) -> None:
        self.settings_panel.flush()
        self._conversation_id = None
        self.conversations.set_current(None)
        self.transcript.clear()
        self.settings_panel.show_system_prompt(self._context.settings.system_prompt)
        self._pending_collections = []
        self._pending_documents_only = None
        self._show_documents([], None)
        self._show_model_notes()
        self._update_actions()
        self.composer.setFocus()
        self.conversation_changed.emit(None)

    def _show_model_notes(self) -> None:
        """What the chat says about the loaded model (a base model continues text, …): said again in
        a new conversation, where a reply would otherwise surprise."""
        model = self._context.models.model
        if model is not None and model.notes:
            self.notice.show_notice(" ".join(model.notes), kind=NoticeKind.info)

    def open_conversation(self, conversation_id: int) -> None:
        self.settings_panel.flush()
        conversation = self._store.get(conversation_id)
        self._conversation_id = conversation_id
        self.conversations.set_current(conversation_id)
        self.transcript.show_messages(self._store.messages(conversation_id))
        self.transcript.show_match(self.conversations.search_edit.text())  # opened from a search: the match
        self._show_versions()
        self.settings_panel.show_system_prompt(conversation.system_prompt)
        self._show_documents(self._store.collections(conversation_id), conversation.documents_only)
        self.writer.show_in_transcript(conversation_id)
        self._update_actions()
        self.conversation_changed.emit(conversation_id)

    # -- documents ------------------------------------------------------------------------------

    def refresh_documents(self) -> None:
        """Collections were created, renamed or deleted: lists them again and shows what the
        conversation is attached to now (a deleted collection drops out)."""
        if self._closing:
            return
        self.documents.refresh()
        if self._conversation_id is not None:
            try:
                conversation = self._store.get(self._conversation_id)
            except HearthError:
                return
            self._show_documents(self._store.collections(conversation.id), conversation.documents_only)
        else:
            available = {n.lower(): n for n in self.documents.available}
            pending = self._pending_collections
            self._pending_collections = [available[n.lower()] for n in pending if n.lower() in available]
            self._show_documents(self._pending_collections, self._pending_documents_only)

    def _show_placeholder(self, names: list[str]) -> None:
        """ "Ask your documents…" only when an attached collection exists and holds passages."""
        readable = self.documents.readable(names)
        self.composer.setPlaceholderText(DOCUMENTS_PLACEHOLDER if readable else PLAIN_PLACEHOLDER)

    def _show_documents(self, names: list[str], documents_only: bool | None) -> None:
        only = rag_config.load().documents_only if documents_only is None else documents_only
        self.documents.set_state(names, only)
        self._show_placeholder(names)

    # -- actions ----------------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Adds ``text`` as the user's message and asks for a reply. False if it could not be sent."""
        text = text.strip()
        if not text or self.generating or self._models.busy:
            return False
        if not self._require_model():
            return False
        if self._conversation_id is None:
            conversation = self._store.create(
                self._store.unique_title(title_from(text)), self.settings_panel.system_prompt
            )
            self._conversation_id = conversation.id
            self.conversations.set_current(conversation.id)
            self._attach_pending(conversation.id)
        message = self._store.add_message(self._conversation_id, "user", text)
        self.transcript.add_message(message)
        self.composer.clear()
        self.conversations.refresh()
        self._request_reply(self._conversation_id)
        return True

    def stop(self) -> None:
        if not self.writer.writing:
            return
        self.writer.stop()
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")

    def regenerate(self) -> bool:
        """Replaces the last reply of the conversation shown with a new one."""
        conversation_id = self._conversation_id
        if conversation_id is None or self.generating or self._models.busy or not self._require_model():
            return False
        messages = self._store.messages(conversation_id)
        if not any(m.role == "user" for m in messages):
            return False
        last = messages[-1]
        if last.role == "assistant":
            self._store.set_aside_reply(conversation_id, last.position)  # kept: ‹ 1/2 › switches back
            self.transcript.remove_last()
        self._request_reply(conversation_id)
        return True

    def edit_and_resend(self, message_id: int, text: str) -> bool:
        """Replaces a user message, deletes every later message and asks for a new reply."""
        conversation_id = self._conversation_id
        if conversation_id is None or self.generating or self._models.busy or not self._require_model():
            return False
        messages = self._store.messages(conversation_id)
        target = next((m for m in messages if m.id == message_id and m.role == "user"), None)
        if target is None or not text.strip():
            return False
        self._store.edit_message(message_id, text.strip())
        self._store.delete_from(conversation_id, target.position + 1)
        self.transcript.show_messages(self._store.messages(conversation_id))
        self._request_reply(conversation_id)
        return True

    def _require_model(self) -> bool:
        if self._models.has_model:
            return True
        self.notice.show_notice("No model is loaded.", "Choose one in the list above the conversation.")
        return False

    def _attach_pending(self, conversation_id: int) -> None:
        """A new conversation takes the attachment chosen before its first message."""
        available = {n.lower() for n in self.documents.available}
        names = [n for n in self._pending_collections if n.lower() in available]
        try:
            self._store.set_collections(conversation_id, names)
        except HearthError as exc:  # deleted in the meantime
            self.notice.show_notice(exc.message, exc.hint)
        if self._pending_documents_only is not None:
            self._store.set_documents_only(conversation_id, self._pending_documents_only)
        self._pending_collections = []
        self._pending_documents_only = None

    def _request_reply(self, conversation_id: int) -> None:
        try:
            self.writer.start(conversation_id)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self._update_actions()

    def _update_actions(self) -> None:
        generating = self.generating
        busy = self._models.busy
        self.send_button.setVisible(not generating)
        self.stop_button.setVisible(generating)
        if generating:
            stopping = self._models.stopping
            self.stop_button.setEnabled(not stopping)
            self.stop_button.setText("Stopping…" if stopping else "Stop")
        has_model = self._models.has_model
        self.send_button.setEnabled(has_model and not busy)
        can_regenerate = self._conversation_id is not None and bool(self.transcript.views)
        self.regenerate_button.setEnabled(has_model and not busy and can_regenerate)
        self.transcript.set_actions_enabled(not generating and not busy)

    @Slot(object)
    def _on_writer_saved(self, message: StoredMessage) -> None:
        if message.conversation_id == self._conversation_id:
            self._show_versions()
        self.conversations.refresh()
        self._update_actions()
        self.reply_saved.emit(message)

    @Slot(str, str)
    def _on_writer_discarded(self, message: str, hint: str) -> None:
        if message:
            self.notice.show_notice(message, hint)
        self.reply_discarded.emit()

    def _show_versions(self) -> None:
        """The last reply shows which of its versions it is (only the last reply can be regenerated)."""
        views = self.transcript.views
        last = views[-1] if views else None
        if self._conversation_id is None or last is None or last.message is None or last.role != "assistant":
            return
        versions = self._store.reply_versions(self._conversation_id, last.message.position)
        current = next((i for i, v in enumerate(versions) if v.current), 0)
        last.set_versions(current + 1, len(versions))

    @Slot(int, int)
    def _on_transcript_version_requested(self, message_id: int, step: int) -> None:
        if self._conversation_id is None or self.generating or self._models.busy:
            return
        messages = self._store.messages(self._conversation_id)
        message = next((m for m in messages if m.id == message_id), None)
        if message is None or message.id != messages[-1].id:  # only the last reply has versions to switch
            return
        versions = self._store.reply_versions(self._conversation_id, message.position)
        current = next((i for i, v in enumerate(versions) if v.current), None)
        if current is None or not 0 <= current + step < len(versions):
            return
        target = versions[current + step]
        if target.id is None:
            return
        self._store.switch_reply(self._conversation_id, message.position, target.id)
        self.transcript.show_messages(self._store.messages(self._conversation_id))
        self._show_versions()

    @Slot(object)
    def _on_server_request_served(self, _event: object) -> None:
        if not self._closing:
            self.conversations.refresh()

    @Slot(str, str)
    def _on_models_load_failed(self, message: str, hint: str) -> None:
        self.notice.show_notice(message, hint)

    @Slot(object)
    def _on_models_state_changed(self, state: HostState) -> None:
        if state is HostState.loading:
            self.notice.dismiss()
        self._update_actions()

    @Slot(object)
    def _on_models_model_changed(self, model: LoadedModel | RemoteModel | None) -> None:
        if model is not None and model.notes:
            self.notice.show_notice(" ".join(model.notes), kind=NoticeKind.info)
        self._update_actions()

    # -- widgets -------------------------------------------------------------------------------------

    @Slot(str)
    def _on_composer_submitted(self, text: str) -> None:
        self.send(text)

    @Slot()
    def _on_send_button_clicked(self) -> None:
        self.send(self.composer.toPlainText())

    @Slot()
    def _on_export_shortcut_activated(self) -> None:
        if self._conversation_id is not None:
            self.settings_panel.flush()  # a system-prompt edit still being typed belongs in the export
            self.conversations.export(self._conversation_id)

    @Slot(int, str)
    def _on_conversations_conversation_exported(self, conversation_id: int, path: str) -> None:
        self.notice.show_notice(f"Exported to {path}.", self._versions_left_out(conversation_id), NoticeKind.info)

    def _versions_left_out(self, conversation_id: int) -> str:
        """The export holds the replies in the thread; earlier versions of a regenerated reply are not
        in it, and the notice says so rather than leave it to be found out."""
        try:
            replies = [m for m in self._store.messages(conversation_id) if m.role == "assistant"]
            others = sum(len(self._store.reply_versions(conversation_id, m.position)) - 1 for m in replies)
        except HearthError:
            return ""
        if others <= 0:
            return ""
        return (
            f"It holds the replies shown in the conversation; {plural(others, 'other version')} of regenerated "
            "replies are not in it (switch to one with ‹ › and export again to keep it)."
        )

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop()

    @Slot()
    def _on_regenerate_button_clicked(self) -> None:
        self.regenerate()

    @Slot(int, str)
    def _on_transcript_edit_submitted(self, message_id: int, text: str) -> None:
        self.edit_and_resend(message_id, text)

    @Slot(int)
    def _on_conversations_conversation_selected(self, conversation_id: int) -> None:
        self.open_conversation(conversation_id)

    @Slot()
    def _on_conversations_new_requested(self) -> None:
        self.new_conversation()

    @Slot(int)
    def _on_conversations_conversation_deleted(self, conversation_id: int) -> None:
        if self.writer.writing_in(conversation_id):
            self._models.stop()  # the reply is dropped when it ends
        if self._conversation_id == conversation_id:
            self.new_conversation()

    @Slot(str)
    def _on_settings_panel_system_prompt_edited(self, text: str) -> None:
        if self._conversation_id is not None:
            self._store.set_system_prompt(self._conversation_id, text)

    @Slot(list)
    def _on_documents_collections_picked(self, names: list[str]) -> None:
        if self._conversation_id is None:
            self._pending_collections = list(names)
        else:
            try:
                self._store.set_collections(self._conversation_id, names)
            except HearthError as exc:
                self.notice.show_notice(exc.message, exc.hint)
                self.refresh_documents()
                return
        self._show_placeholder(names)

    @Slot(bool)
    def _on_documents_documents_only_toggled(self, checked: bool) -> None:
        if self._conversation_id is None:
            self._pending_documents_only = checked
        else:
            self._store.set_documents_only(self._conversation_id, checked)

    @Slot(bool)
    def _on_panel_button_toggled(self, checked: bool) -> None:
        self.settings_panel.setVisible(checked)
        self._context.window_state.setValue(PANEL_KEY, checked)

    @Slot()
    def _on_find_shortcut_activated(self) -> None:
        self.conversations.search_edit.setFocus()
        self.conversations.search_edit.selectAll()

    @Slot(int, int)
    def _on_splitter_splitter_moved(self, _pos: int, _index: int) -> None:
        self._context.window_state.setValue(SPLITTER_KEY, self.splitter.saveState())
