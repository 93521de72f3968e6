"""A citation from a picture file (issue 22) opens the document viewer on the picture, its page
scaled to the view, with the cited line boxed from what text recognition found there; a TIFF's
second page is a page like a PDF's. Real recognition of pictures drawn from known text; the flow
twice, at 1280×800 and at 1024×700."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core.rag import ocr
from desktop_app.core.rag.parsers import parse
from desktop_app.ui.shared.document_viewer import Cited, show_source
from tests.core.rag.test_ocr import SCANS, scan_image

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime is not installed")


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_a_picture_citation_opens_at_its_page_with_the_line_boxed(
    qtbot: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    path = tmp_path / "letters.tif"
    scan_image(SCANS[0]).save(path, save_all=True, append_images=[scan_image(SCANS[1])])
    parse(path, ocr.OcrRequest())  # indexing reads it (and keeps what it read: the viewer's boxes)
    anchor = QWidget()
    qtbot.addWidget(anchor)
    anchor.resize(*size)
    anchor.show()
    for _round in range(2):
        cited = Cited(str(path), 2, " ".join(SCANS[1]), SCANS[1][1], "letters.tif, page 2")
        viewer = show_source(anchor, cited)
        qtbot.waitUntil(lambda v=viewer: v.page_image is not None and v.page_number == 2, timeout=60_000)
        assert viewer.stack.currentWidget() is viewer.page_area and viewer.page_status.text() == "Page 2 of 2"
        assert len(viewer.passage_boxes) == 1 and not viewer.note_label.isVisible()
        left, top, right, bottom = viewer.passage_boxes[0]
        assert 0 <= left < right <= viewer.page_image.width() and top < bottom
        assert bottom / viewer.page_image.height() > 0.4  # the second line, lower on the page
        with qtbot.waitSignal(viewer.shown, timeout=60_000):
            viewer.previous_button.click()  # the first page: no passage there, nothing boxed
        assert viewer.page_status.text() == "Page 1 of 2" and not viewer.passage_boxes
        viewer.close()
        viewer.page_image = None  # (the same viewer opens the next citation: wait for its new page)
