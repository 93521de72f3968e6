"""A passage read from a scanned page (real text recognition of a page made from known text, real
embeddings and Chroma) is marked as such, with how sure the recogniser was, under the answer and in
the retrieval inspector; also after the window is closed and the conversation reopened. Each at
1280×800, then at 1024×700."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.rag import answer, ingest, ocr
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.chat.retrieval_inspector import RetrievalInspectorDialog
from tests.core.rag.test_ocr import SCANS, write_scanned_pdf

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime is not installed")

QUESTION = "Which order covers the liquid helium?"
MARK = re.compile(r"read from a scanned page · (\d+)% sure")
SIZES = [(1280, 800), (1024, 700)]


def test_a_passage_from_a_scan_says_so_with_its_confidence(
    qtbot: Any, make_window: Any, engine: Any, tmp_path: Path, hearth_home: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    write_scanned_pdf(folder / "scan.pdf", SCANS)
    (folder / "notes.md").write_text("# Notes\n\nThe helium dewar is refilled on Fridays.\n", encoding="utf-8")
    store = DocumentStore()
    ingest.create_collection(store, "scans", RagSettings())
    assert len(ingest.add_paths(store, "scans", [folder]).indexed) == 2
    prompt = answer.prepare(engine, store, ["scans"], QUESTION, (), "", RagSettings(), max_answer_tokens=32)
    scanned = next(i for i, h in enumerate(prompt.sources, start=1) if h.name == "scan.pdf" and h.page == 1)
    result = answer.finish(prompt, f"Order 4471-K covers the liquid helium [{scanned}].")
    citation = result.citations[scanned - 1]
    assert citation.ocr_confidence is not None and 0.9 <= citation.ocr_confidence <= 1.0
    sure = f"{citation.ocr_confidence:.0%}"
    typed = [c for c in result.citations if c.name == "notes.md"]

    conversations = make_window().context.store
    conversation = conversations.create("Helium")
    conversations.set_collections(conversation.id, ["scans"])
    conversations.add_message(conversation.id, "user", QUESTION)
    conversations.add_message(conversation.id, "assistant", result.text, None, result)

    for width, height in SIZES:
        window = make_window()  # a window of its own each time: what is shown comes from the stored record
        window.resize(width, height)
        window.show()
        chat = window.chat
        chat.open_conversation(conversation.id)
        rag_view = chat.transcript.views[-1].rag_view
        assert rag_view is not None
        # Under the answer: the scanned source says where its text came from, in words; a typed file does not.
        row = next(r for r in rag_view.rows if r.number == scanned)
        found = MARK.search(row.text())
        assert found is not None and f"{found.group(1)}%" == sure and "scan.pdf, page 1" in row.text()
        assert "text recognition (OCR)" in row.toolTip()
        assert all(MARK.search(r.text()) is None for r in rag_view.rows if r.number in {c.number for c in typed})
        # Nothing cut off mid-line at either size (issue 21): each wrapped label is as tall as its text.
        for label in [*rag_view.rows, rag_view.verdict_label, rag_view.caption]:
            if label.isVisibleTo(window):
                qtbot.waitUntil(lambda lb=label: lb.height() >= lb.heightForWidth(lb.width()))

        # The inspector: the candidate's location carries the mark, its tooltip the technical term.
        view = chat.transcript.views[-1]
        qtbot.mouseClick(view.inspect_button, Qt.MouseButton.LeftButton)
        dialog = view.findChild(RetrievalInspectorDialog)
        assert dialog is not None
        model = dialog.model
        rows = [model.row(i) for i in range(model.rowCount())]
        at = next(i for i, r in enumerate(rows) if r.hit.name == "scan.pdf" and r.hit.page == 1)
        location = model.index(at, 4).data()
        assert location == f"scan.pdf, page 1 · read from a scanned page · {sure} sure"
        assert "OCR" in model.index(at, 4).data(Qt.ItemDataRole.ToolTipRole)
        typed_rows = [i for i, r in enumerate(rows) if r.hit.name == "notes.md"]
        assert all(MARK.search(model.index(i, 4).data()) is None for i in typed_rows)
        dialog.table.selectRow(at)
        assert MARK.search(dialog.chunk_text.toPlainText().splitlines()[0])
        dialog.close()
