"""The run page's human-coding buttons: Code rows…, Agreement…, Review disagreements….

Each opens its window for the selected run (one of each at a time, not modal, so a coder can
look at the run's page while coding). The windows read and write SQLite through the section's
RunStore; nothing is held that closing would lose.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QPushButton, QWidget

from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.runs.run_windows import show_run_window


class CodingActions(QObject):
    def __init__(self, store: RunStore, selected: Callable[[], int | None], parent: QWidget) -> None:
        super().__init__(parent)
        self.store = store
        self.selected = selected
        self.window = parent
        self.open_windows: dict[str, QDialog] = {}
        self.code_button = QPushButton("Code rows…")
        self.code_button.setToolTip(
            "Code the rows yourself, one at a time, blind to the model's answer: for agreement between people "
            "and the model (Cohen's κ, Krippendorff's α)"
        )
        self.code_button.clicked.connect(self.open_coding)
        self.agreement_button = QPushButton("Agreement…")
        self.agreement_button.setToolTip(
            "How well the model and the coders agree: percent, Cohen's and Fleiss' κ, Krippendorff's α, with 95% "
            "intervals"
        )
        self.agreement_button.clicked.connect(self.open_agreement)
        self.review_button = QPushButton("Review disagreements…")
        self.review_button.setToolTip("Rows where the model and a coder (or two coders) differ: decide the code")
        self.review_button.clicked.connect(self.open_review)
        self.buttons = [self.code_button, self.agreement_button, self.review_button]

    def _show(self, kind: str, make: Callable[[int], QDialog]) -> QDialog | None:
        return show_run_window(self.open_windows, kind, self.selected(), self.window, make)

    def open_coding(self) -> QDialog | None:
        from desktop_app.ui.runs.coding_view import CodingDialog

        return self._show("coding", lambda run_id: CodingDialog(self.store, run_id, parent=self.window))

    def open_agreement(self) -> QDialog | None:
        from desktop_app.ui.runs.agreement_view import AgreementDialog

        return self._show("agreement", lambda run_id: AgreementDialog(self.store, run_id, parent=self.window))

    def open_review(self) -> QDialog | None:
        from desktop_app.ui.runs.review_view import ReviewDialog

        return self._show("review", lambda run_id: ReviewDialog(self.store, run_id, parent=self.window))
