"""The local models as a Qt item model: rows of core :class:`LocalModel` objects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt

from desktop_app.core.models.library import LocalModel
from desktop_app.core.units import human_bytes, human_parameters
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsListModel


class LocalModelListModel(RowsListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[LocalModel] = []

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item: LocalModel | None = self.item_for(index)
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{item.name}  ·  {item.quant}  ·  {human_bytes(item.size_bytes)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{item.path}\n{item.architecture}, {human_parameters(item.parameters)} parameters, "
                f"{item.quant}, trained context {item.context_length:,} tokens ({item.source})"
            )
        if role == ItemRole.item:
            return item
        if role == ItemRole.key:
            return str(item.path)
        return None

    def set_models(self, items: Sequence[LocalModel]) -> None:
        self.set_items(items)

    def models(self) -> list[LocalModel]:
        return list(self._items)

    def model_at(self, row: int) -> LocalModel | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, path: Path) -> int:
        """The row of the model at ``path`` (compared resolved), or -1."""
        wanted = Path(path).resolve()
        for row, item in enumerate(self._items):
            if item.path.resolve() == wanted:
                return row
        return -1
