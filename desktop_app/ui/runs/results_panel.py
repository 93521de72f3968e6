"""One run's page: progress with pause, cancel and resume; accuracy with its interval; the
confusion matrix as a picture; per-label, per-field and documents figures; the rows (sortable,
filtered: wrong only, invalid only, failed); the manifest as a table; export, replay, compare-with,
rename / note, and a row for research actions other modules add (``add_action``)."""

from __future__ import annotations

import html
import json

from PySide6.QtCore import QItemSelection, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.runs.runner import RunProgress
from desktop_app.core.runs.storage import RowResult, RunRecord, RunStore
from desktop_app.core.runs.summary import Summary
from desktop_app.core.units import human_duration
from desktop_app.ui.runs.charts import ConfusionMatrixView
from desktop_app.ui.runs.item_models import RunRowsModel
from desktop_app.ui.runs.manifest_view import ManifestView
from desktop_app.ui.shared.labels import Label

FILTERS = [("all", "All rows"), ("wrong", "Wrong only"), ("invalid", "Invalid only"), ("failed", "Failed only")]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def summary_text(summary: Summary) -> str:
    """The headline figures in a few lines of rich text."""
    if summary.accuracy is None:
        head = "<b>Not scored</b>: no row has a reference."
    else:
        head = (
            f"<span style='font-size:16pt'><b>{summary.accuracy:.1%}</b></span> accuracy "
            f"({summary.correct:,} of {summary.n_scored:,} scored, {summary.scorer.replace('_', ' ')}) · "
            f"95% interval {_pct(summary.ci_low)} – {_pct(summary.ci_high)}"
        )
    parts = [head, f"Invalid outputs: {summary.invalid:,} · failed rows: {summary.failed:,}"]
    if summary.per_field:
        fields = ", ".join(f"{name} {entry.accuracy:.0%}" for name, entry in summary.per_field.items())
        parts.append(f"Per field: {fields}")
    if summary.documents:
        d = summary.documents
        recall = (
            f"recall@{d.k} {_pct(d.recall_at_k)} ({d.with_expected_source} rows name a source) · "
            if d.recall_at_k is not None
            else ""
        )
        parts.append(
            f"Documents: {recall}answers citing a source {_pct(d.cited_share)} · "
            f"flagged by the citation check {_pct(d.flagged_share)}"
        )
    return "<br>".join(parts)


def per_label_text(summary: Summary) -> str:
    if not summary.per_label:
        return ""
    lines = [f"{'label':20} {'precision':>9} {'recall':>7} {'F1':>5} {'rows':>5}"]
    for entry in summary.per_label:

        def fmt(value: float | None) -> str:
            return "—" if value is None else f"{value:.2f}"

        lines.append(
            f"{entry.label[:20]:20} {fmt(entry.precision):>9} {fmt(entry.recall):>7} "
            f"{fmt(entry.f1):>5} {entry.support:>5}"
        )
    return "\n".join(lines)


def row_details(row: RowResult) -> str:
    ended = {"stop": "answer complete", "length": "cut at the longest answer allowed"}.get(row.finish, row.finish)
    parts = [f"Row {row.index + 1} (ID {row.key}), seed {row.seed}, {ended}, {row.seconds:.2f} s"]
    if row.inputs:
        parts.append("Input:\n" + "\n".join(f"{k}: {v}" for k, v in row.inputs.items()))
    if row.error:
        parts.append(f"Failed: {row.error}")
    parts += [f"Output:\n{row.output}", f"Reference:\n{row.reference if row.reference is not None else '(none)'}"]
    if row.detail:
        parts.append("Details:\n" + json.dumps(row.detail, indent=2, ensure_ascii=False))
    parts.append(f"Prompt ({row.prompt_tokens} tokens):\n{row.prompt}")
    return "\n\n".join(parts)


