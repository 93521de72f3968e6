"""What an answer from documents shows under its text: the verdict of its claim check, the
sources it cites (file, page, the snippet around the sentence that matched; a click opens
it in the document viewer), those retrieved but not cited (folded away), the warnings of
its citation check, and how the model's context was spent.

Everything is built from the answer's record (``RagAnswer``, stored with the message and read
back by the conversation store), so a conversation reopened after a restart shows the same.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from desktop_app.core.rag.answer_record import OCR_TIP, Budget, Citation, RagAnswer
from desktop_app.core.units import plural
from desktop_app.ui.shared.labels import Label

SOURCE_SCHEME = "source"
LINK_STYLE = "color:#c2410c; text-decoration:none; font-weight:600;"
MUTED = "#57606a"

# (key, label, colour): the parts of the context, in the order they are laid out.
BUDGET_PARTS: list[tuple[str, str, str]] = [
    ("system", "System & template", "#64748b"),
    ("history", "History", "#8b5cf6"),
    ("sources", "Sources", "#f97316"),
    ("question", "Question", "#0ea5e9"),
    ("answer", "Answer", "#22c55e"),
    ("free", "Free", "#d8dee4"),
]
_PART_HINTS = {
    "system": "the system prompt, the grounding rules and the chat template's own tokens",
    "history": "earlier turns of this conversation",
    "sources": "the numbered passages from your documents",
    "question": "your question",
    "answer": "kept free for the answer",
    "free": "not used",
}


def budget_parts(budget: Budget) -> list[tuple[str, int]]:
    """(key, tokens) for each part of the context; they add up to ``budget.n_ctx``."""
    values = {
        "system": budget.system + budget.template,
        "history": budget.history,
        "sources": budget.sources,
        "question": budget.question,
        "answer": budget.answer,
        "free": budget.free,
    }
    return [(key, values[key]) for key, _, _ in BUDGET_PARTS]


def budget_tooltip(budget: Budget) -> str:
    labels = {key: label for key, label, _ in BUDGET_PARTS}
    n_ctx = budget.n_ctx
    lines = [f"The model's context: {n_ctx:,} tokens"]
    for key, tokens in budget_parts(budget):
        share = f" ({tokens / n_ctx:.0%})" if n_ctx else ""
        lines.append(f"{labels[key]}: {tokens:,}{share} — {_PART_HINTS[key]}")
    return "\n".join(lines)


def claims_verdict(answer: RagAnswer) -> tuple[str, bool]:
    """The claim check in one line, and whether every claim was found in the sources. Empty
    for an answer that states nothing, or one stored before claims were checked."""
    checked, unsupported = len(answer.claims), len(answer.unsupported_claims)
    if not checked:
        return "", True
    statements = plural(checked, "statement")
    if unsupported:
        verb = "is" if unsupported == 1 else "are"
        return f"{unsupported} of {statements} {verb} not in your documents: underlined in the answer.", False
    if checked == 1:
        return "Its statement matches a passage of your documents.", True
    return f"All {statements} match a passage of your documents.", True


class BudgetBar(QWidget):
    """A thin bar split into the parts of the model's context, painted to scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: list[tuple[str, int]] = []
        self._n_ctx = 0
        self.setFixedHeight(10)
        self.setMinimumWidth(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_budget(self, budget: Budget) -> None:
        self._parts = budget_parts(budget)
        self._n_ctx = budget.n_ctx
        self.setToolTip(budget_tooltip(budget))
        self.update()

    @property
    def parts(self) -> list[tuple[str, int]]:
        return list(self._parts)

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 10)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        clip = QPainterPath()
        clip.addRoundedRect(rect, 4, 4)
        painter.setClipPath(clip)
        painter.fillRect(rect, QColor("#d8dee4"))
        total = max(1, self._n_ctx)
        colours = {key: colour for key, _, colour in BUDGET_PARTS}
        done = 0
        for key, tokens in self._parts:
            x0 = rect.left() + rect.width() * done / total
            done += tokens
            x1 = rect.left() + rect.width() * done / total
            if x1 > x0:
                painter.fillRect(QRectF(x0, rect.top(), x1 - x0, rect.height()), QColor(colours[key]))
        painter.end()


