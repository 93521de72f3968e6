"""A folder of photos and scans in the Documents section: a picture in which text recognition
found no text is listed quietly with the files ("No text found"), not under "Could not be read",
which keeps the files that really failed. At 1280x800 and 1024x700, the folder added twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette

from desktop_app.core.rag import ocr
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.view import DocumentsView
from tests.core.rag.test_ocr import SCANS, photo_image, scan_image

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime is not installed")

INDEX_TIMEOUT_MS = 180_000


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_pictures_with_no_text_are_not_failures(
    qtbot: Any, embedder: Any, app_context: AppContext, tmp_path: Path, size: tuple[int, int]
) -> None:
    folder = tmp_path / "holiday"
    folder.mkdir()
    scan_image(SCANS[0]).save(folder / "receipt.png")
    photo_image().save(folder / "lake.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")
    view = DocumentsView(app_context, resume=False)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    try:
        for _round in range(2):  # the second time nothing is read again: the same outcome
            with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
                view.add_paths([str(folder)])
            report = blocker.args[0]
            assert [Path(p).name for p in report.no_text] == ["lake.png"]
            details = view.details
            qtbot.waitUntil(lambda d=details: d.files.rowCount() == 2)
            files = {details.files.index(r, 0).data(): details.files.index(r, 1).data() for r in range(2)}
            assert files == {"receipt.png": "Indexed", "lake.png": "No text found"}
            greyed = {
                details.files.index(r, 0).data(): details.files.index(r, 0).data(Qt.ItemDataRole.ForegroundRole)
                for r in range(2)
            }
            assert greyed["receipt.png"] is None  # the usual colour
            disabled = QGuiApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            assert greyed["lake.png"].color() == disabled
            assert details.problems.rowCount() == 1  # only the broken file
            assert details.tabs.tabText(1) == "Could not be read (1)"
            assert details.stats.text().startswith("1 file · 1 passage · ")  # in words, never "1 files"
            assert "1 could not be read · 1 picture had no text" in details.stats.text()
            shown = details.report_label.text()
            assert "1 picture had no text in it and was left out (“Files” lists them)." in shown
            assert "<b>Could not be read:</b> 1 file (“broken.png”)" in shown and "lake.png" not in shown
            assert "1 picture had no text" in view.collections.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    finally:
        view.shutdown()
