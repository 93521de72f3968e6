"""The built-in document viewer: a citation opens where it points.

A PDF opens at the cited page, rendered by pdfium (core/rag/pdf_render.py), with the cited
passage highlighted: the sentence that matched the answer in amber, the rest of the chunk
the model was given in pale yellow; the previous and next pages are a click away. Any
other document opens as the text Hearth indexed, scrolled to the passage, highlighted the
same way. Pages are rendered and files read on a worker thread, so a large file never
freezes the window. "Open in the default app" hands the file to the system's viewer.

One viewer per window: the chat and the Documents section both open sources here
(``show_source``), and a second citation replaces the first.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.rag import source_text
from desktop_app.core.rag.answer_record import Citation
from desktop_app.core.rag.pdf_render import Box, RenderedPage, is_paged, render_page
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.shared.open_document import open_source

PASSAGE_COLOUR = QColor(245, 158, 11, 110)  # the sentence that matched the answer
CHUNK_COLOUR = QColor(253, 224, 71, 70)  # the rest of what the model was given
PASSAGE_TEXT_BACKGROUND = "#fcd34d"
CHUNK_TEXT_BACKGROUND = "#fef9c3"


@dataclass
class Cited:
    """What to show: a file, its page (PDFs), the chunk the model saw and its matching sentence."""

    path: str
    page: int | None = None
    chunk: str = ""
    passage: str = ""
    location: str = ""
    chunk_start: int = 0

    @property
    def is_pdf(self) -> bool:
        """Shown as pages: a PDF, or a picture file (PNG, JPEG, TIFF) read by OCR."""
        return is_paged(self.path)


def cited_from(citation: Citation) -> Cited:
    """An answer's source (older records lack the passage: "")."""
    return Cited(citation.source, citation.page, citation.text, citation.passage, citation.location, citation.start)


