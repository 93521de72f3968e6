"""Side by side: each variant's answer to the same prompt, streamed into its own column.

In blind mode the columns are shuffled and called "Answer A", "Answer B"...; the
names appear once every answer has a rating (or the user asks to reveal them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.shared.labels import Label

RATINGS = ["Rate…", "1 — poor", "2", "3", "4", "5 — best"]


class AnswerColumn(QWidget):
    rating_changed = Signal(int, object)  # variant index, rating 1-5 or None

    def __init__(self, index: int, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.title = Label(title)
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # a variant's name comes from its file
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.rating = QComboBox()
        self.rating.addItems(RATINGS)
        self.rating.setToolTip("Your rating of this answer (saved with the run)")
        self.rating.currentIndexChanged.connect(self._on_rating_current_index_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.rating)

    def append(self, text: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.text.setTextCursor(cursor)

    @property
    def value(self) -> int | None:
        return self.rating.currentIndex() or None

    @Slot(int)
    def _on_rating_current_index_changed(self, choice: int) -> None:
        self.rating_changed.emit(self.index, choice or None)


class AnswersPanel(QWidget):
    """Columns of answers. ``labels`` are the variants' names in measuring order."""

    rating_changed = Signal(int, object)  # variant index (measuring order), rating or None
    revealed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt_label = Label("Give a prompt before running to compare the variants' answers here.")
        self.prompt_label.setWordWrap(True)
        self.reveal_button = QPushButton("Reveal names")
        self.reveal_button.setToolTip("Show which model wrote which answer")
        self.reveal_button.clicked.connect(self.reveal)
        self.reveal_button.hide()
        self.splitter = QSplitter()
        self.splitter.setChildrenCollapsible(False)
        top = QHBoxLayout()
        top.addWidget(self.prompt_label, 1)
        top.addWidget(self.reveal_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self.columns: dict[int, AnswerColumn] = {}
        self.labels: list[str] = []
        self.blind = False
        self.is_revealed = True

    def start(self, prompt: str, labels: Sequence[str], blind: bool, seed: int | None = None) -> None:
        """New columns for ``labels``; shuffled and anonymous when ``blind``."""
        for column in self.columns.values():
            column.setParent(None)
            column.deleteLater()
        self.columns.clear()
        self.labels = list(labels)
        self.blind = blind and len(labels) > 1
        self.is_revealed = not self.blind
        order = list(range(len(labels)))
        if self.blind:
            random.shuffle(order)
        for position, index in enumerate(order):
            title = f"Answer {chr(ord('A') + position)}" if self.blind else labels[index]
            column = AnswerColumn(index, title)
            column.rating_changed.connect(self._on_column_rating_changed)
            self.columns[index] = column
            self.splitter.addWidget(column)
        shown = prompt if prompt else "(no prompt)"
        extra = f" · seed {seed}" if seed is not None else ""
        hint = " · Blind: rate every answer to see which model wrote it." if self.blind else ""
        self.prompt_label.setText(f"Prompt: {shown}{extra}{hint}")
        self.reveal_button.setVisible(self.blind)
        self.reveal_button.setEnabled(self.blind)

    def append(self, index: int, text: str) -> None:
        column = self.columns.get(index)
        if column is not None:
            column.append(text)

    def set_answer(self, index: int, text: str) -> None:
        column = self.columns.get(index)
        if column is not None:
            column.text.setPlainText(text)

    def set_rating(self, index: int, rating: int | None) -> None:
        column = self.columns.get(index)
        if column is not None:
            column.rating.blockSignals(True)
            column.rating.setCurrentIndex(rating or 0)
            column.rating.blockSignals(False)

    def column_titles(self) -> list[str]:
        """Titles in the order shown, left to right."""
        titles = []
        for i in range(self.splitter.count()):
            column = self.splitter.widget(i)
            if isinstance(column, AnswerColumn):
                titles.append(column.title.text())
        return titles

    @Slot()
    def reveal(self) -> None:
        if self.is_revealed:
            return
        self.is_revealed = True
        for index, column in self.columns.items():
            column.title.setText(f"{column.title.text()}: {self.labels[index]}")
        self.reveal_button.setEnabled(False)
        self.revealed.emit()

    @Slot(int, object)
    def _on_column_rating_changed(self, index: int, rating: int | None) -> None:
        self.rating_changed.emit(index, rating)
        if self.blind and not self.is_revealed and all(c.value for c in self.columns.values()):
            self.reveal()
