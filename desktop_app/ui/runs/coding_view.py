"""Code rows…: a person codes a run's rows one at a time, blind to the model's answer.

The row's input on the left; the codebook on the right (each label with its definition and
example, keys 1–9); a note under it. Every key press and every character of a note is written
to SQLite at once (core/runs/coding.py), so closing the window loses nothing, and opening it
again goes on from the first row this coder has neither coded nor skipped.

The model's answer is hidden on a labels codebook (the coder codes the input independently)
and shown on a rating scale or pass/fail (the answer is what is rated), but never which model
wrote it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.coding import Codebook, CodeStore
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.safe_text import SafeTextBrowser

BACK_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_PageUp, Qt.Key.Key_Backspace)
SKIP_KEYS = (Qt.Key.Key_Right, Qt.Key.Key_PageDown)


class _NoteEdit(QPlainTextEdit):
    """The note: Escape hands the keys back to coding instead of closing the window."""

    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class CodingDialog(QDialog):
    coded = Signal(int, object)  # row index, code (None: taken back or skipped)

    def __init__(self, store: RunStore, run_id: int, coder: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.codes = CodeStore(store)
        self.run_id = run_id
        record = store.get(run_id)
        self.codebook: Codebook = self.codes.codebook(run_id)
        self.order = self.codes.row_indices(run_id)
        self._position = {index: i for i, index in enumerate(self.order)}
        self.current: int | None = None
        self._row: RowResult | None = None
        self._loading = False
        self.setWindowTitle(f"Code rows — {record.title}")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.coder_box = QComboBox()
        self.coder_box.setEditable(True)
        self.coder_box.addItems(self.codes.coders())
        self.coder_box.setToolTip("Who is coding: each coder's codes are kept apart, for agreement between coders")
        line = self.coder_box.lineEdit()
        if line is not None:
            line.setPlaceholderText("Your name")
            line.editingFinished.connect(self._on_coder_chosen)
        self.coder_box.activated.connect(self._on_coder_chosen)
        self.progress = Label()
        self.progress.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(Label("Coder:"))
        top.addWidget(self.coder_box, 1)
        top.addWidget(self.progress, 2)

        self.row_text = SafeTextBrowser()  # shows a dataset's rows and a model's answers
        self.row_text.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.row_text.setOpenLinks(False)
        self.show_answer = QCheckBox("Show the answer")
        self.show_answer.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_answer.setToolTip(
            "Blind coding: hidden by default when you code the input yourself, so the model's answer cannot sway "
            "you. Which model answered is never shown."
        )
        self.show_answer.setChecked(self.codebook.kind != "labels")
        self.show_answer.toggled.connect(self._render_row)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.row_text, 1)
        left_layout.addWidget(self.show_answer)

        self.label_buttons: list[QPushButton] = []
        self.book_area = QScrollArea()
        self.book_area.setWidgetResizable(True)
        self.book_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._build_codebook()

        self.note = _NoteEdit()
        self.note.setPlaceholderText("A note on this row (saved as you type; Esc returns to coding)")
        self.note.setMaximumHeight(90)
        self.note.textChanged.connect(self._on_note_text_changed)
        self.note.escaped.connect(self.setFocus)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.codebook_button = QPushButton("Edit…")
        self.codebook_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.codebook_button.setToolTip("The labels, each with a definition and an example; a rating scale; pass/fail")
        self.codebook_button.clicked.connect(self.edit_codebook)
        book_title = QHBoxLayout()
        book_title.addWidget(Label("Codebook"), 1)
        book_title.addWidget(self.codebook_button)
        right_layout.addLayout(book_title)
        right_layout.addWidget(self.book_area, 1)
        right_layout.addWidget(self.note)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([600, 400])

        self.back_button = QPushButton("← Back")
        self.back_button.setToolTip("The row before (Left arrow, Page Up)")
        self.back_button.clicked.connect(self.back)
        self.skip_button = QPushButton("Skip →")
        self.skip_button.setToolTip("Leave this row without a code and go on (Right arrow, Page Down)")
        self.skip_button.clicked.connect(self.skip)
        self.message = Label()
        self.message.setWordWrap(True)
        for button in (self.back_button, self.skip_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bottom = QHBoxLayout()
        bottom.addWidget(self.back_button)
        bottom.addWidget(self.skip_button)
        bottom.addWidget(self.message, 1)
        keys = Label("Keys: 1–9 code · ← back · → skip · N note")
        keys.setEnabled(False)
        bottom.addWidget(keys)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        self.resize(980, 640)

        name = coder or self.codes.last_coder(run_id)
        if name:
            self.coder_box.setCurrentText(name)
        self._start()

    # -- the codebook -----------------------------------------------------------------------------

    def _build_codebook(self) -> None:
        """The codebook's choices as buttons (keys 1–9), each with its definition and example."""
        self.label_buttons = []
        book = QWidget()
        grid = QGridLayout(book)
        grid.setColumnStretch(1, 1)
        if self.codebook.instructions:
            intro = Label(self.codebook.instructions)
            intro.setWordWrap(True)
            grid.addWidget(intro, 0, 0, 1, 2)
        for i, label in enumerate(self.codebook.labels):
            key = str(i + 1) if i < 9 else ""
            button = QPushButton(f"{key}  {label.name}" if key else label.name)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(f"Code this row “{label.name}”" + (f" (key {key})" if key else ""))
            button.clicked.connect(lambda _checked=False, name=label.name: self.choose(name))
            self.label_buttons.append(button)
            words = " ".join(
                part
                for part in (
                    html.escape(label.definition),
                    f"<i>e.g. {html.escape(label.example)}</i>" if label.example else "",
                )
                if part
            )
            about = Label(words)
            about.setWordWrap(True)
            about.setTextFormat(Qt.TextFormat.RichText)
            grid.addWidget(button, 2 * i + 1, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(about, 2 * i + 1, 1)
        grid.setRowStretch(2 * len(self.codebook.labels) + 1, 1)
        self.book_area.setWidget(book)

    def edit_codebook(self) -> None:
        from desktop_app.ui.runs.codebook_dialog import CodebookDialog

        dialog = CodebookDialog(self.codebook, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_codebook is not None:
            self.apply_codebook(dialog.result_codebook)
        self.setFocus()

    def apply_codebook(self, codebook: Codebook) -> None:
        """Stores the run's new codebook and codes with it from here on."""
        self.codes.set_codebook(self.run_id, codebook)
        self.codebook = codebook
        self._build_codebook()
        self._render_code()

    # -- the coder ------------------------------------------------------------------------------

    @property
    def coder(self) -> str:
        return self.coder_box.currentText().strip()

    def _on_coder_chosen(self, *_args: object) -> None:
        self._start()
        self.setFocus()

    def _start(self) -> None:
        """Go to the first row this coder has not done (where they stopped)."""
        if not self.coder:
            self._show_message("Type your name to start coding.")
            self._go(self.order[0] if self.order else None)
            return
        try:
            target = self.codes.next_to_code(self.run_id, self.coder)
        except HearthError as exc:
            self._show_message(exc.message)
            return
        if target is None and self.order:
            self._show_message("Every row is coded. Go back to change a code.")
            target = self.order[-1]
        self._go(target)

    # -- moving -----------------------------------------------------------------------------------

    def _go(self, index: int | None) -> None:
        self.current = index
        self._row = self.store.row(self.run_id, index) if index is not None else None
        self._render_row()
        self._render_code()

    def back(self) -> None:
        if self.current is None:
            return
        at = self._position.get(self.current, 0)
        if at > 0:
            self._go(self.order[at - 1])

    def skip(self) -> None:
        if self.current is None or not self._ready():
            return
        self.codes.skip(self.run_id, self.current, self.coder)
        self.coded.emit(self.current, None)
        self._advance()

    def choose(self, code: str) -> None:
        """Codes the current row and goes on to the next row not done."""
        if self.current is None or not self._ready():
            self._render_code()
            return
        self.codes.set_code(self.run_id, self.current, self.coder, code)
        self.coded.emit(self.current, code)
        self._advance()

    def _advance(self) -> None:
        assert self.current is not None
        target = self.codes.next_to_code(self.run_id, self.coder, after=self.current)
        if target is None:
            self._show_message("Every row is coded. Thank you! Go back to change a code.")
            self._render_code()
            return
        self._show_message("")
        self._go(target)

    def _ready(self) -> bool:
        try:
            self.codes.coder_id(self.coder)
        except HearthError as exc:
            self._show_message(f"{exc.message} {exc.hint}".strip())
            self.coder_box.setFocus()
            return False
        return True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        # The keys go to coding once there is a coder; the name box first otherwise.
        (self if self.coder else self.coder_box).setFocus()

    # -- keys -------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            number = int(key) - int(Qt.Key.Key_1)
            if number < len(self.codebook.labels):
                self.choose(self.codebook.labels[number].name)
            return
        if key in BACK_KEYS:
            self.back()
            return
        if key in SKIP_KEYS:
            self.skip()
            return
        if key in (Qt.Key.Key_N, Qt.Key.Key_Tab):
            self.note.setFocus()
            return
        super().keyPressEvent(event)

    # -- showing ----------------------------------------------------------------------------------

    def _render_row(self, *_args: object) -> None:
        row = self._row
        if row is None:
            self.row_text.setHtml("<p>This run has no rows to code.</p>")
            self.progress.setText("")
            return
        parts = [
            f"<h4>{html.escape(name)}</h4><p style='white-space: pre-wrap'>{html.escape(value)}</p>"
            for name, value in row.inputs.items()
        ]
        if self.show_answer.isChecked():
            answer = row.output.strip() or "(no answer)"
            parts.append(f"<h4>Answer</h4><p style='white-space: pre-wrap'>{html.escape(answer)}</p>")
        self.row_text.setHtml("".join(parts))
        at = self._position.get(row.index, 0) + 1
        done, total = self.codes.progress(self.run_id, self.coder) if self.coder else (0, len(self.order))
        self.progress.setText(f"Row {html.escape(row.key)} — {at:,} of {total:,}; {done:,} done by this coder")

    def _render_code(self) -> None:
        try:
            record = self.codes.get(self.run_id, self.current, self.coder) if self.current is not None else None
        except HearthError:  # no name yet, or one a coder cannot have
            record = None
        code = record.code if record else None
        for button, label in zip(self.label_buttons, self.codebook.labels, strict=True):
            button.setChecked(label.name == code)
        self._loading = True
        try:
            self.note.setPlainText(record.note if record else "")
        finally:
            self._loading = False

    def _on_note_text_changed(self) -> None:
        if self._loading or self.current is None or not self.coder:
            return
        try:
            self.codes.set_note(self.run_id, self.current, self.coder, self.note.toPlainText())
        except HearthError as exc:
            self._show_message(exc.message)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
