"""What the flat Qt item models here share: rows from a list (and, for tables, columns from HEADERS),
the index type Qt passes, and the roles every section's models answer beside Qt's own."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

AnyIndex = QModelIndex | QPersistentModelIndex

# The shared rows are a plain mixin placed before the Qt class; type checkers see Qt's model API on it.
if TYPE_CHECKING:
    _QtModel = QAbstractItemModel
else:
    _QtModel = object


class ItemRole(enum.IntEnum):
    """One set of custom roles for every item model in the app."""

    item = Qt.ItemDataRole.UserRole  # the core object behind the row
    key = Qt.ItemDataRole.UserRole + 1  # its identity: a model's path, a conversation's id
    sort = Qt.ItemDataRole.UserRole + 2  # a number (or text) to sort the column by
    badge = Qt.ItemDataRole.UserRole + 3  # FitBadge | None
    fraction = Qt.ItemDataRole.UserRole + 4  # progress, 0..1


class _Rows(_QtModel):
    """What both keep: rows from ``self._items``, their count, the item at an index, a reset."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def item_for(self, index: AnyIndex) -> Any:
        """The row's item, or None for an invalid index."""
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        return self._items[index.row()]

    def set_items(self, items: Iterable[Any]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()


class RowsTableModel(_Rows, QAbstractTableModel):
    """Subclasses set ``HEADERS`` and keep their rows in ``self._items``; they add ``data``
    (:meth:`item_for` gives a row's item from any column)."""

    HEADERS: ClassVar[tuple[str, ...]] = ()

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None


class RowsListModel(_Rows, QAbstractListModel):
    """A list over ``self._items``: subclasses add ``data``, starting from :meth:`item_for`."""

    def item_for(self, index: AnyIndex) -> Any:
        """The row's item, or None for an invalid index (or a column other than the first)."""
        return None if index.column() != 0 else super().item_for(index)
