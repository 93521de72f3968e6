"""A read-only rich-text view of Markdown that is exactly as tall as its text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QSizeF, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QFrame, QSizePolicy, QWidget

from desktop_app.core.rag.locate import find_words
from desktop_app.ui.shared.external_links import confirm_external_link
from desktop_app.ui.shared.markdown_render import (
    CITATION_SCHEME,
    COPY_CODE_SCHEME,
    EXTERNAL_SCHEMES,
    RenderedMarkdown,
    render_markdown,
)
from desktop_app.ui.shared.safe_text import SafeTextBrowser

UNSUPPORTED_UNDERLINE = "#d97706"
UNSUPPORTED_BACKGROUND = "#fef3c7"


class MarkdownView(SafeTextBrowser):
    """Shows rendered Markdown; "Copy" links over code blocks copy the block's text; a
    citation link [n] of an answer from documents emits ``citation_clicked``; a link to the
    outside world opens only after a question that shows its full address."""

    citation_clicked = Signal(int)  # the source number

    def __init__(self, hard_breaks: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hard_breaks = hard_breaks
        self._markdown = ""
        self._rendered = RenderedMarkdown("")
        self._marks: list[tuple[int, int, str]] = []
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._on_document_size_changed)
        self.anchorClicked.connect(self._on_self_anchor_clicked)
        self.setFixedHeight(self._height_for(self.document().size()))

    @property
    def markdown(self) -> str:
        return self._markdown

    @property
    def code_blocks(self) -> list[str]:
        return list(self._rendered.code_blocks)

    def set_markdown(self, text: str, citations: Mapping[int, str] | None = None) -> None:
        """``citations``: source number -> location, for an answer from documents."""
        self._markdown = text
        self._rendered = render_markdown(text, self._hard_breaks, citations)
        self._marks = []
        self.setHtml(self._rendered.html)

    def mark_sentences(self, sentences: Sequence[tuple[str, str]]) -> None:
        """Underlines each (sentence, tooltip) in the shown text, in order: the claims of an answer
        from documents that its sources do not support. Found by their words, since the rendered
        text has lost the Markdown and shows citations as [2][3]."""
        document = self.document()
        raw = document.toRawText()
        position = 0
        for sentence, tip in sentences:
            span = find_words(raw, sentence, position, skip_citations=True)
            if span is None:
                continue
            end = span[1] + (raw[span[1] : span[1] + 1] in (".", "!", "?", "…"))  # its full stop too
            mark = QTextCharFormat()
            mark.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            mark.setUnderlineColor(QColor(UNSUPPORTED_UNDERLINE))
            mark.setBackground(QColor(UNSUPPORTED_BACKGROUND))
            mark.setToolTip(tip)
            cursor = QTextCursor(document)
            cursor.setPosition(span[0])
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(mark)
            self._marks.append((span[0], end, tip))
            position = end

    @property
    def marked(self) -> list[tuple[str, str]]:
        """The marked passages as shown, with their tooltips."""
        raw = self.document().toRawText()
        return [(raw[a:b], tip) for a, b, tip in self._marks]

    def _height_for(self, size: QSizeF) -> int:
        margins = self.contentsMargins()
        return math.ceil(size.height()) + margins.top() + margins.bottom() + 2

    @Slot(QSizeF)
    def _on_document_size_changed(self, size: QSizeF) -> None:
        self.setFixedHeight(self._height_for(size))

    @Slot(QUrl)
    def _on_self_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == COPY_CODE_SCHEME:
            try:
                block = self._rendered.code_blocks[int(url.path())]
            except (ValueError, IndexError):
                return
            QGuiApplication.clipboard().setText(block)
        elif url.scheme() == CITATION_SCHEME:
            if url.path().isdigit():
                self.citation_clicked.emit(int(url.path()))
        elif url.scheme() in EXTERNAL_SCHEMES:
            confirm_external_link(self, url)
