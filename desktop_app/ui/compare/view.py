"""The Compare section: the quantisation lab.

Pick two or more variants of a model (grouped by base model), optionally make new
ones, choose the evaluation text and a prompt, and run: every variant is measured
in its own process (memory, speed, perplexity, KL divergence and top-1 agreement
against the reference) and answers the prompt, streamed side by side. Every run is
saved; History re-opens, exports (CSV, JSON, PNG) and deletes them.

The view runs the comparison and keeps the run shown; the form (``form.py``), the
Results tab (``results_page.py``), the Answers tab (``answers.py``) and the History tab
(``history_page.py``) are its parts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QFileDialog, QSplitter, QTabWidget, QVBoxLayout, QWidget

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import HearthError
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.measure import CompareEvent, measuring_order, run_comparison
from desktop_app.core.quantlab.quantize import QuantizeResult
from desktop_app.core.quantlab.results import ComparisonRun
from desktop_app.core.quantlab.variants import Variant, local_variants, same_model
from desktop_app.ui.compare.answers import AnswersPanel
from desktop_app.ui.compare.form import IDLE_HINT, CompareForm
from desktop_app.ui.compare.history_page import HistoryPage
from desktop_app.ui.compare.progress_words import ProgressWords
from desktop_app.ui.compare.quantize_dialog import QuantizeDialog
from desktop_app.ui.compare.results_page import ResultsPage
from desktop_app.ui.compare.workers import BackgroundJob
from desktop_app.ui.context import AppContext
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

log = logging.getLogger(__name__)

LISTING_NOTE = "Finding local models…"


class CompareView(QWidget):
    run_started = Signal()
    run_finished = Signal(object)  # ComparisonRun
    run_failed = Signal(str, str)  # message, hint
    run_cancelled = Signal()
    variant_made = Signal(object)  # QuantizeResult
    dataset_comparison_requested = Signal(object)  # list[Path]: two ticked variants, to compare on a dataset
    models_listed = Signal()  # the local models are listed (after each refresh)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.job: BackgroundJob | None = None
        self._progress_words = ProgressWords()
        self.current_run: ComparisonRun | None = None
        self.variants: list[Variant] = []
        self.extra_paths: list[str] = []
        self._loaded_once = False
        self._pending_ticks: set[Path] = set()
        self._pending_ratings: dict[int, int | None] = {}
        # Listing reads every model's header and scans other apps' folders: off the GUI thread.
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)

        self.notice = NoticeBar()
        self.form = CompareForm()
        self.form.ticks_changed.connect(self._update_buttons)
        self.form.refresh_button.clicked.connect(self.refresh_models)
        self.form.add_file_button.clicked.connect(self._on_add_file_button_clicked)
        self.form.make_variant_button.clicked.connect(self._on_make_variant_button_clicked)
        self.form.run_button.clicked.connect(self.start_run)
        self.form.stop_button.clicked.connect(self.stop)
        self.form.on_dataset_button.clicked.connect(self._on_on_dataset_button_clicked)

        self.results = ResultsPage()
        self.results.export_button.clicked.connect(self._on_export_button_clicked)
        self.results.wide_button.toggled.connect(self._on_wide_button_toggled)
        self.answers = AnswersPanel()
        self.answers.rating_changed.connect(self._on_answers_rating_changed)
        self.history = HistoryPage()
        self.history.open_requested.connect(self.open_run)
        self.history.delete_requested.connect(self.delete_run)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.answers, "Answers")
        self.tabs.addTab(self.history, "History")

        splitter = QSplitter()
        splitter.addWidget(self.form)
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
    def running(self) -> bool:
        return self.job is not None

    @property
    def listing(self) -> bool:
        return self._jobs.busy("models")

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded_once:
            self._loaded_once = True
            self.refresh_models()
        if not self.running:
            self.refresh_history()  # runs made meanwhile (e.g. by `hearth compare`) appear

    def _update_buttons(self) -> None:
        busy = self.running
        self.form.update_buttons(
            busy=busy, listing=self.listing, stoppable=self.job is not None and not self.job.cancelling
        )
        self.history.set_busy(busy)
        self.results.export_button.setEnabled(not busy and self.current_run is not None)

    # -- the local models ----------------------------------------------------------------------------

    @Slot()
    def refresh_models(self, tick: list[Path] | None = None) -> None:
        """Re-reads the local models off the GUI thread and groups them; ``models_listed`` fires
        when they are shown. Ticks stay on the same files, and ``tick`` are ticked too."""
        self._pending_ticks.update(Path(p).resolve() for p in tick or [])
        extra = [*self.context.settings.extra_model_paths, *self.extra_paths]
        if not self.variants:
            self.form.status.setText(LISTING_NOTE)
        self._jobs.start("models", lambda cancel, _report: local_variants(extra, cancel))
        self._update_buttons()

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, found: list[Variant]) -> None:
        if self.form.status.text() == LISTING_NOTE:
            self.form.status.setText(IDLE_HINT)
        self.variants = found
        self.form.show_variants(found, self._pending_ticks)
        self._pending_ticks.clear()
        self._update_buttons()
        self.models_listed.emit()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.notice.show_notice(message, hint)
        self._update_buttons()
        self.models_listed.emit()

    @Slot()
    def _on_on_dataset_button_clicked(self) -> None:
        self.dataset_comparison_requested.emit([v.path for v in self.form.checked()[:2]])

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
        checked = self.form.checked()
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
        self.form.status.setText(f"Made {result.path.name}: ticked for the next comparison.")
        self.variant_made.emit(result)

    # -- running -------------------------------------------------------------------------------------

    @Slot()
    def start_run(self) -> None:
        """Starts a comparison of the ticked variants (what the Compare button does)."""
        if self.running:
            return
        form = self.form
        chosen = form.checked()
        try:
            if len(chosen) < 2:
                raise HearthError("Tick at least two models to compare.")
            text = form.eval_text()
            settings = form.compare_settings(self.context.settings)
            settings.validate()
            reference = form.reference.currentData()
            order = measuring_order(chosen, reference)
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
        self.results.clear()
        labels = [f"{v.label} ({v.quant})" for v in order]
        self.answers.start(settings.prompt, labels if settings.prompt else [], form.blind.isChecked())

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
        form.progress.setValue(0)
        form.status.setText("Starting…")
        self._progress_words = ProgressWords()
        self._update_buttons()
        self.job.start()
        self.run_started.emit()

    @Slot()
    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.form.status.setText("Stopping…")
            self._update_buttons()

    def flush(self) -> None:
        """The window is closing: stop a running comparison and wait for its thread."""
        self._jobs.shutdown()
        if self.job is not None:
            self.job.shutdown()

    @Slot(bool)
    def _on_wide_button_toggled(self, wide: bool) -> None:
        self.form.setVisible(not wide)
        self.results.wide_button.setText("Show the form" if wide else "Hide the form")

    @Slot(object)
    def _on_job_progress(self, progress: Progress) -> None:
        self.form.progress.setValue(int((progress.fraction or 0.0) * 1000))
        if not (self.job and self.job.cancelling):
            self.form.status.setText(self._progress_words.describe(progress))

    @Slot(object)
    def _on_job_event(self, event: CompareEvent) -> None:
        if event.kind == "answer":
            self.answers.append(event.index, event.text)
        elif event.kind == "result" and event.result is not None:
            self.results.add_result(event.result)

    @Slot(object)
    def _on_job_finished(self, run: ComparisonRun) -> None:
        self.show_run(run, fresh=True)
        self.tabs.setCurrentWidget(self.results)  # the figures are what the user waited for
        for index, rating in self._pending_ratings.items():
            self._save_rating(index, rating)
        self._pending_ratings.clear()
        self.refresh_history()
        failed = [r.name for r in run.results if r.error]
        self.form.status.setText(
            f"Done in {run.duration_s:.0f} s." + (f" Failed: {', '.join(failed)} (see the table)." if failed else "")
        )
        self.form.progress.setValue(1000)
        self.run_finished.emit(run)

    @Slot(str, str)
    def _on_job_failed(self, message: str, hint: str) -> None:
        self.notice.show_notice(message, hint)
        self.form.status.setText("The comparison failed.")
        self.run_failed.emit(message, hint)

    @Slot()
    def _on_job_cancelled(self) -> None:
        self.form.status.setText("Stopped. Nothing was saved; the rows above are what was measured before.")
        self.form.progress.setValue(0)
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
        self.results.show_run(run)
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
        return self.results.export(self.current_run, path)

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
            self.form.status.setText(f"Exported to {path}.")

    def refresh_history(self) -> None:
        try:
            self.history.refresh()
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)

    @Slot(int)
    def open_run(self, run_id: int) -> None:
        try:
            run = saved_comparisons.load(run_id)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.show_run(run)
        self.tabs.setCurrentWidget(self.results)

    @Slot(int)
    def delete_run(self, run_id: int) -> None:
        saved_comparisons.delete(run_id)
        if self.current_run is not None and self.current_run.id == run_id:
            self.current_run = None
            self.results.clear()
        self.refresh_history()
        self._update_buttons()
