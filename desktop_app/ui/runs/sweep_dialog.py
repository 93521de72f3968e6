"""Sweep…: try several prompts (and system prompts, and models) on the dataset and task of the
New run form, fairly: the rows split into development rows to choose on and test rows to report
on, every combination run as an ordinary run, the results drawn with their intervals.

Each model's cells run as one job on the window's model thread (``ModelHost.run_job``), the
model loaded there first as a run loads it; the next model follows when the job ends. Stop
pauses the sweep (every finished row is stored) and Run continues it with the same cells.
Checking the sweep against the dataset runs on a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine
from desktop_app.core.runs import runner, sweep
from desktop_app.core.runs.datasets import Dataset
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.sweep_results import SweepResults, results
from desktop_app.core.runs.sweep_split import FewShot
from desktop_app.core.runs.tasks import Task
from desktop_app.core.units import human_duration
from desktop_app.ui.context import AppContext
from desktop_app.ui.runs.sweep_view import SweepView
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.wheel_guard import guard_fields

FORM_PAGE, RESULTS_PAGE = 0, 1
PROGRESS_INTERVAL_S = 0.1


class _Signals(QObject):
    progress = Signal(object)  # sweep.SweepProgress, from the model thread


class _TextList(QWidget):
    """Several texts, one box each, with Add and Remove (prompts, system prompts)."""

    def __init__(self, noun: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.noun, self.placeholder = noun, placeholder
        self.boxes: list[QPlainTextEdit] = []
        self._rows: list[QWidget] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton(f"Add {noun}")
        self.add_button.clicked.connect(lambda: self.add(""))
        self.remove_button = QPushButton("Remove the last")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self._layout.addLayout(buttons)

    def add(self, text: str) -> QPlainTextEdit:
        """A box, numbered as the results name it ("prompt 2", "system 2")."""
        box = QPlainTextEdit(text)
        box.setPlaceholderText(self.placeholder)
        box.setMaximumHeight(64)
        box.setTabChangesFocus(True)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(Label(str(len(self.boxes) + 1)), 0, Qt.AlignmentFlag.AlignTop)
        row_layout.addWidget(box, 1)
        self._layout.insertWidget(len(self.boxes), row)
        self.boxes.append(box)
        self._rows.append(row)
        self.remove_button.setEnabled(len(self.boxes) > 1)
        return box

    def texts(self) -> list[str]:
        return [box.toPlainText() for box in self.boxes]

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        if len(self.boxes) > 1:
            self.boxes.pop()
            self._rows.pop().deleteLater()
        self.remove_button.setEnabled(len(self.boxes) > 1)


class SweepDialog(QDialog):
    finished_sweep = Signal(object)  # SweepResults, once every cell is done
    estimated = Signal(float)  # seconds for the whole sweep

    def __init__(
        self,
        context: AppContext,
        dataset: Dataset,
        task: Task,
        models: list[tuple[str, Path]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sweep — {dataset.name}")
        self.context, self.host = context, context.models
        self.dataset, self.task = dataset, task
        self.store = RunStore()
        self.sweep_id: int | None = None
        self.results: SweepResults | None = None
        self._then: Callable[[sweep.SweepPlan], None] = lambda _plan: None
        self._after_load: tuple[Path, Callable[[], None]] | None = None
        self._job: int | None = None
        self._job_done: Callable[[Any], None] = lambda _result: None
        self._stopping = False
        self._closed = False
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_signals_progress)

        # -- what varies ------------------------------------------------------------------------
        self.prompts = _TextList("prompt", "What to ask about each row, with {column} fields")
        self.prompts.add(task.prompt)
        self.prompts.add("")
        self.systems = _TextList("system prompt", "Empty: the model's own default")
        self.systems.add(task.system)
        self.models = QListWidget()
        self.models.setMaximumHeight(110)
        current = self.host.model.path.resolve() if self.host.model is not None else None
        for name, path in models:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if Path(path).resolve() == current else Qt.CheckState.Unchecked)
            self.models.addItem(item)
        if self.models.count() and not self.chosen_models():
            first = self.models.item(0)
            if first is not None:
                first.setCheckState(Qt.CheckState.Checked)
        self.shots = QSpinBox()
        self.shots.setRange(0, 20)
        self.shots.setSpecialValueText("no")
        self.shots.setToolTip("Also try each prompt with this many examples, drawn from the development rows")
        self.split = QCheckBox("Hold back test rows: choose on some rows, report on the others")
        self.split.setChecked(True)
        self.split.setToolTip("A development/test split, stratified by the reference: the fair way to pick a prompt")
        self.dev_fraction = QDoubleSpinBox()
        self.dev_fraction.setRange(0.1, 0.9)
        self.dev_fraction.setSingleStep(0.1)
        self.dev_fraction.setValue(0.5)
        self.dev_fraction.setToolTip("The share of rows prompts are chosen on (the development rows)")
        self.split.toggled.connect(self.dev_fraction.setEnabled)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The same seed splits the rows and draws the examples the same way again")

        form = QWidget()
        form_layout = QVBoxLayout(form)
        prompts_box = QGroupBox("Prompt templates to try")
        QVBoxLayout(prompts_box).addWidget(self.prompts)
        systems_box = QGroupBox("System prompts to try")
        QVBoxLayout(systems_box).addWidget(self.systems)
        options = QGroupBox("Models and rows")
        options_form = QFormLayout(options)
        options_form.addRow("Models", self.models)
        options_form.addRow("Examples", self.shots)
        options_form.addRow(self.split)
        options_form.addRow("Development share", self.dev_fraction)
        options_form.addRow("Seed", self.seed)
        about = Label(
            f"Dataset <b>{dataset.name}</b> ({dataset.n_rows:,} rows), output and reference as in the New run form "
            f"({task.kind}{', reference ' + task.reference if task.reference else ''})."
        )
        about.setWordWrap(True)
        form_layout.addWidget(about)
        self.earlier = QComboBox()
        self.earlier.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.earlier.setMinimumContentsLength(24)
        self.earlier.setToolTip("Sweeps made before on this same file (in the window or with `hearth sweep`)")
        self.show_earlier_button = QPushButton("Show")
        self.show_earlier_button.clicked.connect(self._on_show_earlier_button_clicked)
        earlier_row = QHBoxLayout()
        earlier_row.addWidget(Label("Earlier sweeps of this file"))
        earlier_row.addWidget(self.earlier, 1)
        earlier_row.addWidget(self.show_earlier_button)
        form_layout.addLayout(earlier_row)
        self._list_earlier()
        form_layout.addWidget(prompts_box)
        form_layout.addWidget(systems_box)
        form_layout.addWidget(options)
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form)
        guard_fields(scroll)

        self.view = SweepView()
        self.pages = QStackedWidget()
        self.pages.addWidget(scroll)
        self.pages.addWidget(self.view)

        # -- running ----------------------------------------------------------------------------
        self.status = Label("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.back_button = QPushButton("Change the sweep")
        self.back_button.clicked.connect(self._on_back_button_clicked)
        self.back_button.setVisible(False)
        self.estimate_button = QPushButton("Estimate time")
        self.estimate_button.setToolTip("Runs the first rows with the first model, storing nothing")
        self.estimate_button.clicked.connect(self.estimate)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_sweep)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Pause the sweep: the rows done are kept; Run continues it")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.estimate_button)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.run_sweep)

        self.host.job_finished.connect(self._on_host_job_finished)
        self.host.job_failed.connect(self._on_host_job_failed)
        self.host.state_changed.connect(self._on_host_state_changed)
        self.host.load_failed.connect(self._on_host_load_failed)
        self.resize(760, 640)

    # -- the spec -------------------------------------------------------------------------------

    def chosen_models(self) -> list[sweep.ModelRef]:
        chosen = []
        for row in range(self.models.count()):
            item = self.models.item(row)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                chosen.append(sweep.ModelRef(item.text(), str(item.data(Qt.ItemDataRole.UserRole))))
        return chosen

    def spec(self) -> sweep.SweepSpec:
        shots = [FewShot()] + ([FewShot(k=self.shots.value())] if self.shots.value() else [])
        systems = self.systems.texts()
        return sweep.SweepSpec(
            dataset=str(self.dataset.path),
            task=self.task,
            prompts=[p for p in self.prompts.texts() if p.strip()],
            models=self.chosen_models(),
            systems=list(dict.fromkeys(systems)) or [""],
            shots=shots,
            dev_fraction=self.dev_fraction.value() if self.split.isChecked() else None,
            seed=self.seed.value(),
        )

    def _plan_then(self, then: Callable[[sweep.SweepPlan], None]) -> None:
        try:
            spec = self.spec()
        except HearthError as exc:
            self._say(exc.message, exc.hint)
            return
        self._then = then
        self._say("Checking the prompts against the dataset…")
        self._jobs.start("plan", lambda _cancel, _report: sweep.plan(spec))

    # -- estimate -------------------------------------------------------------------------------

    @Slot()
    def estimate(self) -> None:
        self._plan_then(self._estimate)

    def _estimate(self, checked: sweep.SweepPlan) -> None:
        first = checked.cells[0]
        model = checked.spec.models[first.model]
        task = checked.task(first)

        def work(engine: Engine, sha: str, cancel: CancelToken) -> float:
            plan = runner.plan_run(checked.dataset.path, task)
            return runner.estimate(plan, LocalGenerator(engine, sha), 2, cancel).seconds_per_row

        def shown(per_row: float) -> None:
            total = per_row * checked.total_rows
            others = " (the other models at its speed)" if len(checked.spec.models) > 1 else ""
            self._say(
                f"{len(checked.cells)} cells, {checked.total_rows:,} rows in all: about {human_duration(total)} "
                f"at {per_row:.2f} s a row with {model.name}{others}."
            )
            self.estimated.emit(total)

        self._say(f"Running the first rows with {model.name}…")
        self._with_model(Path(model.path or ""), lambda: self._submit(work, shown))

    # -- running --------------------------------------------------------------------------------

    @Slot()
    def run_sweep(self) -> None:
        if self._job is not None or self._after_load is not None:
            return
        if self._showing_unfinished():
            self._continue()  # after Stop, or an earlier sweep: the same sweep, the same cells
            return
        self._plan_then(self._create)

    def _create(self, checked: sweep.SweepPlan) -> None:
        self.sweep_id = sweep.create(checked, self.store)
        self.progress.setRange(0, checked.total_rows)
        self.progress.setValue(0)
        self._continue()

    def _continue(self) -> None:
        """Runs the next model's cells, or ends the sweep when none are left."""
        assert self.sweep_id is not None
        sweep_id = self.sweep_id
        record = sweep.ensure_test_cell(self.store, sweep.get(self.store, sweep_id))
        models = sweep.models_to_run(self.store, record)
        if self._stopping or not models:
            self._finish()
            return
        sweep.set_status(self.store, sweep_id, "running")
        self._set_running(True)
        model = record.spec.models[models[0]]
        emit, index = self._progress_emitter(), models[0]

        def work(engine: Engine, sha: str, cancel: CancelToken) -> None:
            store = RunStore()  # one connection per thread
            try:
                sweep.run_model(store, sweep_id, index, LocalGenerator(engine, sha), emit, cancel)
            finally:
                store.close()

        self._with_model(Path(model.path or ""), lambda: self._submit(work, lambda _result: self._continue()))

    def _finish(self, message: str = "") -> None:
        assert self.sweep_id is not None
        self._set_running(False)
        stopped = self._stopping
        self._stopping = False
        sweep.settle(self.store, self.sweep_id, message)
        self.show_results(results(self.store, self.sweep_id))
        if self.results is not None and self.results.status == "done":
            self._say("Done. Every cell is an ordinary run in the list, with its rows and manifest.")
            self.finished_sweep.emit(self.results)
        elif stopped:
            self._say("Paused: the rows done are kept. Run continues the same sweep.")

    def show_results(self, found: SweepResults) -> None:
        self.results = found
        self.view.show_results(found)
        self.pages.setCurrentIndex(RESULTS_PAGE)
        self.back_button.setVisible(True)
        self._update_run_label()

    def _showing_unfinished(self) -> bool:
        return (
            self.pages.currentIndex() == RESULTS_PAGE
            and self.sweep_id is not None
            and self.results is not None
            and self.results.status != "done"
        )

    def _update_run_label(self) -> None:
        self.run_button.setText("Continue sweep" if self._showing_unfinished() else "Run sweep")

    def _list_earlier(self) -> None:
        self.earlier.clear()
        for record in sweep.all_sweeps(self.store):
            if record.dataset_sha256 == self.dataset.sha256:
                self.earlier.addItem(f"#{record.id} {record.title} ({record.state})", record.id)
        self.earlier.setEnabled(self.earlier.count() > 0)
        self.show_earlier_button.setEnabled(self.earlier.count() > 0)

    @Slot()
    def _on_show_earlier_button_clicked(self) -> None:
        sweep_id = self.earlier.currentData()
        if sweep_id is None or self._job is not None:
            return
        self.sweep_id = int(sweep_id)
        found = results(self.store, self.sweep_id)
        self.show_results(found)
        self._say("" if found.status == "done" else "Not finished: Continue runs the cells left.")

    @Slot()
    def _on_back_button_clicked(self) -> None:
        self.pages.setCurrentIndex(FORM_PAGE)
        self._list_earlier()
        self._update_run_label()

    @Slot()
    def stop(self) -> None:
        if self._job is not None or self._after_load is not None:
            self._stopping = True
            self._after_load = None
            self.host.stop()
            if self._job is None:
                self._finish()

    def _progress_emitter(self) -> Callable[[sweep.SweepProgress], None]:
        last = [0.0]
        signals = self._signals

        def emit(progress: sweep.SweepProgress) -> None:  # on the model thread
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or progress.run.done >= progress.run.total:
                last[0] = now
                signals.progress.emit(progress)

        return emit

    @Slot(object)
    def _on_signals_progress(self, progress: sweep.SweepProgress) -> None:
        self.progress.setRange(0, progress.rows_total)
        self.progress.setValue(progress.rows_done)
        eta = progress.eta_s
        left = f", about {human_duration(eta)} left" if eta is not None else ""
        self._say(
            f"Cell {progress.cell + 1} of {progress.cells} ({progress.label}): {progress.run.done:,} of "
            f"{progress.run.total:,} rows{left}."
        )

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running or self.progress.value() > 0)
        self.run_button.setEnabled(not running)
        self.estimate_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.back_button.setEnabled(not running)

    # -- the model thread -------------------------------------------------------------------------

    def _with_model(self, path: Path, then: Callable[[], None]) -> None:
        loaded = self.host.model
        if loaded is not None and loaded.path.resolve() == path.resolve():
            then()
            return
        if self.host.busy:
            self._say("The model is busy.", "Wait for it to finish, or press Stop.")
            self._set_running(False)
            return
        self._after_load = (path, then)
        self._say(f"Loading {path.name}…")
        self.host.load(path, self.context.settings.load, self.context.settings.template_for(path))

    def _submit(self, work: Callable[[Engine, str, CancelToken], Any], done: Callable[[Any], None]) -> None:
        try:
            request = self.host.run_job(work)
        except HearthError as exc:
            self._say(exc.message, exc.hint)
            self._set_running(False)
            return
        self._job, self._job_done = request.request_id, done
        self.estimate_button.setEnabled(False)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)

    @Slot(int, object)
    def _on_host_job_finished(self, request_id: int, result: object) -> None:
        if request_id != self._job or self._closed:
            return
        self._job = None
        self._set_running(False)
        self._job_done(result)

    @Slot(int, str, str)
    def _on_host_job_failed(self, request_id: int, message: str, hint: str) -> None:
        if request_id != self._job or self._closed:
            return
        self._job = None
        self._set_running(False)
        if self.sweep_id is not None:
            self._stopping = True
            self._finish(f"Stopped: {message}" if message else "")
        if message:
            self._say(message, hint)

    @Slot(object)
    def _on_host_state_changed(self, _state: object) -> None:
        pending = self._after_load
        model = self.host.model
        if pending is None or self.host.busy or model is None or model.path.resolve() != pending[0].resolve():
            return
        self._after_load = None
        pending[1]()

    @Slot(str, str)
    def _on_host_load_failed(self, message: str, hint: str) -> None:
        if self._after_load is not None:
            self._after_load = None
            self._set_running(False)
            self._say(message, hint)

    # -- workers ----------------------------------------------------------------------------------

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: Any) -> None:
        if kind == "plan":
            self._say("")
            self._then(result)

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self._say(message, hint)

    def _say(self, message: str, hint: str = "") -> None:
        self.status.setText(f"{message} {hint}".strip())

    def done(self, result: int) -> None:
        """Closing pauses the sweep (`hearth sweep resume` continues it) and stops the workers."""
        if not self._closed:
            if self._job is not None or self._after_load is not None:
                self._after_load = None
                self.host.stop()
            self._closed = True
            if self.sweep_id is not None:
                sweep.settle(self.store, self.sweep_id)
            self._jobs.shutdown()
            self.store.close()
        super().done(result)


def open_sweep(view: Any) -> SweepDialog | None:
    """Sweep… in the Runs section: the dataset and task of its New run form, its models."""
    setup = view.setup
    if setup.dataset is None:
        view.notice.show_notice(
            "Choose a dataset and the task first.",
            "In New run: the dataset, the output (labels, say) and the reference column; the sweep tries prompts.",
        )
        return None
    try:
        task = setup.task()
    except HearthError as exc:
        view.notice.show_notice(exc.message, exc.hint)
        return None
    models = [(setup.model.itemText(i), Path(setup.model.itemData(i))) for i in range(setup.model.count())]
    dialog = SweepDialog(view.context, setup.dataset, task, models, view)
    dialog.finished_sweep.connect(lambda _results: view.refresh_runs())
    dialog.finished.connect(lambda _code: view.refresh_runs())
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
