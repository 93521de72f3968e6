"""The recommended open models as cards, grouped by where they run on this computer."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.fit.result import Verdict
from desktop_app.core.hub.recommended import (
    OPENNESS_WORDS,
    SOURCE_NOTE,
    TIERS,
    Openness,
    Recommendation,
    memory_words,
    peak_words,
)
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.verdict_colours import BADGE_COLOURS

CARD_STYLE = "QFrame#recommendedCard { background: #ffffff; border: 1px solid #d0d7de; border-radius: 6px; }"
FULLY_OPEN_COLOUR = "#1a7f37"


class RecommendedCard(QFrame):
    """One model: its name and maker, its fit here, the one-line card and a way to its files."""

    open_requested = Signal(str)  # the repository id

    def __init__(self, rec: Recommendation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recommendedCard")
        self.recommendation = rec
        model = rec.model
        self.title = Label(f"<b>{model.name}</b> · {model.maker}")
        colour = BADGE_COLOURS.get(rec.badge.verdict, BADGE_COLOURS[Verdict.UNKNOWN]).name()
        # A coloured dot, not coloured words: blue words read as a link that does nothing.
        self.fit_label = Label(
            f"<span style='color:{colour}'>●</span> <b>{html.escape(rec.badge.label)}</b>: "
            f"{html.escape(memory_words(rec))}"
        )
        self.fit_label.setWordWrap(True)
        self.fit_label.setToolTip(
            "\n\n".join(
                t
                for t in (
                    "Estimated for a Q4_K_M file from the model's published architecture; the real files' fit "
                    "is shown when you open the repository.",
                    peak_words(rec),
                )
                if t
            )
        )
        self.remedy_label = Label(rec.remedy)
        self.remedy_label.setWordWrap(True)
        self.remedy_label.setVisible(bool(rec.remedy))
        self.open_button = QPushButton("Open in Models ›")
        self.open_button.setToolTip(f"Show the files of {model.repo_id} (asks the Hugging Face Hub)")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        line = html.escape(model.card_line(), quote=False)
        if model.openness is Openness.FULL:  # the rare, transparent ones stand out
            words = OPENNESS_WORDS[Openness.FULL]
            line = line.replace(words, f"<b style='color:{FULLY_OPEN_COLOUR}'>{words}</b>")
        self.card_label = Label(f"{line} <span style='color:#6e7781'>({html.escape(SOURCE_NOTE, quote=False)})</span>")
        self.card_label.setWordWrap(True)
        self.note_label = Label(model.note)
        self.note_label.setObjectName("hintLabel")
        self.note_label.setWordWrap(True)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(self.title)
        top.addWidget(self.fit_label, 1)
        top.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.remedy_label)
        layout.addWidget(self.card_label)
        layout.addWidget(self.note_label)

    @Slot()
    def _on_open_button_clicked(self) -> None:
        self.open_requested.emit(self.recommendation.model.repo_id)


class RecommendedList(QWidget):
    """Tiers (on the GPU, partly, on the CPU), then, behind a tick box, those too large here."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: list[RecommendedCard] = []
        self._too_large: list[QWidget] = []
        self.show_too_large = QCheckBox("")
        self.show_too_large.toggled.connect(self._on_show_too_large_toggled)
        self.show_too_large.hide()
        self.setStyleSheet(CARD_STYLE)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._body = QVBoxLayout()
        self._layout.addLayout(self._body)
        self._layout.addWidget(self.show_too_large)

    def set_recommendations(self, recs: list[Recommendation]) -> None:
        while self._body.count():
            item = self._body.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.cards, self._too_large = [], []
        for verdict, heading in TIERS:
            tier = [r for r in recs if r.badge.verdict is verdict]
            if not tier:
                continue
            label = Label(f"<b>{heading}</b> ({len(tier)})")
            label.setObjectName("tierHeading")
            widgets: list[QWidget] = [label]
            for rec in tier:
                card = RecommendedCard(rec)
                card.open_requested.connect(self.open_requested)
                self.cards.append(card)
                widgets.append(card)
            for widget in widgets:
                self._body.addWidget(widget)
                if verdict is Verdict.TOO_LARGE:
                    self._too_large.append(widget)
                    widget.setVisible(self.show_too_large.isChecked())
        n_large = sum(1 for r in recs if r.badge.verdict is Verdict.TOO_LARGE)
        self.show_too_large.setText(f"Also show the {n_large} that need more memory than this computer has")
        self.show_too_large.setVisible(n_large > 0)
        if not any(r.fits for r in recs):
            empty = Label("None of these fits in the memory free now; close other programs and look again.")
            empty.setWordWrap(True)
            self._body.insertWidget(0, empty)

    def visible_cards(self) -> list[RecommendedCard]:
        return [c for c in self.cards if not c.isHidden()]

    @Slot(bool)
    def _on_show_too_large_toggled(self, checked: bool) -> None:
        for widget in self._too_large:
            widget.setVisible(checked)