class BudgetView(QWidget):
    """The bar, with a legend giving each part's tokens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Label("Context")
        self.title.setObjectName("budgetTitle")
        self.bar = BudgetBar()
        self.legend = Label("")
        self.legend.setObjectName("budgetLegend")
        self.legend.setWordWrap(True)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(8)
        top.addWidget(self.title)
        top.addWidget(self.bar, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.legend)

    def set_budget(self, budget: Budget) -> None:
        self.bar.set_budget(budget)
        labels = {key: (label, colour) for key, label, colour in BUDGET_PARTS}
        items = []
        for key, tokens in budget_parts(budget):
            label, colour = labels[key]
            items.append(f"<span style='color:{colour};'>■</span>&nbsp;{html.escape(label)}&nbsp;{tokens:,}")
        self.title.setText(f"Context: {budget.n_ctx:,} tokens")
        self.legend.setText(" &nbsp; ".join(items))
        self.setToolTip(budget_tooltip(budget))


def _source_html(citation: Citation) -> str:
    number = citation.number
    head = f"<a href='{SOURCE_SCHEME}:{number}' style='{LINK_STYLE}'>[{number}] {html.escape(citation.location)}</a>"
    if citation.heading:
        head += f" <span style='color:{MUTED};'>· {html.escape(citation.heading)}</span>"
    if citation.ocr_note:
        head += f" <span style='color:{MUTED};'>· {html.escape(citation.ocr_note)}</span>"
    text = citation.snippet
    # The sentence that matched the answer, in bold within its snippet (the snippet's spaces are collapsed).
    passage = " ".join(citation.passage.split())
    at = text.find(passage) if passage else -1
    if at >= 0:
        end = at + len(passage)
        body = f"{html.escape(text[:at])}<b>{html.escape(passage)}</b>{html.escape(text[end:])}"
    else:
        body = html.escape(text)
    return f"{head}<br><span style='color:{MUTED};'>{body}</span>"


class SourceRow(Label):
    """One source: a link with its file and page, then the snippet the model saw."""

    def __init__(self, citation: Citation, parent: QWidget | None = None) -> None:
        super().__init__(_source_html(citation), parent)
        self.citation = citation
        self.number = citation.number
        self.setObjectName("sourceRow")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        tip = [citation.source]
        if citation.collection:
            tip.append(f"Collection: {citation.collection}")
        tip.append(
            "Its wording matches the answer."
            if citation.matches_answer
            else "No sentence of the answer matches its wording."
        )
        if citation.ocr_note:
            tip.append(OCR_TIP)
        self.setToolTip("\n".join(tip))

    @property
    def location(self) -> str:
        return self.citation.location


class RagAnswerView(QWidget):
    """The sources, warnings and context budget of one answer from documents."""

    source_clicked = Signal(int)  # the source number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ragAnswer")
        self.answer: RagAnswer | None = None
        self.caption = Label("")
        self.caption.setObjectName("ragCaption")
        self.caption.setWordWrap(True)
        self.verdict_label = Label("")
        self.verdict_label.setObjectName("ragVerdict")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setToolTip(
            "Hearth checks every sentence that states something against the passages the model was given: "
            "by meaning, by words, and by its numbers, days and names."
        )
        self.verdict_label.hide()
        self.warnings_label = Label("")
        self.warnings_label.setObjectName("ragWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.hide()
        self.note_label = Label("")
        self.note_label.setObjectName("ragWarnings")
        self.note_label.setWordWrap(True)
        self.note_label.hide()

        self.cited_title = Label("Sources")
        self.cited_title.setObjectName("ragSectionTitle")
        self.cited_box = QWidget()
        self.cited_layout = QVBoxLayout(self.cited_box)
        self.cited_layout.setContentsMargins(0, 0, 0, 0)
        self.cited_layout.setSpacing(6)

        self.others_button = QToolButton()
        self.others_button.setObjectName("ragOthersButton")
        self.others_button.setCheckable(True)
        self.others_button.setArrowType(Qt.ArrowType.RightArrow)
        self.others_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.others_button.setToolTip("Passages the model was given but that the answer does not cite")
        self.others_button.toggled.connect(self._on_others_button_toggled)
        self.others_box = QWidget()
        self.others_layout = QVBoxLayout(self.others_box)
        self.others_layout.setContentsMargins(14, 0, 0, 0)
        self.others_layout.setSpacing(6)
        self.others_box.hide()

        self.budget = BudgetView()
        self.budget.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(5)
        layout.addWidget(self.caption)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.note_label)
        layout.addWidget(self.cited_title)
        layout.addWidget(self.cited_box)
        layout.addWidget(self.others_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.others_box)
        layout.addWidget(self.budget)
        self.caption.hide()
        self.cited_title.hide()
        self.cited_box.hide()
        self.others_button.hide()
        self.rows: list[SourceRow] = []

    # -- content -----------------------------------------------------------------------------

    def set_budget(self, budget: Budget) -> None:
        self.budget.set_budget(budget)
        self.budget.show()

    def set_answer(self, answer: RagAnswer) -> None:
        """Shows the answer's record."""
        self.answer = answer
        inspector = answer.inspector
        collections = ", ".join(inspector.collections)
        mode = "documents only" if inspector.documents_only else "documents and the model's own knowledge"
        self.caption.setText(f"From your documents: {html.escape(collections)} · {mode}" if collections else "")
        self.caption.setVisible(bool(collections))

        verdict, supported = claims_verdict(answer)
        colour = "#166534" if supported else "#92400e"
        mark = "✓" if supported else "⚠"
        text = f"{mark} {html.escape(verdict)}"
        self.verdict_label.setText(f"<span style='color:{colour}; font-weight:600;'>{text}</span>")
        # A green "matches a passage" beside "cites none of your documents" says two things at once:
        # an answer that cites nothing gets the warning alone (it names the passage its wording matches).
        self.verdict_label.setVisible(bool(verdict) and (bool(answer.cited) or not supported))

        warnings = list(answer.warnings)
        if inspector.nothing_relevant:
            warnings.insert(0, "Nothing in your documents matched this question, so the model was not asked.")
        self.warnings_label.setText("<br>".join(f"⚠ {html.escape(w)}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))

        for row in self.rows:
            row.deleteLater()
        self.rows = []
        cited = answer.cited
        others = [c for c in answer.citations if not c.cited]
        self._fill(self.cited_layout, cited)
        self._fill(self.others_layout, others)
        self.cited_title.setText(f"Sources cited ({len(cited)})")
        self.cited_title.setVisible(bool(cited))
        self.cited_box.setVisible(bool(cited))
        self.others_button.setText(
            f"{'Also retrieved' if cited else 'Retrieved'}, not cited ({len(others)})" if others else ""
        )
        self.others_button.setVisible(bool(others))
        self.others_button.setChecked(False)
        self.others_box.hide()
        if answer.budget.n_ctx:  # a record without its budget shows none
            self.set_budget(answer.budget)

    def _fill(self, layout: QVBoxLayout, citations: Sequence[Citation]) -> None:
        for citation in citations:
            row = SourceRow(citation)
            row.linkActivated.connect(self._on_row_link_activated)
            layout.addWidget(row)
            self.rows.append(row)

    def show_note(self, text: str) -> None:
        self.note_label.setText(f"⚠ {html.escape(text)}")
        self.note_label.setVisible(bool(text))

    @property
    def cited_rows(self) -> list[SourceRow]:
        return [r for r in self.rows if r.citation.cited]

    @property
    def other_rows(self) -> list[SourceRow]:
        return [r for r in self.rows if not r.citation.cited]

    # -- slots ---------------------------------------------------------------------------------

    @Slot(bool)
    def _on_others_button_toggled(self, checked: bool) -> None:
        self.others_box.setVisible(checked)
        self.others_button.setArrowType(Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow)

    @Slot(str)
    def _on_row_link_activated(self, link: str) -> None:
        scheme, _, number = link.partition(":")
        if scheme == SOURCE_SCHEME and number.isdigit():
            self.source_clicked.emit(int(number))
