"""Agreement…: how well the model and the human coders agree, as a table and a heat map.

In plain words on screen ("agree", "agreement beyond chance", "reliability"), with the terms
(Cohen's κ, Fleiss' κ, Krippendorff's α) and the 95% intervals in tooltips. Computed on a
worker thread (its own SQLite connection) since the bootstrap takes a moment on large runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label

if TYPE_CHECKING:  # the statistics import numpy: loaded by the report's job
    from desktop_app.core.runs.agreement import AgreementEstimate, GroupAgreement
    from desktop_app.core.runs.coding import AgreementReport

LEVELS = [
    ("nominal", "Categories", "Nominal: two different codes are simply different."),
    ("ordinal", "Ordered", "Ordinal: codes in the codebook's order; a near miss counts less (κ weighted linearly)."),
    ("interval", "Numbers", "Interval: codes as numbers; the distance matters (κ weighted quadratically)."),
]
# (key in the report, the column's words, its tooltip)
STATISTICS = [
    ("percent", "Agree", "Percent agreement: the share of rows both coded with the same code."),
    ("cohen_kappa", "Beyond chance", "Cohen's κ (Fleiss' κ for all coders): agreement beyond what chance gives; "
     "0 is chance, 1 perfect."),
    ("krippendorff_alpha", "Reliability", "Krippendorff's α: 1 perfect, 0 chance; ≥ 0.8 to rely on, ≥ 0.667 for "
     "tentative conclusions. Allows missing codes."),
]  # fmt: skip


def _number(estimate: AgreementEstimate | None, percent: bool = False) -> str:
    if estimate is None or estimate.value is None:
        return "—"
    return f"{estimate.value:.0%}" if percent else f"{estimate.value:.2f}"


def _interval(estimate: AgreementEstimate | None, percent: bool = False) -> str:
    if estimate is None or estimate.value is None:
        return "not defined: every code the same"
    if estimate.ci_low is None:
        return "no interval (too few rows)"
    fmt = "{:.0%}" if percent else "{:.2f}"
    return f"95% interval {fmt.format(estimate.ci_low)} to {fmt.format(estimate.ci_high)}"


def heat_colour(value: float | None, percent: bool = False) -> QColor:
    """Red (chance or worse) through amber to green (reliable); grey where undefined."""
    if value is None:
        return QColor(220, 220, 220)
    if percent:
        value = (value - 0.5) * 2  # 50% agreement is about what chance gives two labels
    t = max(0.0, min(1.0, value / 0.8))
    red = QColor(214, 96, 77)
    amber = QColor(244, 196, 98)
    green = QColor(99, 178, 110)
    low, high, f = (red, amber, t / 0.5) if t < 0.5 else (amber, green, (t - 0.5) / 0.5)
    return QColor(
        round(low.red() + (high.red() - low.red()) * f),
        round(low.green() + (high.green() - low.green()) * f),
        round(low.blue() + (high.blue() - low.blue()) * f),
    )


class HeatMap(QWidget):
    """Rows: pairs of raters (and all coders); columns: the statistics; each cell coloured by
    its value, with the number in it and its interval in a tooltip."""

    LEFT = 150
    TOP = 26
    CELL_H = 28

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, list[AgreementEstimate | None]]] = []
        self.setMinimumHeight(80)

    def set_rows(self, rows: list[tuple[str, list[AgreementEstimate | None]]]) -> None:
        self.rows = rows
        height = self.TOP + self.CELL_H * max(1, len(rows)) + 4
        self.setMinimumHeight(height)
        self.setMaximumHeight(height)
        self.update()

    def _cell_width(self) -> float:
        return max(60.0, (self.width() - self.LEFT - 4) / len(STATISTICS))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = self._cell_width()
        for c, (_key, words, _tip) in enumerate(STATISTICS):
            painter.drawText(QRectF(self.LEFT + c * width, 0, width, self.TOP), Qt.AlignmentFlag.AlignCenter, words)
        for r, (name, estimates) in enumerate(self.rows):
            y = self.TOP + r * self.CELL_H
            painter.setPen(self.palette().windowText().color())
            painter.drawText(
                QRectF(0, y, self.LEFT - 6, self.CELL_H),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                name,
            )
            for c, estimate in enumerate(estimates):
                rect = QRectF(self.LEFT + c * width + 1, y + 1, width - 2, self.CELL_H - 2)
                percent = STATISTICS[c][0] == "percent"
                value = estimate.value if estimate else None
                painter.fillRect(rect, heat_colour(value, percent))
                painter.setPen(QColor(20, 20, 20))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, _number(estimate, percent))
        painter.end()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        if x < self.LEFT or y < self.TOP:
            return None
        r = int((y - self.TOP) // self.CELL_H)
        c = int((x - self.LEFT) // self._cell_width())
        return (r, c) if r < len(self.rows) and c < len(STATISTICS) else None

    def event(self, event: Any) -> bool:
        if event.type() == event.Type.ToolTip and isinstance(event, QHelpEvent):
            cell = self.cell_at(event.x(), event.y())
            if cell is None:
                QToolTip.hideText()
                return True
            r, c = cell
            name, estimates = self.rows[r]
            key, words, tip = STATISTICS[c]
            percent = key == "percent"
            QToolTip.showText(
                event.globalPos(),
                f"{name}\n{words}: {_number(estimates[c], percent)} ({_interval(estimates[c], percent)})\n{tip}",
                self,
            )
            return True
        return super().event(event)


class AgreementDialog(QDialog):
    def __init__(self, store: RunStore, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.run_id = run_id
        self.report: AgreementReport | None = None
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self.setWindowTitle(f"Agreement — {store.get(run_id).title}")

        self.level = QComboBox()
        for key, words, tip in LEVELS:
            self.level.addItem(words, key)
            self.level.setItemData(self.level.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.level.setToolTip("How codes differ: the level of measurement")
        from desktop_app.core.runs.coding import CodeStore

        if CodeStore(store).codebook(run_id).ordered:  # a rating scale: ordered codes
            self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self.refresh)
        self.summary = Label("Working…")
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(Label("Codes are:"))
        top.addWidget(self.level)
        top.addWidget(self.summary, 1)

        self.table = QTableWidget(0, 2 + len(STATISTICS))
        self.table.setHorizontalHeaderLabels(["Who", "Rows"] + [words for _key, words, _tip in STATISTICS])
        for c, (_key, _words, tip) in enumerate(STATISTICS):
            header = self.table.horizontalHeaderItem(2 + c)
            if header is not None:
                header.setToolTip(tip)
        rows_header = self.table.horizontalHeaderItem(1)
        if rows_header is not None:
            rows_header.setToolTip("Rows both coded (all coders: rows with two codes or more)")
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_labels)
        self.heat = HeatMap()
        self.labels = QTableWidget(0, 2 + len(STATISTICS))
        self.labels.setHorizontalHeaderLabels(["Label", "Used (a / b)"] + [w for _k, w, _t in STATISTICS])
        self.labels.verticalHeader().setVisible(False)
        self.labels.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.labels.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.labels_title = Label("Per label: pick a pair above.")
        self.labels_title.setToolTip("Each label against all the others: do the two agree on when it applies?")
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.labels_title)
        lower_layout.addWidget(self.labels, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.heat)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.resize(900, 620)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        level = str(self.level.currentData() or "nominal")
        run_id = self.run_id
        path = self.store.db.execute("PRAGMA database_list").fetchone()[2]

        def work(_cancel: CancelToken, _report: Callable[[Any], None]) -> AgreementReport:
            from pathlib import Path

            from desktop_app.core.runs.coding import CodeStore, agreement

            store = RunStore(Path(path))  # this thread's own connection
            try:
                return agreement(CodeStore(store), run_id, level)
            finally:
                store.close()

        self.summary.setText("Working…")
        self._jobs.start("agreement", work)

    def _on_jobs_succeeded(self, _kind: str, report: Any) -> None:
        self.report = report
        self._fill(report)

    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.summary.setText(f"{message} {hint}".strip())

    def _fill(self, report: AgreementReport) -> None:
        coded = ", ".join(f"{name} {count:,}" for name, count in report.coded.items())
        words = [f"{report.rows:,} rows; codes given: {coded or 'none yet'}."]
        reference = report.reference
        if reference and reference.n:
            acc = reference.accuracy
            decided = f", {reference.adjudicated:,} decided in review" if reference.adjudicated else ""
            words.append(f"The model is right on {_number(acc, True)} of {reference.n:,} rows "
                         f"({_interval(acc, True)}{decided}).")  # fmt: skip
        if len(report.raters) < 2:
            words.append("Agreement needs two raters: code the rows, or import a coder's codes.")
        self.summary.setText(" ".join(words))

        rows: list[tuple[str, int, list[AgreementEstimate | None]]] = [
            (f"{p.a} and {p.b}", p.n, [getattr(p, key) for key, _w, _t in STATISTICS]) for p in report.pairs
        ]
        group = report.coders
        if group:
            together = f"All {len(group.raters)} coders" if len(group.raters) > 2 else "Both coders"
            rows.append((together, group.units, [None, group.fleiss_kappa, group.krippendorff_alpha]))
        self.table.setRowCount(len(rows))
        for r, (name, n, estimates) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            self.table.setItem(r, 1, QTableWidgetItem(f"{n:,}"))
            for c, estimate in enumerate(estimates):
                percent = STATISTICS[c][0] == "percent"
                item = QTableWidgetItem(_number(estimate, percent))
                item.setToolTip(f"{STATISTICS[c][2]}\n{_interval(estimate, percent)}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, 2 + c, item)
        self.heat.set_rows([(name, estimates) for name, _n, estimates in rows])
        if rows:
            self.table.selectRow(0)
        self._show_labels()

    def _show_labels(self) -> None:
        report = self.report
        selected = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        r = selected[0].row() if selected else -1
        if report is not None and r == len(report.pairs) and report.coders:
            self._show_group_labels(report.coders)
            return
        if report is None or not 0 <= r < len(report.pairs):
            self.labels.setRowCount(0)
            self.labels_title.setText("Per label: pick a pair above.")
            return
        pair = report.pairs[r]
        self.labels_title.setText(f"Per label, {pair.a} and {pair.b}: each label against all the others")
        self.labels.setRowCount(len(pair.per_label))
        for i, label in enumerate(pair.per_label):
            self.labels.setItem(i, 0, QTableWidgetItem(label.label))
            self.labels.setItem(i, 1, QTableWidgetItem(f"{label.a_count:,} / {label.b_count:,}"))
            for c, (key, _words, tip) in enumerate(STATISTICS):
                percent = key == "percent"
                estimate = getattr(label, key)
                item = QTableWidgetItem(_number(estimate, percent))
                item.setToolTip(f"{tip}\n{_interval(estimate, percent)}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.labels.setItem(i, 2 + c, item)

    def _show_group_labels(self, group: GroupAgreement) -> None:
        self.labels_title.setText("Per label, all coders together: each label against all the others")
        self.labels.setRowCount(len(group.per_label))
        for i, label in enumerate(group.per_label):
            self.labels.setItem(i, 0, QTableWidgetItem(label.label))
            self.labels.setItem(i, 1, QTableWidgetItem(f"{label.count:,}"))
            for c, estimate in enumerate([None, label.fleiss_kappa, label.krippendorff_alpha]):
                item = QTableWidgetItem(_number(estimate))
                item.setToolTip(f"{STATISTICS[c][2]}\n{_interval(estimate)}" if estimate else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.labels.setItem(i, 2 + c, item)

    def done(self, result: int) -> None:
        self._jobs.shutdown()
        super().done(result)
