"""Answers from documents in the Chat section: a conversation attached to a collection
(real documents, real embeddings, real Chroma), answered by the real SmolLM2 through
the real model worker. SmolLM2-135M rarely writes [n] citations, so the live tests
check structure (budget, sources listed, the right file among them, what is stored);
citation links are tested on a stored answer whose citations come from real retrieval."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QApplication

from desktop_app.core import db
from desktop_app.core.rag import answer, ingest
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.chat.markdown_view import MarkdownView
from desktop_app.ui.chat.rag_views import budget_parts
from desktop_app.ui.chat.retrieval_inspector import RetrievalInspectorDialog
from desktop_app.ui.model_host import PREPARING_DOCUMENTS, SEARCHING_DOCUMENTS
from desktop_app.ui.shared import open_document
from desktop_app.ui.shared.document_viewer import DocumentViewer
from desktop_app.ui.shared.markdown_render import render_markdown
from tests.documents_fixtures import PDF_PAGES, write_pdf

from .conftest import REPLY_TIMEOUT_MS, load_model, send_and_wait

QUESTION = "How fast must the centrifuge spin for plasma separation?"
UNRELATED = "Who won the football world cup in 1998?"


@pytest.fixture
def papers(tmp_path: Path, hearth_home: Path) -> Path:
    """A "papers" collection in this test's data folder: a 3-page PDF and two notes, indexed
    with the real embedding model before the window opens. Returns the PDF's path."""
    folder = tmp_path / "papers"
    folder.mkdir()
    pdf = write_pdf(folder / "report.pdf", PDF_PAGES)
    (folder / "notes.md").write_text(
        "# Lab notes\n\n## Storage\n\nSamples are stored at minus eighty degrees in freezer 3, rack C.\n\n"
        "## Meetings\n\nThe group meets on Tuesdays.\n",
        encoding="utf-8",
    )
    (folder / "safety.html").write_text(
        "<html><body><h1>Safety rules</h1><p>Always wear goggles when handling acids.</p>"
        "<h2>Fire</h2><p>The fire extinguisher is next to room 204, beside the lift.</p></body></html>",
        encoding="utf-8",
    )
    store = DocumentStore()
    ingest.create_collection(store, "papers", RagSettings())
    report = ingest.add_paths(store, "papers", [folder])
    assert len(report.indexed) == 3
    return pdf.resolve()


def attach(window: Any, name: str) -> None:
    """Ticks ``name`` in the chat's Documents menu, as a user does."""
    picker = window.chat.documents
    picker.menu.aboutToShow.emit()  # the menu lists the collections when it opens
    action = next(a for a in picker.collection_actions() if a.data() == name)
    action.trigger()
    assert name in picker.selected


def click_anchor(qtbot: Any, view: MarkdownView, href: str) -> None:
    """Clicks the link ``href`` in a rendered message with the mouse."""
    qtbot.waitUntil(view.isVisible)  # laid out, so its text has positions
    document = view.document()
    block = document.begin()
    while block.isValid():
        iterator = block.begin()
        while not iterator.atEnd():
            fragment = iterator.fragment()
            if fragment.charFormat().anchorHref() == href:
                cursor = QTextCursor(document)
                cursor.setPosition(fragment.position() + 1)
                rect = view.cursorRect(cursor)
                point = QPoint(rect.left() - 2, rect.center().y())
                assert view.anchorAt(point) == href
                qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
                return
            iterator += 1
        block = block.next()
    raise AssertionError(f"no link {href} in the message")


