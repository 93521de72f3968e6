"""The messages of one conversation, top to bottom, following a streaming reply."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QFrame, QScrollArea, QTextEdit, QVBoxLayout, QWidget

from desktop_app.core.conversations.store import StoredMessage
from desktop_app.ui.chat.message_view import MessageView
from desktop_app.ui.shared.labels import Label

EMPTY_TEXT = (
    "<h2 style='font-weight:600;'>Start a conversation</h2>"
    "<p>Replies are written by the model on this computer; nothing you type leaves it.</p>"
    "<p style='color:#6e7781;'>Enter sends &nbsp;·&nbsp; Shift+Enter starts a new line</p>"
)

_BOTTOM_SLACK = 24
MATCH_COLOUR = QColor("#fff3b0")


class TranscriptView(QScrollArea):
    edit_submitted = Signal(int, str)  # message id, new text
    version_requested = Signal(int, int)  # message id, -1 (previous) or +1 (next) version of a reply

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("transcriptContent")
        self._layout = QVBoxLayout(content)
        self._layout.setContentsMargins(24, 16, 24, 16)
        self._layout.setSpacing(12)
        self.empty_label = Label(EMPTY_TEXT)
        self.empty_label.setObjectName("emptyTranscript")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self._layout.addStretch(1)
        self._layout.addWidget(self.empty_label)
        self._layout.addStretch(2)
        self.setWidget(content)
        self._views: list[MessageView] = []
        self._reply: MessageView | None = None
        self._follow = True
        self._actions_enabled = True
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)
        bar.valueChanged.connect(self._on_scrollbar_value_changed)

    # -- content ----------------------------------------------------------------------------

    @property
    def views(self) -> list[MessageView]:
        """The message views, oldest first (the streaming reply included)."""
        return list(self._views)

    @property
    def reply_view(self) -> MessageView | None:
        """The reply being written, if it belongs to the conversation shown."""
        return self._reply

    def show_messages(self, messages: Sequence[StoredMessage]) -> None:
        self.clear()
        for message in messages:
            self.add_message(message)
        self._follow = True

    def show_match(self, query: str) -> MessageView | None:
        """A search result opened: every occurrence of ``query`` highlighted, and the first message
        that has it scrolled into view (rather than the end of the conversation)."""
        query = query.strip()
        first: MessageView | None = None
        if not query:
            return None
        highlight = QTextCharFormat()
        highlight.setBackground(MATCH_COLOUR)
        for view in self._views:
            document = view.body.document()
            selections = []
            cursor = document.find(query, 0)
            while not cursor.isNull():
                selection = QTextEdit.ExtraSelection()
                selection.cursor = cursor
                selection.format = highlight
                selections.append(selection)
                cursor = document.find(query, cursor, QTextDocument.FindFlag(0))
            view.body.setExtraSelections(selections)
            if selections and first is None:
                first = view
        if first is not None:
            self._follow = False
            target = first
            QTimer.singleShot(0, lambda: self.ensureWidgetVisible(target, 0, 40))  # once laid out
        return first

    def clear(self) -> None:
        for view in self._views:
            self._layout.removeWidget(view)
            view.deleteLater()
        self._views.clear()
        self._reply = None
        self._update_empty()

    def add_message(self, message: StoredMessage) -> MessageView:
        view = MessageView(message.role, message)
        self._append(view)
        return view

    def begin_reply(self, text: str = "", author: str = "") -> MessageView:
        """Adds an empty reply that fills as tokens arrive (with ``text`` already received)."""
        view = MessageView("assistant")
        if author:
            view.set_author(author)
        if text:
            view.append_text(text)
        self._reply = view
        self._follow = True
        self._append(view)
        return view

    def append_to_reply(self, text: str) -> None:
        if self._reply is not None:
            self._reply.append_text(text)

    def end_reply(self, message: StoredMessage | None) -> None:
        """Turns the streaming reply into the stored one, or removes it (None: nothing was saved)."""
        view, self._reply = self._reply, None
        if view is None:
            return
        if message is None:
            self._remove(view)
        else:
            view.set_message(message)

    def remove_last(self) -> None:
        if self._views:
            self._remove(self._views[-1])

    def set_actions_enabled(self, enabled: bool) -> None:
        self._actions_enabled = enabled
        for view in self._views:
            view.set_actions_enabled(enabled)

    def _append(self, view: MessageView) -> None:
        view.edit_submitted.connect(self.edit_submitted)
        view.version_requested.connect(
            lambda step, v=view: self.version_requested.emit(v.message.id if v.message else 0, step)
        )
        view.set_actions_enabled(self._actions_enabled)
        self._views.append(view)
        # Messages go between the leading stretch (index 0) and the empty label.
        self._layout.insertWidget(self._layout.count() - 2, view)
        self._update_empty()

    def _remove(self, view: MessageView) -> None:
        if view in self._views:
            self._views.remove(view)
        self._layout.removeWidget(view)
        view.deleteLater()
        self._update_empty()

    def _update_empty(self) -> None:
        empty = not self._views
        self.empty_label.setVisible(empty)
        # Messages sit at the top; the empty note sits in the middle.
        self._layout.setStretch(0, 1 if empty else 0)

    # -- following the end --------------------------------------------------------------------

    @Slot(int, int)
    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)

    @Slot(int)
    def _on_scrollbar_value_changed(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - _BOTTOM_SLACK
