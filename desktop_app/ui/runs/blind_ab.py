"""Compare blind…: a person compares two runs' answers pair by pair (core/runs/blind.py).

Each pair shows the question and two answers, left and right, in a random order and on random
sides, with nothing saying which run wrote which. Keys: 1 the left is better, 2 the right is
better, 3 a tie; ← and → move between pairs. Every choice is saved at once, so closing the
window loses nothing and the session resumes at the first pair not rated. No running score is
shown (it would give the sides away); *Finish and reveal* shows the win rate with its interval
and the sign test, and which run was which on every pair, and records that the session was
unblinded.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.blind import BlindComparison
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.shared.labels import Label

SIDE_WORDS = {"left": "the left one is better", "right": "the right one is better", "tie": "a tie"}


KEYS = {Qt.Key.Key_1: "left", Qt.Key.Key_2: "right", Qt.Key.Key_3: "tie"}


def _text_box() -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys belong to the choice (text still selects by mouse)
    return box


class BlindABDialog(QDialog):
    chosen = Signal(int, str)  # position, side: saved
    revealed = Signal(str)  # the result in words

    def __init__(self, store: RunStore, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.run_id = run_id
        self.setProperty("run_id", run_id)
        self.session: BlindComparison | None = None
        self.position = 0
        self.setWindowTitle(f"Compare blind — run {run_id}")
        self.resize(1000, 680)

        record = store.get(run_id)
        self.other = QComboBox()
        for other in store.all_runs():
            if other.id != run_id and other.dataset_sha256 == record.dataset_sha256 and other.done:
                self.other.addItem(f"{other.id}: {other.title}", other.id)
        self.coder = QLineEdit("me")
        self.coder.setToolTip("Your name: each person has a session of their own")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self._on_start_button_clicked)
        top = QHBoxLayout()
        top.addWidget(Label("Compare with run:"))
        top.addWidget(self.other, 1)
        top.addWidget(Label("Your name:"))
        top.addWidget(self.coder)
        top.addWidget(self.start_button)

        self.progress = Label("Choose the other run, then Start.")
        self.question = _text_box()
        self.question.setMaximumHeight(110)
        self.left = _text_box()
        self.right = _text_box()
        self.choice_label = Label()
        answers = QGridLayout()
        answers.addWidget(Label("Left"), 0, 0)
        answers.addWidget(Label("Right"), 0, 1)
        answers.addWidget(self.left, 1, 0)
        answers.addWidget(self.right, 1, 1)
        self.left_button = QPushButton("Left is better (1)")
        self.right_button = QPushButton("Right is better (2)")
        self.tie_button = QPushButton("Tie (3)")
        self.back_button = QPushButton("← Back")
        self.next_button = QPushButton("Next →")
        self.left_button.clicked.connect(lambda: self.choose("left"))
        self.right_button.clicked.connect(lambda: self.choose("right"))
        self.tie_button.clicked.connect(lambda: self.choose("tie"))
        self.back_button.clicked.connect(lambda: self.go(self.position - 1))
        self.next_button.clicked.connect(lambda: self.go(self.position + 1))
        choose = QHBoxLayout()
        for button in (self.back_button, self.left_button, self.tie_button, self.right_button, self.next_button):
            choose.addWidget(button)
        self.reveal_button = QPushButton("Finish and reveal")
        self.reveal_button.setToolTip(
            "Show the result and which run wrote which answer (the session is then unblinded)"
        )
        self.reveal_button.clicked.connect(self.reveal)
        self.result_text = QPlainTextEdit()
        self.result_text.setReadOnly(True)
        self.result_text.setMaximumHeight(150)
        self.result_text.setPlaceholderText(
            "The result appears when you finish: until then nothing shows which run is which."
        )

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(Label("Question"))
        layout.addWidget(self.question)
        layout.addLayout(answers, 1)
        layout.addWidget(self.choice_label)
        layout.addLayout(choose)
        layout.addWidget(self.reveal_button)
        layout.addWidget(self.result_text)
        self._enable(False)
        if self.other.count() == 0:
            self.progress.setText("No other finished run of the same dataset to compare with.")
            self.start_button.setEnabled(False)

    def _enable(self, on: bool) -> None:
        for w in (self.left_button, self.right_button, self.tie_button, self.back_button, self.next_button,
                  self.reveal_button):  # fmt: skip
            w.setEnabled(on)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = Qt.Key(event.key())
        if self.session is not None and key in KEYS:
            self.choose(KEYS[key])
        elif self.session is not None and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.go(self.position + (1 if key == Qt.Key.Key_Right else -1))
        else:
            super().keyPressEvent(event)

    # -- the session ----------------------------------------------------------------------------

    @Slot()
    def _on_start_button_clicked(self) -> None:
        other = self.other.currentData()
        if other is not None:
            self.start(int(other), self.coder.text())

    def start(self, other: int, coder: str) -> None:
        try:
            self.session = BlindComparison.open(self.store, self.run_id, other, coder)
        except HearthError as exc:
            self.progress.setText(f"{exc.message} {exc.hint}".strip())
            return
        self._enable(True)
        self.other.setEnabled(False)
        self.coder.setEnabled(False)
        self.start_button.setEnabled(False)
        if self.session.session.revealed:
            self._show_result()
        self.go(min(self.session.next_open(), self.session.total - 1))

    def go(self, position: int) -> None:
        session = self.session
        if session is None or not 0 <= position < session.total:
            return
        self.position = position
        pair = session.pair(position)
        rated = len(session.choices())
        self.progress.setText(f"Pair {position + 1} of {session.total} — {rated} rated (row {pair.key})")
        self.question.setPlainText(pair.question)
        self.left.setPlainText(pair.left)
        self.right.setPlainText(pair.right)
        side = session.side_chosen(position)
        self.choice_label.setText(f"Your choice: {SIDE_WORDS[side]}." if side else "Not rated yet.")

    def choose(self, side: str) -> None:
        session = self.session
        if session is None:
            return
        session.choose(self.position, side)  # saved at once
        self.chosen.emit(self.position, side)
        following = session.next_open()
        if following >= session.total:  # every pair rated: stay, say so
            self.go(self.position)
            self.progress.setText(self.progress.text() + " — every pair is rated: Finish and reveal when ready.")
        else:
            self.go(following if following > self.position else min(self.position + 1, session.total - 1))

    @Slot()
    def reveal(self) -> None:
        if self.session is not None:
            self.session.reveal()
            self._show_result()

    def _show_result(self) -> None:
        session = self.session
        assert session is not None
        lines = [session.describe(), ""]
        choices = session.choices()
        a, b = session.session.run_a, session.session.run_b
        for position in range(session.total):
            pair = session.pair(position)
            left, right = (a, b) if pair.a_left else (b, a)
            chosen = choices.get(pair.index)
            verdict = {"a": f"you chose run {a}", "b": f"you chose run {b}", "tie": "a tie", None: "not rated"}[chosen]
            lines.append(f"row {pair.key}: left was run {left}, right was run {right}; {verdict}")
        text = "\n".join(lines)
        self.result_text.setPlainText(text)
        self.revealed.emit(lines[0])
