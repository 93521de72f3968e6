"""Review disagreements…: the rows where the raters (the model among them) gave different codes.

Pick a row: its input, the model's answer and every rater's code (with their notes); decide its
code with a label button or keys 1–9. The decision becomes the row's reference; the raters' own
codes stay as they were. Decided rows stay listed (greyed) until "Only rows not decided" hides them.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.coding import CodeDisagreement, CodeStore
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.safe_text import SafeTextBrowser


class ReviewDialog(QDialog):
    decided = Signal(int, object)  # row index, code (None: decision taken back)

    def __init__(self, store: RunStore, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.codes = CodeStore(store)
        self.run_id = run_id
        self.codebook = self.codes.codebook(run_id)
        self.rows: list[CodeDisagreement] = []
        self.setWindowTitle(f"Review disagreements — {store.get(run_id).title}")

        self.only_open = QCheckBox("Only rows not decided")
        self.only_open.toggled.connect(self.refresh)
        self.count = Label()
        top = QHBoxLayout()
        top.addWidget(self.count, 1)
        top.addWidget(self.only_open)

        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._show_row)
        self.detail = SafeTextBrowser()  # shows a dataset's rows and a model's answers
        self.detail.setOpenLinks(False)

        self.buttons: list[QPushButton] = []
        choices = QHBoxLayout()
        choices.addWidget(Label("Decide:"))
        for i, label in enumerate(self.codebook.labels):
            key = f"{i + 1}  " if i < 9 else ""
            button = QPushButton(f"{key}{label.name}")
            button.setToolTip(f"Decide “{label.name}”: it becomes this row's reference; every rater's code is kept")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _checked=False, name=label.name: self.decide(name))
            self.buttons.append(button)
            choices.addWidget(button)
        self.undo = QPushButton("Take back")
        self.undo.setToolTip("Forget the decision: the dataset's reference counts again")
        self.undo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.undo.clicked.connect(self.take_back)
        choices.addStretch(1)
        choices.addWidget(self.undo)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Why (kept with the decision)")
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.detail, 1)
        lower_layout.addWidget(self.note)
        lower_layout.addLayout(choices)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.resize(900, 620)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        keep = self.current()
        self.rows = self.codes.disagreements(self.run_id, include_decided=not self.only_open.isChecked())
        raters: list[str] = []
        for row in self.rows:
            raters += [name for name in row.codes if name not in raters]
        self.table.clear()
        self.table.setColumnCount(2 + len(raters))
        self.table.setHorizontalHeaderLabels(["Row", *raters, "Decided"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setRowCount(len(self.rows))
        grey = QBrush(QColor(130, 130, 130))
        for r, row in enumerate(self.rows):
            cells = [row.key, *[row.codes.get(name) or "—" for name in raters], row.adjudicated or ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if row.adjudicated is not None:
                    item.setForeground(grey)
                self.table.setItem(r, c, item)
        open_rows = sum(1 for row in self.rows if row.adjudicated is None)
        self.count.setText(
            f"{len(self.rows):,} rows where the raters disagree; {open_rows:,} not decided yet."
            if self.rows
            else "No disagreements: every row has one code, or the same code from everyone."
        )
        if keep is not None:
            self.select(keep.index)
        elif self.rows:
            self.table.selectRow(0)
        self._show_row()

    def current(self) -> CodeDisagreement | None:
        model = self.table.selectionModel()
        selected = model.selectedRows() if model else []
        r = selected[0].row() if selected else -1
        return self.rows[r] if 0 <= r < len(self.rows) else None

    def select(self, index: int) -> None:
        for r, row in enumerate(self.rows):
            if row.index == index:
                self.table.selectRow(r)
                return

    def _show_row(self) -> None:
        row = self.current()
        for button in [*self.buttons, self.undo]:
            button.setEnabled(row is not None)
        if row is None:
            self.detail.setHtml("")
            return
        stored = self.store.row(self.run_id, row.index)
        parts = []
        if stored is not None:
            parts += [f"<h4>{html.escape(k)}</h4><p style='white-space: pre-wrap'>{html.escape(v)}</p>"
                      for k, v in stored.inputs.items()]  # fmt: skip
            given = stored.reference
            reference = "" if given is None else f" · the dataset's reference: {html.escape(given)}"
            parts.append(f"<p><b>Row {html.escape(row.key)}</b>{reference}</p>")
        notes = {record.coder: record.note for record in self.codes.row_codes(self.run_id, row.index) if record.note}
        items = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(code or '—')}"
            + (f" — <i>{html.escape(notes[name])}</i>" if name in notes else "")
            + "</li>"
            for name, code in row.codes.items()
        )
        parts.append(f"<ul>{items}</ul>")
        if row.adjudicated is not None:
            parts.append(f"<p>Decided: <b>{html.escape(row.adjudicated)}</b> {html.escape(row.note)}</p>")
        self.detail.setHtml("".join(parts))
        self.undo.setEnabled(row.adjudicated is not None)

    def decide(self, code: str) -> None:
        row = self.current()
        if row is None:
            return
        try:
            self.codes.adjudicate(self.run_id, row.index, code, self.note.text())
        except HearthError as exc:
            self.count.setText(exc.message)
            return
        self.note.clear()
        self.decided.emit(row.index, code)
        at = self.rows.index(row)
        self.refresh()
        # On to the next row not decided.
        following = [r for r in self.rows[at:] + self.rows[:at] if r.adjudicated is None]
        if following:
            self.select(following[0].index)

    def take_back(self) -> None:
        row = self.current()
        if row is None:
            return
        self.codes.clear_adjudication(self.run_id, row.index)
        self.decided.emit(row.index, None)
        self.refresh()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if not self.note.hasFocus() and Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            number = int(key) - int(Qt.Key.Key_1)
            if number < len(self.codebook.labels):
                self.decide(self.codebook.labels[number].name)
            return
        super().keyPressEvent(event)
