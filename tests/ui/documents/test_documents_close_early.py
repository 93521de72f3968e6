"""A window closed right after it opens, with collections present, leaves no documents thread
running (the section's deferred start-up work must not start the threads again after close)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_app.core.rag import ingest
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from tests.ui.conftest import WindowFactory


def test_a_window_closed_at_once_leaves_no_documents_thread(
    qtbot: Any, make_window: WindowFactory, hearth_home: Path, corpus: Path
) -> None:
    store = DocumentStore()
    ingest.create_collection(store, "papers", RagSettings())
    ingest.add_paths(store, "papers", [corpus / "notes.md"])
    for _ in range(2):  # open and close, then again
        window = make_window()
        window.close()
        qtbot.wait(300)  # the section's deferred start-up timers fire now, after the close
        host = window.sections["Documents"].host
        assert not host._threads, "a documents thread started after the window closed"
