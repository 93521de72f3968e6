"""The engine process crashes mid-reply (a real SIGSEGV): the window lives on, the partial reply is
kept and marked cut short, the user reads what happened, and the next question is answered."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from gguf_files import with_chat_template
from PySide6.QtCore import Qt

from desktop_app.core.conversations.store import StoredMessage
from desktop_app.core.inference import engine_crash
from tests.ui.conftest import REPLY_TIMEOUT_MS, load_model, send_and_wait


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
        qtbot.waitUntil(lambda: host.busy, timeout=REPLY_TIMEOUT_MS)
        qtbot.wait(300)  # the engine is inside the template by now
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
