"""A table whose first column (the model's name) stays in view when it scrolls sideways.

Qt's "frozen column" recipe: a second view over the same model and selection shows only
column 0, laid over the table's left edge, its vertical scrolling tied to the table's.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


class FrozenColumnTable(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frozen = QTableView(self)
        self.frozen.setObjectName("frozenColumn")
        self.frozen.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frozen.verticalHeader().hide()
        self.frozen.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.frozen.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.frozen.setStyleSheet("QTableView#frozenColumn { border: none; border-right: 1px solid #d0d7de; }")
        self.viewport().stackUnder(self.frozen)
        for view in (self, self.frozen):
            view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
            view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().valueChanged.connect(self.frozen.verticalScrollBar().setValue)
        self.frozen.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self.horizontalHeader().sectionResized.connect(self._on_horizontal_header_section_resized)
        self.verticalHeader().sectionResized.connect(self._on_vertical_header_section_resized)
        self.frozen.horizontalHeader().sectionClicked.connect(self._on_frozen_header_section_clicked)
        self.horizontalHeader().sortIndicatorChanged.connect(self._on_horizontal_header_sort_indicator_changed)

    def setModel(self, model: QAbstractItemModel | None) -> None:  # noqa: N802 - Qt override
        super().setModel(model)
        self.frozen.setModel(model)
        self.frozen.setSelectionModel(self.selectionModel())
        if model is not None:
            model.modelReset.connect(self._hide_other_columns)
            model.columnsInserted.connect(self._on_model_columns_inserted)
        self._hide_other_columns()

    @Slot()
    def _hide_other_columns(self) -> None:
        model = self.model()
        for column in range(1, model.columnCount() if model is not None else 0):
            self.frozen.setColumnHidden(column, True)
        self._place()

    @Slot(QModelIndex, int, int)
    def _on_model_columns_inserted(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self._hide_other_columns()

    def _place(self) -> None:
        self.frozen.setColumnWidth(0, self.columnWidth(0))
        self.frozen.horizontalHeader().setFixedHeight(self.horizontalHeader().height())
        self.frozen.setGeometry(
            self.verticalHeader().width() + self.frameWidth(),
            self.frameWidth(),
            self.columnWidth(0),
            self.viewport().height() + self.horizontalHeader().height(),
        )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._place()

    def updateGeometries(self) -> None:  # noqa: N802 - Qt override: the headers are laid out here
        super().updateGeometries()
        self._place()

    @Slot(int, int, int)
    def _on_horizontal_header_section_resized(self, index: int, _old: int, _new: int) -> None:
        if index == 0:
            self._place()

    @Slot(int, int, int)
    def _on_vertical_header_section_resized(self, index: int, _old: int, new: int) -> None:
        self.frozen.setRowHeight(index, new)

    @Slot(int, Qt.SortOrder)
    def _on_horizontal_header_sort_indicator_changed(self, index: int, order: Qt.SortOrder) -> None:
        self.frozen.horizontalHeader().setSortIndicator(index, order)

    @Slot(int)
    def _on_frozen_header_section_clicked(self, index: int) -> None:
        if self.isSortingEnabled():
            header = self.horizontalHeader()
            same = header.sortIndicatorSection() == index
            ascending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder or not same
            self.sortByColumn(index, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder)
