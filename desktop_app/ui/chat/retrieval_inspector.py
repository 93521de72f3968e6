"""The retrieval inspector: why an answer from documents is what it is.

For one answer: the query and where it searched, every candidate chunk with its
vector, keyword and fused scores (and what became of it: sent as source [n], cited
or not, below the threshold, dropped because it did not fit), the context budget,
the notes and warnings, and the exact prompt the model was given.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Slot
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.chat.rag_views import BudgetView, budget_parts, location
from desktop_app.ui.shared.item_models import AnyIndex
from desktop_app.ui.shared.safe_text import SafeTextBrowser
from desktop_app.ui.shared.score_labels import (
    COMBINED,
    COMBINED_TIP,
    KEYWORD,
    KEYWORD_TIP,
    MEANING,
    MEANING_TIP,
    RERANKED,
    RERANKED_TIP,
)

# The scores' plain names above, their technical terms in the tooltips.
HEADER_TIPS = {5: MEANING_TIP, 6: KEYWORD_TIP, 7: COMBINED_TIP, 8: RERANKED_TIP}


def _score(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


class RetrievedTableModel(QAbstractTableModel):
    """The inspector's candidates, best first: one row per retrieved chunk."""

    COLUMNS = ("Rank", "Source", "Status", "Cited", "Location", MEANING, KEYWORD, COMBINED, RERANKED)

    def __init__(self, rows: list[dict[str, Any]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = rows
        fused = [float(r["fused_score"]) for r in rows if r.get("fused_score") is not None]
        self._best_fused = max(fused, default=0.0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.COLUMNS)

    def row(self, index: int) -> dict[str, Any]:
        return self._rows[index]

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            raw = {5: "vector_score", 6: "keyword_score", 7: "fused_score", 8: "rerank_score"}.get(column)
            if raw is not None and row.get(raw) is not None:  # the technical figure, for who wants it
                return f"{HEADER_TIPS[column]}: {float(row[raw]):.4g}"
            return HEADER_TIPS.get(column) or str(row.get("source", ""))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 1, 5, 6, 7, 8):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row.get("number") is not None:
            font = QFont()
            font.setBold(bool(row.get("cited")))
            return font
        return None

    def _display(self, row: dict[str, Any], column: int) -> str:
        if column == 0:
            return str(row.get("rank", ""))
        if column == 1:
            return f"[{row['number']}]" if row.get("number") is not None else ""
        if column == 2:
            status = str(row.get("status", ""))
            if status == "below the top k":
                status = "not among those given to the model"
            if row.get("relevant") is False:
                status += ", too unlike the question"
            return status
        if column == 3:
            cited = row.get("cited")
            return "" if cited is None else ("yes" if cited else "no")
        if column == 4:
            return location(row)
        if column == 5:  # cosine similarity, as a share: "58%" rather than 0.578
            value = row.get("vector_score")
            return "—" if value is None else f"{max(0.0, float(value)):.0%}"
        if column == 6:  # the share of the question's words the passage has, else the raw BM25 score
            coverage = row.get("keyword_coverage")
            if coverage is not None:
                return f"{float(coverage):.0%} of words"
            return _score(row.get("keyword_score"), 2)
        if column == 7:  # reciprocal rank fusion, relative to the best passage (100%)
            value = row.get("fused_score")
            if value is None or self._best_fused <= 0:
                return "—"
            return f"{float(value) / self._best_fused:.0%}"
        if column == 8:
            return _score(row.get("rerank_score"))
        return ""


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><td style='color:#57606a; padding-right:16px;'>{html.escape(str(k))}</td>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table cellspacing='2'>{cells}</table>"


def _section(title: str) -> str:
    return f"<p style='font-weight:600; font-size:large; margin-top:10px;'>{html.escape(title)}</p>"


def notes_html(data: dict[str, Any]) -> str:
    """The budget in numbers, what was dropped, the notes, warnings and sentence checks."""
    inspector = data.get("inspector") or {}
    budget = inspector.get("budget") or data.get("budget") or {}
    labels = {"system": "system & template", "answer": "answer (kept free)"}
    parts = [_section("Context budget")]
    rows: list[tuple[str, Any]] = [(labels.get(k, k), f"{v:,} tokens") for k, v in budget_parts(budget)]
    rows.append(("total (the model's context)", f"{int(budget.get('n_ctx', 0)):,} tokens"))
    prompt = inspector.get("prompt") or {}
    rows.append(("prompt sent", f"{int(prompt.get('tokens', 0)):,} tokens"))
    rows.append(("longest answer allowed", f"{int(prompt.get('max_new_tokens', 0)):,} tokens"))
    rows.append(("earlier turns left out", inspector.get("history_dropped", 0)))
    parts.append(_table(rows))

    dropped = inspector.get("dropped") or []
    parts.append(_section(f"Retrieved but not sent ({len(dropped)})"))
    if dropped:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>{html.escape(location({'name': Path(str(d.get('source', ''))).name, 'page': d.get('page')}))}: "
                f"{html.escape(str(d.get('reason', '')))}</li>"
                for d in dropped
            )
            + "</ul>"
        )
    else:
        parts.append("<p>Every passage chosen was sent to the model.</p>")

    notes = [str(n) for n in inspector.get("notes") or []]
    warnings = [str(w) for w in data.get("warnings") or []]
    parts.append(_section("Notes"))
    parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes + warnings) + "</ul>")

    sentences = [s for s in inspector.get("sentences") or [] if isinstance(s, dict)]
    if sentences:
        parts.append(_section("The answer, sentence by sentence"))
        items = []
        for s in sentences:
            cited = ", ".join(f"[{n}]" for n in s.get("cited") or []) or "nothing"
            matches = ", ".join(f"[{n}]" for n in s.get("matches") or []) or "no source"
            flag = " ⚠ cites a source that does not seem to say it" if s.get("unsupported") else ""
            if s.get("claim") and s.get("supported") is False:
                flag += f" ⚠ not in your documents: {html.escape(str(s.get('reason') or 'no source says this'))}"
            items.append(f"<li>“{html.escape(str(s.get('text', '')))}” — cites {cited}; matches {matches}{flag}</li>")
        parts.append("<ul>" + "".join(items) + "</ul>")

    timings = inspector.get("retrieval_timings_ms") or {}
    if timings:
        parts.append(_section("Retrieval timings"))
        parts.append(_table([(k.removesuffix("_ms").replace("_", " "), f"{v:,.1f} ms") for k, v in timings.items()]))
    return "".join(parts)


