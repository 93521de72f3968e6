"""Help › Keyboard shortcuts: every shortcut the window knows, in one table."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# (keys, what they do). Keys are written in Qt's portable form and shown in the platform's own
# (Ctrl becomes ⌘ on macOS).
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+1 … Ctrl+9", "Switch to a section (in the order of the side bar)"),
    ("Ctrl+N", "New chat"),
    ("Return", "Send the message"),
    ("Shift+Return", "New line in the message"),
    ("Esc", "Stop the reply"),
    ("Ctrl+F", "Search the conversations"),
    ("Ctrl+Shift+E", "Export the conversation"),
    ("Ctrl+Shift+P", "Show or hide the chat's side panel"),
    ("F1", "This list"),
)


def shown(keys: str) -> str:
    """``keys`` as the platform writes them ("Ctrl+1 … Ctrl+9" keeps its range)."""
    parts = [QKeySequence(part.strip()).toString(QKeySequence.SequenceFormat.NativeText) for part in keys.split("…")]
    return " … ".join(p for p in parts if p) or keys


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, shortcuts: Sequence[tuple[str, str]] = SHORTCUTS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(shortcuts), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for row, (keys, does) in enumerate(shortcuts):
            self.table.setItem(row, 0, QTableWidgetItem(shown(keys)))
            self.table.setItem(row, 1, QTableWidgetItem(does))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(520, 360)
