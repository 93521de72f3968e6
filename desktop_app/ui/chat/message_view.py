"""One message in the transcript: its text as Markdown, its actions, and for replies a summary.

An answer from documents also shows its sources (cited, and retrieved but not cited),
the warnings of its citation check and its context budget; its [n] citations are
links that open the built-in viewer where they point (the page of a PDF, the passage of any
other file, highlighted); its unsupported claims are underlined; and the inspector button
shows how it was retrieved and the exact prompt.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.conversations.store import StoredMessage
from desktop_app.core.inference.templates import CONTINUATION
from desktop_app.core.rag.answer_record import Budget, Citation, RagAnswer
from desktop_app.ui.chat.markdown_view import MarkdownView
from desktop_app.ui.chat.provenance_dialog import ProvenanceDialog
from desktop_app.ui.chat.rag_views import RagAnswerView
from desktop_app.ui.chat.retrieval_inspector import RetrievalInspectorDialog
from desktop_app.ui.shared.document_viewer import DocumentViewer, cited_from, show_source
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.resources import icon

ROLE_NAMES = {"user": "You", "assistant": "Assistant", "system": "System"}
DOCUMENTS_AUTHOR = "Your documents"


def _tool_button(icon_name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(icon(icon_name))
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def reply_summary(message: StoredMessage) -> str:
    p = message.provenance
    if p is None:
        rag = message.rag
        if rag is not None and rag.inspector.nothing_relevant:
            return "Not sent to the model: no passage of your documents was relevant to the question."
        return ""
    parts = [p.model_name, p.quant]
    timings = p.timings_record
    gen = timings.gen_tokens
    if gen or not message.content:  # a reply cut short by a crash kept its words but not their count
        parts.append(f"{gen} token{'s' if gen != 1 else ''}")
    if timings.gen_tok_s:
        parts.append(f"{timings.gen_tok_s:.1f} tok/s")
    parts.append(f"seed {p.seed}")
    if p.finish == "length":
        parts.append("cut at the token limit")
    elif p.finish == "crashed":
        parts.append("cut short: the model's engine stopped")
    if p.settings_record.template.name == CONTINUATION:
        parts.append("base model: text continued, not a reply to instructions")
    return "  ·  ".join(str(x) for x in parts if x)


def unsupported_sentences(rag: RagAnswer | None) -> list[tuple[str, str]]:
    """(sentence, why) for each claim of an answer from documents that its sources do not support."""
    if rag is None:
        return []
    return [
        (check.text, f"Not in your documents: {check.reason or 'no source says this'}.")
        for check in rag.sentences
        if check.claim and check.supported is False
    ]


def dropped_notice(message: StoredMessage) -> str:
    p = message.provenance
    if p is None or not p.dropped_messages:
        return ""
    n = p.dropped_messages
    n_ctx = p.settings_record.n_ctx
    return (
        f"⚠ The {n} oldest message{'s were' if n != 1 else ' was'} left out of this reply's prompt so the "
        f"conversation fits the model's context of {n_ctx:,} tokens. The model did not see "
        f"{'them' if n != 1 else 'it'}."
    )


class MessageView(QFrame):
    """A user message (copy, edit and resend) or a reply (copy, details); a reply may be streaming."""

    edit_submitted = Signal(int, str)  # message id, new text
    version_requested = Signal(int)  # -1: the previous version of this reply, +1: the next

    def __init__(self, role: str, message: StoredMessage | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message: StoredMessage | None = None
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self.role_label = Label(ROLE_NAMES.get(role, role))
        self.role_label.setTextFormat(Qt.TextFormat.PlainText)  # a model's name comes from its file
        self.role_label.setObjectName("messageRole")
        self.stopped_badge = Label("Stopped")
        self.stopped_badge.setObjectName("stoppedBadge")
        self.stopped_badge.setToolTip("You stopped this reply before the model finished it.")
        self.stopped_badge.hide()
        self.status_label = Label("")
        self.status_label.setObjectName("messageStatus")
        self.copy_button = _tool_button("copy", "Copy the message (Markdown)")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.edit_button = _tool_button("edit", "Edit and send again: later messages are replaced")
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.edit_button.setVisible(role == "user")
        self.details_button = _tool_button("info", "How this reply was made: model, sha256, seed, settings, timings")
        self.details_button.clicked.connect(self._on_details_button_clicked)
        self.details_button.setVisible(False)
        self.inspect_button = _tool_button(
            "search", "Retrieval inspector: what was searched and found, the scores, and the exact prompt"
        )
        self.inspect_button.clicked.connect(self._on_inspect_button_clicked)
        self.inspect_button.setVisible(False)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(6)
        header.addWidget(self.role_label)
        header.addWidget(self.stopped_badge)
        header.addWidget(self.status_label)
        header.addStretch(1)
        # Versions of a regenerated reply: ‹ 1/2 ›
        self.previous_version_button = _tool_button("chevron-left", "The earlier version of this reply")
        self.previous_version_button.clicked.connect(lambda: self.version_requested.emit(-1))
        self.version_label = Label("")
        self.version_label.setObjectName("versionLabel")
        self.version_label.setToolTip("Regenerate keeps every earlier reply; switch between them here")
        self.next_version_button = _tool_button("chevron-right", "The later version of this reply")
        self.next_version_button.clicked.connect(lambda: self.version_requested.emit(+1))
        for widget in (self.previous_version_button, self.version_label, self.next_version_button):
            widget.hide()
            header.addWidget(widget)
        for button in (self.edit_button, self.inspect_button, self.details_button, self.copy_button):
            header.addWidget(button)

        # Every line break shows as written: models write poems and lists with single newlines too.
        self.body = MarkdownView(hard_breaks=True)
        self.body.setObjectName("messageBody")
        self.body.citation_clicked.connect(self._on_body_citation_clicked)
        self.rag_view: RagAnswerView | None = None  # made for answers from documents

        self.editor = QPlainTextEdit()
        self.editor.setObjectName("messageEditor")
        self.editor.setMinimumHeight(80)
        self.resend_button = QPushButton("Send")
        self.resend_button.setObjectName("primaryButton")
        self.resend_button.setToolTip("Replace this message and everything after it, then get a new reply")
        self.resend_button.clicked.connect(self._on_resend_button_clicked)
        self.cancel_edit_button = QPushButton("Cancel")
        self.cancel_edit_button.clicked.connect(self._on_cancel_edit_button_clicked)
        edit_buttons = QHBoxLayout()
        edit_buttons.addStretch(1)
        edit_buttons.addWidget(self.cancel_edit_button)
        edit_buttons.addWidget(self.resend_button)
        self.edit_area = QWidget()
        edit_layout = QVBoxLayout(self.edit_area)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(self.editor)
        edit_layout.addLayout(edit_buttons)
        self.edit_area.hide()

        self.dropped_label = Label("")
        self.dropped_label.setObjectName("droppedNotice")
        self.dropped_label.setWordWrap(True)
        self.dropped_label.hide()
        self.summary_label = Label("")
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)  # names from the model file and server
        self.summary_label.setObjectName("replySummary")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setWordWrap(True)  # a long model name must not widen the transcript
        self.summary_label.hide()

        layout = QVBoxLayout(self)
        self._layout = layout
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.dropped_label)
        layout.addWidget(self.body)
        layout.addWidget(self.edit_area)
        layout.addWidget(self.summary_label)

        self._streamed = ""
        if message is not None:
            self.set_message(message)
        elif role == "assistant":
            self.set_streaming()

    # -- content --------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The message's Markdown as shown now (while streaming: what has arrived)."""
        return self.body.markdown

    def set_author(self, name: str) -> None:
        self.role_label.setText(name)

    def set_streaming(self) -> None:
        self._streamed = ""
        self.status_label.setText("Thinking…")
        self.copy_button.setEnabled(False)
        self.body.set_markdown("")

    def append_text(self, text: str) -> None:
        self._streamed += text
        self.status_label.setText("Writing…")
        self.body.set_markdown(self._streamed)

    def set_stopping(self) -> None:
        self.status_label.setText("Stopping…")

    def set_status(self, text: str) -> None:
        """What a reply in progress is doing ("Searching your documents…")."""
        self.status_label.setText(text)

    def set_budget(self, budget: Budget) -> None:
        """How the context is spent, known before the model starts writing."""
        self._rag_view().set_budget(budget)

    def _rag_view(self) -> RagAnswerView:
        if self.rag_view is None:
            self.rag_view = RagAnswerView()
            self.rag_view.source_clicked.connect(self._on_rag_view_source_clicked)
            self._layout.insertWidget(self._layout.indexOf(self.summary_label), self.rag_view)
        return self.rag_view

    @property
    def rag(self) -> RagAnswer | None:
        return self.message.rag if self.message is not None else None

    def citation(self, number: int) -> Citation | None:
        return self.rag.citation(number) if self.rag is not None else None

    def open_citation(self, number: int) -> DocumentViewer | None:
        """Opens source ``number`` of this answer in the document viewer, where it points: a PDF
        at its page with the passage highlighted, another file at the passage. None when the
        file is gone (the answer says so)."""
        citation = self.citation(number)
        if citation is None:
            return None
        path = Path(citation.source)
        if not path.is_file():
            if self.rag_view is not None:
                self.rag_view.show_note(f"“{path.name}” was moved or deleted.")
            return None
        return show_source(self, cited_from(citation))

    def set_message(self, message: StoredMessage) -> None:
        self.message = message
        self.status_label.setText("")
        self.copy_button.setEnabled(True)
        rag = message.rag if message.role == "assistant" else None
        sources = {c.number: c.location for c in rag.citations} if rag is not None else {}
        if message.role == "assistant" and not message.content and message.stopped:
            self.body.set_markdown("*Stopped before the first word.*")
        else:
            self.body.set_markdown(message.content, sources)
            self.body.mark_sentences(unsupported_sentences(rag))
        self.inspect_button.setVisible(rag is not None)
        if rag is not None:
            self._rag_view().set_answer(rag)
        elif self.rag_view is not None:
            self.rag_view.hide()
        self.stopped_badge.setVisible(message.stopped or message.cut_short)
        self.stopped_badge.setText("Cut short" if message.cut_short else "Stopped")
        self.stopped_badge.setToolTip(
            "The model's engine stopped (it crashed) before the reply was finished: this is what it wrote."
            if message.cut_short
            else "You stopped this reply before the model finished it."
        )
        has_provenance = message.provenance is not None
        self.details_button.setVisible(has_provenance)
        summary = reply_summary(message)
        self.summary_label.setText(summary)
        self.summary_label.setVisible(bool(summary))
        notice = dropped_notice(message)
        self.dropped_label.setText(notice)
        self.dropped_label.setVisible(bool(notice))
        if message.provenance is not None:
            self.role_label.setText(message.provenance.model_name or ROLE_NAMES["assistant"])
        elif rag is not None:
            self.role_label.setText(DOCUMENTS_AUTHOR)

    def set_versions(self, number: int, count: int) -> None:
        """Shows "number/count" with arrows when this reply has more than one version."""
        several = count > 1
        self.version_label.setText(f"{number}/{count}")
        for widget in (self.previous_version_button, self.version_label, self.next_version_button):
            widget.setVisible(several)
        self.previous_version_button.setEnabled(number > 1)
        self.next_version_button.setEnabled(number < count)

    def set_actions_enabled(self, enabled: bool) -> None:
        """Editing is off while a reply is being written."""
        self.edit_button.setEnabled(enabled)
        self.resend_button.setEnabled(enabled)

    # -- editing ------------------------------------------------------------------------------

    def start_editing(self) -> None:
        if self.message is None:
            return
        self.editor.setPlainText(self.message.content)
        self.body.hide()
        self.edit_area.show()
        self.edit_button.setEnabled(False)
        self.editor.setFocus()

    def stop_editing(self) -> None:
        self.edit_area.hide()
        self.body.show()
        self.edit_button.setEnabled(True)

    @property
    def editing(self) -> bool:
        return not self.edit_area.isHidden()

    # -- slots ----------------------------------------------------------------------------------

    @Slot()
    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.message.content if self.message else self._streamed)

    @Slot()
    def _on_edit_button_clicked(self) -> None:
        self.start_editing()

    @Slot()
    def _on_resend_button_clicked(self) -> None:
        text = self.editor.toPlainText().strip()
        if not text or self.message is None:
            return
        self.stop_editing()
        self.edit_submitted.emit(self.message.id, text)

    @Slot()
    def _on_cancel_edit_button_clicked(self) -> None:
        self.stop_editing()

    @Slot(int)
    def _on_body_citation_clicked(self, number: int) -> None:
        self.open_citation(number)

    @Slot(int)
    def _on_rag_view_source_clicked(self, number: int) -> None:
        self.open_citation(number)

    @Slot()
    def _on_inspect_button_clicked(self) -> None:
        rag = self.rag
        if rag is None:
            return
        dialog = RetrievalInspectorDialog(rag, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    @Slot()
    def _on_details_button_clicked(self) -> None:
        if self.message is None or self.message.provenance is None:
            return
        dialog = ProvenanceDialog(self.message, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
