"""The conversation list as a Qt item model: rows of core :class:`Conversation` objects."""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop_app.core.conversations import Conversation

AnyIndex = QModelIndex | QPersistentModelIndex


class ConversationRole(enum.IntEnum):
    item = Qt.ItemDataRole.UserRole  # the Conversation itself
    conversation_id = Qt.ItemDataRole.UserRole + 1


def _when(timestamp: float) -> str:
    return time.strftime("%d %b %Y, %H:%M", time.localtime(timestamp))


class ConversationListModel(QAbstractListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Conversation] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.title}\nLast activity {_when(item.updated_at)}"
        if role == ConversationRole.item:
            return item
        if role == ConversationRole.conversation_id:
            return item.id
        return None

    def set_conversations(self, items: Sequence[Conversation]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def conversation(self, row: int) -> Conversation | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, conversation_id: int) -> int:
        """The row showing ``conversation_id``, or -1."""
        for row, item in enumerate(self._items):
            if item.id == conversation_id:
                return row
        return -1
