"""The Runs section: a model over every row of a dataset, scored, resumable and replayable.

Left: the stored runs (also those made with `hearth run`), newest first, and New run. Right: the
form of a new run, or the page of the selected run.

A run generates on the window's one model thread (``ModelHost.run_job``) with the model loaded
there, so the chat's model is never loaded a second time; choosing another model for a run
loads it in the window's place, as the chat's picker would. Progress comes back through queued
signals at most ten times a second; each row is already in SQLite when it is reported, and the
rows table reads them from there. Opening a dataset and checking a task against it run on a
thread pool, so a large file never freezes the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, QObject, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QListView,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken, Throttle
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, LoadedModel
from desktop_app.core.runs import paired as run_compare
from desktop_app.core.runs import provenance, replay, runner
from desktop_app.core.runs.datasets import Dataset, Row, open_dataset
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.runner import RunPlan, RunProgress
from desktop_app.core.runs.storage import RunRecord, RunStore
from desktop_app.core.runs.summary import Summary, summarize
from desktop_app.core.units import human_duration
from desktop_app.ui.context import AppContext
from desktop_app.ui.runs.coding_actions import CodingActions
from desktop_app.ui.runs.diff_dialog import DiffDialog
from desktop_app.ui.runs.item_models import RunListModel
from desktop_app.ui.runs.judge_actions import JudgeActions
from desktop_app.ui.runs.list_actions import RunListActions
from desktop_app.ui.runs.results_panel import RunResults
from desktop_app.ui.runs.sequence import CompareRuns, RunSequence, SecondRun
from desktop_app.ui.runs.setup_panel import RunSetup
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.notice_bar import NoticeBar, NoticeKind

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1
SUMMARY_INTERVAL_S = 1.0
SETUP_PAGE, RESULTS_PAGE = 0, 1
COMPARE_HINT = "Pick a dataset and a task: Hearth runs it with each model, then compares the two runs."


class _RunSignals(QObject):
    """Lives on the GUI thread; emitted from the model thread (so delivered queued)."""

    progress = Signal(object)  # RunProgress
    created = Signal(int)  # the new run's id, once it is stored


class RunsView(QWidget):
    run_started = Signal(int)  # run id
    run_finished = Signal(object)  # Summary (status "done", "paused" or "cancelled")
    run_failed = Signal(str, str)
    estimated = Signal(object)  # runner.TimeEstimate
    dataset_opened = Signal(object)  # Dataset
    compared = Signal(object)  # Comparison
    replayed = Signal(object)  # ReplayReport

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.host = context.models
        self.store = RunStore()
        self._jobs = JobRunner(self, max_threads=2)
        self._server_jobs: JobRunner | None = None  # a run resumed on the server it was made with
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._signals = _RunSignals(self)
        self._signals.progress.connect(self._on_signals_progress)
        self._signals.created.connect(self._on_signals_created)
        self._handlers: dict[int, tuple[Callable[[Any], None], Callable[[str, str], None] | None]] = {}
        self._running_run: int | None = None
        self._cancel_requested = False
        self._sequence = RunSequence()  # plan -> load -> run (-> second model -> compare): what waits
        self._listed_once = False
        self._closed = False
        self._summary_throttle = Throttle(SUMMARY_INTERVAL_S)

        self.notice = NoticeBar()
        # Delete, rename, import and export (ui/runs/list_actions.py).
        self.list_actions = RunListActions(self.store, self.notice, self.selected_run_id, self)
        self.list_actions.run_changed.connect(self._on_list_actions_run_changed)
        self.list_actions.run_deleted.connect(self._on_list_actions_run_deleted)
        self.runs_model = RunListModel(self)
        self.runs_list = QListView()
        self.runs_list.setModel(self.runs_model)
        self.runs_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_list.setWordWrap(True)
        self.runs_list.selectionModel().selectionChanged.connect(self._on_runs_list_selection_changed)
        self.new_button = QPushButton("New run")
        self.new_button.clicked.connect(self.show_setup)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add a run from an archive another Hearth exported")
        self.import_button.clicked.connect(self.list_actions.ask_import)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.list_actions.delete_selected)
        # Two rows of two: one row of four made the list a third of a 1024-pixel window.
        list_buttons = QGridLayout()
        list_buttons.addWidget(self.new_button, 0, 0)
        self.sweep_button = QPushButton("Sweep…")  # sweeps: ui/runs/sweep_dialog.py
        self.sweep_button.setToolTip("Try several prompts and models on the New run form's dataset, fairly")
        self.sweep_button.clicked.connect(self._on_sweep_button_clicked)
        list_buttons.addWidget(self.sweep_button, 1, 0)
        list_buttons.addWidget(self.import_button, 0, 1)
        list_buttons.addWidget(self.delete_button, 1, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.runs_list, 1)
        left_layout.addLayout(list_buttons)

        self.setup = RunSetup()
        self.setup.dataset_requested.connect(self.open_dataset)
        self.setup.estimate_requested.connect(self._on_setup_estimate_requested)
        self.setup.run_requested.connect(self._on_setup_run_requested)
        self.results = RunResults(self.store)
        self.results.pause_requested.connect(self.pause)
        self.results.cancel_requested.connect(self.cancel)
        self.results.resume_requested.connect(self.resume_selected)
        self.results.export_requested.connect(self.list_actions.ask_export)
        self.results.replay_requested.connect(self.replay_selected)
        self.results.compare_requested.connect(self.compare_with)
        # Judged answers and the methods text (ui/runs/judge_actions.py): Judge…, Compare blind…, Methods….
        self.judging = JudgeActions(
            self.store, self.selected_run_id, self.setup.model, self._with_model, self._submit, self.host.stop,
            lambda _run_id: self.refresh_runs(select=self.selected_run_id()), self,
        )  # fmt: skip
        for button in self.judging.buttons:
            self.results.add_action(button)
        # Human coding (ui/runs/coding_actions.py): Code rows…, Agreement…, Review disagreements….
        self.coding = CodingActions(self.store, self.selected_run_id, self)
        for button in self.coding.buttons:
            self.results.add_action(button)
        self.results.rename_requested.connect(self._on_results_rename_requested)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.setup)
        self.pages.addWidget(self.results)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 960])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)

        self.host.job_finished.connect(self._on_host_job_finished)
        self.host.job_failed.connect(self._on_host_job_failed)
        self.host.model_changed.connect(self._on_host_model_changed)
        self.host.load_failed.connect(self._on_host_load_failed)
        self.host.state_changed.connect(self._on_host_state_changed)
        self._update_buttons()

    # -- listing ---------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._listed_once:
            self._listed_once = True
            self.refresh_models()
        self.refresh_runs()
        self._refresh_collections()

    def refresh_runs(self, select: int | None = None) -> None:
        """The stored runs (made here or by `hearth run`), keeping the selection."""
        current = select if select is not None else self.selected_run_id()
        runs = self.store.all_runs()
        self.runs_model.set_runs(runs, self.store.accuracies())
        if current is not None and (row := self.runs_model.row_of(current)) >= 0:
            self.runs_list.setCurrentIndex(self.runs_model.index(row))

    def refresh_models(self) -> None:
        from desktop_app.core.models import library

        extra = list(self.context.settings.extra_model_paths)
        self._jobs.start("models", lambda _cancel, _report: library.list_models(extra))

    def _refresh_collections(self) -> None:
        try:
            self.setup.set_collections([c.name for c in self.context.documents.list_collections()])
        except HearthError as exc:
            log.warning("Collections unavailable: %s", exc)

    def selected_run_id(self) -> int | None:
        index = self.runs_list.currentIndex()
        value = index.data(ItemRole.key) if index.isValid() else None
        return int(value) if value is not None else None

    def _others(self) -> list[RunRecord]:
        return [self.runs_model.item_for(self.runs_model.index(i)) for i in range(self.runs_model.rowCount())]

    def show_run(self, run_id: int) -> None:
        try:
            record = self.store.get(run_id)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.results.show_run(record, summarize(self.store, run_id, record), self._others())
        self.results.set_running(self._running_run == run_id)
        self.pages.setCurrentIndex(RESULTS_PAGE)

    @Slot()
    def show_setup(self) -> None:
        """The form of a new run, as it was left (no run stays current, so coming back to the
        section shows the form again rather than the last run's page)."""
        self.runs_list.clearSelection()
        self.runs_list.setCurrentIndex(QModelIndex())
        self.pages.setCurrentIndex(SETUP_PAGE)

    def prepare_comparison(self, models: list[Path]) -> None:
        """From the quantisation lab: the same task with two variants, then compared."""
        self.show_setup()
        self.setup.choose_models(models[0] if models else None, models[1] if len(models) > 1 else None)
        self.notice.show_notice(COMPARE_HINT, kind=NoticeKind.info)

    # -- the dataset --------------------------------------------------------------------------------

    @Slot(object)
    def open_dataset(self, path: Path) -> None:
        self.setup.dataset_label.setText(f"Reading {Path(path).name}…")

        def work(_cancel: CancelToken, _report: Callable[[Any], None]) -> tuple[Dataset, list[Row]]:
            dataset = open_dataset(path)
            return dataset, dataset.preview(5)

        self._jobs.start("dataset", work)

    # -- running ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running_run is not None or bool(self._handlers)

    def _update_buttons(self, *_args: object) -> None:
        busy = self.host.busy or self.running
        self.setup.run_button.setEnabled(not busy)
        self.setup.estimate_button.setEnabled(not busy)
        self.delete_button.setEnabled(not self.running)

    def _with_model(self, path: Path | None, then: Callable[[], None], template: str | None = None) -> None:
        """Runs ``then`` once ``path`` is the window's loaded model (loading it there if not, with
        ``template``, else the user's chat template for the file)."""
        if path is None:
            self.notice.show_notice("Choose a model for the run.", "Models are listed once they are found.")
            return
        loaded = self.host.model
        if loaded is not None and loaded.path.resolve() == Path(path).resolve():
            then()
            return
        if self.host.busy:
            self.notice.show_notice("The model is busy.", "Wait for it to finish, or press Stop.")
            return
        self._sequence.load_then(Path(path), then)
        self.notice.show_notice(
            f"Loading {Path(path).name} for the run (it replaces the chat's model)…", kind=NoticeKind.info
        )
        chosen = template or self.context.settings.template_for(path)
        self.host.load(Path(path), self.context.settings.load, chosen)

    def _submit(
        self,
        work: Callable[[Engine, str, CancelToken], Any],
        done: Callable[[Any], None],
        failed: Callable[[str, str], None] | None = None,
    ) -> None:
        try:
            request = self.host.run_job(work)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self._handlers[request.request_id] = (done, failed)
        self._update_buttons()

    def _progress_emitter(self) -> Callable[[RunProgress], None]:
        throttle = Throttle(PROGRESS_INTERVAL_S)
        signals = self._signals

        def emit(progress: RunProgress) -> None:  # on the model thread
            if throttle.ready(force=progress.done >= progress.total):
                signals.progress.emit(progress)

        return emit

    def _plan_then(self, then: Callable[[RunPlan], None]) -> None:
        """Checks the form's task against its dataset off the GUI thread, then calls ``then``."""
        dataset = self.setup.dataset
        if dataset is None:
            self.notice.show_notice("Choose a dataset first.", "Drop a file on this page, or press Choose file….")
            return
        try:
            task = self.setup.task()
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.notice.dismiss()
        self._sequence.plan_then(then)
        path = dataset.path
        self._jobs.start("plan", lambda _cancel, _report: runner.plan_run(path, task))

    @Slot()
    def _on_setup_estimate_requested(self) -> None:
        self._plan_then(lambda plan: self._with_model(self.setup.model_path(), lambda: self._estimate(plan)))

    def _estimate(self, plan: RunPlan) -> None:
        self.setup.show_estimate("Running the first rows…")

        def shown(estimate: runner.TimeEstimate) -> None:
            answers = "; ".join(repr(r.output.strip()[:40]) if not r.error else r.error for r in estimate.rows)
            self.setup.show_estimate(
                f"About {estimate.seconds_per_row:.2f} s a row: {human_duration(estimate.total_s)} for "
                f"{plan.n:,} rows. First answers: {answers}"
            )
            self.estimated.emit(estimate)

        self._submit(lambda engine, sha, cancel: runner.estimate(plan, LocalGenerator(engine, sha), 3, cancel), shown)

    @Slot()
    def _on_setup_run_requested(self) -> None:
        def planned(plan: RunPlan) -> None:
            first = self.setup.model_path()
            self._sequence.start_pair(plan, first, self.setup.second_model_path())
            self._with_model(first, lambda: self._start(plan))

        self._plan_then(planned)

    def _start(self, plan: RunPlan) -> None:
        emit, signals = self._progress_emitter(), self._signals
        self._cancel_requested = False

        def work(engine: Engine, sha: str, cancel: CancelToken) -> Summary:
            return runner.start(plan, LocalGenerator(engine, sha), None, emit, cancel, on_created=signals.created.emit)

        self._submit(work, self._on_run_done, self._on_run_failed)

    @Slot()
    def resume_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None and not self._resume_on_server(run_id):
            self._for_run_model(run_id, lambda: self._resume(run_id))

    def _resume_on_server(self, run_id: int) -> bool:
        """A run made on a server continues on that server (storage), off the GUI thread;
        False for a local run."""
        model = self.store.get(run_id).manifest.model
        if model.kind != "remote":
            return False
        from desktop_app.core.runs.remote_generator import for_run

        emit = self._progress_emitter()
        endpoints = list(self.context.settings.endpoints)
        self._cancel_requested = False
        self._running_run = run_id
        self.results.set_running(True)

        def work(cancel: CancelToken, _report: Any) -> Summary:
            backend = for_run(model, endpoints)
            try:
                return runner.resume(run_id, backend, None, emit, cancel)
            finally:
                backend.close()

        if self._server_jobs is None:
            self._server_jobs = JobRunner(self, max_threads=1)
            self._server_jobs.succeeded.connect(lambda _kind, summary: self._on_run_done(summary))
            self._server_jobs.failed.connect(lambda _kind, message, hint: self._on_run_failed(message, hint))
        self._server_jobs.start("resume", work)
        return True

    def _resume(self, run_id: int) -> None:
        emit = self._progress_emitter()
        self._cancel_requested = False
        self._running_run = run_id
        self.results.set_running(True)

        def work(engine: Engine, sha: str, cancel: CancelToken) -> Summary:
            return runner.resume(run_id, LocalGenerator(engine, sha), None, emit, cancel)

        self._submit(work, self._on_run_done, self._on_run_failed)

    @Slot()
    def replay_selected(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return

        def go() -> None:
            emit, signals = self._progress_emitter(), self._signals

            def work(engine: Engine, sha: str, cancel: CancelToken) -> replay.ReplayReport:
                signals.created.emit(run_id)
                return replay.replay(run_id, LocalGenerator(engine, sha), None, emit, cancel)

            self._submit(work, self._on_replayed, self._on_run_failed)

        self._for_run_model(run_id, go)

    def _for_run_model(self, run_id: int, then: Callable[[], None]) -> None:
        """Finds the run's model by its sha256 (off the GUI thread: hashing takes a while the first
        time), then runs ``then`` with it loaded."""
        record = self.store.get(run_id)
        model = record.manifest.model
        if self.host.model is not None and model.sha256 and self.host.sha256 == model.sha256:
            then()
            return
        extra = list(self.context.settings.extra_model_paths)
        self._sequence.locate_then(then, model)
        self._jobs.start("locate", lambda _cancel, _report: provenance.locate_model(model, extra))

    @Slot()
    def pause(self) -> None:
        self.host.stop()
        if self._server_jobs is not None:
            self._server_jobs.cancel("resume")

    @Slot()
    def cancel(self) -> None:
        self._cancel_requested = True
        self.host.stop()
        if self._server_jobs is not None:
            self._server_jobs.cancel("resume")

    def compare_with(self, other: int) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return
        try:
            result = run_compare.compare(self.store, run_id, other)
        except HearthError as exc:
            self.notice.show_notice(exc.message, exc.hint)
            return
        self.compared.emit(result)
        DiffDialog.for_comparison(result, self).open()

    # -- reports --------------------------------------------------------------------------------------

    @Slot(int)
    def _on_signals_created(self, run_id: int) -> None:
        self._running_run = run_id
        self.refresh_runs(select=run_id)
        self.show_run(run_id)
        self.results.set_running(True)
        self.run_started.emit(run_id)

    @Slot(object)
    def _on_signals_progress(self, progress: RunProgress) -> None:
        if self.results.record is not None and self.results.record.id == progress.run_id:
            self.results.show_progress(progress)
        if self._summary_throttle.ready():  # SQL over the stored rows: cheap, not free
            record = self.store.get(progress.run_id)
            summary = summarize(self.store, progress.run_id, record)
            self.runs_model.update_run(record, summary.accuracy)
            if self.results.record is not None and self.results.record.id == progress.run_id:
                self.results.update_summary(summary)

    def _on_run_done(self, summary: Summary) -> None:
        run_id = summary.run_id
        self._running_run = None
        if self._cancel_requested and summary.status != "done":
            self.store.set_status(run_id, "cancelled", f"Cancelled after {summary.done:,} of {summary.n:,} rows.")
            summary = summarize(self.store, run_id)
        self.refresh_runs(select=run_id)
        self.show_run(run_id)
        self.run_finished.emit(summary)
        self._next_model(summary)

    def _next_model(self, summary: Summary) -> None:
        """After the first of two runs (quantisation lab, "Then also"): the second, then both compared."""
        step = self._sequence.after_run(summary)
        if isinstance(step, SecondRun):
            plan = step.plan
            self._with_model(step.model, lambda: self._start(plan))
        elif isinstance(step, CompareRuns):
            self.runs_list.setCurrentIndex(self.runs_model.index(self.runs_model.row_of(step.first)))
            self.compare_with(step.second)

    def _on_run_failed(self, message: str, hint: str) -> None:
        run_id, self._running_run = self._running_run, None
        self._sequence.run_failed()
        if message:
            self.notice.show_notice(message, hint)
            self.run_failed.emit(message, hint)
        self.refresh_runs(select=run_id)
        if run_id is not None:
            self.show_run(run_id)

    def _on_replayed(self, report: replay.ReplayReport) -> None:
        self._running_run = None
        self.refresh_runs(select=report.replay)
        self.show_run(report.replay)
        self.replayed.emit(report)
        DiffDialog.for_replay(report, self).open()

    @Slot(int, object)
    def _on_host_job_finished(self, request_id: int, result: object) -> None:
        handlers = self._handlers.pop(request_id, None)
        if handlers is not None:
            handlers[0](result)
        self._update_buttons()  # after the handler: it clears the finished run

    @Slot(int, str, str)
    def _on_host_job_failed(self, request_id: int, message: str, hint: str) -> None:
        handlers = self._handlers.pop(request_id, None)
        if handlers is not None and handlers[1] is not None:
            handlers[1](message, hint)
        elif handlers is not None and message:
            self.notice.show_notice(message, hint)
            self.setup.show_estimate("")
        self._update_buttons()  # after the handler: it clears the finished run

    @Slot(object)
    def _on_host_model_changed(self, _model: LoadedModel | None) -> None:
        self._continue_after_load()

    @Slot(object)
    def _on_host_state_changed(self, _state: object) -> None:
        self._update_buttons()
        self._continue_after_load()

    def _continue_after_load(self) -> None:
        """Goes on with what waited for a model once it is loaded *and* the host is free: the host
        reports the new model a moment before it leaves its loading state, and a job submitted in
        between is refused as busy (the "Then also" run that never started)."""
        model = self.host.model
        then = self._sequence.take_loaded(model.path if model is not None else None, self.host.busy)
        if then is None:
            return
        self.notice.dismiss()
        then()
        self._update_buttons()

    @Slot(str, str)
    def _on_host_load_failed(self, message: str, hint: str) -> None:
        if self._sequence.load_failed():
            self.notice.show_notice(message, hint)

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: Any) -> None:
        if kind == "models":
            models = sorted(((m.name, m.path) for m in result), key=lambda nm: nm[0].lower())
            self.setup.set_models(models, self.host.model.path if self.host.model else None)
        elif kind == "dataset":
            dataset, rows = result
            self.setup.set_dataset(dataset, rows)
            self.dataset_opened.emit(dataset)
        elif kind == "plan":
            self._sequence.planned(result)
        elif kind == "locate" and (located := self._sequence.located()) is not None:
            then, model = located
            path = Path(result)
            self._with_model(
                path, then, provenance.template_preference(model, self.context.settings.template_for(path))
            )

    @Slot(str, str, str)
    def _on_jobs_failed(self, kind: str, message: str, hint: str) -> None:
        if kind == "dataset":
            self.setup.dataset_label.setText(message)
            self.setup.dataset = None
            self.setup.preview_model.set_rows([], [])
        self.notice.show_notice(message, hint)

    # -- list actions -----------------------------------------------------------------------------

    @Slot(QItemSelection, QItemSelection)
    def _on_runs_list_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        run_id = self.selected_run_id()
        if run_id is not None:
            self.show_run(run_id)

    @Slot()
    def _on_results_rename_requested(self) -> None:
        run_id = self.selected_run_id()
        if run_id is not None and self.results.record is not None:
            self.list_actions.ask_rename(run_id, self.results.record.title, self.results.record.note)

    @Slot(int)
    def _on_list_actions_run_changed(self, run_id: int) -> None:
        self.refresh_runs(select=run_id)
        self.show_run(run_id)

    @Slot()
    def _on_list_actions_run_deleted(self) -> None:
        self.refresh_runs()
        self.show_setup()

    @Slot()
    def _on_sweep_button_clicked(self) -> None:
        from desktop_app.ui.runs.sweep_dialog import open_sweep

        open_sweep(self)

    def flush(self) -> None:
        """The window is closing: stop the section's background work (a run in progress on the
        model thread is paused by the window, and resumes later)."""
        if not self._closed:
            self._closed = True
            self._jobs.shutdown()
            if self._server_jobs is not None:
                self._server_jobs.shutdown()
            self.store.close()
