"""One thing said at a time, and nothing stale (issue 21, item 7): a new conversation with a base
model still says it is one and its reply is marked; "Chat with this model" starts a conversation
of its own; the composer asks the documents only when some are attached; an export says that other
versions of a regenerated reply are not in it; an answer that cites nothing carries the warning
alone, not a green "matches a passage" beside it; a new collection does not show the previous
one's "Added: … files indexed". Each flow to its end at 1280×800, then again at 1024×700."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.inference.templates import BASE_MODEL_NOTICE
from desktop_app.core.rag.answer_record import RagAnswer
from desktop_app.ui.chat.chat_view import PLAIN_PLACEHOLDER
from desktop_app.ui.chat.message_view import reply_summary
from desktop_app.ui.chat.rag_views import RagAnswerView

from .conftest import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, load_model, send_and_wait

SIZES = [(1280, 800), (1024, 700)]


def test_the_chat_says_one_thing_at_a_time(
    qtbot: Any, loaded_window: Any, smollm2_path: Path, gemma_path: Path, tmp_path: Path
) -> None:
    window = loaded_window
    chat = window.chat
    host = window.context.models
    window.context.settings.sampling.max_tokens = 4  # what is said around the replies is tested, not them
    for number, (width, height) in enumerate(SIZES):
        window.resize(width, height)
        # "Chat with this model" (the Library's button) starts a conversation of its own.
        send_and_wait(qtbot, window, f"Say hello, round {number}.")
        assert chat._conversation_id is not None
        window.chat_with(smollm2_path)
        assert chat._conversation_id is None and window.stack.currentWidget() is chat
        assert chat.composer.placeholderText() == PLAIN_PLACEHOLDER  # no documents attached

        # Regenerated, then exported: the notice says the other version is not in the file.
        send_and_wait(qtbot, window, "Name a colour.")
        conversation_id = chat._conversation_id
        with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS):
            assert chat.regenerate()
        target = tmp_path / f"conversation-{number}.md"
        chat.conversations.ask_export_path = lambda _name, path=target: path  # the save dialog, answered
        assert chat.conversations.export(conversation_id) == target
        assert "1 other version" in chat.notice.text and "not in it" in chat.notice.text

        # A base model: said on loading, said again in a new conversation, and its reply is marked.
        load_model(qtbot, window, gemma_path)
        assert BASE_MODEL_NOTICE in chat.notice.text
        chat.new_conversation()
        assert chat.notice.isVisible() and BASE_MODEL_NOTICE in chat.notice.text
        reply = send_and_wait(qtbot, window, "Once upon a time")
        assert "base model" in reply_summary(reply)
        window.chat_with(smollm2_path)  # back to the chat model for the next round
        qtbot.waitUntil(lambda: host.model is not None and host.model.path == smollm2_path, timeout=LOAD_TIMEOUT_MS)
        qtbot.waitUntil(lambda: not host.busy, timeout=LOAD_TIMEOUT_MS)


@pytest.mark.parametrize("size", SIZES)
def test_an_answer_citing_nothing_gets_the_warning_alone(qtbot: Any, size: tuple[int, int]) -> None:
    view = RagAnswerView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    uncited = {
        "sentences": [{"text": "Samples are stored cold.", "claim": True, "supported": True}],  # one claim, found
        "citations": [{"number": 1, "name": "notes.md", "cited": False, "text": "Samples are stored cold."}],
        "warnings": ["The answer cites none of your documents: check it before relying on it. Its wording "
                     "matches source [1]."],
    }  # fmt: skip
    for _ in range(2):
        view.set_answer(RagAnswer.from_dict(uncited))
        assert not view.verdict_label.isVisibleTo(view)
        assert "cites none" in view.warnings_label.text()
        cited = {**uncited, "citations": [{**uncited["citations"][0], "cited": True}], "warnings": []}
        view.set_answer(RagAnswer.from_dict(cited))
        assert view.verdict_label.isVisibleTo(view) and "matches a passage" in view.verdict_label.text()


def test_a_new_collection_does_not_show_the_last_ones_report(qtbot: Any, window: Any, tmp_path: Path) -> None:
    documents = window.sections["Documents"]
    window.show_section(list(window.sections).index("Documents"))
    for number, (width, height) in enumerate(SIZES):
        window.resize(width, height)
        folder = tmp_path / f"notes-{number}"
        folder.mkdir()
        (folder / "a.txt").write_text("The freezer is in room 3.", encoding="utf-8")
        assert documents.new_collection(f"first {number}") is not None
        with qtbot.waitSignal(documents.indexing_finished, timeout=LOAD_TIMEOUT_MS):
            documents.add_paths([str(folder)])
        assert "indexed" in documents.details.report_label.text()
        assert documents.new_collection(f"second {number}") is not None
        qtbot.waitUntil(lambda n=number: documents.current is not None and documents.current.name == f"second {n}")
        assert "1 file indexed" not in documents.details.report_label.text()


def test_a_search_result_opens_at_its_match(qtbot: Any, window: Any) -> None:
    """A word in the conversation search (Ctrl+F), the result clicked: the conversation opens at
    the message that has it, highlighted, not at its end (issue 21, item 9)."""
    from PySide6.QtCore import Qt

    chat = window.chat
    store = window.context.store
    conversation = store.create("Field notes")
    for i in range(24):
        words = "The heron nests by the weir." if i == 2 else f"Line {i}: nothing of note here, " * 6
        store.add_message(conversation.id, "user" if i % 2 == 0 else "assistant", words)
    for width, height in SIZES:
        window.resize(width, height)
        chat.new_conversation()
        chat.conversations.search_edit.setText("heron")
        list_view = chat.conversations.list_view
        qtbot.waitUntil(lambda lv=list_view: lv.model().rowCount() == 1, timeout=5000)
        index = list_view.model().index(0, 0)
        qtbot.mouseClick(list_view.viewport(), Qt.MouseButton.LeftButton, pos=list_view.visualRect(index).center())
        assert chat._conversation_id == conversation.id
        marked = [v for v in chat.transcript.views if v.body.extraSelections()]
        assert len(marked) == 1 and "heron" in marked[0].text
        bar = chat.transcript.verticalScrollBar()
        qtbot.waitUntil(lambda b=bar: b.maximum() > 0 and b.value() < b.maximum())  # at the match, not the end
        chat.conversations.search_edit.clear()
