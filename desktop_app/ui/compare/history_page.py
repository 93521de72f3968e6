"""The Compare section's History tab: every saved comparison, to open again or delete."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QListView, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.ui.compare.item_models import ComparisonListModel
from desktop_app.ui.shared.item_models import ItemRole


class HistoryPage(QWidget):
    open_requested = Signal(int)  # the run's id
    delete_requested = Signal(int)  # the run's id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history_model = ComparisonListModel(self)
        self.history = QListView()
        self.history.setModel(self.history_model)
        self.history.doubleClicked.connect(self._on_history_double_clicked)
        self.open_run_button = QPushButton("Open")
        self.open_run_button.clicked.connect(self._on_open_run_button_clicked)
        self.delete_run_button = QPushButton("Delete")
        self.delete_run_button.clicked.connect(self._on_delete_run_button_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_run_button)
        buttons.addWidget(self.delete_run_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.history, 1)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        """Lists the saved runs again (raises HearthError when the database cannot be read)."""
        self.history_model.set_runs(saved_comparisons.list_runs())

    def selected_run_id(self) -> int | None:
        index = self.history.currentIndex()
        if not index.isValid():
            return None
        return int(index.data(ItemRole.item).id)

    def set_busy(self, busy: bool) -> None:
        self.open_run_button.setEnabled(not busy)
        self.delete_run_button.setEnabled(not busy)

    @Slot()
    def _on_open_run_button_clicked(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.open_requested.emit(run_id)

    @Slot(QModelIndex)
    def _on_history_double_clicked(self, _index: QModelIndex) -> None:
        self._on_open_run_button_clicked()

    @Slot()
    def _on_delete_run_button_clicked(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.delete_requested.emit(run_id)