def test_answer_from_an_attached_collection(
    qtbot: Any, qtmodeltester: Any, papers: Path, make_window: Any, smollm2_path: Path
) -> None:
    window = make_window()
    load_model(qtbot, window, smollm2_path)
    chat = window.chat
    host = window.context.models
    attach(window, "papers")
    assert chat.documents.button.text() == "Documents: papers ▾"
    assert chat.documents.documents_only  # the documents settings' default
    assert "Ask your documents" in chat.composer.placeholderText()

    events: list[tuple[str, Any]] = []
    host.rag_status.connect(lambda _rid, text: events.append(("status", text)))
    host.rag_prepared.connect(lambda _rid, info: events.append(("prepared", info)))
    host.tokens_received.connect(lambda _rid, text: events.append(("tokens", text)))
    bars: list[list[tuple[str, int]]] = []

    def on_prepared(_rid: int, _info: Any) -> None:
        # The streaming reply shows the budget before the model writes anything.
        view = chat.transcript.reply_view
        assert view is not None and view.rag_view is not None
        bars.append(view.rag_view.budget.bar.parts)

    host.rag_prepared.connect(on_prepared)
    message = send_and_wait(qtbot, window, QUESTION)

    kinds = [kind for kind, _ in events]
    assert kinds[0] == "status" and kinds.index("prepared") < kinds.index("tokens")
    assert {text for kind, text in events if kind == "status"} <= {
        PREPARING_DOCUMENTS,
        SEARCHING_DOCUMENTS,
        "Reading the sources…",
    }
    n_ctx = host.model.n_ctx
    assert bars and sum(tokens for _, tokens in bars[0]) == n_ctx

    # Saved with the reply: its provenance and its citations, budget and inspector record.
    record = message.rag
    assert record is not None and message.provenance is not None
    stored = window.context.store.messages(chat.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    rag = record.to_dict()  # as stored
    assert stored[-1].rag == record and json.loads(stored[-1].rag_json or "") == rag
    assert rag["answer"] == message.content
    assert sum(budget_parts(record.budget)[i][1] for i in range(6)) == n_ctx == rag["budget"]["n_ctx"]
    assert rag["budget"]["answer"] == 24  # the sampling settings' max_tokens
    assert message.provenance.timings["prompt_tokens"] == rag["budget"]["prompt"]
    used = message.provenance.timings["prompt_tokens"] + message.provenance.timings["gen_tokens"]
    assert window.status_bar.context_label.text() == f"Context {used:,} / {n_ctx:,}"
    locations = [(Path(c["source"]).name, c["page"]) for c in rag["citations"]]
    assert ("report.pdf", 2) in locations
    assert rag["inspector"]["query"] == QUESTION and rag["inspector"]["collections"] == ["papers"]

    # The view: the budget bar adds up to the context, every source sent is listed with
    # its file and page, the cited ones apart from the others.
    view = chat.transcript.views[-1]
    assert view.message is not None and view.message.id == message.id
    rag_view = view.rag_view
    assert rag_view is not None and rag_view.isVisible()
    bar = rag_view.budget.bar
    assert bar.n_ctx == n_ctx and sum(tokens for _, tokens in bar.parts) == n_ctx
    assert rag_view.budget.title.text() == f"Context: {n_ctx:,} tokens"
    assert f"Sources {rag['budget']['sources']:,}" in rag_view.budget.legend.text().replace("&nbsp;", " ")
    assert "Sources: " in bar.toolTip() and f"{rag['budget']['sources']:,}" in bar.toolTip()
    cited = [c for c in rag["citations"] if c["cited"]]
    assert [r.number for r in rag_view.cited_rows] == [c["number"] for c in cited]
    assert len(rag_view.rows) == len(rag["citations"])
    assert "report.pdf, page 2" in [r.location for r in rag_view.rows]
    others = rag_view.other_rows
    assert rag_view.others_button.isVisible() == bool(others)
    if others:
        assert not rag_view.others_box.isVisible()  # folded away until asked for
        qtbot.mouseClick(rag_view.others_button, Qt.MouseButton.LeftButton)
        assert rag_view.others_box.isVisible() and others[0].isVisible()
    assert view.summary_label.isVisible() and "seed 42" in view.summary_label.text()

    # Hearth's claim check on the model's own words: each unsupported claim is counted and marked.
    unsupported = [s for s in rag["sentences"] if s["claim"] and s["supported"] is False]
    assert rag["claims"] == {"checked": sum(s["claim"] for s in rag["sentences"]), "unsupported": len(unsupported)}
    assert rag["grounded"] == (any(c["cited"] for c in rag["citations"]) and not unsupported)
    assert [tip for _, tip in view.body.marked] == [f"Not in your documents: {s['reason']}." for s in unsupported]
    assert rag_view.verdict_label.isVisible() == bool(rag["claims"]["checked"])

    # The inspector: the query, every candidate with its scores, and the exact prompt.
    assert view.inspect_button.isVisible()
    qtbot.mouseClick(view.inspect_button, Qt.MouseButton.LeftButton)
    dialog = view.findChild(RetrievalInspectorDialog)
    assert dialog is not None and dialog.isVisible()
    qtmodeltester.check(dialog.model)
    assert dialog.model.rowCount() == len(rag["inspector"]["retrieved"]) > 0
    sent = [dialog.model.row(i) for i in range(dialog.model.rowCount()) if dialog.model.row(i).status == "sent"]
    assert len(sent) == len(rag["citations"])
    first = dialog.model.index(0, 5).data()
    best = rag["inspector"]["retrieved"][0]
    assert first == f"{max(0.0, best['vector_score']):.0%}"  # a share, the raw score in the tooltip
    assert f"{best['vector_score']:.4g}" in dialog.model.index(0, 5).data(Qt.ItemDataRole.ToolTipRole)
    assert dialog.model.index(0, 7).data() == "100%"  # the best passage's combined rank
    # The scores in plain words, the technical term in the tooltip.
    header = dialog.table.horizontalHeader()
    labels = [dialog.model.headerData(c, Qt.Orientation.Horizontal) for c in range(5, 8)]
    assert labels == ["Meaning match", "Keyword match", "Combined"]
    tips = [dialog.model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) for c in range(5, 8)]
    assert "cosine" in tips[0] and tips[1].startswith("BM25") and "reciprocal rank fusion" in tips[2]
    assert header.sectionSize(5) > 0 and not header.isSectionHidden(6)
    prompt = dialog.prompt_text.toPlainText()
    assert prompt == rag["inspector"]["prompt"]["text"]
    assert QUESTION in prompt and "report.pdf, page 2" in prompt and "[1]" in prompt
    # What was retrieved but not sent (below the threshold, or no room left), with why.
    notes = dialog.notes.toPlainText()
    dropped = rag["inspector"]["dropped"]
    assert f"Retrieved but not sent ({len(dropped)})" in notes
    assert all(d["reason"] in notes for d in dropped)
    assert f"{n_ctx:,} tokens" in notes and f"{rag['budget']['sources']:,} tokens" in notes
    assert dialog.table.isColumnHidden(8)  # no reranker configured: no rerank column
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert json.loads(QApplication.clipboard().text()) == rag
    dialog.close()


