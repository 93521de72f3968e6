"""A dismissable line above the content for errors and notes, in plain words."""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QToolButton, QWidget

from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.resources import icon


class NoticeKind(enum.Enum):
    error = "error"
    info = "info"


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.label = Label("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setIcon(icon("close"))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self._on_close_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = NoticeKind.info
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text()

    def show_notice(self, message: str, hint: str = "", kind: NoticeKind = NoticeKind.error) -> None:
        self.kind = kind
        self.setProperty("kind", kind.value)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(f"{message} {hint}".strip())
        self.show()

    def dismiss(self) -> None:
        self.hide()

    @Slot()
    def _on_close_button_clicked(self) -> None:
        self.dismiss()