def summary_text(data: dict[str, Any]) -> str:
    inspector = data.get("inspector") or {}
    collections = ", ".join(inspector.get("collections") or [])
    bits = [
        f"<b>Query:</b> {html.escape(str(inspector.get('query', '')))}",
        f"<b>Searched:</b> {html.escape(collections)}",
        f"up to {inspector.get('k', '?')} passages given to the model; those less than "
        f"{max(0.0, float(inspector.get('min_similarity', 0))):.0%} alike in meaning left out",
        "documents only" if inspector.get("documents_only") else "open answers",
        f"passages put in order again by {html.escape(str(inspector.get('reranker')))}"
        if inspector.get("reranker")
        else "passages kept in the search's order",
    ]
    return " &nbsp;·&nbsp; ".join(bits)


class RetrievalInspectorDialog(QDialog):
    def __init__(self, data: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = data
        inspector = data.get("inspector") or {}
        self.setWindowTitle("Retrieval inspector")
        self.resize(980, 700)

        self.summary = QLabel(summary_text(data))
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        rows = [r for r in inspector.get("retrieved") or [] if isinstance(r, dict)]
        self.model = RetrievedTableModel(rows, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnHidden(8, not inspector.get("reranker"))  # no reranker: no rerank scores
        self.chunk_text = QPlainTextEdit()
        self.chunk_text.setReadOnly(True)
        self.chunk_text.setPlaceholderText("Select a row to read its text.")
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        retrieved = QSplitter(Qt.Orientation.Vertical)
        retrieved.addWidget(self.table)
        retrieved.addWidget(self.chunk_text)
        retrieved.setSizes([420, 160])

        prompt = inspector.get("prompt") or {}
        self.prompt_note = QLabel(
            f"Exactly what the model was given: {int(prompt.get('tokens', 0)):,} tokens, "
            f"with room for {int(prompt.get('max_new_tokens', 0)):,} more."
        )
        self.prompt_note.setObjectName("hintLabel")
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setReadOnly(True)
        self.prompt_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.prompt_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.prompt_text.setPlainText(str(prompt.get("text", "")))
        prompt_page = QWidget()
        prompt_layout = QVBoxLayout(prompt_page)
        prompt_layout.addWidget(self.prompt_note)
        prompt_layout.addWidget(self.prompt_text, 1)

        self.budget = BudgetView()
        self.budget.set_budget(inspector.get("budget") or data.get("budget") or {})
        self.notes = SafeTextBrowser()  # shows text from documents
        self.notes.setHtml(notes_html(data))
        notes_page = QWidget()
        notes_layout = QVBoxLayout(notes_page)
        notes_layout.addWidget(self.budget)
        notes_layout.addWidget(self.notes, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(retrieved, f"Retrieved ({len(rows)})")
        self.tabs.addTab(prompt_page, "Prompt")
        self.tabs.addTab(notes_page, "Budget and notes")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy as JSON")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        if rows:
            self.table.selectRow(0)

    def as_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False)

    @Slot(QModelIndex, QModelIndex)
    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.chunk_text.clear()
            return
        row = self.model.row(current.row())
        heading = f"{row.get('heading')}\n\n" if row.get("heading") else ""
        self.chunk_text.setPlainText(f"{location(row)} — {row.get('source', '')}\n\n{heading}{row.get('text', '')}")

    @Slot()
    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.as_json())
        self.copy_button.setText("Copied")
