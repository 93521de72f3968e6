"""The Documents section with a collection on a Chroma server (pytest-qt, offscreen, a real
``chroma run`` on 127.0.0.1): the New dialog offers the server, the collection is made off the
GUI thread and shown as shared, and a server that does not answer is said in plain words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.new_collection_dialog import NewCollectionDialog
from desktop_app.ui.documents.view import DocumentsView
from tests.chroma_servers import ChromaServer, free_port

TIMEOUT_MS = 180_000


@pytest.fixture
def view(qtbot: Any, embedder: Any, app_context: AppContext) -> Iterator[DocumentsView]:
    made = DocumentsView(app_context, resume=False)
    qtbot.addWidget(made)
    yield made
    made.shutdown()


def test_the_new_dialog_offers_a_server(qtbot: Any) -> None:
    dialog = NewCollectionDialog()
    qtbot.addWidget(dialog)
    dialog.name.setText("Lab share")
    assert not dialog.server_fields.isEnabled() and dialog.values() == ("Lab share", None, None)
    dialog.remote.setChecked(True)
    assert dialog.server_fields.isEnabled()
    dialog.url.setText("http://127.0.0.1:8000")
    assert dialog.values() == ("Lab share", "http://127.0.0.1:8000", None)  # no token: the saved one, if any
    dialog.token.setText("s3cret")
    assert dialog.values()[2] == "s3cret"


def test_a_shared_collection_from_the_documents_section(
    qtbot: Any, view: DocumentsView, tmp_path: Path, corpus: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma-server").start()
    try:
        with qtbot.waitSignal(view.collections_changed, timeout=TIMEOUT_MS):
            view.new_shared_collection("Lab share", server.url)
        assert view.current is not None and view.current.shared
        assert f"shared on the Chroma server {server.url}" in view.details.stats.text()
        assert "Lab share" in view.details.report_label.text()
        with qtbot.waitSignal(view.indexing_finished, timeout=TIMEOUT_MS):
            view.add_paths([str(corpus / "notes.md")])
        assert view.details.files.rowCount() == 1

        nowhere = f"http://127.0.0.1:{free_port()}"
        with qtbot.waitSignal(view.job_failed, timeout=TIMEOUT_MS) as failed:
            view.new_shared_collection("Elsewhere", nowhere)
        assert failed.args[0] == f"Nothing answers at {nowhere}."
        assert [view.collections.collection(r).name for r in range(view.collections.rowCount())] == ["Lab share"]
    finally:
        server.stop()
