"""The Documents section's right side: the selected collection as it is now (title, figures,
what was added to it, its files and those that could not be read), the indexing progress with
Cancel, the last run's report, and the Search tab. It shows; the view decides and acts."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListView,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.rag import index_report
from desktop_app.core.rag.catalog import CollectionInfo
from desktop_app.core.rag.embed_backends import BACKENDS
from desktop_app.core.rag.parsers.pictures import found_no_text
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.rag.vectors import Health
from desktop_app.core.units import plural
from desktop_app.ui.documents.item_models import FileTableModel, SearchResultModel, SourceTableModel
from desktop_app.ui.documents.problems_panel import ProblemsPanel
from desktop_app.ui.shared.labels import Label

EMPTY_TEXT = (
    "Add files or folders (PDF, Word, Markdown, HTML, text, code…) and ask questions that are "
    "answered only from them, with every claim pointing to the file and page it came from."
)


def _table(model: Any) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    table.setWordWrap(False)
    return table


def collection_figures(info: CollectionInfo, health: Health | None) -> str:
    """The line under a collection's name: its files, passages, model, where it lives, its health."""
    backend = BACKENDS.get(info.embed_backend)
    text = (
        f"{plural(info.files, 'file')} · {plural(info.chunks, 'passage')} · embedding model {info.embed_model}"
        f" on {backend.label if backend else info.embed_backend}"
    )
    if info.shared:
        text += f" · shared {info.where}"
    if info.skipped:
        text += f" · {info.skipped} could not be read"
    if info.no_text:
        text += f" · {plural(info.no_text, 'picture')} had no text"
    if health is not None and health.state == "damaged":
        text += f"<br><b>Damaged:</b> {html.escape(health.reason)}. Rebuild indexes it again from its files."
    elif health is not None and health.state == "interrupted":
        text += "<br><b>Interrupted:</b> the last indexing stopped before the end. “Update now” finishes it."
    return text


class CollectionDetails(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Label()
        self.title.setObjectName("documentsTitle")
        self.stats = Label()
        self.stats.setWordWrap(True)
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.update_button = QPushButton("Update now")
        self.update_button.setToolTip("Index new and changed files, and drop deleted ones")
        self.model_button = QPushButton("Embedding model…")
        self.model_button.setToolTip("Switch the model, or the backend, that turns passages into vectors")
        # storage: a damaged collection is indexed again from its files, keeping its settings.
        self.rebuild_button = QPushButton("Rebuild")
        self.rebuild_button.setToolTip(
            "Index the collection again from its files, keeping its settings (for a damaged or lost index)"
        )
        # Two groups: the collection's sources, and the collection itself. Side by side where the
        # pane has room; one above the other in a narrow one (resizeEvent), never clipped.
        actions = self._actions = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self._action_rows: list[QHBoxLayout] = []
        for stretch, group in enumerate((
            (self.add_files_button, self.add_folder_button, self.remove_button),
            (self.update_button, self.model_button, self.rebuild_button),
        )):  # fmt: skip
            row = QHBoxLayout()
            for button in group:
                row.addWidget(button)
            row.addStretch(1)
            actions.addLayout(row, stretch)  # side by side, the room left goes after the second group
            self._action_rows.append(row)

        self.sources = SourceTableModel(self)
        self.source_table = _table(self.sources)
        self.source_table.setMaximumHeight(150)
        header = self.source_table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        # Progress: files, chunks, rate, time left, and Cancel.
        self.progress_bar = QProgressBar()
        self.progress_label = Label()
        self.cancel_button = QPushButton("Cancel")
        self.progress_panel = QWidget()
        progress_layout = QHBoxLayout(self.progress_panel)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addWidget(self.progress_bar, 1)
        progress_layout.addWidget(self.progress_label, 2)
        progress_layout.addWidget(self.cancel_button)
        self.progress_panel.hide()
        self.report_label = Label()
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.files = FileTableModel(self)
        self.file_table = _table(self.files)
        self.problems_panel = ProblemsPanel()
        self.problems = self.problems_panel.model

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Try a question: which passages would an answer use?")
        self.results = SearchResultModel(self)
        self.result_list = QListView()
        self.result_list.setModel(self.results)
        self.result_list.setWordWrap(True)
        self.result_list.setAlternatingRowColors(True)
        search_tab = QWidget()
        search_layout = QVBoxLayout(search_tab)
        search_layout.addWidget(self.search_box)
        search_layout.addWidget(self.result_list, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.file_table, "Files")
        self.tabs.addTab(self.problems_panel, "Could not be read")
        self.tabs.addTab(search_tab, "Search")

        self.drop_hint = Label("Drop files or folders here to add them to the collection.")
        self.drop_hint.setEnabled(False)
        layout = self._layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.stats)
        layout.addLayout(actions)
        layout.addWidget(self.source_table)
        layout.addWidget(self.progress_panel)
        layout.addWidget(self.report_label)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.drop_hint)

    @property
    def actions_stacked(self) -> bool:
        return self._actions.direction() == QBoxLayout.Direction.TopToBottom

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        margins = self._layout.contentsMargins()
        slack = 24  # the gap between the two groups, with room to spare so a row never just touches the edge
        need = sum(row.sizeHint().width() for row in self._action_rows) + slack + margins.left() + margins.right()
        wide = need <= self.width()
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if direction != self._actions.direction():
            self._actions.setDirection(direction)

    def show_collection(self, store: DocumentStore, info: CollectionInfo | None, health: Health | None) -> None:
        """``info`` with its health, its sources and files read from ``store``; with None, what
        the section is for."""
        for button in (self.remove_button, self.update_button, self.model_button, self.rebuild_button):
            button.setEnabled(info is not None)
        if info is None:
            self.title.setText("<h2>Documents</h2>")
            self.stats.setText(EMPTY_TEXT)
            self.sources.set_sources([])
            self.files.set_files([])
            self.problems_panel.set_files([])
            return
        self.title.setText(f"<h2>{info.name}</h2>")
        self.rebuild_button.setEnabled(not info.shared)
        self.stats.setText(collection_figures(info, health))
        self.sources.set_sources(store.sources(info))
        files = store.files(info)
        # Pictures with no text are listed with the files ("No text found"), not as files that failed.
        no_text = {f.path for f in files if f.status == "skipped" and found_no_text(f.reason)}
        self.files.set_files([f for f in files if f.status == "indexed" or f.path in no_text])
        self.file_table.resizeColumnToContents(0)  # whole names: "booking-utf8.txt", not "booking-utf8…"
        self.problems_panel.set_files([f for f in files if f.status == "skipped" and f.path not in no_text])
        problems = self.problems.rowCount()
        self.tabs.setTabText(1, f"Could not be read ({problems})" if problems else "Could not be read")

    # -- indexing ------------------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """The indexing thread started (an endless bar until the first counts) or ran out of work."""
        self.progress_panel.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText("Starting…")

    def show_progress(self, collection: str, progress: index_report.IndexProgress) -> bool:
        """Shows ``progress``; True when it counted files (the lists are then worth reloading)."""
        if progress.phase in ("loading", "scanning", "removing") or not progress.files_total:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(f"{collection}: {progress.message}…")
            return False
        self.progress_bar.setRange(0, progress.files_total)
        self.progress_bar.setValue(progress.files_done)
        current = f" — {progress.message}" if progress.message and progress.phase != "done" else ""
        self.progress_label.setText(f"{collection}: {progress.describe()}{current}")
        return True

    def show_stopping(self) -> None:
        self.progress_label.setText("Stopping after the current file…")
        self.cancel_button.setEnabled(False)
