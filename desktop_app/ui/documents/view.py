"""The Documents section: collections of files and folders, indexed for grounded answers.

Left: the collections (new, rename, delete). Right: what was added to the selected
collection (files and folders; folders can be watched), its files (indexed, or
why they could not be read), and a search box to check what a question finds.
Files and folders are added with the buttons or by dropping them on the window.
Indexing runs on a worker thread with a progress bar (files, chunks, rate, time
left) and Cancel; a cancelled or interrupted run resumes where it stopped the
next time (the section catches up on start, and watched folders are rescanned
every ``watch_interval_s`` seconds).

A search result opens in the built-in viewer at its passage (shared/document_viewer.py,
where the chat's citations open too); a file of the lists opens in the system's viewer.

The view holds the collections list and acts (dialogs, jobs, reports); the right side that
shows the selected collection, the progress and the search is ``details_panel.py``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QListView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import Throttle
from desktop_app.core.errors import HearthError
from desktop_app.core.rag import documents_settings as rag_config
from desktop_app.core.rag import index_report, ingest, model_change, retrieve
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.claims import closest_sentence
from desktop_app.core.rag.embed_backends import BACKENDS
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.details_panel import CollectionDetails
from desktop_app.ui.documents.item_models import CollectionListModel
from desktop_app.ui.documents.model_dialog import EmbeddingDialog
from desktop_app.ui.documents.new_collection_dialog import NewCollectionDialog
from desktop_app.ui.documents.report_text import report_html
from desktop_app.ui.documents.workers import DocumentsHost, DocumentsJob
from desktop_app.ui.shared.document_viewer import Cited, DocumentViewer, show_source
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.open_document import open_source

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "My documents"
FILES_REFRESH_S = 1.5


def _local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DocumentsView(QWidget):
    """The Documents section: the window's document store (``context.documents``, shared with
    the chat and Runs), and its own indexing and search threads."""

    indexing_started = Signal()
    indexing_progressed = Signal(object)  # IndexProgress
    indexing_finished = Signal(object)  # IngestReport
    indexing_cancelled = Signal(object)  # IngestReport: what was done before the stop
    job_failed = Signal(str, str)  # message, hint
    search_finished = Signal(object)  # Retrieval
    collections_changed = Signal()  # created, renamed, deleted or re-indexed (the chat's list of attachable ones)
    source_opened = Signal(str, object)  # path, page (or None)

    def __init__(self, context: AppContext, parent: QWidget | None = None, resume: bool = True) -> None:
        super().__init__(parent)
        self.context = context
        self.store = context.documents
        self.host = DocumentsHost(self)
        self._current: CollectionInfo | None = None
        self._files_refresh = Throttle(FILES_REFRESH_S)
        self.last_report: index_report.IngestReport | None = None
        self._report_for: str | None = None  # the collection the message under the list is about
        self.setAcceptDrops(True)

        # -- collections (left) --
        self.collections = CollectionListModel(self)
        self.collection_list = QListView()
        self.collection_list.setModel(self.collections)
        self.collection_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.collection_list.selectionModel().currentRowChanged.connect(self._on_collection_list_current_changed)
        self.new_button = QPushButton("New…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.new_button.clicked.connect(lambda: self.new_collection())
        self.rename_button.clicked.connect(lambda: self.rename_collection())
        self.delete_button.clicked.connect(lambda: self.delete_collection())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(Label("<b>Collections</b>"))
        left_layout.addWidget(self.collection_list, 1)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        left_layout.addLayout(buttons)

        # -- the selected collection (right) --
        self.details = CollectionDetails()
        details = self.details
        details.model_button.clicked.connect(lambda: self.change_model())
        details.rebuild_button.clicked.connect(lambda: self.rebuild_collection())
        details.add_files_button.clicked.connect(self.add_files_dialog)
        details.add_folder_button.clicked.connect(self.add_folder_dialog)
        details.remove_button.clicked.connect(lambda: self.remove_selected_source())
        details.update_button.clicked.connect(lambda: self.update_collection())
        details.sources.watch_toggled.connect(self._on_sources_watch_toggled)
        details.cancel_button.clicked.connect(self.cancel_indexing)
        details.file_table.doubleClicked.connect(self._on_file_table_double_clicked)
        details.problems_panel.file_activated.connect(self._on_problems_panel_file_activated)
        details.search_box.returnPressed.connect(lambda: self.search())
        details.result_list.doubleClicked.connect(self._on_result_list_double_clicked)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.host.job_started.connect(self._on_host_job_started)
        self.host.job_progressed.connect(self._on_host_job_progressed)
        self.host.job_finished.connect(self._on_host_job_finished)
        self.host.job_failed.connect(self._on_host_job_failed)
        self.host.job_cancelled.connect(self._on_host_job_cancelled)
        self.host.busy_changed.connect(self._on_host_busy_changed)

        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(self._watch_interval_ms())
        self.watch_timer.timeout.connect(self.rescan_watched)
        self.watch_timer.start()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

        self.refresh()
        if resume:
            # Catch up with what changed while Hearth was closed, and finish interrupted runs.
            QTimer.singleShot(0, self.resume)

    # -- state ---------------------------------------------------------------------------------------

    @property
    def current(self) -> CollectionInfo | None:
        return self._current

    def refresh(self) -> None:
        """Reloads the collections and the selected one's details from the store."""
        name = self._current.name if self._current else None
        collections = self.store.list_collections()
        self.collections.set_collections(collections, {c.id: self.store.health(c, quick=True) for c in collections})
        row = self.collections.row_of(name) if name else -1
        if row < 0 and self.collections.rowCount() > 0:
            row = 0
        if row >= 0:
            self.collection_list.setCurrentIndex(self.collections.index(row, 0))
            self._current = self.collections.collection(row)
        else:
            self._current = None
        self._show_current()

    def select(self, name: str) -> None:
        row = self.collections.row_of(name)
        if row >= 0:
            self.collection_list.setCurrentIndex(self.collections.index(row, 0))

    def _show_current(self) -> None:
        info = self._current
        self.rename_button.setEnabled(info is not None)
        self.delete_button.setEnabled(info is not None)
        self.details.show_collection(self.store, info, self.collections.health(info) if info else None)

    @Slot(QModelIndex, QModelIndex)
    def _on_collection_list_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._current = self.collections.collection(current.row())
            self._show_current()
            self.details.results.set_hits([])
            if self._current is None or self._current.name != self._report_for:
                self.details.report_label.clear()  # another collection's "Added: 6 files…" would mislead here

    # -- collections ---------------------------------------------------------------------------------

    def new_collection(self, name: str | None = None) -> CollectionInfo | None:
        """A new collection on this computer; with no name, the dialog asks for one and for where
        it lives (a collection on a Chroma server is made or joined by a job: new_shared_collection)."""
        if name is None:
            dialog = NewCollectionDialog(self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            name, server, token = dialog.values()
            if server is not None:
                self.new_shared_collection(name, server, token)
                return None
        try:
            info = ingest.create_collection(self.store, name, self.settings)
        except HearthError as exc:
            self._show_error(exc.message, exc.hint)
            return None
        self._current = info
        self.refresh()
        self.collections_changed.emit()
        return info

    def new_shared_collection(self, name: str, server: str, token: str | None = None) -> DocumentsJob:
        """Makes (or joins) ``name`` on the Chroma server at ``server``, off the GUI thread: the
        server is asked first, and a refusal is shown in plain words."""
        store = self.store
        settings = self.settings
        return self.host.submit(
            "create", name, lambda _c, _p, _r: ingest.create_collection(store, name, settings, server, token)
        )

    def rename_collection(self, new_name: str | None = None) -> None:
        info = self._current
        if info is None:
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename collection", "New name:", text=info.name)
            if not ok or new_name.strip() == info.name:
                return
        try:
            self._current = self.store.rename_collection(info.name, new_name)
        except HearthError as exc:
            self._show_error(exc.message, exc.hint)
            return
        self.refresh()
        self.collections_changed.emit()

    def delete_collection(self, confirm: bool = True) -> DocumentsJob | None:
        info = self._current
        if info is None:
            return None
        if confirm:
            question = (
                f"Remove “{info.name}” from this computer?\nIt stays on {info.server_url} for the others."
                if info.shared
                else f"Delete the collection “{info.name}” and its index?\nYour files themselves are not touched."
            )
            answer = QMessageBox.question(self, "Delete collection", question)
            if answer != QMessageBox.StandardButton.Yes:
                return None
        self.host.cancel_all(info.name)
        name = info.name
        return self.host.submit("delete", name, lambda _c, _p, _r: self.store.delete_collection(name))

    # -- adding, removing, updating ------------------------------------------------------------------

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add documents")
        if files:
            self.add_paths(files)

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        if folder:
            self.add_paths([folder])

    def add_paths(self, targets: Sequence[str], watch: bool | None = None) -> DocumentsJob | None:
        """Adds files/folders to the selected collection (one is created when there is none) and indexes them."""
        targets = [str(t) for t in targets if t]
        if not targets:
            return None
        info = self._current
        if info is None:
            info = self.store.find(DEFAULT_COLLECTION) or self.new_collection(DEFAULT_COLLECTION)
            if info is None:
                return None
        try:  # the sources are added here, so they show at once; the worker indexes them
            added = [self.store.add_source(info, target, watch) for target in targets]
        except HearthError as exc:
            self._show_error(exc.message, exc.hint)
            return None
        self._show_current()
        return self.update_collection(info.name, [source.path for source in added])

    def update_collection(self, name: str | None = None, only: Sequence[str] | None = None) -> DocumentsJob | None:
        name = name or (self._current.name if self._current else None)
        if name is None:
            return None
        store = self.store
        paths = list(only) if only is not None else None
        return self.host.submit(
            "index",
            name,
            lambda cancel, progress, report: ingest.index_collection(store, name, paths, cancel, progress, report),
        )

    def remove_selected_source(self, confirm: bool = True) -> DocumentsJob | None:
        info = self._current
        if info is None:
            return None
        path: str | None = None
        details = self.details
        if details.tabs.currentWidget() is details.file_table and details.file_table.currentIndex().isValid():
            path = details.files.record(details.file_table.currentIndex().row()).path
        elif details.source_table.currentIndex().isValid():
            path = details.sources.source(details.source_table.currentIndex().row()).path
        if path is None:
            return None
        return self.remove_path(path, confirm)

    def remove_path(self, path: str, confirm: bool = True) -> DocumentsJob | None:
        info = self._current
        if info is None:
            return None
        if confirm:
            answer = QMessageBox.question(
                self, "Remove", f"Take “{Path(path).name}” out of “{info.name}”?\nThe file itself is not touched."
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        name = info.name
        store = self.store
        return self.host.submit("remove", name, lambda _c, _p, _r: store.remove_source(store.collection(name), path))

    def change_model(
        self, model: str | None = None, confirm: bool = True, backend: str | None = None
    ) -> DocumentsJob | None:
        """Switches the collection's embedding model and/or backend after showing what it costs
        (nothing, between two backends that make the same vectors)."""
        info = self._current
        if info is None:
            return None
        if model is None and backend is None:
            dialog = EmbeddingDialog(info.embed_model, info.embed_backend, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            model, backend = dialog.values()
        model = (model or "").strip() or info.embed_model
        backend = backend or info.embed_backend
        if model == info.embed_model and backend == info.embed_backend:
            return None
        try:
            plan = model_change.plan_model_change(self.store, info.name, model, backend)
        except HearthError as exc:
            self._show_error(exc.message, exc.hint)
            return None
        if confirm:
            label = BACKENDS[plan.new_backend].label
            answer = QMessageBox.question(self, "Embedding model", f"{plan.describe()}\n\nSwitch to {model} ({label})?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        name = info.name
        store = self.store

        def switch(cancel: Any, progress: Any, report: index_report.IngestReport) -> index_report.IngestReport:
            model_change.change_model(store, name, model, backend)
            return ingest.index_collection(store, name, None, cancel, progress, report)

        self.host.cancel_all(name)
        return self.host.submit("index", name, switch)

    def rebuild_collection(self, confirm: bool = True) -> DocumentsJob | None:
        """Drops the collection's vectors and indexes its files again (settings and sources kept)."""
        info = self._current
        if info is None or info.shared:
            return None
        if confirm:
            answer = QMessageBox.question(
                self,
                "Rebuild",
                f"Index “{info.name}” again from its files? Its {info.files:,} files are embedded again; "
                "its settings and sources are kept.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        name = info.name
        store = self.store
        self.host.cancel_all(name)
        return self.host.submit(
            "index",
            name,
            lambda cancel, progress, report: ingest.rebuild_collection(store, name, cancel, progress, report),
        )

    def cancel_indexing(self) -> None:
        self.host.cancel_all()
        self.details.show_stopping()

    def resume(self) -> None:
        """Brings every collection with sources up to date (cheap when nothing changed)."""
        for info in self.store.list_collections():
            if info.sources or info.shared:  # a shared one also brings in what other clients added
                self.update_collection(info.name)

    @property
    def settings(self) -> rag_config.RagSettings:
        """The documents settings as saved now (the Settings section edits them)."""
        return rag_config.load()

    def _watch_interval_ms(self) -> int:
        return max(5, self.settings.watch_interval_s) * 1000

    def rescan_watched(self) -> None:
        """Indexes what changed in watched folders (skipped while other indexing runs)."""
        self.watch_timer.setInterval(self._watch_interval_ms())  # a changed setting applies from the next check
        if self.host.busy:
            return
        for info in self.store.list_collections():
            watched = [s.path for s in self.store.sources(info) if s.watch and s.mode == "include"]
            if watched or info.shared:
                self.update_collection(info.name, watched)

    @Slot(str, bool)
    def _on_sources_watch_toggled(self, path: str, watch: bool) -> None:
        info = self._current
        if info is None:
            return
        self.store.set_watch(info, path, watch)
        if watch:
            self.update_collection(info.name, [path])

    # -- search and opening sources -------------------------------------------------------------

    def search(self, query: str | None = None, k: int | None = None) -> DocumentsJob | None:
        info = self._current
        query = (query if query is not None else self.details.search_box.text()).strip()
        if info is None or not query:
            return None
        if query != self.details.search_box.text():
            self.details.search_box.setText(query)
        name = info.name
        store = self.store
        settings = self.settings
        return self.host.search(name, lambda _c, _p, _r: retrieve.search(store, [name], query, k, settings))

    def open_hit(self, row: int) -> DocumentViewer | None:
        """Opens search result ``row`` in the viewer, at its page and passage."""
        hit = self.details.results.hit(row)
        if not Path(hit.source).is_file():
            self._show_error(f"“{hit.name}” could not be opened.", "The file may have been moved or deleted.")
            return None
        span = closest_sentence(hit.text, self.details.search_box.text())
        passage = hit.text[span[0] : span[1]] if span else ""
        cited = Cited(hit.source, hit.page, hit.text, passage, hit.location, hit.start)
        self.source_opened.emit(hit.source, hit.page)
        return show_source(self, cited)

    def _open(self, path: str, page: int | None) -> bool:
        opened = open_source(path, page)
        if opened:
            self.source_opened.emit(path, page)
        else:
            self._show_error(f"“{Path(path).name}” could not be opened.", "The file may have been moved or deleted.")
        return opened

    @Slot(QModelIndex)
    def _on_file_table_double_clicked(self, index: QModelIndex) -> None:
        self._open(self.details.files.record(index.row()).path, None)

    @Slot(str)
    def _on_problems_panel_file_activated(self, path: str) -> None:
        self._open(path, None)

    @Slot(QModelIndex)
    def _on_result_list_double_clicked(self, index: QModelIndex) -> None:
        self.open_hit(index.row())

    # -- drag and drop ---------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = _local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)
        else:
            event.ignore()

    # -- worker reports --------------------------------------------------------------------------

    @Slot(bool)
    def _on_host_busy_changed(self, busy: bool) -> None:
        self.details.set_busy(busy)

    @Slot(object)
    def _on_host_job_started(self, job: DocumentsJob) -> None:
        if job.kind == "index":
            self.indexing_started.emit()

    @Slot(object, object)
    def _on_host_job_progressed(self, job: DocumentsJob, progress: index_report.IndexProgress) -> None:
        if self.details.show_progress(job.collection, progress) and self._files_refresh.ready():
            self._refresh_current_details()
        self.indexing_progressed.emit(progress)

    def _refresh_current_details(self) -> None:
        if self._current is not None:
            try:
                self._current = self.store.refresh(self._current)
            except HearthError:
                self.refresh()
                return
            self._show_current()

    @Slot(object, object)
    def _on_host_job_finished(self, job: DocumentsJob, result: object) -> None:
        if job.kind == "search":
            assert isinstance(result, retrieve.Retrieval)
            if self._current is not None and job.collection == self._current.name:
                self.details.results.set_hits(result.hits, result.query)
            self.search_finished.emit(result)
            return
        if job.kind == "create" and isinstance(result, CollectionInfo):
            self._current = result
            self._report_for = result.name
            self.details.report_label.setText(
                f"“{result.name}” is {result.where}: {result.files:,} files indexed there so far."
            )
        if job.kind == "index" and isinstance(result, index_report.IngestReport):
            self.last_report = result
            self._show_report(result)
            if result.backend_note:  # an exact backend fell back: the same vectors, said once
                self.details.report_label.setText(
                    f"{self.details.report_label.text()}<br><b>Embedded with PyTorch</b> (the same vectors, slower): "
                    f"{html.escape(result.backend_note)}"
                )
            self.refresh()
            self.indexing_finished.emit(result)
        else:
            self.refresh()
        self.collections_changed.emit()

    @Slot(object, str, str)
    def _on_host_job_failed(self, job: DocumentsJob, message: str, hint: str) -> None:
        if job.kind != "search":
            self.refresh()
        self._show_error(message, hint)
        self.job_failed.emit(message, hint)

    @Slot(object)
    def _on_host_job_cancelled(self, job: DocumentsJob) -> None:
        if job.kind == "search":
            return
        self.last_report = job.report
        self._show_report(job.report, stopped=True)
        self.refresh()
        self.indexing_cancelled.emit(job.report)

    def _show_report(self, report: index_report.IngestReport, stopped: bool = False) -> None:
        self._report_for = report.collection
        self.details.report_label.setText(report_html(report, stopped))

    def _show_error(self, message: str, hint: str = "") -> None:
        self._report_for = self._current.name if self._current else None
        self.details.report_label.setText(f"<b>{message}</b> {hint}".strip())

    # -- shutdown ----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Called by the main window when it closes: stop indexing (it resumes next time) and the threads."""
        self.shutdown()

    def shutdown(self) -> None:
        self.watch_timer.stop()
        self.host.shutdown()