class RunResults(QWidget):
    pause_requested = Signal()
    cancel_requested = Signal()
    resume_requested = Signal()
    export_requested = Signal()
    replay_requested = Signal()
    compare_requested = Signal(int)  # the other run's id
    rename_requested = Signal()

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.record: RunRecord | None = None
        self.summary: Summary | None = None

        self.title = Label("")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rename_button = QPushButton("Rename / note…")
        self.rename_button.setToolTip("Give the run a name of your own and keep a note with it")
        self.rename_button.clicked.connect(self.rename_requested)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.rename_button, 0, Qt.AlignmentFlag.AlignTop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_label = Label("")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop after the current row; Resume continues where it stopped")
        self.pause_button.clicked.connect(self.pause_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; the rows done so far are kept")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume_requested)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.pause_button)
        progress_row.addWidget(self.cancel_button)
        progress_row.addWidget(self.resume_button)
        self.summary_label = Label("")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Rows: a lazy model over SQLite, sorted and filtered by SQL.
        self.rows_model = RunRowsModel(store, self)
        self.table = QTableView()
        self.table.setModel(self.rows_model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((45, 60, 220, 200, 110, 60, 55, 60, 80, 60, 90)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.filter = QComboBox()
        for key, label in FILTERS:
            self.filter.addItem(label, key)
        self.filter.currentIndexChanged.connect(self._on_filter_current_index_changed)
        self.rows_count = Label("")
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a row to see its prompt, output and reference.")
        rows_top = QHBoxLayout()
        rows_top.addWidget(self.filter)
        rows_top.addWidget(self.rows_count, 1)
        rows_split = QSplitter(Qt.Orientation.Vertical)
        rows_split.addWidget(self.table)
        rows_split.addWidget(self.detail)
        rows_split.setStretchFactor(0, 3)
        rows_split.setStretchFactor(1, 1)
        rows_page = QWidget()
        rows_layout = QVBoxLayout(rows_page)
        rows_layout.addLayout(rows_top)
        rows_layout.addWidget(rows_split, 1)

        self.confusion = ConfusionMatrixView()
        self.per_label = Label("")
        self.per_label.setTextFormat(Qt.TextFormat.PlainText)
        self.per_label.setStyleSheet("font-family: monospace")
        confusion_page = QWidget()
        confusion_layout = QHBoxLayout(confusion_page)
        confusion_layout.addWidget(self.confusion, 2)
        confusion_layout.addWidget(self.per_label, 1, Qt.AlignmentFlag.AlignTop)

        self.manifest = ManifestView()

        self.tabs = QTabWidget()
        self.tabs.addTab(rows_page, "Rows")
        self.tabs.addTab(confusion_page, "Confusion matrix")
        self.tabs.addTab(self.manifest, "Manifest")

        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("CSV with its manifest, the manifest alone, or an archive another Hearth imports")
        self.export_button.clicked.connect(self.export_requested)
        self.replay_button = QPushButton("Replay")
        self.replay_button.setToolTip("Run it again from its manifest (same model file, seeds) and compare the rows")
        self.replay_button.clicked.connect(self.replay_requested)
        self.compare_with = QComboBox()
        self.compare_with.setToolTip("Another run on the same dataset")
        self.compare_button = QPushButton("Compare")
        self.compare_button.clicked.connect(self._on_compare_button_clicked)
        actions = QHBoxLayout()
        actions.addWidget(self.export_button)
        actions.addWidget(self.replay_button)
        actions.addStretch(1)
        actions.addWidget(Label("Compare with"))
        actions.addWidget(self.compare_with)
        actions.addWidget(self.compare_button)
        # Research actions other modules add (sweeps, coding rows, agreement, judging…): one row, so
        # the page keeps a single place for them however many there are.
        self.research = QHBoxLayout()
        self.research.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(title_row)
        layout.addLayout(progress_row)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(actions)
        layout.addLayout(self.research)
        self.set_running(False)

    def add_action(self, button: QPushButton) -> None:
        """A research action for the selected run (kept in one row under the run's page)."""
        self.research.insertWidget(self.research.count() - 1, button)

    # -- showing a run --------------------------------------------------------------------------

    def show_run(self, record: RunRecord, summary: Summary, others: list[RunRecord]) -> None:
        same = self.record is not None and self.record.id == record.id
        self.record, self.summary = record, summary
        model = record.manifest.model
        self.title.setText(
            f"<b>#{record.id} {html.escape(record.title)}</b><br>{record.state} · "
            f"{html.escape(record.dataset_path)} · model {html.escape(model.name or '?')} "
            f"({html.escape(model.quant or '')}) · seed {record.manifest.seed}"
            + (f"<br>{html.escape(record.message)}" if record.message else "")
            + (f"<br><i>{html.escape(record.note)}</i>" if record.note else "")
        )
        self._show_done(record.done, record.n)
        self.summary_label.setText(summary_text(summary))
        if same:
            self.rows_model.refresh()
        else:
            self.rows_model.set_run(record.id)
            self.detail.clear()
        self._count_rows()
        if summary.confusion is not None and summary.labels is not None:
            self.confusion.set_matrix(summary.labels, summary.confusion)
        else:
            self.confusion.clear()
        self.tabs.setTabVisible(1, summary.confusion is not None)
        self.per_label.setText(per_label_text(summary))
        self.manifest.set_manifest(record.manifest.to_dict())
        self.compare_with.clear()
        for other in others:
            if other.id != record.id and other.dataset_sha256 == record.dataset_sha256:
                self.compare_with.addItem(f"#{other.id} {other.title}", other.id)
        self.compare_button.setEnabled(self.compare_with.count() > 0)
        self.resume_button.setVisible(record.resumable)

    def update_summary(self, summary: Summary) -> None:
        """The figures while a run goes (the rows stored so far)."""
        self.summary = summary
        self.summary_label.setText(summary_text(summary))
        if summary.confusion is not None and summary.labels is not None:
            self.confusion.set_matrix(summary.labels, summary.confusion)
            self.tabs.setTabVisible(1, True)
        self.per_label.setText(per_label_text(summary))

    def _show_done(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)
        self.progress.setFormat(f"{done:,} / {total:,} rows")

    def _count_rows(self) -> None:
        self.rows_count.setText(f"{self.rows_model.rowCount():,} rows shown")

    def show_progress(self, progress: RunProgress) -> None:
        self._show_done(progress.done, progress.total)
        eta = progress.eta_s
        left = f" · {human_duration(eta)} left" if eta is not None and progress.done < progress.total else ""
        self.progress_label.setText(f"{progress.rows_per_s:.2f} rows/s{left}")
        self.rows_model.refresh()
        self._count_rows()

    def set_running(self, running: bool) -> None:
        for button in (self.pause_button, self.cancel_button):
            button.setVisible(running)
        self.resume_button.setVisible(not running and self.record is not None and self.record.resumable)
        for widget in (self.replay_button, self.export_button):
            widget.setEnabled(not running)
        self.compare_button.setEnabled(not running and self.compare_with.count() > 0)
        if not running:
            self.progress_label.setText("")

    # -- events -----------------------------------------------------------------------------------

    @Slot(int)
    def _on_filter_current_index_changed(self, _index: int) -> None:
        self.rows_model.set_filter(str(self.filter.currentData()))
        self.detail.clear()
        self._count_rows()

    @Slot(QItemSelection, QItemSelection)
    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = self.table.selectionModel().selectedRows()
        row = self.rows_model.row_at(indexes[0].row()) if indexes else None
        self.detail.setPlainText(row_details(row) if row else "")

    @Slot()
    def _on_compare_button_clicked(self) -> None:
        other = self.compare_with.currentData()
        if other is not None:
            self.compare_requested.emit(int(other))
