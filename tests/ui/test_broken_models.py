"""A model file that cannot be loaded gives a plain-words message; nothing else is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import LOAD_TIMEOUT_MS, load_model, send_and_wait


def _make_broken(kind: str, folder: Path, smollm2_path: Path) -> Path:
    if kind == "empty":
        path = folder / "empty.gguf"
        path.write_bytes(b"")
    elif kind == "text":
        path = folder / "notes.gguf"
        path.write_text("These are my notes, not a model.\n" * 20, encoding="utf-8")
    else:  # the first 8 MB of the real SmolLM2 file, like an interrupted download
        path = folder / "truncated.gguf"
        with smollm2_path.open("rb") as source:
            path.write_bytes(source.read(8 * 1024 * 1024))
    return path


EXPECTED_WORDS = {"empty": "is empty", "text": "is not a GGUF model file", "truncated": "is truncated"}


@pytest.mark.parametrize("kind", ["empty", "text", "truncated"])
def test_broken_file_is_explained_and_the_app_keeps_working(
    qtbot: Any, loaded_window: Any, smollm2_path: Path, tmp_path: Path, kind: str
) -> None:
    window = loaded_window
    chat = window.chat
    host = window.context.models
    store = window.context.store
    first_reply = send_and_wait(qtbot, window, "Say hello.")
    conversation_id = chat.conversation_id
    before = store.messages(conversation_id)

    broken = _make_broken(kind, tmp_path, smollm2_path)
    with qtbot.waitSignal(host.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        chat.model_picker.open_file(broken)
    message, hint = blocker.args
    assert broken.name in message and EXPECTED_WORDS[kind] in message
    assert chat.notice.isVisible()
    assert EXPECTED_WORDS[kind] in chat.notice.text
    if hint:
        assert hint in chat.notice.text

    # The previous model is still loaded and picked; the conversation is untouched.
    assert not host.busy
    assert host.model is not None and host.model.path.resolve() == smollm2_path.resolve()
    picked = chat.model_picker.model.model_at(chat.model_picker.combo.currentIndex())
    assert picked is not None and picked.path.resolve() == smollm2_path.resolve()
    assert str(broken) not in window.context.settings.extra_model_paths  # not remembered
    assert store.messages(conversation_id) == before
    assert [v.text for v in chat.transcript.views] == ["Say hello.", first_reply.content]

    # ...and the chat goes on.
    reply = send_and_wait(qtbot, window, "Say goodbye.")
    assert reply.content and not chat.notice.isVisible()
    assert len(store.messages(conversation_id)) == 4


def test_broken_file_without_a_model_loaded_then_a_good_one(
    qtbot: Any, window: Any, smollm2_path: Path, tmp_path: Path
) -> None:
    chat = window.chat
    host = window.context.models
    broken = _make_broken("text", tmp_path, smollm2_path)
    with qtbot.waitSignal(host.load_failed, timeout=LOAD_TIMEOUT_MS):
        chat.model_picker.open_file(broken)
    assert host.model is None and not host.busy
    assert "not a GGUF model file" in chat.notice.text
    assert chat.model_picker.combo.isEnabled()
    assert not chat.send_button.isEnabled()  # nothing to send to yet
    # Sending without a model says what to do instead of failing.
    assert not chat.send("Hello?")
    assert "No model is loaded" in chat.notice.text
    load_model(qtbot, window, smollm2_path)
    assert send_and_wait(qtbot, window, "Hello?").content