def test_attachment_and_citations_survive_closing_the_window(
    qtbot: Any, papers: Path, make_window: Any, smollm2_path: Path
) -> None:
    first = make_window()
    load_model(qtbot, first, smollm2_path)
    attach(first, "papers")
    first.chat.documents.only_switch.setChecked(False)  # before the first message: kept for the new chat
    message = send_and_wait(qtbot, first, QUESTION)
    conversation_id = first.chat.conversation_id
    assert message.rag is not None and message.rag.inspector.documents_only is False
    shown = [(r.number, r.location, r.citation.cited) for r in first.chat.transcript.views[-1].rag_view.rows]
    first.close()

    second = make_window()
    chat = second.chat
    chat.open_conversation(conversation_id)
    assert chat.documents.selected == ["papers"]
    assert not chat.documents.documents_only
    view = chat.transcript.views[-1]
    assert view.message is not None and view.message.rag == message.rag
    assert [(r.number, r.location, r.citation.cited) for r in view.rag_view.rows] == shown
    assert sum(tokens for _, tokens in view.rag_view.budget.bar.parts) == message.rag.budget.n_ctx
    assert view.inspect_button.isVisibleTo(view)
    # A new chat starts with nothing attached; going back shows the attachment again.
    chat.new_conversation()
    assert chat.documents.selected == [] and not chat.documents.only_switch.isEnabled()
    chat.open_conversation(conversation_id)
    assert chat.documents.button.text() == "Documents: papers ▾"


