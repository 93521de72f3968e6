"""The codebook of a run, edited: labels (each with a definition and an example), a rating
scale from LOW to HIGH, or pass/fail; and instructions for the coders.

Codes already given stay as they are when the codebook changes.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.coding import Codebook
from desktop_app.ui.shared.labels import Label

KINDS = [("labels", "Labels"), ("scale", "Rating scale"), ("pass_fail", "Pass or fail")]


class CodebookDialog(QDialog):
    def __init__(self, codebook: Codebook, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Codebook")
        self.result_codebook: Codebook | None = None

        self.kind = QComboBox()
        for key, words in KINDS:
            self.kind.addItem(words, key)
        self.kind.setCurrentIndex([key for key, _w in KINDS].index(codebook.kind))
        self.kind.setToolTip("Labels for categories; a rating scale for how good an answer is; or pass/fail")
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.low = QSpinBox()
        self.high = QSpinBox()
        for box in (self.low, self.high):
            box.setRange(0, 20)
        numbers = [int(n) for n in codebook.names if n.isdigit()]
        self.low.setValue(min(numbers) if codebook.kind == "scale" and numbers else 1)
        self.high.setValue(max(numbers) if codebook.kind == "scale" and numbers else 5)
        self.make_scale = QPushButton("Make the scale")
        self.make_scale.setToolTip("One row per point of the scale, each with room for what it means")
        self.make_scale.clicked.connect(self._on_make_scale_clicked)
        top = QHBoxLayout()
        top.addWidget(Label("Coders choose from:"))
        top.addWidget(self.kind)
        top.addStretch(1)
        self.scale_row = QWidget()
        scale_layout = QHBoxLayout(self.scale_row)
        scale_layout.setContentsMargins(0, 0, 0, 0)
        scale_layout.addWidget(Label("From"))
        scale_layout.addWidget(self.low)
        scale_layout.addWidget(Label("to"))
        scale_layout.addWidget(self.high)
        scale_layout.addWidget(self.make_scale)
        top.addWidget(self.scale_row)

        self.instructions = QPlainTextEdit(codebook.instructions)
        self.instructions.setPlaceholderText("Instructions for the coders (optional)")
        self.instructions.setMaximumHeight(70)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Label", "Definition", "Example"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for label in codebook.labels:
            self._add_row(label.name, label.definition, label.example)
        self.add_button = QPushButton("Add a label")
        self.add_button.clicked.connect(lambda: self._add_row("", "", ""))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        rows = QHBoxLayout()
        rows.addWidget(self.add_button)
        rows.addWidget(self.remove_button)
        rows.addStretch(1)
        rows.addWidget(Label("Keys 1–9 choose the first nine. Codes already given stay as they are."))
        self.error = Label()
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.instructions)
        layout.addWidget(self.table, 1)
        layout.addLayout(rows)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(760, 460)
        self._on_kind_changed()

    def _add_row(self, name: str, definition: str, example: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, text in enumerate((name, definition, example)):
            self.table.setItem(row, column, QTableWidgetItem(text))

    def _on_kind_changed(self, *_args: object) -> None:
        self.scale_row.setVisible(self.kind.currentData() == "scale")
        if self.kind.currentData() == "pass_fail" and not self._names():
            for name in ("pass", "fail"):
                self._add_row(name, "", "")

    def _on_make_scale_clicked(self) -> None:
        low, high = self.low.value(), self.high.value()
        if high <= low:
            self.error.setText("The scale's top must be above its bottom.")
            return
        kept = {name: (self._cell(r, 1), self._cell(r, 2)) for r, name in enumerate(self._names())}
        self.table.setRowCount(0)
        for point in range(low, high + 1):
            self._add_row(str(point), *kept.get(str(point), ("", "")))

    def _on_remove_button_clicked(self) -> None:
        for index in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(index)

    def _cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text().strip() if item is not None else ""

    def _names(self) -> list[str]:
        return [self._cell(r, 0) for r in range(self.table.rowCount())]

    def codebook(self) -> Codebook:
        """What the form says, checked (HearthError in plain words)."""
        labels = [
            {"name": self._cell(r, 0), "definition": self._cell(r, 1), "example": self._cell(r, 2)}
            for r in range(self.table.rowCount())
            if any(self._cell(r, c) for c in range(3))
        ]
        return Codebook.from_dict(
            {"kind": self.kind.currentData(), "labels": labels, "instructions": self.instructions.toPlainText().strip()}
        )

    def _on_buttons_accepted(self) -> None:
        try:
            self.result_codebook = self.codebook()
        except HearthError as exc:
            self.error.setText(f"{exc.message} {exc.hint}".strip())
            return
        self.accept()
