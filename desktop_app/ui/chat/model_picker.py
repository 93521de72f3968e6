"""Choosing the model to chat with: the local models, any GGUF file on disk, or a model on one
of the servers added in Settings → Servers (listed after the local ones, marked remote)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from desktop_app.core.cancel import Progress
from desktop_app.core.inference import remote
from desktop_app.core.inference.engine import LoadedModel
from desktop_app.core.models import library
from desktop_app.ui.chat.picker_models import PickerListModel, entries_from
from desktop_app.ui.context import AppContext
from desktop_app.ui.model_host import HostState
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.resources import icon


class ModelPicker(QWidget):
    """A model list (loading the one picked) and an "Open GGUF file…" button.

    A model that loads becomes the last model (loaded again at the next start); an
    opened file is remembered in ``extra_model_paths`` once it has loaded.
    """

    listed = Signal()  # the model list is up to date

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.model = PickerListModel(self)
        self.combo = QComboBox()
        self.combo.setObjectName("modelCombo")
        self.combo.setModel(self.model)
        self.combo.setPlaceholderText("Choose a model to chat with…")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.activated.connect(self._on_combo_activated)
        self.open_button = QToolButton()
        self.open_button.setIcon(icon("open"))
        self.open_button.setText("Open GGUF file…")
        self.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_button.setToolTip("Load a .gguf model file from anywhere on this computer")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.unload_button = QToolButton()
        self.unload_button.setIcon(icon("eject"))
        self.unload_button.setToolTip("Unload the model and free its memory")
        self.unload_button.clicked.connect(self._on_unload_button_clicked)
        self.unload_button.setEnabled(False)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.unload_button)
        layout.addWidget(self.open_button)

        hosts = context.models
        hosts.model_changed.connect(self._on_models_model_changed)
        hosts.state_changed.connect(self._on_models_state_changed)
        hosts.remote_changed.connect(self._on_models_remote_changed)
        context.settings_changed.connect(self._on_context_settings_changed)
        # Listing reads every model's header (and scans other apps' folders): off the GUI thread.
        # Servers are asked on a thread of their own, so a slow one never holds up the local list.
        self._jobs = JobRunner(self, max_threads=2)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self.listed_once = False
        self._listed_endpoints: list[object] = []
        self.refresh()

    def refresh(self) -> None:
        """Lists the local models again, in the background; ``listed`` fires when done."""
        extra = list(self._context.settings.extra_model_paths)
        if not self.listed_once:
            self.combo.setPlaceholderText("Finding local models…")
        self._jobs.start("list", lambda _cancel, _report: library.list_models(extra))
        self.refresh_remote()

    def refresh_remote(self) -> None:
        """Asks the configured servers for their models again, in the background."""
        endpoints = [dataclasses.replace(e) for e in self._context.settings.endpoints]
        self._listed_endpoints = list(endpoints)
        if not endpoints:
            self.model.set_remote([])
            self._show_loaded(self._context.models.model)
            return
        self._jobs.start("remote", lambda _cancel, _report: remote.list_endpoints(endpoints))

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, models: list[Any]) -> None:
        if kind == "remote":
            self.model.set_remote(entries_from(models))
            self._show_loaded(self._context.models.model)
            return
        self.model.set_models(models)
        self._show_loaded(self._context.models.model)
        self.combo.setPlaceholderText("Choose a model to chat with…")
        self.listed_once = True
        self.listed.emit()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, _hint: str) -> None:
        self.combo.setPlaceholderText(f"Could not list models: {message}")
        self.listed_once = True
        self.listed.emit()

    def shutdown(self) -> None:
        """The window is closing: stops a listing in progress and waits for it."""
        self._jobs.shutdown()

    def load(self, path: Path) -> None:
        """Loads ``path`` with the current load settings."""
        self._context.models.load(Path(path), self._context.settings.load, self._context.settings.template_for(path))

    def open_file(self, path: Path) -> None:
        """What "Open GGUF file…" does once a file is chosen."""
        self.load(path)

    def _show_loaded(self, model: LoadedModel | None) -> None:
        chosen = self._context.models.remote
        if chosen is not None:
            row = self.model.row_of_remote(chosen.endpoint_id, chosen.model_id)
        else:
            row = self.model.row_of(model.path) if model is not None else -1
        self.combo.setCurrentIndex(row)
        self.unload_button.setEnabled(model is not None or chosen is not None)

    @Slot(int)
    def _on_combo_activated(self, row: int) -> None:
        entry = self.model.remote_at(row)
        if entry is not None:
            if entry.model_id:
                self._context.models.use_remote(entry.endpoint, entry.model_id)
            return
        item = self.model.model_at(row)
        if item is not None:
            self.load(item.path)

    @Slot(object)
    def _on_models_remote_changed(self, _model: object) -> None:
        self._show_loaded(self._context.models.model)

    @Slot(object)
    def _on_context_settings_changed(self, _source: QObject | None) -> None:
        if self._context.settings.endpoints != self._listed_endpoints:  # a server added, changed or removed
            self.refresh_remote()

    @Slot()
    def _on_open_button_clicked(self) -> None:
        start = str(Path(self._context.settings.last_model).parent) if self._context.settings.last_model else ""
        path, _filter = QFileDialog.getOpenFileName(
            self, "Open a GGUF model", start, "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.open_file(Path(path))

    @Slot()
    def _on_unload_button_clicked(self) -> None:
        self._context.models.unload()

    @Slot(object)
    def _on_models_model_changed(self, model: LoadedModel | None) -> None:
        if model is not None:
            settings = self._context.settings
            settings.last_model = str(model.path)
            if self.model.row_of(model.path) < 0 and str(model.path) not in settings.extra_model_paths:
                settings.extra_model_paths.append(str(model.path))
                self._context.save_settings(self)
                self.model.set_models([*self.model.models(), library.describe(model.path, library.OPENED)])
            else:
                self._context.save_settings(self)
        self._show_loaded(model)

    @Slot(object)
    def _on_models_state_changed(self, state: HostState) -> None:
        loading = state is HostState.loading
        self.combo.setEnabled(not loading)
        self.open_button.setEnabled(not loading)
        if not loading:
            self._show_loaded(self._context.models.model)


class LoadProgressView(QWidget):
    """Shown while a model loads: what is happening, how far, and a Cancel button."""

    cancel_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loadProgress")
        self._context = context
        self.label = Label("")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(6)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        context.models.load_progress.connect(self._on_models_load_progress)
        context.models.state_changed.connect(self._on_models_state_changed)
        self.hide()

    @Slot(object)
    def _on_models_load_progress(self, progress: Progress) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        if progress.message:
            self.label.setText(progress.message + "…")

    @Slot(object)
    def _on_models_state_changed(self, state: HostState) -> None:
        loading = state is HostState.loading
        if loading:
            request = self._context.models.current_load
            name = request.path.name if request is not None else "the model"
            self.label.setText(f"Loading {name}…")
            self.bar.setRange(0, 1000)
            self.bar.setValue(0)
            self.cancel_button.setEnabled(True)
            self.cancel_button.setText("Cancel")
        self.setVisible(loading)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self._context.models.stop()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
