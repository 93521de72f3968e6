"""The Documents section with a damaged collection (its index file emptied on disk, as a full
disk leaves it): the list marks it, the details say what is wrong, Rebuild indexes it again
from its files; twice, at 1280x800 and 1024x700."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.rag import ingest
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents.view import DocumentsView

INDEX_TIMEOUT_MS = 180_000


@pytest.fixture
def view(qtbot: Any, embedder: Any, app_context: AppContext) -> Iterator[DocumentsView]:
    documents = DocumentsView(app_context, resume=False)
    qtbot.addWidget(documents)
    documents.show()
    yield documents
    documents.shutdown()


def damage(store: DocumentStore) -> None:
    folders = [p for p in store.chroma_path.iterdir() if (p / "header.bin").exists()]
    assert len(folders) == 1
    (folders[0] / "header.bin").write_bytes(b"")


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_a_damaged_collection_is_marked_and_rebuilt(
    qtbot: Any, view: DocumentsView, tmp_path: Path, size: tuple[int, int]
) -> None:
    view.resize(*size)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("The centrifuge runs at 4,500 rpm.\n", encoding="utf-8")
    (docs / "b.md").write_text("The freezer keeps minus eighty degrees.\n", encoding="utf-8")
    store = DocumentStore()
    ingest.create_collection(store, "Lab", RagSettings())
    ingest.add_paths(store, "Lab", [docs])
    for _ in range(2):  # the flow to its end, then again
        damage(store)
        view.refresh()
        index = view.collections.index(view.collections.row_of("Lab"), 0)
        assert view.collections.data(index, Qt.ItemDataRole.DecorationRole) is not None
        assert "Damaged" in str(view.collections.data(index, Qt.ItemDataRole.ToolTipRole))
        assert "Damaged" in view.details.stats.text() and "header.bin" in view.details.stats.text()
        assert view.details.rebuild_button.isEnabled() and view.details.rebuild_button.isVisible()
        with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS) as finished:
            assert view.rebuild_collection(confirm=False) is not None
        assert sorted(Path(p).name for p in finished.args[0].indexed) == ["a.md", "b.md"]
        index = view.collections.index(view.collections.row_of("Lab"), 0)
        assert view.collections.data(index, Qt.ItemDataRole.DecorationRole) is None
        assert "Damaged" not in view.details.stats.text()
        assert store.health(store.collection("Lab")).state == "ok"
