"""The Compare section: the quantisation lab.

Pick two or more variants of a model (grouped by base model), optionally make new
ones, choose the evaluation text and a prompt, and run: every variant is measured
in its own process (memory, speed, perplexity, KL divergence and top-1 agreement
against the reference) and answers the prompt, streamed side by side. Every run is
saved; History re-opens, exports (CSV, JSON, PNG) and deletes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import HearthError
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.measure import SAMPLE_TEXT_LABEL, CompareEvent, EvalText, measuring_order, run_comparison
from desktop_app.core.quantlab.quantize import QuantizeResult
from desktop_app.core.quantlab.results import CompareSettings, ComparisonRun
from desktop_app.core.quantlab.variants import Variant, group_variants, local_variants, same_model
from desktop_app.core.settings import Settings
from desktop_app.ui.compare.answers import AnswersPanel
from desktop_app.ui.compare.charts import CompareCharts
from desktop_app.ui.compare.frozen_table import FrozenColumnTable
from desktop_app.ui.compare.item_models import (
    CompareTableModel,
    ComparisonListModel,
    build_picker_model,
    checked_variants,
    set_checked,
)
from desktop_app.ui.compare.progress_words import ProgressWords
from desktop_app.ui.compare.quantize_dialog import QuantizeDialog
from desktop_app.ui.compare.workers import BackgroundJob
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

log = logging.getLogger(__name__)

IDLE_HINT = "Tick two or more variants of a model, then Compare."
LISTING_NOTE = "Finding local models…"

TEXT_SAMPLE, TEXT_PASTE, TEXT_FILE = 0, 1, 2


# The table's technical figures, one plain sentence each (the column tooltips keep the details).
READING_GUIDE = (
    "How to read it: bits per weight is how much of each number of the model a file keeps (more is closer "
    "to the original, and larger). Perplexity is how surprised the model is by the text: lower is better. "
    "KL divergence is how far a variant's word choices drift from the reference's: 0 means the same. "
    "Top-1 agreement is how often its likeliest next word is the reference's."
)


# The table's technical figures, one plain sentence each (the column tooltips keep the details).
READING_GUIDE = (
    "How to read it: bits per weight is how much of each number of the model a file keeps (more is closer "
    "to the original, and larger). Perplexity is how surprised the model is by the text: lower is better. "
    "KL divergence is how far a variant's word choices drift from the reference's: 0 means the same. "
    "Top-1 agreement is how often its likeliest next word is the reference's."
)


class CompareView(QWidget):
    run_started = Signal()
    run_finished = Signal(object)  # ComparisonRun
    run_failed = Signal(str, str)  # message, hint
    run_cancelled = Signal()
    variant_made = Signal(object)  # QuantizeResult
    dataset_comparison_requested = Signal(object)  # list[Path]: two ticked variants, to compare on a dataset
    models_listed = Signal()  # the local models are listed (after each refresh)

    def __init__(self, context: object | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.job: BackgroundJob | None = None
        self._progress_words = ProgressWords()
        self.current_run: ComparisonRun | None = None
        self.variants: list[Variant] = []
        self.extra_paths: list[str] = []
        self._loaded_once = False
        self._pending_ticks: set[Path] = set()
        # Listing reads every model's header and scans other apps' folders: off the GUI thread.
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._pending_ratings: dict[int, int | None] = {}
        self._text_file: Path | None = None
        self._order: list[Variant] = []

        self.notice = NoticeBar()
        # -- left: what to compare and how -------------------------------------------------------
        self.picker_model = QStandardItemModel(self)
        self.picker = QTreeView()
        self.picker.setModel(self.picker_model)
        self.picker.setUniformRowHeights(True)
        self.picker.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.picker.setToolTip("Tick two or more variants of a model")
        self.picker_model.itemChanged.connect(self._on_picker_model_item_changed)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_models)
        self.add_file_button = QPushButton("Add file…")
        self.add_file_button.clicked.connect(self._on_add_file_button_clicked)
        self.make_variant_button = QPushButton("Make variant…")
        self.make_variant_button.setToolTip("Quantise a model into another type with llama.cpp")
        self.make_variant_button.clicked.connect(self._on_make_variant_button_clicked)
        picker_buttons = QHBoxLayout()
        picker_buttons.addWidget(self.refresh_button)
        picker_buttons.addWidget(self.add_file_button)
        picker_buttons.addStretch(1)
        picker_buttons.addWidget(self.make_variant_button)

        self.reference = QComboBox()
        self.reference.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reference.setMinimumContentsLength(18)  # long names must not widen the form
        self.reference.setToolTip("The variant the others are measured against")
        self.text_source = QComboBox()
        self.text_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.text_source.setMinimumContentsLength(18)  # long names must not widen the form
        self.text_source.addItems([f"Sample: {SAMPLE_TEXT_LABEL}", "Paste text", "Text file…"])
        self.text_source.currentIndexChanged.connect(self._on_text_source_current_index_changed)
        self.pasted = QPlainTextEdit()
        self.pasted.setPlaceholderText("Paste the text to measure perplexity on: your own kind of writing.")
        self.pasted.setMaximumHeight(90)
        self.pasted.hide()
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        self.file_label.hide()
        self.tokens = QSpinBox()
        self.tokens.setRange(0, 1_000_000)
        self.tokens.setSingleStep(256)
        self.tokens.setSpecialValueText("the whole text")  # 0, as llama-perplexity scores it
        self.tokens.setValue(0)
        self.tokens.setSuffix(" tokens")
        self.tokens.setToolTip(
            "How much of the text to evaluate: the whole text (as llama.cpp's perplexity tool does), or its "
            "first N tokens — fewer is quicker and less steady"
        )
        self.window_size = QSpinBox()
        self.window_size.setRange(32, 8192)
        self.window_size.setSingleStep(64)
        self.window_size.setValue(512)
        self.window_size.setSuffix(" tokens")
        self.window_size.setToolTip("Evaluation window: the second half of each is scored")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Optional: a prompt every variant answers, with the same seed and settings")
        self.prompt.setMaximumHeight(70)
        self.max_answer = QSpinBox()
        self.max_answer.setRange(1, 4096)
        self.max_answer.setValue(256)
        self.max_answer.setSuffix(" tokens")
        self.blind = QCheckBox("Blind: hide which model wrote which answer until I have rated them")
        self.speed_rounds = QSpinBox()
        self.speed_rounds.setRange(1, 9)
        self.speed_rounds.setValue(CompareSettings().speed_rounds)
        self.speed_rounds.setSuffix(" times")
        self.speed_rounds.setToolTip(
            "Speed is measured this many times per model, after a warm-up, taking the models in alternating "
            "order; the table shows the median and the range. More is steadier, and slower."
        )

        form = QFormLayout()
        form.addRow("Reference", self.reference)
        form.addRow("Text", self.text_source)
        form.addRow("", self.pasted)
        form.addRow("", self.file_label)
        form.addRow("Evaluate", self.tokens)
        form.addRow("Window", self.window_size)
        form.addRow("Measure speed", self.speed_rounds)
        form.addRow("Prompt", self.prompt)
        form.addRow("Answer up to", self.max_answer)
        form.addRow("", self.blind)

        self.run_button = QPushButton("Compare")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel(IDLE_HINT)
        self.status.setWordWrap(True)
        self.on_dataset_button = QPushButton("On my dataset…")
        self.on_dataset_button.setToolTip(
            "Is one variant worse than the other on your own task? Run a dataset through two ticked variants "
            "in the Runs section, with accuracy, intervals and McNemar's test"
        )
        self.on_dataset_button.clicked.connect(self._on_on_dataset_button_clicked)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.on_dataset_button)
        run_row.addWidget(self.progress, 1)

        models_box = QGroupBox("Models")
        models_layout = QVBoxLayout(models_box)
        models_layout.addWidget(self.picker, 1)
        models_layout.addLayout(picker_buttons)
        settings_box = QGroupBox("Measure")
        settings_box.setLayout(form)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(models_box, 1)
        left_layout.addWidget(settings_box)
        left_layout.addLayout(run_row)
        left_layout.addWidget(self.status)

        # -- right: results, answers, history -----------------------------------------------------
        self.table_model = CompareTableModel(self)
        self.table_proxy = QSortFilterProxyModel(self)
        self.table_proxy.setSourceModel(self.table_model)
        self.table_proxy.setSortRole(ItemRole.sort)
        self.table = FrozenColumnTable()  # the model's name stays in view beside any column
        self.table.setModel(self.table_proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.charts = CompareCharts()
        self.run_info = QLabel("")
        self.run_info.setWordWrap(True)
        self.run_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this run as CSV, JSON or a PNG picture of the table and charts")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.results_page = QWidget()
        results_layout = QVBoxLayout(self.results_page)
        results_split = QSplitter(Qt.Orientation.Vertical)
        results_split.addWidget(self.table)
        results_split.addWidget(self.charts)
        results_split.setStretchFactor(0, 1)
        results_split.setStretchFactor(1, 1)
        results_layout.addWidget(results_split, 1)
        self.reading_guide = QLabel(READING_GUIDE)
        self.reading_guide.setObjectName("hintLabel")
        self.reading_guide.setWordWrap(True)
        results_layout.addWidget(self.reading_guide)
        self.reading_guide = QLabel(READING_GUIDE)
        self.reading_guide.setObjectName("hintLabel")
        self.reading_guide.setWordWrap(True)
        results_layout.addWidget(self.reading_guide)
        # The table has a column per figure: on a small screen the form beside it can step aside.
        self.wide_button = QPushButton("Hide the form")
        self.wide_button.setCheckable(True)
        self.wide_button.setToolTip("Give the results the whole width (the form comes back with the same button)")
        self.wide_button.toggled.connect(self._on_wide_button_toggled)
        info_row = QHBoxLayout()
        info_row.addWidget(self.run_info, 1)
        info_row.addWidget(self.wide_button, 0, Qt.AlignmentFlag.AlignTop)
        info_row.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        results_layout.addLayout(info_row)

        self.answers = AnswersPanel()
        self.answers.rating_changed.connect(self._on_answers_rating_changed)

        self.history_model = ComparisonListModel(self)
        self.history = QListView()
        self.history.setModel(self.history_model)
        self.history.doubleClicked.connect(self._on_history_double_clicked)
        self.open_run_button = QPushButton("Open")
        self.open_run_button.clicked.connect(self._on_open_run_button_clicked)
        self.delete_run_button = QPushButton("Delete")
        self.delete_run_button.clicked.connect(self._on_delete_run_button_clicked)
        history_buttons = QHBoxLayout()
        history_buttons.addStretch(1)
        history_buttons.addWidget(self.open_run_button)
        history_buttons.addWidget(self.delete_run_button)
        history_page = QWidget()
        history_layout = QVBoxLayout(history_page)
        history_layout.addWidget(self.history, 1)
        history_layout.addLayout(history_buttons)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.results_page, "Results")
        self.tabs.addTab(self.answers, "Answers")
        self.tabs.addTab(history_page, "History")

        self.form_panel = left
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    # -- state ---------------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        live = getattr(self.context, "settings", None)
        return live if isinstance(live, Settings) else settings_store.load()

    @property
    def running(self) -> bool:
        return self.job is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded_once:
            self._loaded_once = True
            self.refresh_models()
        if not self.running:
            self.refresh_history()  # runs made meanwhile (e.g. by `hearth compare`) appear

    @Slot()
    def refresh_models(self, tick: list[Path] | None = None) -> None:
        """Re-reads the local models off the GUI thread and groups them; ``models_listed`` fires
        when they are shown. Ticks stay on the same files, and ``tick`` are ticked too."""
        self._pending_ticks.update(Path(p).resolve() for p in tick or [])
        extra = [*self.settings.extra_model_paths, *self.extra_paths]
        if not self.variants:
            self.status.setText(LISTING_NOTE)
        self._jobs.start("models", lambda cancel, _report: local_variants(extra, cancel))
        self._update_buttons()

    @property
    def listing(self) -> bool:
        return self._jobs.busy("models")

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, found: list[Variant]) -> None:
        if self.status.text() == LISTING_NOTE:
            self.status.setText(IDLE_HINT)
        self._show_variants(found)
        self.models_listed.emit()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.notice.show_notice(message, hint)
        self._update_buttons()
        self.models_listed.emit()

    def _show_variants(self, found: list[Variant]) -> None:
        checked = {v.path.resolve() for v in checked_variants(self.picker_model)} | self._pending_ticks
        self._pending_ticks.clear()
        self.variants = found
        # Not blockSignals(): the view must see the rows arrive, or it draws them zero-wide.
        self.picker_model.itemChanged.disconnect(self._on_picker_model_item_changed)
        build_picker_model(group_variants(found), checked, self.picker_model)
        self.picker_model.itemChanged.connect(self._on_picker_model_item_changed)
        for row in range(self.picker_model.rowCount()):
            self.picker.setFirstColumnSpanned(row, QModelIndex(), True)  # the base model's name, in full
        self.picker.expandAll()
        header = self.picker.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self.picker_model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._refresh_reference_choices()
        self._update_buttons()

    def set_checked(self, paths: list[Path]) -> None:
        set_checked(self.picker_model, {Path(p).resolve() for p in paths})

    def checked(self) -> list[Variant]:
        return checked_variants(self.picker_model)

    @Slot()
    def _on_on_dataset_button_clicked(self) -> None:
        self.dataset_comparison_requested.emit([v.path for v in self.checked()[:2]])

    def refresh_history(self) -> None:
        try:
            self.history_model.set_runs(saved_comparisons.list_runs())
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)

    def _refresh_reference_choices(self) -> None:
        current = self.reference.currentData()
        self.reference.blockSignals(True)
        self.reference.clear()
        self.reference.addItem("Automatic: the original file with the most precision", None)
        for v in sorted(self.checked(), key=lambda v: (bool(v.requantized_from), -v.bits_per_weight)):
            self.reference.addItem(f"{v.label} ({v.quant})", str(v.path))
        index = self.reference.findData(current) if current else 0
        self.reference.setCurrentIndex(max(0, index))
        self.reference.blockSignals(False)

    def _update_buttons(self) -> None:
        busy = self.running
        self.run_button.setEnabled(not busy and len(self.checked()) >= 2)
        self.on_dataset_button.setEnabled(len(self.checked()) >= 2)
        self.stop_button.setEnabled(busy and self.job is not None and not self.job.cancelling)
        for widget in (
            self.picker,
            self.refresh_button,
            self.add_file_button,
            self.make_variant_button,
            self.reference,
            self.text_source,
            self.pasted,
            self.tokens,
            self.window_size,
            self.speed_rounds,
            self.prompt,
            self.max_answer,
            self.blind,
            self.open_run_button,
            self.delete_run_button,
        ):
            widget.setEnabled(not busy)
        self.refresh_button.setEnabled(not busy and not self.listing)
        self.export_button.setEnabled(not busy and self.current_run is not None)

    # -- running -------------------------------------------------------------------------------------

    def compare_settings(self) -> CompareSettings:
        config = self.settings
        s = CompareSettings(
            tokens=self.tokens.value(),
            window=self.window_size.value(),
            n_ctx=max(config.load.n_ctx, self.window_size.value()),
            n_threads=config.load.n_threads,
            n_gpu_layers=config.load.n_gpu_layers,
            flash_attn=config.load.flash_attn,
            prompt=self.prompt.toPlainText().strip(),
            speed_rounds=self.speed_rounds.value(),
            system_prompt=config.system_prompt,
            sampling=replace(config.sampling, max_tokens=self.max_answer.value()),
        )
        return s

    def eval_text(self) -> EvalText:
        source = self.text_source.currentIndex()
        if source == TEXT_PASTE:
            return EvalText.pasted(self.pasted.toPlainText())
        if source == TEXT_FILE:
            if self._text_file is None:
                raise HearthError("No text file is chosen.", "Pick one, or use the sample.")
            return EvalText.from_file(self._text_file)
        return EvalText.sample()

    def start_run(self) -> None:
        """Starts a comparison of the ticked variants (what the Compare button does)."""
        if self.running:
            return
        chosen = self.checked()
        try:
            if len(chosen) < 2:
                raise HearthError("Tick at least two models to compare.")
            text = self.eval_text()
            settings = self.compare_settings()
            settings.validate()
            reference = self.reference.currentData()
            self._order = measuring_order(chosen, reference)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.notice.dismiss()
        if not same_model(chosen):
            self.notice.show_notice(
                "These are not all variants of one model.",
                "KL divergence and agreement are only measured against models sharing the reference's vocabulary.",
                NoticeKind.info,
            )
        model_paths = [v.path for v in chosen]
        self.current_run = None
        self._pending_ratings.clear()
        self.table_model.set_results([])
        self.charts.set_results([])
        self.run_info.setText("")
        labels = [f"{v.label} ({v.quant})" for v in self._order]
        self.answers.start(settings.prompt, labels if settings.prompt else [], self.blind.isChecked())

        def work(
            progress: Callable[[Progress], None], cancel: CancelToken, on_event: Callable[[CompareEvent], None]
        ) -> ComparisonRun:
            return run_comparison(
                model_paths, settings, text, reference=reference, progress=progress, cancel=cancel, on_event=on_event
            )

        self.job = BackgroundJob(work, "hearth-compare", self)
        self.job.progress.connect(self._on_job_progress)
        self.job.lab_event.connect(self._on_job_event)
        self.job.finished.connect(self._on_job_finished)
        self.job.failed.connect(self._on_job_failed)
        self.job.cancelled.connect(self._on_job_cancelled)
        self.job.done.connect(self._on_job_done)
        self.progress.setValue(0)
        self.status.setText("Starting…")
        self._progress_words = ProgressWords()
        self._update_buttons()
        self.job.start()
        self.run_started.emit()

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping…")
            self._update_buttons()

    def flush(self) -> None:
        """The window is closing: stop a running comparison and wait for its thread."""
        self._jobs.shutdown()
        if self.job is not None:
            self.job.shutdown()

    @Slot(bool)
    def _on_wide_button_toggled(self, wide: bool) -> None:
        self.form_panel.setVisible(not wide)
        self.wide_button.setText("Show the form" if wide else "Hide the form")

    @Slot()
    def _on_run_button_clicked(self) -> None:
        self.start_run()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop()

    @Slot(object)
    def _on_job_progress(self, progress: Progress) -> None:
        self.progress.setValue(int((progress.fraction or 0.0) * 1000))
        if not (self.job and self.job.cancelling):
            self.status.setText(self._progress_words.describe(progress))

    @Slot(object)
    def _on_job_event(self, event: CompareEvent) -> None:
        if event.kind == "answer":
            self.answers.append(event.index, event.text)
        elif event.kind == "result" and event.result is not None:
            self.table_model.add_result(event.result)
            self.charts.set_results(self.table_model.results)

    @Slot(object)
    def _on_job_finished(self, run: ComparisonRun) -> None:
        self.show_run(run, fresh=True)
        self.tabs.setCurrentWidget(self.results_page)  # the figures are what the user waited for
        for index, rating in self._pending_ratings.items():
            self._save_rating(index, rating)
        self._pending_ratings.clear()
        self.refresh_history()
        failed = [r.name for r in run.results if r.error]
        self.status.setText(
            f"Done in {run.duration_s:.0f} s." + (f" Failed: {', '.join(failed)} (see the table)." if failed else "")
        )
        self.progress.setValue(1000)
        self.run_finished.emit(run)

    @Slot(str, str)
    def _on_job_failed(self, message: str, hint: str) -> None:
        self.notice.show_notice(message, hint)
        self.status.setText("The comparison failed.")
        self.run_failed.emit(message, hint)

    @Slot()
    def _on_job_cancelled(self) -> None:
        self.status.setText("Stopped. Nothing was saved; the rows above are what was measured before.")
        self.progress.setValue(0)
        self.run_cancelled.emit()

    @Slot()
    def _on_job_done(self) -> None:
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self._update_buttons()

    # -- showing and keeping runs ----------------------------------------------------------------------

    def show_run(self, run: ComparisonRun, fresh: bool = False) -> None:
        self.current_run = run
        self.table_model.set_results(run.results)
        self.charts.set_results(run.results)
        when = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
        ref = run.reference
        self.run_info.setText(
            f"Run {run.id} · {when} · {run.n_text_tokens} tokens of {run.text_source} · window "
            f"{run.settings.window} · KL {run.kl_method} · reference {ref.name if ref else '—'} · "
            f"llama-cpp-python {run.machine.get('llama_cpp_version', '')} on {run.machine.get('backend', '')}"
        )
        prompt = run.settings.prompt
        if not fresh:
            labels = [f"{r.name} ({r.quant})" for r in run.results]
            self.answers.start(prompt, labels if prompt else [], blind=False, seed=run.settings.sampling.seed)
        elif prompt:
            self.answers.prompt_label.setText(
                self.answers.prompt_label.text().replace("Prompt: ", f"Seed {run.settings.sampling.seed} · Prompt: ", 1)
            )
        if prompt:
            for index, r in enumerate(run.results):
                self.answers.set_answer(index, r.answer if r.answer is not None else f"(no answer: {r.error})")
                if not fresh:
                    self.answers.set_rating(index, r.rating)
        self._update_buttons()

    @Slot(int, object)
    def _on_answers_rating_changed(self, index: int, rating: int | None) -> None:
        if self.current_run is None or self.current_run.id is None:
            self._pending_ratings[index] = rating
            return
        self._save_rating(index, rating)

    def _save_rating(self, index: int, rating: int | None) -> None:
        run = self.current_run
        if run is None or run.id is None or index >= len(run.results):
            return
        try:
            saved_comparisons.set_rating(run.id, index, rating)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        run.results[index].rating = rating

    def export_current(self, path: Path) -> Path:
        """Writes the shown run to ``path``: .csv, .json, or .png (a picture of the table and charts)."""
        if self.current_run is None:
            raise HearthError("There is no comparison to export yet.")
        if path.suffix.lower() == ".png":
            if not self.results_page.grab().save(str(path)):
                raise HearthError(f"Cannot write “{path}”.")
            return path
        return saved_comparisons.export(self.current_run, path)

    @Slot()
    def _on_export_button_clicked(self) -> None:
        if self.current_run is None:
            return
        name = f"hearth-compare-{self.current_run.id or 'run'}.csv"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the comparison", name, "CSV (*.csv);;JSON (*.json);;PNG picture (*.png)"
        )
        if not path:
            return
        try:
            self.export_current(Path(path))
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
        else:
            self.status.setText(f"Exported to {path}.")

    def selected_run_id(self) -> int | None:
        index = self.history.currentIndex()
        if not index.isValid():
            return None
        return int(index.data(ItemRole.item).id)

    def open_run(self, run_id: int) -> None:
        try:
            run = saved_comparisons.load(run_id)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.show_run(run)
        self.tabs.setCurrentWidget(self.results_page)

    @Slot()
    def _on_open_run_button_clicked(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.open_run(run_id)

    @Slot(object)
    def _on_history_double_clicked(self, index: object) -> None:
        self._on_open_run_button_clicked()

    @Slot()
    def _on_delete_run_button_clicked(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return
        saved_comparisons.delete(run_id)
        if self.current_run is not None and self.current_run.id == run_id:
            self.current_run = None
            self.table_model.set_results([])
            self.charts.set_results([])
            self.run_info.setText("")
        self.refresh_history()
        self._update_buttons()

    # -- inputs ---------------------------------------------------------------------------------------

    @Slot(QStandardItem)
    def _on_picker_model_item_changed(self, _item: QStandardItem) -> None:
        self._refresh_reference_choices()
        self._update_buttons()

    @Slot(int)
    def _on_text_source_current_index_changed(self, source: int) -> None:
        self.pasted.setVisible(source == TEXT_PASTE)
        if source == TEXT_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Evaluation text", "", "Text (*.txt *.md);;All files (*)")
            if path:
                self.set_text_file(Path(path))
            elif self._text_file is None:
                self.text_source.setCurrentIndex(TEXT_SAMPLE)
                return
        self.file_label.setVisible(source == TEXT_FILE and self._text_file is not None)

    def set_text_file(self, path: Path) -> None:
        self._text_file = path
        self.file_label.setText(str(path))
        self.file_label.show()
        if self.text_source.currentIndex() != TEXT_FILE:
            self.text_source.blockSignals(True)
            self.text_source.setCurrentIndex(TEXT_FILE)
            self.text_source.blockSignals(False)
            self.pasted.hide()

    @Slot()
    def _on_add_file_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", "", "GGUF models (*.gguf)")
        if path:
            self.extra_paths.append(path)
            self.refresh_models()

    @Slot()
    def _on_make_variant_button_clicked(self) -> None:
        if not self.variants:
            self.notice.show_notice("There is no local model to make a variant of.", "Download or add one first.")
            return
        checked = self.checked()
        dialog = QuantizeDialog(sorted(self.variants, key=lambda v: -v.bits_per_weight), self)
        if checked:
            best = max(checked, key=lambda v: v.bits_per_weight)
            dialog.source.setCurrentIndex(max(0, [v.path for v in dialog.variants].index(best.path)))
        dialog.variant_made.connect(self._on_dialog_variant_made)
        dialog.exec()
        dialog.shutdown()
        dialog.deleteLater()

    @Slot(object)
    def _on_dialog_variant_made(self, result: QuantizeResult) -> None:
        if not result.path.resolve().is_relative_to(paths.models_dir().resolve()):
            self.extra_paths.append(str(result.path))  # outside the models folder: list it anyway
        self.refresh_models(tick=[result.path])
        self.status.setText(f"Made {result.path.name}: ticked for the next comparison.")
        self.variant_made.emit(result)
