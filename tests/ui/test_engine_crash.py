"""The engine process crashes mid-reply (a real SIGSEGV): the window lives on, the partial reply is
kept and marked cut short, the user reads what happened, and the next question is answered. The same
for an answer from documents (real embedder, real Chroma), which keeps the sources it was given."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from gguf_files import with_chat_template
from PySide6.QtCore import Qt

from desktop_app.core.conversations.store import StoredMessage
from desktop_app.core.inference import engine_crash
from desktop_app.core.rag import ingest
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from desktop_app.ui.chat.provenance_dialog import ProvenanceDialog
from desktop_app.ui.chat.retrieval_inspector import RetrievalInspectorDialog
from tests.ui.conftest import REPLY_TIMEOUT_MS, load_model, send_and_wait
from tests.ui.test_chat_documents import attach


def _send_and_crash(qtbot: Any, window: Any, text: str) -> StoredMessage:
    """Sends ``text`` and kills the engine process once the first words of the reply are shown."""
    chat, host = window.chat, window.context.models
    chat.composer.setFocus()
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClicks(chat.composer, text)
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: bool(chat.writer.text), timeout=REPLY_TIMEOUT_MS)
        pid = host.engine_pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, signal.SIGSEGV)
    message = blocker.args[0]
    assert isinstance(message, StoredMessage)
    return message


def test_a_crash_mid_reply_keeps_the_window_and_the_words_so_far(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    chat, host = window.chat, window.context.models
    assert window.open_engine_crash_log() is False  # no crash yet: nothing to open, and it says so
    for attempt in (1, 2):  # the flow, then again: the second crash offers safer settings
        window.context.settings.sampling.max_tokens = 300
        crashed_pid = host.engine_pid
        cut = _send_and_crash(qtbot, window, f"Tell me a long story, please ({attempt}).")
        assert cut.cut_short and not cut.stopped and cut.content.strip()
        shown = chat.transcript.views[-1]
        assert shown.stopped_badge.isVisibleTo(window) and shown.stopped_badge.text() == "Cut short"
        notice = chat.notice.label.text()
        assert "segmentation fault" in notice and "SmolLM2" in notice and "writing a reply" in notice
        if attempt == 2:
            assert "second crash" in notice and "threads" in notice
        assert window.isVisible() and host.model is not None and not host.busy
        stored = chat._store.messages(cut.conversation_id)
        assert stored[-1].id == cut.id and stored[-1].provenance.finish == "crashed"  # type: ignore[union-attr]

        window.context.settings.sampling.max_tokens = 8
        answer = send_and_wait(qtbot, window, "Hi again")
        assert answer.content.strip() and not answer.cut_short
        assert host.engine_pid not in (None, crashed_pid)  # a fresh engine process answered
    log = engine_crash.log_path().read_text(encoding="utf-8")
    assert log.count("engine crash") == 2 and "SIGSEGV" in log


@pytest.fixture
def lab_notes(tmp_path: Path, hearth_home: Path) -> Path:
    """A "lab" collection of one short note, indexed with the real embedding model."""
    folder = tmp_path / "lab"
    folder.mkdir()
    note = folder / "freezer.md"
    note.write_text(
        "# Lab notes\n\nSamples are stored at minus eighty degrees in freezer 3, rack C. "
        "The centrifuge spins at 4,500 rpm to separate plasma.\n",
        encoding="utf-8",
    )
    store = DocumentStore()
    ingest.create_collection(store, "lab", RagSettings())
    assert len(ingest.add_paths(store, "lab", [folder]).indexed) == 1
    return note.resolve()


def test_a_crash_mid_answer_from_documents_keeps_the_words_and_their_sources(
    qtbot: Any, lab_notes: Path, loaded_window: Any
) -> None:
    window = loaded_window
    chat, host, store = window.chat, window.context.models, window.context.store
    attach(window, "lab")
    chat.documents.only_switch.setChecked(False)  # open answers: the model writes at length
    kept: list[tuple[int, str]] = []  # (id, text) of every message stored so far
    for attempt in (1, 2):  # the flow, then again in the same conversation
        window.context.settings.sampling.max_tokens = 300
        crashed_pid = host.engine_pid
        question = f"Tell me a long story about the samples in freezer 3 ({attempt})."
        cut = _send_and_crash(qtbot, window, question)
        assert cut.cut_short and not cut.stopped and cut.content.strip()
        rag = cut.rag
        assert rag is not None and rag.finish == "crashed" and rag.text == cut.content
        assert [Path(c.source) for c in rag.citations] == [lab_notes]  # the source it was given
        assert any("cut short" in w for w in rag.warnings)
        notice = chat.notice.label.text()
        assert "segmentation fault" in notice and "SmolLM2" in notice
        assert window.isVisible() and host.model is not None and not host.busy

        shown = chat.transcript.views[-1]
        assert shown.stopped_badge.isVisibleTo(window) and shown.stopped_badge.text() == "Cut short"
        assert shown.rag_view is not None and "cut short" in shown.rag_view.warnings_label.text()
        assert "cut short" in shown.summary_label.text() and "0 tokens" not in shown.summary_label.text()
        inspector = RetrievalInspectorDialog(rag, window)
        assert "cut short" in inspector.notes.toPlainText()
        inspector.deleteLater()
        provenance = ProvenanceDialog(cut, window)
        assert "cut short" in provenance.view.toPlainText()
        provenance.deleteLater()

        stored = store.messages(cut.conversation_id)
        kept += [(m.id, m.content) for m in stored[len(kept) :]]
        assert stored[-1].id == cut.id and stored[-1].provenance.finish == "crashed"  # type: ignore[union-attr]
        assert stored[-1].rag is not None and stored[-1].rag.finish == "crashed"

        window.context.settings.sampling.max_tokens = 8
        answer = send_and_wait(qtbot, window, "Where are the samples stored?")
        assert answer.content.strip() and not answer.cut_short and answer.rag is not None
        assert answer.rag.citations and answer.rag.finish != "crashed"
        assert host.engine_pid not in (None, crashed_pid)  # a fresh engine process answered
        stored = store.messages(cut.conversation_id)
        assert [(m.id, m.content) for m in stored[: len(kept)]] == kept  # nothing stored before is lost
        kept += [(m.id, m.content) for m in stored[len(kept) :]]

    # Read back from the store: the conversation shows the same.
    conversation_id = chat.conversation_id
    chat.new_conversation()
    chat.open_conversation(conversation_id)
    replies = [v for v in chat.transcript.views if v.role == "assistant"]
    qtbot.waitUntil(lambda: all(v.isVisible() for v in replies))  # shown once the event loop runs
    assert [v.stopped_badge.isVisibleTo(window) for v in replies] == [True, False, True, False]
    assert replies[0].body.toPlainText().strip() and "cut short" in replies[0].rag_view.warnings_label.text()
    assert [(m.id, m.content) for m in store.messages(conversation_id)] == kept


def test_stop_ends_a_chat_template_that_never_finishes(
    qtbot: Any, window: Any, smollm2_path: Path, tmp_path: Path
) -> None:
    """The engine cannot notice Stop inside the template: it is killed (unless the template sandbox's
    own 3 s clock ends it first on a machine too busy), the conversation stays, and the next message
    starts it again."""
    looping = with_chat_template(smollm2_path, tmp_path / "looping-template.gguf")
    load_model(qtbot, window, looping)
    chat, host = window.chat, window.context.models
    for attempt in (1, 2):
        chat.composer.setFocus()
        qtbot.keyClicks(chat.composer, f"Hello ({attempt})")
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: host.busy and host.engine_pid is not None, timeout=REPLY_TIMEOUT_MS)
        # Inside the template once the engine has spent more CPU than (re)loading this model and
        # reading the prompt take (~0.3 s): a fixed wait left the second attempt's Stop, on a busy
        # machine, inside the engine's restart, which Stop ends without a kill.
        engine = psutil.Process(host.engine_pid)
        started = sum(engine.cpu_times()[:2])

        def in_template(engine: psutil.Process = engine, started: float = started) -> bool:
            return sum(engine.cpu_times()[:2]) - started > 0.6 or not host.busy

        qtbot.waitUntil(in_template, timeout=REPLY_TIMEOUT_MS)
        qtbot.mouseClick(chat.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not host.busy, timeout=REPLY_TIMEOUT_MS)
        messages = chat._store.messages(chat.conversation_id)
        assert [m.content for m in messages].count(f"Hello ({attempt})") == 1  # the conversation is kept
        last = messages[-1]
        if last.role == "assistant":  # stopped: the engine was killed
            assert last.stopped and not last.content and host.engine_pid is None
        else:  # the sandbox ended the template first, and said so
            assert "template" in chat.notice.label.text().lower()
        assert host.model is not None and window.isVisible()  # still chosen: the next message starts it
