"""The files of a collection that could not be read, each with why, in full.

A reason is a sentence or two ("The PDF has no text layer (it looks like a scanned image).
Run it through OCR…"): the table wraps it and grows the row to fit, and the pane under it
shows the selected file's full path and reason, selectable for copying.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.rag.catalog import FileRecord
from desktop_app.ui.documents.item_models import ProblemTableModel
from desktop_app.ui.shared.labels import Label

NO_SELECTION = "Select a file to see where it is and why it could not be read."


class ProblemsPanel(QWidget):
    file_activated = Signal(str)  # the path of a double-clicked file

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ProblemTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.verticalHeader().hide()
        # Rows as tall as their wrapped reason; the reason takes the width the name leaves.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)

        self.details = Label(NO_SELECTION)
        self.details.setObjectName("problemDetails")
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMargin(6)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def set_files(self, records: Sequence[FileRecord]) -> None:
        current = self.table.currentIndex()
        path = self.model.record(current.row()).path if current.isValid() else None
        self.model.set_files(records)
        # The name column fits the longest name, within reason, so the reason keeps its room.
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 260))
        row = next((i for i, r in enumerate(records) if r.path == path), -1)
        if row >= 0:
            self.table.selectRow(row)
        else:
            self.details.setText(NO_SELECTION)

    @Slot(QModelIndex, QModelIndex)
    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.details.setText(NO_SELECTION)
            return
        record = self.model.record(current.row())
        self.details.setText(
            f"<b>{html.escape(record.name)}</b><br><span style='color:#57606a;'>{html.escape(record.path)}</span>"
            f"<br><br>{html.escape(record.reason)}"
        )

    @Slot(QModelIndex)
    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        self.file_activated.emit(self.model.record(index.row()).path)