class DocumentViewer(QDialog):
    shown = Signal()  # a page or a text is on screen (or why it cannot be)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentViewer")
        self.setWindowTitle("Document")
        self.resize(820, 900)
        self.cited: Cited | None = None
        self.page_number = 0  # the page on screen (PDFs)
        self.page_count = 0
        self.page_image: QImage | None = None
        self.passage_boxes: list[Box] = []  # on the page on screen, in the image's pixels
        self.chunk_boxes: list[Box] = []
        self.jobs = JobRunner(self, max_threads=1)
        self.jobs.succeeded.connect(self._on_jobs_succeeded)
        self.jobs.failed.connect(self._on_jobs_failed)

        self.title_label = Label("")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)  # outside text in it is escaped
        self.title_label.setObjectName("viewerTitle")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.passage_label = Label("")
        self.passage_label.setTextFormat(Qt.TextFormat.RichText)  # outside text in it is escaped
        self.passage_label.setObjectName("viewerPassage")
        self.passage_label.setWordWrap(True)
        self.passage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label = Label("")
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)  # file names and errors, shown as they are
        self.note_label.setObjectName("ragWarnings")
        self.note_label.setWordWrap(True)
        self.note_label.hide()

        self.page_label = Label()
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.page_area = QScrollArea()
        self.page_area.setWidget(self.page_label)
        self.page_area.setWidgetResizable(True)
        self.page_area.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.loading_label = Label("Opening…")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        for widget in (self.loading_label, self.page_area, self.text_view):
            self.stack.addWidget(widget)

        self.previous_button = QPushButton("◀ Previous page")
        self.previous_button.clicked.connect(self._on_previous_button_clicked)
        self.next_button = QPushButton("Next page ▶")
        self.next_button.clicked.connect(self._on_next_button_clicked)
        self.page_status = Label("")
        self.cited_button = QPushButton("Back to the cited page")
        self.cited_button.clicked.connect(self._on_cited_button_clicked)
        self.open_button = QPushButton("Open in the default app")
        self.open_button.setToolTip("Open the file in the program this computer uses for it")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        bar = QHBoxLayout()
        for control in (self.previous_button, self.page_status, self.next_button, self.cited_button):
            bar.addWidget(control)
        bar.addStretch(1)
        bar.addWidget(self.open_button)
        bar.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.passage_label)
        layout.addWidget(self.note_label)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bar)

    # -- opening -------------------------------------------------------------------------------

    def open_cited(self, cited: Cited) -> None:
        """Shows ``cited``: its page for a PDF, else its text at the passage."""
        self.cited = cited
        name = Path(cited.path).name
        self.setWindowTitle(f"{cited.location or name} — Hearth")
        self.title_label.setText(f"<b>{html.escape(cited.location or name)}</b>")
        self.title_label.setToolTip(cited.path)
        shown = cited.passage or cited.chunk
        self.passage_label.setText(
            f"<span style='color:#92400e;'>Highlighted: “{html.escape(_short(shown))}”</span>" if shown else ""
        )
        self.passage_label.setVisible(bool(shown))
        self._note("")
        self.loading_label.setText("Opening…")
        self.stack.setCurrentWidget(self.loading_label)
        self.page_count = 0
        if cited.is_pdf:
            self._render(cited.page or 1)
        else:
            self._set_page_controls(False)
            self.jobs.start(
                "text", lambda _c, _r: source_text.load(cited.path, cited.chunk, cited.chunk_start, cited.passage)
            )

    def _render(self, page: int) -> None:
        cited = self.cited
        assert cited is not None
        self.page_number = page
        on_cited_page = page == (cited.page or 1)
        passages = [cited.passage, cited.chunk] if on_cited_page else []
        # The page as wide as the view (before the first show, the dialog's width tells it).
        shown = self.page_area.viewport().width() if self.isVisible() else self.width() - 40
        width = max(400, shown - 24)
        pixels = int(width * self.devicePixelRatioF())
        self.jobs.start("page", lambda _c, _r: render_page(cited.path, page, passages, pixels))
        self._set_page_controls(True)

    def _set_page_controls(self, visible: bool) -> None:
        for widget in (self.previous_button, self.next_button, self.page_status):
            widget.setVisible(visible)
        self.cited_button.setVisible(visible and self.cited is not None and self.page_number != (self.cited.page or 1))
        if visible:
            self.previous_button.setEnabled(self.page_number > 1)
            self.next_button.setEnabled(self.page_count == 0 or self.page_number < self.page_count)
            total = f" of {self.page_count}" if self.page_count else ""
            self.page_status.setText(f"Page {self.page_number}{total}")

    def _note(self, text: str) -> None:
        self.note_label.setText(f"⚠ {text}" if text else "")
        self.note_label.setVisible(bool(text))

    # -- showing -------------------------------------------------------------------------------

    def _show_page(self, rendered: RenderedPage) -> None:
        cited = self.cited
        assert cited is not None
        self.page_count = rendered.pages
        image_format = QImage.Format.Format_RGB888 if rendered.channels == 3 else QImage.Format.Format_RGBX8888
        image = QImage(rendered.pixels, rendered.width, rendered.height, rendered.stride, image_format)
        image = image.convertToFormat(QImage.Format.Format_RGB32)  # a copy that owns its pixels
        passage, chunk = [*rendered.boxes, [], []][:2]  # the boxes of what _render asked for, in its order
        self.passage_boxes = passage if cited.passage else []
        self.chunk_boxes = chunk
        painter = QPainter(image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for boxes, colour in ((self.chunk_boxes, CHUNK_COLOUR), (self.passage_boxes, PASSAGE_COLOUR)):
            for left, top, right, bottom in boxes:
                painter.fillRect(QRectF(left - 2, top - 2, right - left + 4, bottom - top + 4), colour)
        painter.end()
        self.page_image = image
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.page_label.setPixmap(pixmap)
        self.stack.setCurrentWidget(self.page_area)
        self._set_page_controls(True)
        if rendered.page == (cited.page or 1) and (cited.passage or cited.chunk) and not (passage or chunk):
            self._note("The passage could not be found in this page's text, so nothing is highlighted.")
        targets = self.passage_boxes or self.chunk_boxes
        if targets:
            target = targets[0]
            ratio = self.devicePixelRatioF()
            y = int((target[1] + target[3]) / 2 / ratio)
            self.page_area.ensureVisible(int(target[0] / ratio), y, 40, self.page_area.viewport().height() // 3)
        else:
            self.page_area.verticalScrollBar().setValue(0)
        self.shown.emit()

    def _show_text(self, loaded: source_text.SourceText) -> None:
        self.text_view.setPlainText(loaded.text)
        selections = []
        for span, background in ((loaded.chunk, CHUNK_TEXT_BACKGROUND), (loaded.passage, PASSAGE_TEXT_BACKGROUND)):
            if span is None:
                continue
            selection = QTextEdit.ExtraSelection()
            selection.cursor = QTextCursor(self.text_view.document())
            selection.cursor.setPosition(span[0])
            selection.cursor.setPosition(span[1], QTextCursor.MoveMode.KeepAnchor)
            text_format = QTextCharFormat()
            text_format.setBackground(QColor(background))
            selection.format = text_format
            selections.append(selection)
        self.text_view.setExtraSelections(selections)
        self.stack.setCurrentWidget(self.text_view)
        self._note(loaded.note)
        target = loaded.passage or loaded.chunk
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(target[0] if target else 0)
        self.text_view.setTextCursor(cursor)
        self.text_view.centerCursor()
        self.shown.emit()

    @property
    def highlighted_text(self) -> str:
        """The text under the strongest highlight of a text view (what a test or a reader checks)."""
        selections = self.text_view.extraSelections()
        return selections[-1].cursor.selectedText() if selections else ""

    # -- slots ---------------------------------------------------------------------------------

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: object) -> None:
        if kind == "page" and isinstance(result, RenderedPage):
            self._show_page(result)
        elif kind == "text" and isinstance(result, source_text.SourceText):
            self._show_text(result)

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.stack.setCurrentWidget(self.loading_label)
        self.loading_label.setText("")
        self._note(f"{message} {hint}".strip())
        self.shown.emit()

    @Slot()
    def _on_previous_button_clicked(self) -> None:
        if self.cited is not None and self.page_number > 1:
            self._render(self.page_number - 1)

    @Slot()
    def _on_next_button_clicked(self) -> None:
        if self.cited is not None and (not self.page_count or self.page_number < self.page_count):
            self._render(self.page_number + 1)

    @Slot()
    def _on_cited_button_clicked(self) -> None:
        if self.cited is not None:
            self._render(self.cited.page or 1)

    @Slot()
    def _on_open_button_clicked(self) -> None:
        if self.cited is None:
            return
        page = self.page_number if self.cited.is_pdf else None
        if not open_source(self.cited.path, page):
            gone = not Path(self.cited.path).exists()
            name = Path(self.cited.path).name
            self._note(f"“{name}” was moved or deleted." if gone else f"No application could open “{name}”.")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: text.rfind(" ", 0, limit)] + " …"


def show_source(anchor: QWidget, cited: Cited) -> DocumentViewer:
    """Opens ``cited`` in the viewer of ``anchor``'s window (made on first use)."""
    window = anchor.window()
    viewer = window.findChild(DocumentViewer, "documentViewer")
    if viewer is None:
        viewer = DocumentViewer(window)
        room = window.screen().availableGeometry()  # a page is tall: as tall as the screen allows
        viewer.resize(min(viewer.width(), room.width() - 40), min(viewer.height(), room.height() - 60))
    viewer.open_cited(cited)
    viewer.show()
    viewer.raise_()
    viewer.activateWindow()
    return viewer
