"""Qt item models of the Models section. They adapt core objects and hold no logic of their own;
``ItemRole.item`` returns the core object of a row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt

from desktop_app.core.fit.badges import FitBadge
from desktop_app.core.hub.client import ModelFile, RepoPage, RepoSummary
from desktop_app.core.hub.downloads import DownloadItem, DownloadState, human_bytes, human_duration
from desktop_app.core.models.library import LocalModel
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsTableModel
from desktop_app.ui.shared.verdict_colours import BADGE_COLOURS

PENDING_BADGE = "…"


def _badge_data(badge: FitBadge | None, role: int) -> Any:
    if role == Qt.ItemDataRole.DisplayRole:
        return badge.label if badge is not None else PENDING_BADGE
    if role == Qt.ItemDataRole.ToolTipRole:
        if badge is None:
            return "Reading the file's header…"
        return badge.detail + ("\nClick for the memory per device." if badge.result is not None else "")
    if role == Qt.ItemDataRole.ForegroundRole and badge is not None:
        return BADGE_COLOURS.get(badge.verdict)
    if role == ItemRole.badge:
        return badge
    return None


class _CellsTable(RowsTableModel):
    """A table whose row shows its item's ``cells`` (one text per column); ``other`` answers the
    other roles, and ``ItemRole.item`` gives the item itself."""

    def cells(self, item: Any) -> tuple[str, ...]:
        raise NotImplementedError

    def other(self, item: Any, column: int, role: int) -> Any:
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item_for(index)
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(item)[index.column()]
        if role == ItemRole.item:
            return item
        return self.other(item, index.column(), role)


class SearchResultsModel(_CellsTable):
    HEADERS = ("Repository", "Downloads", "Likes", "Updated")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[RepoSummary] = []

    def cells(self, item: RepoSummary) -> tuple[str, ...]:
        updated = item.last_modified.date().isoformat() if item.last_modified else ""
        return item.repo_id + ("  🔒" if item.gated else ""), f"{item.downloads:,}", f"{item.likes:,}", updated

    def other(self, item: RepoSummary, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return f"{item.repo_id} (gated: needs accepted terms and a token)" if item.gated else item.repo_id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_results(self, items: Sequence[RepoSummary]) -> None:
        self.set_items(items)

    def result_at(self, row: int) -> RepoSummary | None:
        return self._items[row] if 0 <= row < len(self._items) else None


class RepoFilesModel(QAbstractItemModel):
    """A repository's GGUF models as a tree: quantisation groups, then the models of each.

    Top-level rows have internal id 0; a model row's internal id is its group's row + 1.
    """

    HEADERS = ("File", "Size", "Fit")
    FIT_COLUMN = 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.page: RepoPage | None = None
        self._groups: list[tuple[str, list[ModelFile]]] = []
        self._badges: dict[str, FitBadge] = {}

    # -- structure ------------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(int(index.internalId()) - 1, 0, 0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == 0 and parent.column() == 0 and 0 <= parent.row() < len(self._groups):
            return len(self._groups[parent.row()][1])
        return 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None

    # -- data ----------------------------------------------------------------------------------

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        group_row = int(index.internalId()) - 1
        column = index.column()
        if group_row < 0:
            if not 0 <= index.row() < len(self._groups):
                return None
            quant, models = self._groups[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                if column == 0:
                    return f"{quant}  ({len(models)})" if len(models) > 1 else quant
                if column == 1:
                    sizes = sorted(m.size for m in models)
                    if sizes[0] == sizes[-1]:
                        return human_bytes(sizes[0])
                    return f"{human_bytes(sizes[0])} – {human_bytes(sizes[-1])}"
            if role == ItemRole.item:
                return quant
            return None
        if not 0 <= group_row < len(self._groups) or not 0 <= index.row() < len(self._groups[group_row][1]):
            return None
        model = self._groups[group_row][1][index.row()]
        if column == self.FIT_COLUMN:
            value = _badge_data(self._badges.get(model.name), role)
            if value is not None or role in (Qt.ItemDataRole.DisplayRole, ItemRole.badge):
                return value
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return f"{model.name}  ({len(model.parts)} parts)" if model.is_split else model.name
            if column == 1:
                return human_bytes(model.size)
        if role == Qt.ItemDataRole.ToolTipRole and column in (0, 1):
            lines = [f"{p.path}: {p.size:,} bytes" + (f", sha256 {p.sha256}" if p.sha256 else "") for p in model.parts]
            return "\n".join(lines)
        if role == ItemRole.item:
            return model
        return None

    # -- updates -------------------------------------------------------------------------------

    def set_page(self, page: RepoPage | None) -> None:
        self.beginResetModel()
        self.page = page
        self._groups = [(g.quant, list(g.models)) for g in page.groups] if page else []
        self._badges = {}
        self.endResetModel()

    def set_badge(self, name: str, badge: FitBadge) -> None:
        self._badges[name] = badge
        index = self.index_of(name, self.FIT_COLUMN)
        if index.isValid():
            roles = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole]
            self.dataChanged.emit(index, index, [*roles, ItemRole.badge])

    def badge(self, name: str) -> FitBadge | None:
        return self._badges.get(name)

    def models(self) -> list[ModelFile]:
        return [m for _q, models in self._groups for m in models]

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        for g, (_quant, models) in enumerate(self._groups):
            for r, model in enumerate(models):
                if model.name == name:
                    return self.index(r, column, self.index(g, 0))
        return QModelIndex()


class DownloadsModel(_CellsTable):
    HEADERS = ("File", "Progress", "Status", "Size")
    PROGRESS_COLUMN = 1

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[DownloadItem] = []

    def cells(self, item: DownloadItem) -> tuple[str, ...]:
        return item.name, f"{item.fraction:.0%}", status_text(item), human_bytes(item.size)

    def other(self, item: DownloadItem, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{item.repo_id}/{item.filename} @ {item.revision[:12]}"
            if item.error:
                text += f"\n{item.error} {item.hint}".rstrip()
            return text
        if role == ItemRole.fraction:
            return item.fraction
        return None

    def update_item(self, item: DownloadItem) -> None:
        for row, current in enumerate(self._items):
            if current.id == item.id:
                self._items[row] = item
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))
                return
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()

    def item_at(self, row: int) -> DownloadItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, item_id: str) -> int:
        return next((row for row, item in enumerate(self._items) if item.id == item_id), -1)


def status_text(item: DownloadItem) -> str:
    if item.state == DownloadState.DOWNLOADING:
        if item.speed > 0:
            eta = f", {human_duration(item.eta)} left" if item.eta is not None else ""
            return f"{human_bytes(item.speed)}/s{eta}"
        return "Starting…" if not item.downloaded else "Downloading…"
    if item.state == DownloadState.PAUSED:
        return f"Paused at {human_bytes(item.downloaded)}"
    if item.state == DownloadState.QUEUED:
        return "Waiting" if not item.downloaded else f"Waiting (resumes at {human_bytes(item.downloaded)})"
    if item.state == DownloadState.VERIFYING:
        return "Checking the sha256…"
    if item.state == DownloadState.DONE:
        return "Done, verified"
    if item.state == DownloadState.FAILED:
        return f"Failed: {item.error}"
    if item.state == DownloadState.CANCELLED:
        return "Cancelled"
    return item.state


class LibraryModel(RowsTableModel):
    HEADERS = ("Model", "Quant", "Size", "Source", "Fit")
    FIT_COLUMN = 4

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[LocalModel] = []
        self._badges: dict[str, FitBadge] = {}

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item_for(index)
        if item is None:
            return None
        column = index.column()
        if column == self.FIT_COLUMN:
            value = _badge_data(self._badges.get(str(item.path)), role)
            if value is not None or role in (Qt.ItemDataRole.DisplayRole, ItemRole.badge):
                return value
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return item.name
            if column == 1:
                return item.quant
            if column == 2:
                return human_bytes(item.size_bytes)
            if column == 3:
                return f"{item.source}: {item.origin}" if item.source == "Ollama" and item.origin else item.source
        if role == Qt.ItemDataRole.ToolTipRole and column != self.FIT_COLUMN:
            return str(item.path)
        if role == ItemRole.item:
            return item
        return None

    def set_models(self, items: Sequence[LocalModel], badges: dict[str, FitBadge] | None = None) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._badges = dict(badges or {})
        self.endResetModel()

    def set_badges(self, badges: dict[str, FitBadge]) -> None:
        self._badges = dict(badges)
        if self._items:
            top, bottom = self.index(0, self.FIT_COLUMN), self.index(len(self._items) - 1, self.FIT_COLUMN)
            self.dataChanged.emit(top, bottom)

    def badge(self, model: LocalModel) -> FitBadge | None:
        return self._badges.get(str(model.path))

    def model_at(self, row: int) -> LocalModel | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def models(self) -> list[LocalModel]:
        return list(self._items)
