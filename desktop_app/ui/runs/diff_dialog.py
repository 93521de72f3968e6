"""Two runs row by row: a comparison (accuracy of each with its interval, McNemar's exact test,
the rows where they disagree) or a replay (how many rows came out identical, which differed)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.runs.paired import Comparison
from desktop_app.core.runs.replay import ReplayReport
from desktop_app.ui.shared.labels import Label

SHOWN_ROWS = 500


def _mark(value: bool | None) -> str:
    return {True: "✓", False: "✗", None: ""}[value]


class DiffDialog(QDialog):
    def __init__(self, title: str, text: str, headers: list[str], rows: list[list[str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(820, 520)
        self.label = Label(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(len(rows), len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    @classmethod
    def for_comparison(cls, result: Comparison, parent: QWidget | None = None) -> DiffDialog:
        def accuracy(value: float | None, ci: tuple[float, float]) -> str:
            return "—" if value is None else f"<b>{value:.1%}</b> (95% interval {ci[0]:.1%} – {ci[1]:.1%})"

        text = (
            f"A: #{result.a} {result.a_title} — {accuracy(result.a_accuracy, result.a_ci)}<br>"
            f"B: #{result.b} {result.b_title} — {accuracy(result.b_accuracy, result.b_ci)}<br>"
            f"On {result.n_paired:,} rows scored in both: both right {result.both:,}, only A {result.only_a:,}, "
            f"only B {result.only_b:,}, neither {result.neither:,}.<br>"
            f"McNemar's exact test: p = {result.p_value:.4g}. {result.verdict}<br>"
            f"{result.n_disagree:,} rows where they differ:"
        )
        rows = [
            [d.id, d.a_output.strip(), _mark(d.a_correct), d.b_output.strip(), _mark(d.b_correct), d.reference or ""]
            for d in result.disagreements[:SHOWN_ROWS]
        ]
        return cls("Compare runs", text, ["Row", "A", "A right", "B", "B right", "Reference"], rows, parent)

    @classmethod
    def for_replay(cls, report: ReplayReport, parent: QWidget | None = None) -> DiffDialog:
        text = (
            f"Replayed run #{report.original} as run #{report.replay}: "
            f"<b>{report.identical:,} of {report.n:,}</b> rows identical."
        )
        if report.notes:
            text += "<br>" + "<br>".join(report.notes)
        rows = [
            [d.id, d.original.strip() or d.original_error, d.replay.strip() or d.replay_error]
            for d in report.differed[:SHOWN_ROWS]
        ]
        return cls("Replay", text, ["Row", "Original", "Replay"], rows, parent)
