"""The Library tab: the local models with their metadata and fit; import, delete, remove from list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import HearthError
from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit.badges import FitBadge
from desktop_app.core.models import library
from desktop_app.core.models.library import LocalModel
from desktop_app.core.settings import Settings
from desktop_app.core.units import human_bytes, human_parameters
from desktop_app.ui.models.fit_dialog import FitDialog, open_fit_dialog
from desktop_app.ui.models.item_models import LibraryModel
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

MAX_CTX = 1 << 20


def rows_table(name: str, model: QAbstractItemModel) -> QTableView:
    """A table of whole rows, one selected at a time (Library, Browse, Downloads)."""
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.setShowGrid(False)
    return view


def context_spin(value: int) -> QSpinBox:
    """The context-length control shared by Browse and Library."""
    spin = QSpinBox()
    spin.setObjectName("contextSpin")
    spin.setRange(256, MAX_CTX)
    spin.setSingleStep(1024)
    spin.setValue(value)
    spin.setSuffix(" tokens")
    spin.setToolTip("Context length the fit is computed for")
    spin.setKeyboardTracking(False)
    return spin


def scan_library(
    extra_paths: list[str], n_ctx: int, home: Path | None, cancel: CancelToken
) -> tuple[list[LocalModel], dict[str, FitBadge]]:
    """Runs on a pool thread: the models and their fit (headers are read and cached here)."""
    models = library.list_models(extra_paths, home=home)
    badges = {}
    for model in models:
        cancel.raise_if_cancelled()
        badges[str(model.path)] = fit_badges.local_badge(model, n_ctx)
    return models, badges


class LibraryTab(QWidget):
    library_changed = Signal()
    chat_requested = Signal(object)  # Path: "Chat with this model"

    def __init__(
        self,
        jobs: JobRunner,
        settings: Callable[[], Settings],
        save_settings: Callable[[], None],
        n_ctx: int,
        home: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("libraryTab")
        self._jobs = jobs
        self._settings = settings
        self._save_settings = save_settings
        self._home = home
        self.model = LibraryModel(self)

        self.notice = NoticeBar()
        self.view = rows_table("libraryTable", self.model)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, LibraryModel.FIT_COLUMN + 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.details = Label("")
        self.details.setObjectName("modelDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumWidth(240)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.ctx_spin = context_spin(n_ctx)
        self.ctx_spin.valueChanged.connect(self._on_ctx_spin_value_changed)
        self.import_button = QPushButton("Import GGUF…")
        self.import_button.clicked.connect(self._on_import_button_clicked)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the file from Hearth's models folder and free the disk")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.remove_button = QPushButton("Remove from list")
        self.remove_button.setToolTip("Stop listing this model; its file stays where it is")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.chat_button = QPushButton("Chat with this model")
        self.chat_button.setObjectName("chatWithModelButton")
        self.chat_button.setToolTip("Load it and open the chat (or double-click the model)")
        self.chat_button.clicked.connect(self._on_chat_button_clicked)
        self.fit_button = QPushButton("How it fits…")
        self.fit_button.setToolTip("Memory per device at this context: RAM and GPU (or click the Fit column)")
        self.fit_button.clicked.connect(self._on_fit_button_clicked)
        self.fit_dialog: FitDialog | None = None
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.folder_button = QPushButton("Open models folder")
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.cancel_import_button = QPushButton("Cancel import")
        self.cancel_import_button.hide()
        self.cancel_import_button.clicked.connect(self._on_cancel_import_button_clicked)

        top = QHBoxLayout()
        top.addWidget(Label("Fit at a context of"))
        top.addWidget(self.ctx_spin)
        top.addStretch(1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.folder_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_import_button)
        buttons.addStretch(1)
        buttons.addWidget(self.chat_button)
        buttons.addWidget(self.fit_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        jobs.succeeded.connect(self._on_jobs_succeeded)
        jobs.failed.connect(self._on_jobs_failed)
        jobs.partial.connect(self._on_jobs_partial)
        jobs.finished.connect(self._on_jobs_finished)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self._update_buttons()

    # -- what the buttons do (callable from tests) ----------------------------------------------

    @property
    def n_ctx(self) -> int:
        return int(self.ctx_spin.value())

    def refresh(self) -> None:
        extra = list(self._settings().extra_model_paths)
        n_ctx, home = self.n_ctx, self._home
        self._jobs.start("library", lambda cancel, _report: scan_library(extra, n_ctx, home, cancel))

    @property
    def loading(self) -> bool:
        return self._jobs.busy("library")

    def selected(self) -> LocalModel | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.model_at(rows[0].row()) if rows else None

    def select_path(self, path: Path) -> bool:
        wanted = Path(path).resolve()
        for row, model in enumerate(self.model.models()):
            if model.path.resolve() == wanted:
                self.view.selectRow(row)
                return True
        return False

    def confirm(self, title: str, text: str) -> bool:
        """Asks the user (tests replace this)."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_copy(self, path: Path) -> bool | None:
        """Copy into the models folder (True), use in place (False), or neither (None). Tests replace this."""
        box = QMessageBox(self)
        box.setWindowTitle("Import a model")
        box.setText(f"Copy “{path.name}” into Hearth's models folder, or use it where it is?")
        copy = box.addButton("Copy", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Use in place", QMessageBox.ButtonRole.ActionRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is cancel:
            return None
        return clicked is copy

    def show_fit(self, model: LocalModel) -> FitDialog | None:
        """Opens the per-device breakdown behind ``model``'s fit badge (None while it is computed)."""
        badge = self.model.badge(model)
        if badge is None:
            return None
        self.fit_dialog = open_fit_dialog(self.fit_dialog, model.name, badge, self)
        return self.fit_dialog

    def chat_with_selected(self) -> None:
        model = self.selected()
        if model is not None:
            self.chat_requested.emit(model.path)

    def delete_selected(self) -> None:
        model = self.selected()
        if model is None or not model.deletable:
            return
        if not self.confirm(
            "Delete model",
            f"Delete “{model.name}” ({human_bytes(model.size_bytes)})? The file is removed from disk.",
        ):
            return
        try:
            freed = library.delete_model(model)
        except (HearthError, OSError) as exc:
            self.notice.show_notice(str(exc))
            return
        self.notice.show_notice(f"Deleted “{model.name}”: {human_bytes(freed)} freed.", kind=NoticeKind.info)
        self._changed()

    def remove_selected(self) -> None:
        model = self.selected()
        if model is None:
            return
        if library.remove_from_list(model, self._settings()):
            self._save_settings()
        self._changed()

    def import_file(self, path: Path, copy: bool) -> None:
        """Imports ``path`` on a pool thread (its header is checked; a copy shows progress).

        ``copy``: into Hearth's models folder; otherwise it is listed where it is (the
        settings' extra model paths)."""
        path = Path(path)
        self.progress.setValue(0)
        self.progress.setVisible(copy)
        self.cancel_import_button.setVisible(copy)
        self.import_button.setEnabled(False)

        def work(cancel: CancelToken, report: Callable[[Any], None]) -> tuple[LocalModel, bool]:
            return library.import_model(path, copy=copy, progress=report, cancel=cancel), copy

        self._jobs.start("import", work)

    # -- reactions -----------------------------------------------------------------------------

    def _changed(self) -> None:
        self.refresh()
        self.library_changed.emit()

    def _update_buttons(self) -> None:
        model = self.selected()
        self.delete_button.setEnabled(model is not None and model.deletable)
        self.chat_button.setEnabled(model is not None)
        self.fit_button.setEnabled(model is not None and self.model.badge(model) is not None)
        self.remove_button.setEnabled(model is not None and not model.deletable)
        self._show_details(model)

    def _show_details(self, model: LocalModel | None) -> None:
        if model is None:
            self.details.setText("Select a model to see its details.")
            return
        lines = [
            f"<b>{model.name}</b>",
            f"{model.architecture}, {human_parameters(model.parameters)} parameters, {model.quant}",
            f"Trained context: {model.context_length:,} tokens",
            f"Size: {human_bytes(model.size_bytes)}",
            f"Source: {model.source}" + (f" ({model.origin})" if model.origin else ""),
        ]
        if model.repo_id:
            lines.append(f"From {model.repo_id}" + (f" @ {model.revision[:12]}" if model.revision else ""))
        badge = self.model.badge(model)
        if badge is not None:
            lines.append(
                f"Fit at {self.n_ctx:,} tokens: {badge.label}" + (f" ({badge.detail})" if badge.detail else "")
            )
        lines.append(f"<span style='color:#6e7781'>{model.path}</span>")
        self.details.setText("<br>".join(lines))

    @Slot()
    def _on_selection_changed(self) -> None:
        self._update_buttons()

    @Slot(int)
    def _on_ctx_spin_value_changed(self, value: int) -> None:
        # Headers are cached: recomputing every badge is pure arithmetic, done here at once.
        badges = {str(m.path): fit_badges.local_badge(m, value) for m in self.model.models()}
        self.model.set_badges(badges)
        self._show_details(self.selected())

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: object) -> None:
        if kind == "library":
            assert isinstance(result, tuple)
            models, badges = result
            current = self.selected()
            self.model.set_models(models, badges)
            if current is not None:
                self.select_path(current.path)
            self._update_buttons()
        elif kind == "import":
            assert isinstance(result, tuple)
            model, copied = result
            if not copied and library.add_reference(self._settings(), model.path):
                self._save_settings()
            where = "copied into the models folder" if copied else "listed where it is"
            self.notice.show_notice(f"Imported “{model.name}” ({where}).", kind=NoticeKind.info)
            self._changed()

    @Slot(str, str, str)
    def _on_jobs_failed(self, kind: str, message: str, hint: str) -> None:
        if kind in ("library", "import"):
            self.notice.show_notice(message, hint)

    @Slot(str, object)
    def _on_jobs_partial(self, kind: str, piece: object) -> None:
        if kind == "import" and isinstance(piece, Progress) and piece.fraction is not None:
            self.progress.setValue(int(piece.fraction * 1000))

    @Slot(str)
    def _on_jobs_finished(self, kind: str) -> None:
        if kind == "import":
            self.progress.hide()
            self.cancel_import_button.hide()
            self.import_button.setEnabled(True)

    @Slot(QModelIndex)
    def _on_view_clicked(self, index: QModelIndex) -> None:
        model = self.model.model_at(index.row())
        if index.column() == LibraryModel.FIT_COLUMN and model is not None:
            self.show_fit(model)

    @Slot(QModelIndex)
    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.column() != LibraryModel.FIT_COLUMN:
            self.chat_with_selected()

    @Slot()
    def _on_chat_button_clicked(self) -> None:
        self.chat_with_selected()

    @Slot()
    def _on_fit_button_clicked(self) -> None:
        model = self.selected()
        if model is not None:
            self.show_fit(model)

    @Slot()
    def _on_import_button_clicked(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", "", "GGUF models (*.gguf);;All files (*)"
        )
        if not path:
            return
        copy = self.ask_copy(Path(path))
        if copy is not None:
            self.import_file(Path(path), copy)

    @Slot()
    def _on_cancel_import_button_clicked(self) -> None:
        self._jobs.cancel("import")
        self.progress.hide()
        self.cancel_import_button.hide()
        self.import_button.setEnabled(True)

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        self.delete_selected()

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        self.remove_selected()

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.models_dir())))

    def index_of(self, path: Path) -> QModelIndex:
        wanted = Path(path).resolve()
        for row, model in enumerate(self.model.models()):
            if model.path.resolve() == wanted:
                return self.model.index(row, 0)
        return QModelIndex()
