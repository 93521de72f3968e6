"""The system-prompt editor of the chat's side panel and of Settings: it reports an edit
after a short pause in typing, not at every keystroke (each report is saved)."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

SAVE_DELAY_MS = 400


class SystemPromptEdit(QPlainTextEdit):
    edited = Signal(str)  # the text, once typing pauses (or at flush)

    def __init__(self, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("systemPromptEdit")
        self.setPlaceholderText("No system prompt")
        self.setFixedHeight(height)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.textChanged.connect(self._timer.start)

    def show_text(self, text: str) -> None:
        """Shows ``text`` without reporting it as an edit (and drops a pending one)."""
        self._timer.stop()
        self.blockSignals(True)
        self.setPlainText(text)
        self.blockSignals(False)

    def flush(self) -> None:
        """Reports a pending edit now (the conversation changes, the window closes)."""
        if self._timer.isActive():
            self._timer.stop()
            self.edited.emit(self.toPlainText())

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt override
        self.flush()  # the user moved on (to another chat, to Export…): the edit is complete
        super().focusOutEvent(event)

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.edited.emit(self.toPlainText())
