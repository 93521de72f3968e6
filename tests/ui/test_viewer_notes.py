"""The document viewer's note shows its words as they are: an apostrophe, a file name with
markup in it, never an HTML entity or a rendered tag (the note is plain text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from desktop_app.ui.shared.document_viewer import Cited, show_source
from tests.documents_fixtures import PDF_PAGES, write_pdf


def test_a_passage_not_on_its_page_is_said_in_plain_words(qtbot: Any, tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "<i>report.pdf", PDF_PAGES)
    anchor = QWidget()
    qtbot.addWidget(anchor)
    anchor.resize(1024, 700)
    anchor.show()
    for _round in range(2):  # opened, closed, opened again
        cited = Cited(str(path), 1, "Nothing like this is on the page.", "", "report.pdf, page 1")
        viewer = show_source(anchor, cited)
        qtbot.waitUntil(lambda v=viewer: v.note_label.text() != "", timeout=60_000)
        note = viewer.note_label.text()
        assert note == "⚠ The passage could not be found in this page's text, so nothing is highlighted."
        assert viewer.note_label.isVisibleTo(viewer)
        viewer.close()