def test_citation_links_open_the_document_at_its_page(
    qtbot: Any, papers: Path, make_window: Any, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stored answer built from real retrieval (the prompt the chat would send), so links, marks
    # and the viewer are tested without depending on the tiny model's wording. Its second sentence
    # cites nothing and invents a number.
    store = DocumentStore()
    prompt = answer.prepare(engine, store, ["papers"], QUESTION, (), "", RagSettings(), max_answer_tokens=32)
    right = next(i for i, h in enumerate(prompt.sources, start=1) if h.name == "report.pdf" and h.page == 2)
    invented = "The rotor must then rest for 45 minutes."
    result = answer.finish(
        prompt, f"The centrifuge must run at **4,500 rpm** for 12 minutes [{right}]. {invented} See also [9]."
    )
    assert [c.number for c in result.cited] == [right] and result.invalid_citations == [9]
    assert [c.text for c in result.unsupported_claims] == [invented] and not result.grounded

    window = make_window()
    conversations = window.context.store
    conversation = conversations.create("Centrifuge")
    conversations.set_collections(conversation.id, ["papers"])
    conversations.add_message(conversation.id, "user", QUESTION)
    conversations.add_message(conversation.id, "assistant", result.text, None, result)
    chat = window.chat
    chat.conversations.refresh()
    chat.open_conversation(conversation.id)
    view = chat.transcript.views[-1]

    # [n] is a link to its source; a number that matches no source stays plain text.
    html = view.body.toHtml()
    assert f'href="cite:{right}"' in html and 'href="cite:9"' not in html
    assert "[9]" in view.body.toPlainText()
    assert any("[9]" in w for w in result.warnings)
    assert "[9]" in view.rag_view.warnings_label.text()
    assert [r.location for r in view.rag_view.cited_rows] == ["report.pdf, page 2"]
    assert view.rag_view.cited_title.text() == "Sources cited (1)"
    assert view.role_label.text() == "Your documents"

    # The uncited, invented claim is underlined in the answer with why, counted in the verdict,
    # and listed in the warnings; the supported sentence is not marked.
    assert view.body.marked == [(invented, "Not in your documents: “45” is not in the sources.")]
    start = view.body.toPlainText().index(invented)
    cursor = QTextCursor(view.body.document())
    cursor.setPosition(start + 3)
    mark = cursor.charFormat()
    assert mark.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline and "“45”" in mark.toolTip()
    cursor.setPosition(view.body.toPlainText().index("centrifuge") + 3)
    assert cursor.charFormat().underlineStyle() != QTextCharFormat.UnderlineStyle.WaveUnderline
    verdict = view.rag_view.verdict_label
    qtbot.waitUntil(verdict.isVisible)
    assert "1 of 2 statements is not in your documents" in verdict.text()
    assert invented in view.rag_view.warnings_label.text()
    # The source's snippet shows the sentence that matched, in bold.
    row = view.rag_view.cited_rows[0]
    assert row.citation.passage.startswith("The centrifuge must run at 4,500 rpm")
    assert "<b>The centrifuge must run at 4,500 rpm" in row.text()

    # A click on [n] opens the built-in viewer at the cited page, the passage highlighted.
    click_anchor(qtbot, view.body, f"cite:{right}")
    viewer = window.findChild(DocumentViewer)
    assert viewer is not None
    qtbot.waitUntil(lambda: viewer.page_image is not None, timeout=REPLY_TIMEOUT_MS)
    assert viewer.isVisible() and (viewer.page_number, viewer.page_count) == (2, 3)
    assert viewer.windowTitle().startswith("report.pdf, page 2")
    assert viewer.passage_boxes and viewer.stack.currentWidget() is viewer.page_area
    left, top, _, _ = viewer.passage_boxes[0]
    tint = viewer.page_image.pixelColor(int(left), int(top) - 1)  # just above the first line: highlight, no ink
    assert tint.blue() < tint.red() - 40  # amber, on a white page
    assert viewer.page_image.pixelColor(4, 4).blue() > 240  # the margin stays white
    # The next page, then back to the cited one.
    with qtbot.waitSignal(viewer.shown, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(viewer.next_button, Qt.MouseButton.LeftButton)
    assert viewer.page_number == 3 and not viewer.passage_boxes and not viewer.next_button.isEnabled()
    assert viewer.cited_button.isVisible()
    with qtbot.waitSignal(viewer.shown, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(viewer.cited_button, Qt.MouseButton.LeftButton)
    assert viewer.page_number == 2 and viewer.passage_boxes

    # "Open in the default app" is still there. No desktop session here: record what would open.
    # The page goes in the URL where the platform's PDF viewer honours it (made true for this one).
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(QUrl(url)) or True)
    monkeypatch.setattr(open_document, "PAGE_FRAGMENT_PLATFORMS", (sys.platform,))
    for xdg in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME", "XDG_DATA_DIRS"):
        monkeypatch.setenv(xdg, "/nonexistent")  # no default PDF viewer to start (tests/core/test_pdf_pages.py)
    qtbot.mouseClick(viewer.open_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1
    assert Path(opened[0].toLocalFile()) == papers and opened[0].fragment() == "page=2"

    # The source's own row opens the same viewer.
    viewer.close()
    with qtbot.waitSignal(viewer.shown, timeout=REPLY_TIMEOUT_MS):
        view.rag_view.cited_rows[0].linkActivated.emit(f"source:{right}")
    assert viewer.isVisible() and viewer.page_number == 2 and window.findChildren(DocumentViewer) == [viewer]

    # A source that is not a PDF opens as text, scrolled to the passage, highlighted.
    question = "At what temperature are the samples stored in the freezer?"
    prompt = answer.prepare(engine, store, ["papers"], question, (), "", RagSettings(), max_answer_tokens=32)
    notes = next(i for i, h in enumerate(prompt.sources, start=1) if h.name == "notes.md")
    stored = answer.finish(prompt, f"Samples are stored at minus eighty degrees in freezer 3 [{notes}].")
    conversations.add_message(conversation.id, "user", question)
    conversations.add_message(conversation.id, "assistant", stored.text, None, stored)
    chat.open_conversation(conversation.id)
    with qtbot.waitSignal(viewer.shown, timeout=REPLY_TIMEOUT_MS):
        assert chat.transcript.views[-1].open_citation(notes) is viewer
    assert viewer.stack.currentWidget() is viewer.text_view and not viewer.next_button.isVisible()
    assert viewer.highlighted_text == "Samples are stored at minus eighty degrees in freezer 3, rack C."
    assert viewer.text_view.textCursor().position() == viewer.text_view.toPlainText().index("Samples are stored")

    # A file that is gone says so instead.
    viewer.close()
    papers.rename(papers.with_suffix(".moved"))
    view = chat.transcript.views[1]
    assert view.open_citation(right) is None
    assert "moved or deleted" in view.rag_view.note_label.text() and view.rag_view.note_label.isVisible()
    assert not viewer.isVisible()


def test_documents_only_says_it_does_not_know_without_asking_the_model(
    qtbot: Any, papers: Path, loaded_window: Any
) -> None:
    window = loaded_window
    chat = window.chat
    host = window.context.models
    attach(window, "papers")
    assert chat.documents.documents_only
    message = send_and_wait(qtbot, window, UNRELATED)
    assert message.content == answer.NO_ANSWER
    assert message.provenance is None  # no reply from the model...
    assert host.last_reply is None  # ...which was never asked
    rag = message.rag
    assert rag is not None and rag.no_answer and rag.inspector.nothing_relevant
    assert rag.citations == []
    view = chat.transcript.views[-1]
    assert view.role_label.text() == "Your documents"
    assert "the model was not asked" in view.rag_view.warnings_label.text()
    assert view.rag_view.rows == [] and not view.rag_view.others_button.isVisible()
    assert "Not sent to the model" in view.summary_label.text()
    assert sum(tokens for _, tokens in view.rag_view.budget.bar.parts) == host.model.n_ctx

    # The switch belongs to the conversation.
    chat.documents.only_switch.setChecked(False)
    assert window.context.store.get(chat.conversation_id).documents_only is False


def test_stop_during_an_answer_from_documents(qtbot: Any, papers: Path, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    host = window.context.models
    attach(window, "papers")
    chat.documents.only_switch.setChecked(False)  # open answers: the model writes whatever the question asks

    # Stopped while the documents are searched: nothing is written, the stop is kept with its record.
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        assert chat.send(QUESTION)
        qtbot.mouseClick(chat.stop_button, Qt.MouseButton.LeftButton)
        assert chat.stop_button.text() == "Stopping…"
    early = blocker.args[0]
    assert early.stopped and early.content == ""
    assert early.rag is not None and early.rag.finish == "cancelled"
    assert chat.transcript.views[-1].body.toPlainText().strip() == "Stopped before the first word."

    # Stopped while writing: what was written is kept, marked stopped.
    window.context.settings.sampling.max_tokens = 400
    chat.composer.setPlainText("Count from one to two hundred in words, separated by commas.")
    with qtbot.waitSignal(host.tokens_received, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(chat.stop_button, Qt.MouseButton.LeftButton)
    message = blocker.args[0]
    assert message.stopped and message.provenance.finish == "cancelled"
    assert message.provenance.timings["gen_tokens"] < 400
    assert message.rag is not None and message.rag.finish == "cancelled" and message.rag.text == message.content
    view = chat.transcript.views[-1]
    assert view.stopped_badge.isVisible() and view.rag_view is not None
    assert chat.send_button.isVisible() and not chat.stop_button.isVisible()


def test_a_collection_gone_meanwhile_is_a_plain_message(qtbot: Any, papers: Path, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    attach(window, "papers")
    send_and_wait(qtbot, window, QUESTION)
    conversation_id = chat.conversation_id
    # A collection deleted after the chat read the attachment, before the worker searched it.
    host = window.context.models
    with qtbot.waitSignal(host.generation_failed, timeout=REPLY_TIMEOUT_MS) as blocker:
        request = host.generate_rag(
            conversation_id, ["papers", "gone"], QUESTION, [], window.context.settings.sampling, ""
        )
    assert blocker.args[0] == request.request_id
    assert blocker.args[1] == "There is no document collection named “gone”."
    assert not window.context.models.busy
    # Through the chat: a collection whose embedding model folder was removed since it was indexed.
    connection = db.connect()
    with connection:
        connection.execute("UPDATE rag_collections SET embed_model = ?", (str(papers.parent / "no-such-model"),))
    connection.close()
    with qtbot.waitSignal(chat.reply_discarded, timeout=REPLY_TIMEOUT_MS):
        chat.send("And for how long?")
    assert chat.notice.isVisible()
    assert "could not be loaded" in chat.notice.label.text()
    assert chat.transcript.reply_view is None and not chat.generating
    stored = window.context.store.messages(conversation_id)
    assert [(m.role, m.content) for m in stored][-1] == ("user", "And for how long?")  # the question is kept
    assert len(stored) == 3


def test_the_list_of_collections_follows_the_documents_section(
    qtbot: Any, papers: Path, window: Any, smollm2_path: Path
) -> None:
    chat = window.chat
    documents = window.sections["Documents"]
    attach(window, "papers")
    assert chat.documents.available == ["papers"]
    # Attached before the first message, stored when the conversation starts.
    load_model(qtbot, window, smollm2_path)
    send_and_wait(qtbot, window, QUESTION)
    conversation_id = chat.conversation_id
    assert window.context.store.collections(conversation_id) == ["papers"]

    with qtbot.waitSignal(documents.collections_changed):
        documents.new_collection("Notes")
    assert chat.documents.available == ["Notes", "papers"]

    # A renamed collection stays attached under its new name.
    documents.collection_list.setCurrentIndex(documents.collections.index(documents.collections.row_of("papers"), 0))
    with qtbot.waitSignal(documents.collections_changed):
        documents.rename_collection("Lab papers")
    assert chat.documents.selected == ["Lab papers"]
    assert chat.documents.button.text() == "Documents: Lab papers ▾"
    assert window.context.store.collections(conversation_id) == ["Lab papers"]

    # A deleted one drops out of the conversation.
    with qtbot.waitSignal(documents.collections_changed, timeout=60_000):
        documents.delete_collection(confirm=False)
    assert chat.documents.selected == []
    assert window.context.store.collections(conversation_id) == []
    assert "Message the model" in chat.composer.placeholderText()


def test_citation_markdown() -> None:
    sources = {1: "report.pdf, page 2", 2: "notes.md"}
    html = render_markdown("Runs at 4,500 rpm [1], kept cold [1, 2]. Not `[2]` nor [7].", citations=sources).html
    assert html.count('href="cite:1"') == 2 and html.count('href="cite:2"') == 1
    assert 'title="report.pdf, page 2"' in html
    assert "<code>[2]</code>" in html and "[7]" in html
    assert "cite:" not in render_markdown("Runs at 4,500 rpm [1].").html  # a plain reply has no links
    assert answer.strip_citations("Runs at 4,500 rpm [1]. Cold [1, 2].") == "Runs at 4,500 rpm. Cold."
