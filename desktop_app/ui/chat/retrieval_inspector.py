"""The retrieval inspector: why an answer from documents is what it is.

For one answer: the query and where it searched, every candidate chunk with its
vector, keyword and fused scores (and what became of it: sent as source [n], cited
or not, below the threshold, dropped because it did not fit), the context budget,
the notes and warnings, and the exact prompt the model was given.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Slot
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.rag.answer_record import OCR_TIP, RagAnswer, RetrievedPassage
from desktop_app.ui.chat.rag_views import BudgetView, budget_parts
from desktop_app.ui.shared.item_models import AnyIndex
from desktop_app.ui.shared.labels import Label
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

    def __init__(self, rows: list[RetrievedPassage], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = rows
        self._best_fused = max((r.hit.fused_score for r in rows), default=0.0)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.COLUMNS)

    def row(self, index: int) -> RetrievedPassage:
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
            raw = _raw_score(row, column)
            if raw is not None:  # the technical figure, for who wants it
                return f"{HEADER_TIPS[column]}: {raw:.4g}"
            if column == 4 and row.ocr_note:
                return f"{row.hit.source}\n{OCR_TIP}"
            return HEADER_TIPS.get(column) or row.hit.source
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 1, 5, 6, 7, 8):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row.number is not None:
            font = QFont()
            font.setBold(bool(row.cited))
            return font
        return None

    def _display(self, row: RetrievedPassage, column: int) -> str:
        hit = row.hit
        if column == 0:
            return str(row.rank)
        if column == 1:
            return f"[{row.number}]" if row.number is not None else ""
        if column == 2:
            status = row.status
            if status == "below the top k":
                status = "not among those given to the model"
            if not hit.relevant:
                status += ", too unlike the question"
            return status
        if column == 3:
            return "" if row.cited is None else ("yes" if row.cited else "no")
        if column == 4:
            return f"{row.location} · {row.ocr_note}" if row.ocr_note else row.location
        if column == 5:  # cosine similarity, as a share: "58%" rather than 0.578
            return "—" if hit.vector_score is None else f"{max(0.0, hit.vector_score):.0%}"
        if column == 6:  # the share of the question's words the passage has
            return f"{hit.keyword_coverage:.0%} of words"
        if column == 7:  # reciprocal rank fusion, relative to the best passage (100%)
            if self._best_fused <= 0:
                return "—"
            return f"{hit.fused_score / self._best_fused:.0%}"
        if column == 8:
            return _score(hit.rerank_score)
        return ""


def _raw_score(row: RetrievedPassage, column: int) -> float | None:
    hit = row.hit
    scores = {5: hit.vector_score, 6: hit.keyword_score, 7: hit.fused_score, 8: hit.rerank_score}
    return scores.get(column)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><td style='color:#57606a; padding-right:16px;'>{html.escape(str(k))}</td>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table cellspacing='2'>{cells}</table>"


def _section(title: str) -> str:
    return f"<p style='font-weight:600; font-size:large; margin-top:10px;'>{html.escape(title)}</p>"


def notes_html(answer: RagAnswer) -> str:
    """The budget in numbers, what was dropped, the notes, warnings and sentence checks."""
    inspector = answer.inspector
    budget = inspector.budget or answer.budget
    labels = {"system": "system & template", "answer": "answer (kept free)"}
    parts = [_section("Context budget")]
    rows: list[tuple[str, Any]] = [(labels.get(k, k), f"{v:,} tokens") for k, v in budget_parts(budget)]
    rows.append(("total (the model's context)", f"{budget.n_ctx:,} tokens"))
    prompt = inspector.prompt
    rows.append(("prompt sent", f"{prompt.tokens:,} tokens"))
    rows.append(("longest answer allowed", f"{prompt.max_new_tokens:,} tokens"))
    rows.append(("earlier turns left out", inspector.history_dropped))
    parts.append(_table(rows))

    dropped = inspector.dropped
    parts.append(_section(f"Retrieved but not sent ({len(dropped)})"))
    if dropped:
        parts.append(
            "<ul>"
            + "".join(f"<li>{html.escape(d.location)}: {html.escape(d.reason)}</li>" for d in dropped)
            + "</ul>"
        )
    else:
        parts.append("<p>Every passage chosen was sent to the model.</p>")

    parts.append(_section("Notes"))
    parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in inspector.notes + answer.warnings) + "</ul>")

    if inspector.sentences:
        parts.append(_section("The answer, sentence by sentence"))
        items = []
        for s in inspector.sentences:
            cited = ", ".join(f"[{n}]" for n in s.cited) or "nothing"
            matches = ", ".join(f"[{n}]" for n in s.matches) or "no source"
            flag = " ⚠ cites a source that does not seem to say it" if s.unsupported else ""
            if s.claim and s.supported is False:
                flag += f" ⚠ not in your documents: {html.escape(s.reason or 'no source says this')}"
            items.append(f"<li>“{html.escape(s.text)}” — cites {cited}; matches {matches}{flag}</li>")
        parts.append("<ul>" + "".join(items) + "</ul>")

    timings = inspector.retrieval_timings_ms
    if timings:
        parts.append(_section("Retrieval timings"))
        parts.append(_table([(k.removesuffix("_ms").replace("_", " "), f"{v:,.1f} ms") for k, v in timings.items()]))
    return "".join(parts)


def summary_text(answer: RagAnswer) -> str:
    inspector = answer.inspector
    collections = ", ".join(inspector.collections)
    bits = [
        f"<b>Query:</b> {html.escape(inspector.query)}",
        f"<b>Searched:</b> {html.escape(collections)}",
        f"up to {inspector.k or '?'} passages given to the model; those less than "
        f"{max(0.0, inspector.min_similarity):.0%} alike in meaning left out",
        "documents only" if inspector.documents_only else "open answers",
        f"passages put in order again by {html.escape(inspector.reranker)}"
        if inspector.reranker
        else "passages kept in the search's order",
    ]
    return " &nbsp;·&nbsp; ".join(bits)


class RetrievalInspectorDialog(QDialog):
    def __init__(self, answer: RagAnswer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.answer = answer
        inspector = answer.inspector
        self.setWindowTitle("Retrieval inspector")
        self.resize(980, 700)

        self.summary = Label(summary_text(answer))
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        rows = inspector.retrieved
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
        self.table.setColumnHidden(8, not inspector.reranker)  # no reranker: no rerank scores
        self.chunk_text = QPlainTextEdit()
        self.chunk_text.setReadOnly(True)
        self.chunk_text.setPlaceholderText("Select a row to read its text.")
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        retrieved = QSplitter(Qt.Orientation.Vertical)
        retrieved.addWidget(self.table)
        retrieved.addWidget(self.chunk_text)
        retrieved.setSizes([420, 160])

        prompt = inspector.prompt
        self.prompt_note = Label(
            f"Exactly what the model was given: {prompt.tokens:,} tokens, with room for {prompt.max_new_tokens:,} more."
        )
        self.prompt_note.setObjectName("hintLabel")
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setReadOnly(True)
        self.prompt_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.prompt_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.prompt_text.setPlainText(prompt.text)
        prompt_page = QWidget()
        prompt_layout = QVBoxLayout(prompt_page)
        prompt_layout.addWidget(self.prompt_note)
        prompt_layout.addWidget(self.prompt_text, 1)

        self.budget = BudgetView()
        self.budget.set_budget(inspector.budget or answer.budget)
        self.notes = SafeTextBrowser()  # shows text from documents
        self.notes.setHtml(notes_html(answer))
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
        return json.dumps(self.answer.to_dict(), indent=2, ensure_ascii=False)

    @Slot(QModelIndex, QModelIndex)
    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.chunk_text.clear()
            return
        row = self.model.row(current.row())
        heading = f"{row.hit.heading}\n\n" if row.hit.heading else ""
        scanned = f" ({row.ocr_note})" if row.ocr_note else ""
        self.chunk_text.setPlainText(f"{row.location}{scanned} — {row.hit.source}\n\n{heading}{row.hit.text}")

    @Slot()
    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.as_json())
        self.copy_button.setText("Copied")
