"""Judge…: a second model scores the selected run's answers against a rubric, or compares them
with another run's in both orders (core/runs/judge.py), then is checked against a person.

The rubric is typed here (one criterion a line: ``name | scale | what it means``) or opened
from a file; the judge's prompt is made from it and shown, and may be edited before it runs
(what runs is what is shown, and it is stored with the run). The judge model is loaded on the
window's model thread once the judged run is stored, replacing the chat's model, so two models
are never in memory together. The judge run is an ordinary run: it appears in the list, can be
stopped and resumed, exported, and has its own methods text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import judge, rubric
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.runner import RunProgress
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.shared.labels import Label

SAMPLE_RUBRIC = """# One criterion a line: name | scale | what it means  (a scale: 1-5, or words: pass, fail)
correct | 1-5 | Agrees with the reference answer, says nothing false
clear | pass, fail | Plain and easy to follow
"""
WithModel = Callable[[Path | None, Callable[[], None]], None]
Submit = Callable[[Callable[[Any, str, CancelToken], Any], Callable[[Any], None], Callable[[str, str], None]], None]


class JudgeDialog(QDialog):
    progressed = Signal(object)  # RunProgress, from the model thread
    judged = Signal(object)  # JudgeReport
    checked = Signal(object)  # Validation

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        models: QComboBox,
        with_model: WithModel,
        submit: Submit,
        stop: Callable[[], None],
        on_stored: Callable[[int], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.run_id = run_id
        self.setProperty("run_id", run_id)
        self.with_model, self.submit, self.stop, self.on_stored = with_model, submit, stop, on_stored
        self.judge_run: int | None = None
        self._prompt_edited = False
        self._filling = False
        self.setWindowTitle(f"Judge — run {run_id}")
        self.resize(900, 760)

        self.model = QComboBox()
        self.model.setToolTip("The judge model: it is loaded once you press Judge (replacing the chat's model)")
        self.model.setModel(models.model())  # the New run form's list of models, kept up to date there
        self.model.setCurrentIndex(models.currentIndex())
        record = store.get(run_id)
        self.compare = QComboBox()
        self.compare.setToolTip("Score this run's answers, or compare them with another run's (asked in both orders)")
        self.compare.addItem("Nothing: score this run's answers", None)
        for other in store.all_runs():
            if other.id != run_id and other.dataset_sha256 == record.dataset_sha256 and other.done:
                self.compare.addItem(f"Compare with run {other.id}: {other.title}", other.id)
        self.rubric = QPlainTextEdit(SAMPLE_RUBRIC)
        self.rubric.setToolTip("The rubric: each criterion with its scale; the judge's output is held to the scales")
        self.open_button = QPushButton("Open rubric file…")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.prompt = QPlainTextEdit()
        self.prompt.setToolTip("What the judge is asked about each answer: {input}, {output}, {reference} "
                               "({first} and {second} when comparing) are filled from each row")  # fmt: skip
        self.system = QPlainTextEdit(judge.JUDGE_SYSTEM)
        self.system.setMaximumHeight(70)
        self.remake_button = QPushButton("Make the prompt again from the rubric")
        self.remake_button.clicked.connect(lambda: self.refill_prompt(force=True))
        self.start_button = QPushButton("Judge")
        self.start_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_button.setToolTip("Load the judge model and judge every answer (Ctrl+Enter)")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the judge; the answers judged so far are kept and it can be resumed")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.status = Label()
        self.status.setWordWrap(True)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("The judge's scores appear here.")
        self.coder = QComboBox()
        self.coder.setEditable(True)
        self.coder.setToolTip("The person whose ratings of this run the judge is checked against")
        self.prepare_button = QPushButton("Rate a sample…")
        self.prepare_button.setToolTip("Set this run's codebook to the criterion's scale and say which rows to rate "
                                       "(rate them in Code rows…)")  # fmt: skip
        self.prepare_button.clicked.connect(self.prepare)
        self.check_button = QPushButton("Check the judge against this person")
        self.check_button.clicked.connect(self.check)
        self.check_label = Label("A judge should be checked against people before its scores are trusted.")
        self.check_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Judge model:", self.model)
        form.addRow("What to judge:", self.compare)
        rubric_row = QHBoxLayout()
        rubric_row.addWidget(self.rubric, 1)
        rubric_row.addWidget(self.open_button)
        form.addRow("Rubric:", rubric_row)
        form.addRow("Judge's prompt:", self.prompt)
        form.addRow("System prompt:", self.system)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remake_button)
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.start_button)
        check_row = QHBoxLayout()
        check_row.addWidget(Label("Person:"))
        check_row.addWidget(self.coder, 1)
        check_row.addWidget(self.prepare_button)
        check_row.addWidget(self.check_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addLayout(check_row)
        layout.addWidget(self.check_label)

        self.progressed.connect(self._on_progressed)
        self.rubric.textChanged.connect(self.refill_prompt)
        self.compare.currentIndexChanged.connect(lambda _i: self.refill_prompt())
        self.prompt.textChanged.connect(self._on_prompt_text_changed)
        self.refill_prompt(force=True)
        self.refresh_people()

    # -- the rubric and the prompt ---------------------------------------------------------------

    def read_rubric(self) -> rubric.Rubric:
        return rubric.parse_text(self.rubric.toPlainText())

    def refill_prompt(self, force: bool = False) -> None:
        """The prompt made from the rubric, unless the user has edited it (``force``: anyway)."""
        if self._prompt_edited and not force:
            return
        try:
            chosen = self.read_rubric()
        except HearthError as exc:
            self.status.setText(f"Rubric: {exc.message}")
            return
        self.status.setText("")
        with_reference = self.store.count(self.run_id, "scored") > 0
        make = judge.default_pair_prompt if self.compare.currentData() is not None else judge.default_prompt
        self._filling = True
        self.prompt.setPlainText(make(chosen, with_reference))
        self._filling = False
        self._prompt_edited = False

    @Slot()
    def _on_prompt_text_changed(self) -> None:
        if not self._filling:
            self._prompt_edited = True

    @Slot()
    def _on_open_button_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a rubric", str(Path.home()), "Rubric (*.txt *.json);;All (*)")
        if name:
            self.open_rubric(Path(name))

    def open_rubric(self, path: Path) -> None:
        try:
            rubric.load(path)  # checked before it replaces what is typed
            self.rubric.setPlainText(path.read_text(encoding="utf-8"))
        except (HearthError, OSError) as exc:
            self.status.setText(str(exc))

    # -- judging ----------------------------------------------------------------------------------

    def start(self) -> None:
        other = self.compare.currentData()
        try:
            chosen = self.read_rubric()
            prompt, system = self.prompt.toPlainText(), self.system.toPlainText()
            if other is None:
                plan = judge.plan_judge(self.store, self.run_id, chosen, prompt, system)
            else:
                plan = judge.plan_pairwise(self.store, self.run_id, int(other), chosen, prompt, system)
        except HearthError as exc:
            self.status.setText(f"{exc.message} {exc.hint}".strip())
            return
        path = self.model.currentData()
        if not path:
            self.status.setText("Choose the judge model first (models are listed once they are found).")
            return
        self.status.setText(f"Loading the judge for {plan.plan.n:,} rows…")
        self.start_button.setEnabled(False)
        self.with_model(Path(path), lambda: self._submit(plan))

    def _submit(self, plan: judge.JudgePlan) -> None:
        progressed = self.progressed
        created: list[int] = []

        def work(engine: Any, sha: str, cancel: CancelToken) -> judge.JudgeReport:
            store = RunStore()  # the model thread's own connection
            try:
                judge.start(plan, LocalGenerator(engine, sha), store, progressed.emit, cancel, created.append)
                return judge.report(store, created[0])
            finally:
                store.close()

        self.stop_button.setEnabled(True)
        self.status.setText(f"Judging {plan.plan.n:,} rows…")
        self.submit(work, self._on_judged, self._on_failed)

    @Slot(object)
    def _on_progressed(self, progress: RunProgress) -> None:
        self.status.setText(f"Judged {progress.done:,} of {progress.total:,} rows ({progress.rows_per_s:.2f} rows/s)")

    def _on_judged(self, report: judge.JudgeReport) -> None:
        self.judge_run = report.run_id
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(f"Done: judge run {report.run_id}, {report.valid:,} of {report.n:,} answers on the scales.")
        self.report.setPlainText(report.describe())
        self.on_stored(report.run_id)
        self.refresh_people()
        self.judged.emit(report)

    def _on_failed(self, message: str, hint: str) -> None:
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(f"{message} {hint}".strip())

    # -- checking the judge against people --------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.refresh_people()  # back from Code rows…: someone may have rated rows since

    def refresh_people(self) -> None:
        """The people who rated this run, and whether the judge can be checked yet."""
        from desktop_app.core.runs.coding import CodeStore

        ready = self.judge_run is not None and self.compare.currentData() is None
        coders = CodeStore(self.store).coders(self.run_id)
        current = self.coder.currentText()
        self.coder.clear()
        self.coder.addItems(coders)
        if current:
            self.coder.setCurrentText(current)
        self.check_button.setEnabled(ready and bool(coders))
        self.prepare_button.setEnabled(ready)

    def prepare(self) -> None:
        from desktop_app.core.runs import judge_validation

        if self.judge_run is None:
            return
        judge_validation.prepare_coding(self.store, self.judge_run)
        rows = judge_validation.sample_rows(self.store, self.judge_run)
        keys = [r.key for i in rows if (r := self.store.row(self.run_id, i)) is not None]
        self.check_label.setText(
            f"Rate these {len(keys):,} rows (drawn at random; enough to know the agreement within about ±10 points) "
            f"in Code rows…, on the first criterion's scale: {', '.join(keys)}"
        )

    def check(self) -> None:
        from desktop_app.core.runs import judge_validation

        if self.judge_run is None:
            return
        try:
            result = judge_validation.validate(self.store, self.judge_run, self.coder.currentText().strip())
        except HearthError as exc:
            self.check_label.setText(f"{exc.message} {exc.hint}".strip())
            return
        self.check_label.setText(result.describe())
        self.checked.emit(result)
