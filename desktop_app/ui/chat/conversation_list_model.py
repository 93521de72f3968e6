"""The conversation list as a Qt item model: rows of core :class:`Conversation` objects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt

from desktop_app.core.conversations.store import Conversation
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsListModel


def _when(timestamp: float) -> str:
    return time.strftime("%d %b %Y, %H:%M", time.localtime(timestamp))


class ConversationListModel(RowsListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Conversation] = []

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item: Conversation | None = self.item_for(index)
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return item.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.title}\nLast activity {_when(item.updated_at)}"
        if role == ItemRole.item:
            return item
        if role == ItemRole.key:
            return item.id
        return None

    def set_conversations(self, items: Sequence[Conversation]) -> None:
        self.set_items(items)

    def conversation(self, row: int) -> Conversation | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, conversation_id: int) -> int:
        """The row showing ``conversation_id``, or -1."""
        for row, item in enumerate(self._items):
            if item.id == conversation_id:
                return row
        return -1
