"""Rename / note…: a run's own name and a note kept with it (shown in the list and on its page)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)


class RenameDialog(QDialog):
    def __init__(self, title: str, note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rename the run")
        self.title = QLineEdit(title)
        self.title.setPlaceholderText("A name you will recognise")
        self.note = QPlainTextEdit(note)
        self.note.setPlaceholderText("What you tried, what you noticed… (kept with the run)")
        self.note.setMinimumHeight(100)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Name", self.title)
        layout.addRow("Note", self.note)
        layout.addRow(buttons)
        self.resize(460, 240)
