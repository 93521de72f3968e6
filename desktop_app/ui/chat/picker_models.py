"""The model picker's rows: the local models, then the models of the configured servers,
marked as remote (the fit check does not apply to them, and the row says so)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QModelIndex, QObject, Qt

from desktop_app.core.fit.badges import remote_badge
from desktop_app.core.inference.remote import EndpointModels, short_model_name
from desktop_app.core.settings import RemoteEndpoint
from desktop_app.ui.chat.model_list_model import LocalModelListModel
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole

REMOTE_MARK = "☁"


@dataclass(frozen=True)
class RemoteEntry:
    endpoint: RemoteEndpoint
    model_id: str  # "" for a server that could not be asked
    error: str = ""

    @property
    def short_name(self) -> str:
        return short_model_name(self.model_id)


def entries_from(listing: Sequence[EndpointModels]) -> list[RemoteEntry]:
    rows: list[RemoteEntry] = []
    for item in listing:
        if item.error:
            rows.append(RemoteEntry(item.endpoint, "", item.error))
        rows.extend(RemoteEntry(item.endpoint, model_id) for model_id in item.model_ids)
    return rows


class PickerListModel(LocalModelListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._remote: list[RemoteEntry] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._items) + len(self._remote)

    def set_remote(self, entries: Sequence[RemoteEntry]) -> None:
        self.beginResetModel()
        self._remote = list(entries)
        self.endResetModel()

    def set_models(self, items: Sequence[Any]) -> None:
        self.set_items(items)

    def remote_at(self, row: int) -> RemoteEntry | None:
        index = row - len(self._items)
        return self._remote[index] if 0 <= index < len(self._remote) else None

    def row_of_remote(self, endpoint_id: str, model_id: str) -> int:
        for i, entry in enumerate(self._remote):
            if entry.endpoint.id == endpoint_id and entry.model_id == model_id:
                return len(self._items) + i
        return -1

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        entry = self.remote_at(index.row()) if index.isValid() else None
        if entry is not None and not entry.model_id:
            return Qt.ItemFlag.NoItemFlags  # a server that did not answer: shown, not choosable
        return super().flags(index)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.remote_at(index.row()) if index.isValid() else None
        if entry is None:
            return super().data(index, role)
        endpoint = entry.endpoint
        if role == Qt.ItemDataRole.DisplayRole:
            if not entry.model_id:
                return f"{REMOTE_MARK} {endpoint.name}  ·  not reachable"
            return f"{REMOTE_MARK} {entry.short_name}  ·  {endpoint.name}  ·  remote"
        if role == Qt.ItemDataRole.ToolTipRole:
            if not entry.model_id:
                return f"{endpoint.url}\n{entry.error}"
            badge = remote_badge(urlsplit(endpoint.url).netloc or endpoint.url)
            return f"{entry.model_id}\nOn the server {endpoint.name} ({endpoint.url}).\n{badge.label}: {badge.detail}."
        if role == ItemRole.item:
            return entry
        if role == ItemRole.key:
            return f"{endpoint.id}/{entry.model_id}"
        return None
