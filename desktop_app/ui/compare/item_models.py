"""Qt item models of the Compare section: the results table, the model picker, saved runs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel

from desktop_app.core.quantlab.results import VariantResult
from desktop_app.core.quantlab.saved import RunSummary
from desktop_app.core.quantlab.variants import Variant, VariantGroup
from desktop_app.core.units import human_bytes, human_parameters
from desktop_app.ui.shared.item_models import AnyIndex, ItemRole, RowsListModel


def _bytes(n: float | None) -> str:
    return "—" if n is None else human_bytes(n)


def _num(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


@dataclass(frozen=True)
class Column:
    title: str
    text: Callable[[VariantResult], str]
    sort: Callable[[VariantResult], Any]
    tip: str


def _speed(r: VariantResult, key: str, spec: str) -> str:
    """The median speed, and the range over the rounds ("21.4 (19.8–22.0)")."""
    median = _num(getattr(r, key), spec)
    spread = r.speed_spread(key)
    return f"{median} ({spread[0]:{spec}}–{spread[1]:{spec}})" if spread else median


COLUMNS: list[Column] = [
    Column(
        "Model",
        lambda r: r.name + ("  (reference)" if r.is_reference else ""),
        lambda r: r.name,
        "The model file; the reference is the variant the others are measured against.",
    ),
    Column("Quant", lambda r: r.quant, lambda r: r.quant, "Quantisation type"),
    Column(
        "Bits/weight",
        lambda r: _num(r.bits_per_weight, ".2f"),
        lambda r: r.bits_per_weight,
        "Average bits per weight, from the file's tensor table",
    ),
    Column("Size", lambda r: _bytes(r.size_bytes), lambda r: r.size_bytes, "File size"),
    Column(
        "Load", lambda r: "—" if r.load_s is None else f"{r.load_s:.2f} s", lambda r: r.load_s, "Time to load the model"
    ),
    Column(
        "Peak RAM",
        lambda r: _bytes(r.peak_rss_bytes),
        lambda r: r.peak_rss_bytes,
        "Peak memory of the process that ran the model (loading, reading a prompt, generating)",
    ),
    Column(
        "VRAM",
        lambda r: _bytes(r.vram_bytes) if r.vram_bytes is not None else "—",
        lambda r: r.vram_bytes,
        "GPU memory, when layers were offloaded to an NVIDIA GPU",
    ),
    Column(
        "Prompt tok/s",
        lambda r: _speed(r, "prompt_tok_s", ".0f"),
        lambda r: r.prompt_tok_s,
        "Prompt processing speed (one batch): the median of the rounds, their range in brackets",
    ),
    Column(
        "Gen tok/s",
        lambda r: _speed(r, "gen_tok_s", ".1f"),
        lambda r: r.gen_tok_s,
        "Generation speed (one token at a time): the median of the rounds, their range in brackets",
    ),
    Column(
        "Perplexity",
        lambda r: _plus_minus(r.perplexity, r.perplexity_unc, ".3f"),
        lambda r: r.perplexity,
        "Perplexity on the evaluation text: lower is better. ± is one standard error, as llama-perplexity gives it",
    ),
    Column(
        "KL divergence",
        lambda r: _plus_minus(r.kl_divergence, r.kl_unc, ".4f") + ("" if r.kl_method.startswith("exact") else " ≈"),
        lambda r: r.kl_divergence,
        "Mean KL divergence from the reference's next-token distributions: 0 is identical. ± is one standard "
        "error; ≈ marks the top-K approximation (a lower bound), used only when asked or the disk was short",
    ),
    Column(
        "Top-1 agreement",
        lambda r: _plus_minus(r.top1_agreement, r.top1_unc, ".1f", 100.0, "%"),
        lambda r: r.top1_agreement,
        "How often its most likely next token is the reference's (± one standard error)",
    ),
]


def _plus_minus(value: float | None, unc: float | None, spec: str, scale: float = 1.0, unit: str = "") -> str:
    if value is None:
        return "—"
    text = format(value * scale, spec) + unit
    return text if not unc else f"{text} ± {format(unc * scale, spec)}"


class CompareTableModel(QAbstractTableModel):
    """One row per measured variant, in the order measured (reference first)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.results: list[VariantResult] = []

    def set_results(self, results: Sequence[VariantResult]) -> None:
        self.beginResetModel()
        self.results = list(results)
        self.endResetModel()

    def add_result(self, result: VariantResult) -> None:
        row = len(self.results)
        self.beginInsertRows(QModelIndex(), row, row)
        self.results.append(result)
        self.endInsertRows()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(self.results)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.results):
            return None
        result = self.results[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if result.error and index.column() > 3:
                return "failed" if index.column() == 4 else ""
            return column.text(result)
        if role == Qt.ItemDataRole.ToolTipRole:
            if result.error:
                return result.error
            return "\n".join(result.notes) or None
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and result.is_reference:
            font = QFont()
            font.setBold(True)
            return font
        if role == ItemRole.item:
            return result
        if role == ItemRole.sort:
            value = column.sort(result)
            return -1.0 if value is None else value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tip
        return None


class ComparisonListModel(RowsListModel):
    """Saved comparisons, newest first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[RunSummary] = []

    def set_runs(self, runs: Sequence[RunSummary]) -> None:
        self.set_items(runs)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        run: RunSummary | None = self.item_for(index)
        if run is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            when = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
            return f"{when} — {run.title} ({run.n_models} models)"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Run {run.id}, measured on {run.text_source}"
        if role == ItemRole.item:
            return run
        return None


def build_picker_model(groups: Sequence[VariantGroup], checked: set[Path], model: QStandardItemModel) -> None:
    """Fills ``model`` with one row per base model and a checkable child per variant."""
    model.clear()
    model.setHorizontalHeaderLabels(["Model", "Quant", "Bits/weight", "Size"])
    for group in groups:
        head = QStandardItem(f"{group.base}  ·  {group.architecture}, {human_parameters(group.n_params)} parameters")
        head.setEditable(False)
        head.setSelectable(False)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        filler = [QStandardItem("") for _ in range(3)]
        for item in filler:
            item.setEditable(False)
            item.setSelectable(False)
        for variant in group.variants:
            head.appendRow(_variant_row(variant, variant.path.resolve() in checked))
        model.appendRow([head, *filler])


def _variant_row(variant: Variant, checked: bool) -> list[QStandardItem]:
    name = QStandardItem(variant.label)
    name.setCheckable(True)
    name.setEditable(False)
    name.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    name.setData(variant, ItemRole.item)
    made = (
        f"\nMade by re-quantising a {variant.requantized_from} file: it holds no more of the original model "
        "than that file, so it is never the reference."
        if variant.requantized_from
        else ""
    )
    name.setToolTip(str(variant.path) + made)
    cells = [name]
    for text in (variant.quant, f"{variant.bits_per_weight:.2f}", _bytes(variant.size_bytes)):
        cell = QStandardItem(text)
        cell.setEditable(False)
        cells.append(cell)
    return cells


def checked_variants(model: QStandardItemModel) -> list[Variant]:
    found: list[Variant] = []
    for row in range(model.rowCount()):
        head = model.item(row, 0)
        for child_row in range(head.rowCount()):
            child = head.child(child_row, 0)
            if child is not None and child.checkState() == Qt.CheckState.Checked:
                found.append(child.data(ItemRole.item))
    return found


def set_checked(model: QStandardItemModel, paths: set[Path]) -> None:
    for row in range(model.rowCount()):
        head = model.item(row, 0)
        for child_row in range(head.rowCount()):
            child = head.child(child_row, 0)
            if child is None:
                continue
            variant: Variant = child.data(ItemRole.item)
            state = Qt.CheckState.Checked if variant.path.resolve() in paths else Qt.CheckState.Unchecked
            child.setCheckState(state)
