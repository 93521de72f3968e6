"""The Downloads tab: every download with a progress bar, speed and time left; pause, resume, cancel."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.hub.downloads import DownloadItem, DownloadState
from desktop_app.ui.models.downloads_service import DownloadService
from desktop_app.ui.models.item_models import DownloadsModel
from desktop_app.ui.models.library_tab import rows_table
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.labels import Label


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a progress bar."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        fraction = index.data(ItemRole.fraction)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 6, -4, -6)
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = int(float(fraction) * 1000)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class DownloadsTab(QWidget):
    def __init__(self, service: DownloadService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadsTab")
        self.service = service
        self.model = DownloadsModel(self)
        self.model.set_items(service.queue.items())

        self.view = rows_table("downloadsTable", self.model)
        self.view.setItemDelegateForColumn(DownloadsModel.PROGRESS_COLUMN, ProgressDelegate(self.view))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, 180)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)

        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download and delete what it downloaded so far")
        self.clear_button = QPushButton("Clear finished")
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        self.hf_cache_check = QCheckBox("Save new downloads in the shared Hugging Face cache")
        self.hf_cache_check.setToolTip(
            "Other tools that use the Hugging Face cache (transformers, llama.cpp's -hf, …) then find them too."
        )
        self.hf_cache_check.setChecked(service.queue.prefer_hf_cache)
        self.hf_cache_check.toggled.connect(self._on_hf_cache_check_toggled)
        self.empty_label = Label("No downloads yet. Find a model in Browse and press Download.")
        self.empty_label.setObjectName("hintLabel")

        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.hf_cache_check)

        service.item_changed.connect(self._on_service_item_changed)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def selected(self) -> DownloadItem | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.item_at(rows[0].row()) if rows else None

    def select(self, item_id: str) -> None:
        row = self.model.row_of(item_id)
        if row >= 0:
            self.view.selectRow(row)

    @Slot(object)
    def _on_service_item_changed(self, item: DownloadItem) -> None:
        self.model.update_item(item)
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        item = self.selected()
        state = item.state if item else None
        self.pause_button.setEnabled(state in (DownloadState.DOWNLOADING, DownloadState.QUEUED))
        self.resume_button.setEnabled(state is not None and state.resumable)
        self.cancel_button.setEnabled(state is not None and not state.finished and state is not DownloadState.VERIFYING)
        self.clear_button.setEnabled(any(i.state.finished for i in self.service.queue.items()))
        self.empty_label.setVisible(self.model.rowCount() == 0)

    @Slot()
    def _on_pause_button_clicked(self) -> None:
        item = self.selected()
        if item is not None:
            self.service.pause(item.id)

    @Slot()
    def _on_resume_button_clicked(self) -> None:
        item = self.selected()
        if item is not None:
            self.service.resume(item.id)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        item = self.selected()
        if item is not None:
            self.service.cancel(item.id)

    @Slot()
    def _on_clear_button_clicked(self) -> None:
        self.service.queue.clear_finished()
        self.model.set_items(self.service.queue.items())
        self._update_buttons()

    @Slot(bool)
    def _on_hf_cache_check_toggled(self, checked: bool) -> None:
        self.service.queue.set_prefer_hf_cache(checked)
