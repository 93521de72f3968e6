"""The run page's buttons for judged answers and the methods text: Judge…, Compare blind…, Methods….

Each opens its window for the selected run, not modal (the run's page stays usable), one of each
kind at a time: pressing the button again brings the open one forward, or replaces it when
another run is selected.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox, QDialog, QPushButton, QWidget

from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.runs.judge_dialog import Submit, WithModel
from desktop_app.ui.runs.run_windows import show_run_window


class JudgeActions(QObject):
    def __init__(
        self,
        store: RunStore,
        selected: Callable[[], int | None],
        models: QComboBox,
        with_model: WithModel,
        submit: Submit,
        stop: Callable[[], None],
        on_stored: Callable[[int], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.store, self.selected, self.window = store, selected, parent
        self.models, self.with_model, self.submit = models, with_model, submit
        self.stop, self.on_stored = stop, on_stored
        self.open_windows: dict[str, QDialog] = {}
        self.judge_button = QPushButton("Judge…")
        self.judge_button.setToolTip(
            "A second model scores this run's answers against your rubric (or compares two runs, asking both "
            "orders); then check it against a person"
        )
        self.judge_button.clicked.connect(self.open_judge)
        self.blind_button = QPushButton("Compare blind…")
        self.blind_button.setToolTip("Compare this run's answers with another run's yourself, pair by pair, "
                                     "without knowing which is which (win rate, sign test)")  # fmt: skip
        self.blind_button.clicked.connect(self.open_blind)
        self.methods_button = QPushButton("Methods…")
        self.methods_button.setToolTip("A methods section for your paper with every number of this run (Markdown)")
        self.methods_button.clicked.connect(self.open_methods)
        self.buttons = [self.judge_button, self.blind_button, self.methods_button]

    def _show(self, kind: str, make: Callable[[int], QDialog]) -> QDialog | None:
        return show_run_window(self.open_windows, kind, self.selected(), self.window, make)

    def open_judge(self) -> QDialog | None:
        from desktop_app.ui.runs.judge_dialog import JudgeDialog

        return self._show("judge", lambda run_id: JudgeDialog(
            self.store, run_id, self.models, self.with_model, self.submit, self.stop, self.on_stored, self.window
        ))  # fmt: skip

    def open_blind(self) -> QDialog | None:
        from desktop_app.ui.runs.blind_ab import BlindABDialog

        return self._show("blind", lambda run_id: BlindABDialog(self.store, run_id, self.window))

    def open_methods(self) -> QDialog | None:
        from desktop_app.ui.runs.methods_dialog import MethodsDialog

        return self._show("methods", lambda run_id: MethodsDialog(run_id, self.window))

