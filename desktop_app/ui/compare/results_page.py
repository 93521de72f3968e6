"""The Compare section's Results tab: the figures of one run as a table and charts, a line
about the run, the reading guide, and Export (CSV, JSON, or a picture of the tab)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.quantlab import saved as saved_comparisons
from desktop_app.core.quantlab.results import ComparisonRun, VariantResult
from desktop_app.ui.compare.charts import CompareCharts
from desktop_app.ui.compare.frozen_table import FrozenColumnTable
from desktop_app.ui.compare.item_models import CompareTableModel
from desktop_app.ui.shared.item_models import ItemRole
from desktop_app.ui.shared.labels import Label

# The table's technical figures, one plain sentence each (the column tooltips keep the details).
READING_GUIDE = (
    "How to read it: bits per weight is how much of each number of the model a file keeps (more is closer "
    "to the original, and larger). Perplexity is how surprised the model is by the text: lower is better. "
    "KL divergence is how far a variant's word choices drift from the reference's: 0 means the same. "
    "Top-1 agreement is how often its likeliest next word is the reference's."
)


def run_description(run: ComparisonRun) -> str:
    """One line about a run: when, on what text, how measured, against what, on which machine."""
    when = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    ref = run.reference
    return (
        f"Run {run.id} · {when} · {run.n_text_tokens} tokens of {run.text_source} · window "
        f"{run.settings.window} · KL {run.kl_method} · reference {ref.name if ref else '—'} · "
        f"llama-cpp-python {run.machine.llama_cpp_version} on {run.machine.backend}"
    )


class ResultsPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table_model = CompareTableModel(self)
        self.table_proxy = QSortFilterProxyModel(self)
        self.table_proxy.setSourceModel(self.table_model)
        self.table_proxy.setSortRole(ItemRole.sort)
        self.table = FrozenColumnTable()  # the model's name stays in view beside any column
        self.table.setModel(self.table_proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.charts = CompareCharts()
        self.run_info = Label("")
        self.run_info.setWordWrap(True)
        self.run_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this run as CSV, JSON or a PNG picture of the table and charts")
        self.export_button.setEnabled(False)
        # The table has a column per figure: on a small screen the form beside it can step aside.
        self.wide_button = QPushButton("Hide the form")
        self.wide_button.setCheckable(True)
        self.wide_button.setToolTip("Give the results the whole width (the form comes back with the same button)")

        layout = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.charts)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        self.reading_guide = Label(READING_GUIDE)
        self.reading_guide.setObjectName("hintLabel")
        self.reading_guide.setWordWrap(True)
        layout.addWidget(self.reading_guide)
        info_row = QHBoxLayout()
        info_row.addWidget(self.run_info, 1)
        info_row.addWidget(self.wide_button, 0, Qt.AlignmentFlag.AlignTop)
        info_row.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(info_row)

    def clear(self) -> None:
        self.set_results([])
        self.run_info.setText("")

    def set_results(self, results: list[VariantResult]) -> None:
        self.table_model.set_results(results)
        self.charts.set_results(results)

    def add_result(self, result: VariantResult) -> None:
        """A variant measured during a run: its row now, the charts redrawn."""
        self.table_model.add_result(result)
        self.charts.set_results(self.table_model.results)

    def show_run(self, run: ComparisonRun) -> None:
        self.set_results(run.results)
        self.run_info.setText(run_description(run))

    def export(self, run: ComparisonRun, path: Path) -> Path:
        """Writes ``run`` to ``path``: .csv, .json, or .png (a picture of this tab)."""
        if path.suffix.lower() == ".png":
            if not self.grab().save(str(path)):
                raise HearthError(f"Cannot write “{path}”.")
            return path
        return saved_comparisons.export(run, path)
