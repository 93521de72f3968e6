"""A sweep's results: each cell's accuracy as a dot with its 95% interval (development rows in
blue, the chosen cell on the test rows in green), the table of each cell against the best
(McNemar's exact test, Holm's correction) and the verdict in plain words."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.runs.sweep_results import CellResult, SweepResults
from desktop_app.ui.runs.charts import PaintedChart
from desktop_app.ui.shared.labels import Label

DEV = QColor("#2563eb")
TEST = QColor("#16a34a")
ROW_H = 30
MARGIN = 10
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


class SweepChart(PaintedChart):
    """One line per cell: its label, then a dot at its accuracy with whiskers to its interval."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cells: list[CellResult] = []
        self.best: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(ROW_H * 2 + MARGIN * 3)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(520, ROW_H * (len(self.cells) + 1) + MARGIN * 3)

    def set_cells(self, cells: list[CellResult], best: int | None) -> None:
        self.cells, self.best = list(cells), best
        self.setMinimumHeight(ROW_H * (max(1, len(cells)) + 1) + MARGIN * 3)
        self.updateGeometry()
        self.update()

    def _draw(self, painter: QPainter, width: int, height: int) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        font = QFont(self.font())
        metrics = QFontMetrics(font)
        painter.setFont(font)
        if not self.cells:
            painter.setPen(text)
            painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, "No results yet")
            return
        label_w = min(width * 0.42, max(metrics.horizontalAdvance(self._label(c)) for c in self.cells) + 2 * MARGIN)
        left, right = label_w + MARGIN, width - 2 * MARGIN
        span = max(1.0, right - left)

        def x_of(value: float) -> float:
            return left + span * value

        grid = QColor(text)
        grid.setAlphaF(0.18)
        axis_y = MARGIN + ROW_H * len(self.cells)
        for tick in TICKS:
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x_of(tick), MARGIN), QPointF(x_of(tick), axis_y))
            painter.setPen(text)
            painter.drawText(QRectF(x_of(tick) - 30, axis_y + 2, 60, metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             f"{tick:.0%}")  # fmt: skip
        for row, cell in enumerate(self.cells):
            y = MARGIN + ROW_H * row + ROW_H / 2
            bold = QFont(font)
            bold.setBold(cell.position == self.best and cell.phase != "test")
            painter.setFont(bold)
            painter.setPen(text)
            label = QFontMetrics(bold).elidedText(self._label(cell), Qt.TextElideMode.ElideRight, int(label_w - MARGIN))
            painter.drawText(QRectF(0, y - ROW_H / 2, label_w - MARGIN, ROW_H),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)  # fmt: skip
            painter.setFont(font)
            if cell.accuracy is None or cell.ci_low is None or cell.ci_high is None:
                continue
            color = TEST if cell.phase == "test" else DEV
            painter.setPen(QPen(color, 2))
            painter.drawLine(QPointF(x_of(cell.ci_low), y), QPointF(x_of(cell.ci_high), y))
            for end in (cell.ci_low, cell.ci_high):
                painter.drawLine(QPointF(x_of(end), y - 5), QPointF(x_of(end), y + 5))
            painter.setBrush(color)
            painter.drawEllipse(QPointF(x_of(cell.accuracy), y), 5, 5)
            painter.setBrush(Qt.BrushStyle.NoBrush)

    @staticmethod
    def _label(cell: CellResult) -> str:
        return f"{cell.label} (test rows)" if cell.phase == "test" else cell.label


class SweepView(QWidget):
    """The chart, the table of comparisons and the verdict of one sweep."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results: SweepResults | None = None
        self.heading = Label()
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = SweepChart()
        self.legend = Label(
            "<span style='color:#2563eb'>●</span> development rows (prompts chosen here) &nbsp; "
            "<span style='color:#16a34a'>●</span> test rows (the chosen cell, reported) &nbsp; "
            "whiskers: 95% interval (Wilson)"
        )
        self.legend.setWordWrap(True)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Cell", "Right", "Rows only the best got right",
                                              "Rows only this got right", "p", "p, corrected"])  # fmt: skip
        header_tips = {
            4: "McNemar's exact test against the best cell, on the rows both scored",
            5: "Holm's correction for the number of comparisons: below 0.05 means worse than the best beyond chance",
        }
        for column, tip in header_tips.items():
            item = self.table.horizontalHeaderItem(column)
            if item is not None:
                item.setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMaximumHeight(160)
        self.verdict = Label()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_line = Label()
        self.test_line.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.chart)
        layout.addWidget(self.legend)
        layout.addWidget(self.verdict)
        layout.addWidget(self.test_line)
        layout.addWidget(self.table, 1)

    def show_results(self, results: SweepResults) -> None:
        self.results = results
        split = results.split
        if split.fraction is not None:
            self.heading.setText(
                f"<b>{results.title}</b><br>Prompts compared on {split.dev:,} development rows; the best one "
                f"then ran on {split.test:,} test rows it never saw (split seed {split.seed})."
            )
        else:
            self.heading.setText(f"<b>{results.title}</b><br>Every cell ran on all {split.dev:,} rows (no split).")
        cells = list(results.cells) + ([results.test] if results.test else [])
        self.chart.set_cells(cells, results.best.position if results.best else None)
        self.verdict.setText(results.sentence)
        if results.test and results.test.accuracy is not None:
            t = results.test
            self.test_line.setText(
                f"<b>To report:</b> {t.label} on the test rows: {t.accuracy:.1%} right (95% interval "
                f"{t.ci_low or 0:.1%} – {t.ci_high or 0:.1%}, {t.n:,} rows)."
            )
        else:
            self.test_line.setText("")
        by_position = {c.position: c for c in results.cells}
        self.table.setRowCount(len(results.pairwise))
        for row, pair in enumerate(results.pairwise):
            cell = by_position[pair.b]
            values = [
                cell.label,
                "—" if cell.accuracy is None else f"{cell.accuracy:.1%}",
                str(pair.only_a),
                str(pair.only_b),
                f"{pair.p_value:.3g}",
                f"{pair.p_holm:.3g}" + (" (worse)" if pair.significant else ""),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == 0:
                    item.setToolTip(f"System prompt: {cell.system or '(the model’s own)'}\nTemplate: {cell.prompt}\n"
                                    f"Model: {cell.model}\nRun {cell.run_id}")  # fmt: skip
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
