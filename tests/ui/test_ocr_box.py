"""Settings › Text recognition (#22): each collection's OCR switch, ticked or not as it is kept with
the collection (what `hearth docs ocr` shows too); unticking and ticking again switch it off the GUI
thread and say what follows; the flow twice, in the window at 1280x800 and 1024x700."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.rag import ingest, ocr_switch
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.settings.view import SettingsView


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_ocr_is_switched_per_collection_and_kept(qtbot: Any, window: Any, size: tuple[int, int]) -> None:
    store = DocumentStore()
    for name in ("Letters", "Papers"):
        ingest.create_collection(store, name, RagSettings())
    ocr_switch.set_ocr_enabled(store, store.collection("Papers"), False)
    window.resize(*size)
    settings = window.sections["Settings"]
    assert isinstance(settings, SettingsView)
    window.show_section(list(window.sections).index("Settings"))
    box = settings.ocr_box
    settings.ensureWidgetVisible(box)
    qtbot.waitUntil(lambda: box.list.count() == 2)
    assert box.list.isVisible() and box.list.visualItemRect(box.list.item(1)).bottom() <= box.list.height()
    states = {box.list.item(i).text(): box.list.item(i).checkState() for i in range(2)}
    assert states == {"Letters": Qt.CheckState.Checked, "Papers": Qt.CheckState.Unchecked}
    letters = box.list.item(0)
    for _round in range(2):
        with qtbot.waitSignal(box.jobs.finished, timeout=30_000):
            letters.setCheckState(Qt.CheckState.Unchecked)
        assert not ocr_switch.ocr_enabled(store, store.collection("Letters"))
        assert box.status.text().startswith("Off for “Letters”") and "left out" in box.status.text()
        with qtbot.waitSignal(box.jobs.finished, timeout=30_000):
            letters.setCheckState(Qt.CheckState.Checked)
        assert ocr_switch.ocr_enabled(store, store.collection("Letters"))
        assert "read at its next update" in box.status.text()
    # Shown again (a collection made meanwhile, elsewhere): the list is what is kept.
    ingest.create_collection(store, "Scans", RagSettings())
    window.show_section(list(window.sections).index("Chat"))
    window.show_section(list(window.sections).index("Settings"))
    qtbot.waitUntil(lambda: box.list.count() == 3)
    assert [box.list.item(i).checkState() for i in range(3)] == [Qt.CheckState.Checked, Qt.CheckState.Unchecked,
                                                                 Qt.CheckState.Checked]  # fmt: skip
