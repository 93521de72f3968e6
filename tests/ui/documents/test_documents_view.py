"""The Documents section (pytest-qt, offscreen): adding by drag and drop with progress,
cancel and resume, searching, opening a source, and the item models."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDropEvent

from desktop_app.core.rag import index_report, ingest
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.context import AppContext
from desktop_app.ui.documents import view as documents_view
from desktop_app.ui.documents.view import DocumentsView
from desktop_app.ui.shared import open_document
from desktop_app.ui.shared.document_viewer import DocumentViewer
from desktop_app.ui.shared.open_document import source_url
from tests.documents_fixtures import BROKEN

INDEX_TIMEOUT_MS = 180_000
GOOD = 8


@pytest.fixture
def make_view(qtbot: Any, embedder: Any, app_context: AppContext) -> Iterator[Callable[[], DocumentsView]]:
    """Views on this test's HEARTH_HOME; their threads must be stopped when the test ends."""
    views: list[DocumentsView] = []

    def make() -> DocumentsView:
        view = DocumentsView(app_context, resume=False)
        qtbot.addWidget(view)
        view.show()
        views.append(view)
        return view

    yield make
    for view in views:
        view.shutdown()
        assert not any(t.isRunning() for t in view.host._threads)


def drop(view: DocumentsView, paths: list[Path]) -> None:
    """What a drag from the file manager delivers."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    view.dropEvent(event)
    assert event.isAccepted()


def test_drop_a_folder_indexes_it_with_progress(
    qtbot: Any, qtmodeltester: Any, make_view: Callable[[], DocumentsView], corpus: Path
) -> None:
    view = make_view()
    updates: list[index_report.IndexProgress] = []
    view.indexing_progressed.connect(updates.append)
    with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        drop(view, [corpus])
        assert view.details.progress_panel.isVisible()
    report = blocker.args[0]
    assert len(report.indexed) == GOOD and len(report.skipped) == len(BROKEN)
    files = [u for u in updates if u.phase == "indexing"]
    assert files and files[-1].files_total == GOOD + len(BROKEN)
    assert max(u.chunks_done for u in files) == report.chunks_added
    assert [u.files_done for u in files] == sorted(u.files_done for u in files)  # only ever forward
    qtbot.waitUntil(lambda: not view.details.progress_panel.isVisible())

    # The collection made for the drop, its files, and what could not be read (with why).
    assert view.collections.rowCount() == 1
    assert view.current is not None and view.current.name == documents_view.DEFAULT_COLLECTION
    assert view.details.files.rowCount() == GOOD
    assert view.details.problems.rowCount() == len(BROKEN)
    assert view.details.sources.rowCount() == 1 and view.details.sources.index(0, 0).data() == str(corpus)
    for model in (view.collections, view.details.sources, view.details.files, view.details.problems):
        qtmodeltester.check(model)

    # The report groups what was added, what could not be read and what was ignored (by type),
    # and counts in words ("1 file", never "1 files").
    report_text = view.details.report_label.text()
    assert f"<b>Added:</b> {GOOD} files indexed" in report_text
    assert f"<b>Could not be read:</b> {len(BROKEN)} files" in report_text
    assert "<b>Ignored:</b> 1 file of a type Hearth does not read: “.mp3”." in report_text
    assert not re.search(r"\b1 files\b", report_text + view.details.stats.text())


def test_failure_reasons_are_shown_in_full(qtbot: Any, make_view: Callable[[], DocumentsView], corpus: Path) -> None:
    view = make_view()
    view.resize(1024, 700)  # the smallest window Hearth is laid out for
    with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        view.add_paths([str(corpus / "broken")])
    view.details.tabs.setCurrentWidget(view.details.problems_panel)
    assert view.details.tabs.tabText(view.details.tabs.currentIndex()) == f"Could not be read ({len(BROKEN)})"
    table = view.details.problems_panel.table
    qtbot.waitUntil(table.isVisible)
    records = [view.details.problems.record(r) for r in range(view.details.problems.rowCount())]
    assert {Path(r.path).name for r in records} == set(BROKEN)
    # Each reason is in its own column, whole (no "Not read:" prefix, no empty columns beside it)...
    assert view.details.problems.columnCount() == 2
    assert [view.details.problems.index(r, 1).data() for r in range(len(records))] == [r.reason for r in records]
    assert any("password-protected" in r.reason for r in records)
    # ...wrapped in rows tall enough for all of it, in a column that has most of the width.
    assert table.columnWidth(1) >= table.viewport().width() * 0.55
    metrics = table.fontMetrics()
    for row, record in enumerate(records):
        needed = metrics.boundingRect(
            QRect(0, 0, table.columnWidth(1) - 8, 10_000), int(Qt.TextFlag.TextWordWrap), record.reason
        ).height()
        assert table.rowHeight(row) >= needed, record.reason
    longest = max(range(len(records)), key=lambda r: len(records[r].reason))
    assert table.rowHeight(longest) > metrics.height() * 1.5  # a long reason takes more than one line
    # The details pane shows the selected file's full path and reason.
    cell = table.visualRect(view.details.problems.index(longest, 0)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    details = view.details.problems_panel.details.text()
    assert records[longest].path in details and html.escape(records[longest].reason) in details


@pytest.mark.usefixtures("one_file_at_a_time")
def test_cancel_stops_and_update_resumes(qtbot: Any, make_view: Callable[[], DocumentsView], corpus: Path) -> None:
    view = make_view()
    # Enough files that the rest is still being embedded when the click lands (the progress
    # signal crosses to the GUI thread first).
    for i in range(30):
        (corpus / f"extra-{i:02}.md").write_text(f"# Extra {i}\n\n" + "The samples stay cold. " * 80, encoding="utf-8")
    good = GOOD + 30

    def cancel_after_first_file(progress: index_report.IndexProgress) -> None:
        if progress.files_done >= 1 and view.details.cancel_button.isEnabled():
            qtbot.mouseClick(view.details.cancel_button, Qt.MouseButton.LeftButton)

    view.indexing_progressed.connect(cancel_after_first_file)
    with qtbot.waitSignal(view.indexing_cancelled, timeout=INDEX_TIMEOUT_MS) as blocker:
        view.add_paths([str(corpus)])
    partial = blocker.args[0]
    assert partial.cancelled
    view.indexing_progressed.disconnect(cancel_after_first_file)
    assert "Stopped" in view.details.report_label.text()
    store = DocumentStore()
    info = store.collection(documents_view.DEFAULT_COLLECTION)
    done = info.files
    assert done < good and not info.dirty

    with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.details.update_button, Qt.MouseButton.LeftButton)
    resumed = blocker.args[0]
    assert len(resumed.indexed) == good - done
    info = store.collection(documents_view.DEFAULT_COLLECTION)
    ids = [i for chunk_ids, _, _ in store.iter_chunks(info, include_documents=False) for i in chunk_ids]
    assert info.files == good and len(ids) == len(set(ids)) == info.chunks
    assert view.details.files.rowCount() == good


def test_search_and_open_a_source_at_its_page(
    qtbot: Any,
    qtmodeltester: Any,
    make_view: Callable[[], DocumentsView],
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest.add_paths(DocumentStore(), "Papers", [corpus / "report.pdf", corpus / "notes.md"])
    view = make_view()
    view.refresh()
    assert view.current is not None and view.current.name == "Papers"
    with qtbot.waitSignal(view.search_finished, timeout=INDEX_TIMEOUT_MS):
        view.search("How fast must the centrifuge spin?")
    qtmodeltester.check(view.details.results)
    assert view.details.results.rowCount() >= 1
    assert view.details.results.index(0, 0).data().startswith("[1] report.pdf, page 2")

    # A result opens in the built-in viewer, at its page, with the sentence that matched the query highlighted.
    with qtbot.waitSignal(view.source_opened) as blocker:
        view.details.result_list.doubleClicked.emit(view.details.results.index(0, 0))
    assert blocker.args == [str(corpus / "report.pdf"), 2]
    viewer = view.findChild(DocumentViewer)
    assert viewer is not None
    qtbot.waitUntil(lambda: viewer.page_image is not None, timeout=INDEX_TIMEOUT_MS)
    assert viewer.isVisible() and viewer.page_number == 2 and viewer.page_count == 3
    assert viewer.cited is not None and viewer.cited.passage.startswith("The centrifuge must run at 4,500 rpm")
    assert viewer.passage_boxes and viewer.stack.currentWidget() is viewer.page_area

    # There is no desktop session here to open files in: record what would be opened instead.
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(QUrl(url)) or True)
    qtbot.mouseClick(viewer.open_button, Qt.MouseButton.LeftButton)
    assert opened[0].toLocalFile() == str(corpus / "report.pdf")
    viewer.close()
    # Where the platform's PDF viewer honours it, the URL asks for the page.
    monkeypatch.setattr(open_document.sys, "platform", "win32")
    assert source_url(str(corpus / "report.pdf"), 2).fragment() == "page=2"
    assert source_url(str(corpus / "notes.md"), None).fragment() == ""
    monkeypatch.setattr(open_document.sys, "platform", "linux")
    assert source_url(str(corpus / "report.pdf"), 2).fragment() == ""

    # Double-clicking a file in the list opens it too.
    view.details.file_table.doubleClicked.emit(view.details.files.index(0, 0))
    assert opened[-1].toLocalFile() == view.details.files.record(0).path


def test_collections_rename_watch_and_delete(qtbot: Any, make_view: Callable[[], DocumentsView], corpus: Path) -> None:
    view = make_view()
    view.new_collection("Notes")
    with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        view.add_paths([str(corpus / "notes.md"), str(corpus / "broken")])
    view.rename_collection("Lab notes")
    assert view.collections.index(0, 0).data() == "Lab notes"
    view.new_collection("Lab notes")  # a duplicate is refused in words
    assert "already exists" in view.details.report_label.text()

    # The Watch check box on a folder is stored.
    row = next(r for r in range(view.details.sources.rowCount()) if view.details.sources.source(r).is_folder)
    index = view.details.sources.index(row, 2)
    assert view.details.sources.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    with qtbot.waitSignal(view.indexing_finished, timeout=INDEX_TIMEOUT_MS):
        assert view.details.sources.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    store = DocumentStore()
    watched = [s.path for s in store.sources(store.collection("Lab notes")) if s.watch]
    assert watched == [str(corpus / "broken")]

    # Switching to an embedding model that is not on this computer fails in words, and drops nothing.
    chunks = store.collection("Lab notes").chunks
    with qtbot.waitSignal(view.job_failed, timeout=INDEX_TIMEOUT_MS) as blocker:
        view.change_model(str(corpus / "no-such-model"), confirm=False)
    assert "could not be loaded" in blocker.args[0]
    assert store.collection("Lab notes").chunks == chunks > 0

    with qtbot.waitSignal(view.host.job_finished, timeout=INDEX_TIMEOUT_MS):
        view.delete_collection(confirm=False)
    assert view.collections.rowCount() == 0 and view.current is None
    assert store.list_collections() == []
