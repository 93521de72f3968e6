"""Qt item models of the Runs section: the stored runs, a dataset's first rows, and a run's rows.

:class:`RunRowsModel` reads a run's rows from SQLite a page at a time, only the pages the view
shows, and sorts and filters in SQL: a 10,000-row run opens and scrolls at once, and nothing
holds all its prompts in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor

from desktop_app.core.runs.datasets import Row
from desktop_app.core.runs.storage import RowResult, RunRecord, RunStore
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsListModel, RowsTableModel

PAGE_ROWS = 100
CACHED_PAGES = 20
RIGHT = QColor("#15803d")
WRONG = QColor("#b91c1c")


class RunListModel(RowsListModel):
    """The stored runs, newest first: title, state, rows done, accuracy (said as such: "9 of 20
    rows" next to a bare "89%" read as progress)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.accuracy: dict[int, float | None] = {}

    def set_runs(self, runs: list[RunRecord], accuracy: dict[int, float | None]) -> None:
        self.accuracy = accuracy
        self.set_items(runs)

    def row_of(self, run_id: int) -> int:
        return next((i for i, r in enumerate(self._items) if r.id == run_id), -1)

    def update_run(self, run: RunRecord, accuracy: float | None) -> None:
        """One run's line, as it progresses."""
        row = self.row_of(run.id)
        if row >= 0:
            self._items[row] = run
            self.accuracy[run.id] = accuracy
            self.dataChanged.emit(self.index(row), self.index(row))

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        run: RunRecord | None = self.item_for(index)
        if run is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return run_line(run, self.accuracy.get(run.id))
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(t for t in (run.dataset_path, run.message, run.note) if t)
        if role in (ItemRole.item, ItemRole.key):
            return run if role == ItemRole.item else run.id
        return None


def run_line(run: RunRecord, accuracy: float | None) -> str:
    """A run in the list: "#3 Reviews / done · 20 rows · accuracy 89% · 06 Dec 09:12"."""
    finished = run.done >= run.n
    rows = f"{run.n:,} rows" if finished else f"{run.done:,} of {run.n:,} rows done"
    score = "" if accuracy is None else f" · accuracy {'' if finished else 'so far '}{accuracy:.0%}"
    when = datetime.fromtimestamp(run.created_at).strftime("%d %b %H:%M")
    note = run.note.splitlines()
    return f"#{run.id} {run.title}\n{run.state} · {rows}{score} · {when}" + (f"\n{note[0][:80]}" if note else "")


class PreviewModel(RowsTableModel):
    """The first rows of a dataset, as the file has them."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []

    def set_rows(self, columns: list[str], rows: list[Row]) -> None:
        self.beginResetModel()
        self.columns = list(columns)
        self._items = list(rows)
        self.endResetModel()

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.columns)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if 0 <= section < len(self.columns) else None
        return str(section + 1)  # rows counted from 1, as a spreadsheet does

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row: Row | None = self.item_for(index)
        if row is None or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        value = row.get(self.columns[index.column()], "")
        return value if role == Qt.ItemDataRole.ToolTipRole else " ".join(value.split())[:200]


def _tooltip(header: str, row: RowResult) -> str | None:
    """The whole text of a cell cut short in the table."""
    if header == "Input":
        return "\n".join(f"{k}: {v}" for k, v in row.inputs.items())
    return {"Output": row.output, "Reference": row.reference, "Error": row.error}.get(header)


def _flag(value: bool | None) -> str:
    return {True: "✓", False: "✗", None: ""}[value]


def _inputs(row: RowResult) -> str:
    return " · ".join(" ".join(str(v).split()) for v in row.inputs.values())[:300]


# (header, the storage sort key, the cell's text); rows counted from 1, as in a spreadsheet
COLUMNS: list[tuple[str, str, Any]] = [
    ("Row", "index", lambda r: str(r.index + 1)),
    ("ID", "id", lambda r: r.key),
    ("Input", "index", _inputs),
    ("Output", "output", lambda r: " ".join(r.output.split())[:300]),
    ("Reference", "reference", lambda r: "" if r.reference is None else " ".join(r.reference.split())[:300]),
    ("Correct", "correct", lambda r: _flag(r.correct)),
    ("Score", "score", lambda r: "" if r.score is None else f"{r.score:.2f}"),
    ("Valid", "valid", lambda r: "✓" if r.valid else ("failed" if r.error else "invalid")),
    ("Tokens", "tokens", lambda r: f"{r.prompt_tokens} + {r.gen_tokens}"),
    ("Time", "time", lambda r: f"{r.seconds:.2f} s"),
    ("Seed", "seed", lambda r: str(r.seed)),
    ("Error", "error", lambda r: r.error),
]
HEADERS = tuple(c[0] for c in COLUMNS)


class RunRowsModel(QAbstractTableModel):
    """A run's rows, fetched from SQLite page by page; sorted and filtered by SQL."""

    def __init__(self, store: RunStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.run_id: int | None = None
        self.row_filter = "all"
        self.order = "index"
        self.descending = False
        self._count = 0
        self._pages: OrderedDict[int, list[RowResult]] = OrderedDict()
        self.pages_read = 0  # how many pages came from SQLite (the tests check it stays small)

    # -- what is shown ---------------------------------------------------------------------------

    def set_run(self, run_id: int | None, row_filter: str | None = None) -> None:
        self.beginResetModel()
        self.run_id = run_id
        if row_filter is not None:
            self.row_filter = row_filter
        self._reload()
        self.endResetModel()

    def set_filter(self, row_filter: str) -> None:
        self.set_run(self.run_id, row_filter)

    def refresh(self) -> None:
        """Rows stored since (a run in progress): appended when shown in file order, else reloaded."""
        if self.run_id is None:
            return
        count = self.store.count(self.run_id, self.row_filter)
        if count == self._count:
            return
        if count > self._count and self.order == "index" and not self.descending:
            self._pages.pop(self._count // PAGE_ROWS, None)  # the last page, now longer
            self.beginInsertRows(QModelIndex(), self._count, count - 1)
            self._count = count
            self.endInsertRows()
            return
        self.set_run(self.run_id)

    def _reload(self) -> None:
        self._pages.clear()
        self._count = self.store.count(self.run_id, self.row_filter) if self.run_id is not None else 0

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self.beginResetModel()
        self.order = COLUMNS[column][1]
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._reload()
        self.endResetModel()

    # -- Qt ----------------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return None

    def row_at(self, row: int) -> RowResult | None:
        if self.run_id is None or not 0 <= row < self._count:
            return None
        number = row // PAGE_ROWS
        page = self._pages.get(number)
        if page is None:
            page = self.store.page(
                self.run_id, number * PAGE_ROWS, PAGE_ROWS, self.row_filter, self.order, self.descending
            )
            self.pages_read += 1
            self._pages[number] = page
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        offset = row - number * PAGE_ROWS
        return page[offset] if offset < len(page) else None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        result = self.row_at(index.row())
        if result is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return str(COLUMNS[index.column()][2](result))
        if role == Qt.ItemDataRole.ForegroundRole:
            header = COLUMNS[index.column()][0]
            if header == "Correct":
                return QBrush(WRONG if result.correct is False else RIGHT)
            if header == "Valid":
                return QBrush(RIGHT if result.valid else WRONG)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(COLUMNS[index.column()][0], result)
        if role == ItemRole.item:
            return result
        return None
