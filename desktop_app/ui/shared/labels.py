"""Labels that never fetch anything.

A QLabel decides by itself whether its text is rich (Qt's AutoText): a model's, a file's or a
server's name whose first line holds ``<img src="/dev/zero">`` would be rendered, and Qt would read
that file on the GUI thread (PySide6 exposes no process-wide resource provider to refuse it; see
safe_text.py). Every label in the window is a :class:`Label`: text holding markup that would fetch
something is shown as plain text, exactly as it is; any other text, Hearth's own markup included
(bold, links, colours), shows as a QLabel would show it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.ui.shared.safe_text import fetches_resources


class Label(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._format = Qt.TextFormat.AutoText  # as the caller asked; plain only for a hostile text
        if text:
            self.setText(text)

    def setTextFormat(self, format: Qt.TextFormat) -> None:  # noqa: N802 - Qt's name
        self._format = format
        super().setTextFormat(format)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        hostile = self._format != Qt.TextFormat.PlainText and fetches_resources(text, self._format)
        super().setTextFormat(Qt.TextFormat.PlainText if hostile else self._format)
        super().setText(text)
