"""Qt item models of the Documents section. They adapt core records; they hold no logic.

``ItemRole.item`` returns the core object behind a row (CollectionInfo, Source,
FileRecord, Hit).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyle

from desktop_app.core.rag.answer import snippet_around
from desktop_app.core.rag.catalog import CollectionInfo, FileRecord, Source
from desktop_app.core.rag.claims import closest_sentence
from desktop_app.core.rag.parsers.pictures import found_no_text
from desktop_app.core.rag.retrieve import Hit
from desktop_app.core.rag.vectors import Health
from desktop_app.core.units import plural
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsListModel, RowsTableModel
from desktop_app.ui.shared.score_labels import COMBINED, KEYWORD, MEANING


class CollectionListModel(RowsListModel):
    """The collections; a damaged or interrupted one carries a warning sign and says why."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[CollectionInfo] = []
        self._health: dict[int, Health] = {}

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        info: CollectionInfo | None = self.item_for(index)
        if info is None:
            return None
        health = self._health.get(info.id)
        flagged = health is not None and health.state in ("damaged", "interrupted")
        if role == Qt.ItemDataRole.DisplayRole:
            return info.name
        if role == Qt.ItemDataRole.DecorationRole and flagged:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{plural(info.files, 'file')} · {plural(info.chunks, 'passage')} · {info.embed_model}"
            text += f" · {info.skipped} could not be read" if info.skipped else ""
            text += f" · {plural(info.no_text, 'picture')} had no text" if info.no_text else ""
            if health is not None and health.flag:
                text += f"\n{health.flag.capitalize()}: {health.reason}."
            return text
        if role == ItemRole.item:
            return info
        return None

    def set_collections(self, items: Sequence[CollectionInfo], health: dict[int, Health] | None = None) -> None:
        self._health = dict(health or {})
        self.set_items(items)

    def health(self, info: CollectionInfo) -> Health | None:
        return self._health.get(info.id)

    def collection(self, row: int) -> CollectionInfo:
        return self._items[row]

    def row_of(self, name: str) -> int:
        return next((i for i, c in enumerate(self._items) if c.name.lower() == name.lower()), -1)


class _RecordTable(RowsTableModel):
    """A table of records: ``ItemRole.item`` gives a row's record, :meth:`cell` the rest."""

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item_for(index)
        if item is None:
            return None
        if role == ItemRole.item:
            return item
        return self.cell(item, index.column(), role)

    def cell(self, item: Any, column: int, role: int) -> Any:
        raise NotImplementedError


class SourceTableModel(_RecordTable):
    """What was added to a collection. The Watch column is a check box on folders."""

    HEADERS = ("Added", "Type", "Watch")
    watch_toggled = Signal(str, bool)  # source path, watch

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Source] = []

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and index.column() == 2:
            source = self._items[index.row()]
            if source.is_folder and source.mode == "include":
                return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def cell(self, source: Source, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return source.path
            if column == 1:
                kind = "Folder" if source.is_folder else "File"
                return f"{kind} (left out)" if source.mode == "exclude" else kind
            return None
        if role == Qt.ItemDataRole.CheckStateRole and column == 2 and source.is_folder and source.mode == "include":
            return Qt.CheckState.Checked if source.watch else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 2 and source.is_folder:
                return "Index new and changed files in this folder automatically"
            return source.path
        return None

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or index.column() != 2 or role != Qt.ItemDataRole.CheckStateRole:
            return False
        source = self._items[index.row()]
        if not source.is_folder or source.mode != "include":
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value, 2)
        self._items[index.row()] = Source(
            source.id, source.path, source.is_folder, source.mode, checked, source.added_at, source.scanned_at
        )
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.watch_toggled.emit(source.path, checked)
        return True

    def set_sources(self, items: Sequence[Source]) -> None:
        self.set_items(items)

    def source(self, row: int) -> Source:
        return self._items[row]


class FileTableModel(_RecordTable):
    """A collection's indexed files, with their passage and page counts, and its pictures in which
    no text was found (left out, quietly: they are no failure)."""

    HEADERS = ("File", "Status", "Passages", "Pages", "Folder")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[FileRecord] = []

    def cell(self, record: FileRecord, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return record.name
            if column == 1:
                if record.status == "indexed":
                    return "Indexed"
                return "No text found" if found_no_text(record.reason) else f"Not read: {record.reason}"
            if column == 2:
                return record.chunks if record.status == "indexed" else None
            if column == 3:
                return record.pages
            if column == 4:
                return os.path.dirname(record.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            if record.status == "skipped":
                return f"{record.path}\n{record.reason}"
            return f"{record.path}\n{record.notes}".strip()
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and record.status != "indexed":
            # Greyed like a disabled line: listed, but nothing of it is searched.
            return QGuiApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        return None

    def set_files(self, items: Sequence[FileRecord]) -> None:
        self.set_items(items)

    def record(self, row: int) -> FileRecord:
        return self._items[row]


class ProblemTableModel(_RecordTable):
    """The files that could not be read, each with why in full (the view wraps it; the
    details pane under it gives the full path)."""

    HEADERS = ("File", "Why it could not be read")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[FileRecord] = []

    def cell(self, record: FileRecord, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return record.name if column == 0 else record.reason
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{record.path}\n{record.reason}"
        return None

    def set_files(self, items: Sequence[FileRecord]) -> None:
        self.set_items(items)

    def record(self, row: int) -> FileRecord:
        return self._items[row]


class SearchResultModel(RowsListModel):
    """Passages found for a query: "[1] file, page 3 — heading" and the snippet around the
    sentence closest to the query."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Hit] = []
        self.query = ""

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        hit: Hit | None = self.item_for(index)
        if hit is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            heading = f" — {hit.heading}" if hit.heading else ""
            weak = "" if hit.relevant else "  (weak match)"
            around = snippet_around(hit.text, closest_sentence(hit.text, self.query), 220)
            return f"[{index.row() + 1}] {hit.location}{heading}{weak}\n{around}"
        if role == Qt.ItemDataRole.ToolTipRole:
            vector = "—" if hit.vector_score is None else f"{hit.vector_score:.3f}"
            return (
                f"{Path(hit.source)}\n{MEANING.lower()} {vector} · {KEYWORD.lower()} {hit.keyword_score:.2f} · "
                f"{COMBINED.lower()} {hit.fused_score:.4f}\nDouble-click to read it where it is"
            )
        if role == ItemRole.item:
            return hit
        return None

    def set_hits(self, hits: Sequence[Hit], query: str = "") -> None:
        """``query``: the search, whose closest sentence in each passage the snippet is centred on."""
        self.query = query
        self.set_items(hits)

    def hit(self, row: int) -> Hit:
        return self._items[row]
