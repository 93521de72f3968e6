"""Export… in the conversation list's context menu (and Ctrl+Shift+E), with a real reply
from SmolLM2 through the real model worker. The save dialog is the one thing replaced:
``ask_export_path`` is the view's seam for it, as ``confirm``/``ask_copy`` are elsewhere."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from .conftest import send_and_wait


def _action(menu: Any, text: str) -> Any:
    actions = {a.text(): a for a in menu.actions()}
    assert list(actions) == ["Rename…", "Export…", "Delete…"]
    return actions[text]


def test_export_from_the_context_menu(
    qtbot: Any, loaded_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = loaded_window
    chat = window.chat
    view = chat.conversations
    message = send_and_wait(qtbot, window, "Name a colour.")
    p = message.provenance
    assert p is not None
    conversation_id = chat.conversation_id
    asked: list[str] = []
    target = tmp_path / "exports" / "colour.md"
    target.parent.mkdir()
    monkeypatch.setattr(view, "ask_export_path", lambda name: asked.append(name) or target)

    menu = view.context_menu(conversation_id)
    with qtbot.waitSignal(view.conversation_exported) as blocker:
        _action(menu, "Export…").trigger()
    assert blocker.args == [conversation_id, str(target)]
    assert asked == ["Name a colour.md"]  # the title, made a safe file name
    assert chat.notice.isVisible() and str(target) in chat.notice.label.text()  # the user is told where
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Name a colour.\n")
    assert message.content.strip() in text
    assert p.model_sha256 in text and f"seed {p.seed}" in text
    assert f"temperature {p.settings['sampling']['temperature']}" in text
    assert f"max tokens {p.settings['sampling']['max_tokens']}" in text

    # JSON, this time by the shortcut for the conversation shown.
    as_json = target.with_suffix(".json")
    monkeypatch.setattr(view, "ask_export_path", lambda name: asked.append(name) or as_json)
    window.activateWindow()  # as when the user types in it (loading the model moved activation away)
    qtbot.waitUntil(window.isActiveWindow)
    chat.composer.setFocus()
    with qtbot.waitSignal(view.conversation_exported):
        qtbot.keyClick(
            chat.composer, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        )
    data = json.loads(as_json.read_text(encoding="utf-8"))
    assert data["conversation"]["id"] == conversation_id
    assert data["messages"][1]["provenance"] == dataclasses.asdict(p)
    assert sorted(f.name for f in target.parent.iterdir()) == ["colour.json", "colour.md"]

    # The button under the list exports the conversation shown.
    from_button = tmp_path / "exports" / "from-button.json"
    monkeypatch.setattr(view, "ask_export_path", lambda _name: from_button)
    assert view.export_button.isEnabled()
    with qtbot.waitSignal(view.conversation_exported):
        view.export_button.click()
    assert p.model_sha256 in from_button.read_text(encoding="utf-8")

    # Cancelling the dialog writes nothing and says nothing; it had offered the last format.
    monkeypatch.setattr(view, "ask_export_path", lambda name: asked.append(name) and None)
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(view, "show_error", lambda message, hint: errors.append((message, hint)))
    with qtbot.assertNotEmitted(view.conversation_exported):
        assert view.export(conversation_id) is None
    assert errors == []
    assert asked == ["Name a colour.md", "Name a colour.md", "Name a colour.json"]


def test_a_failed_export_is_told_in_plain_words(
    qtbot: Any, window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = window.context.store
    conversation = store.create("Kept safe")
    store.add_message(conversation.id, "user", "Hello")
    view = window.chat.conversations
    view.refresh()
    missing = tmp_path / "gone" / "kept.md"
    monkeypatch.setattr(view, "ask_export_path", lambda name: missing)
    with qtbot.assertNotEmitted(view.conversation_exported):
        assert view.export(conversation.id) is None
    assert not missing.parent.exists()
    # The real message box, shown without blocking, with the error and what to do.
    boxes = [w for w in view.findChildren(QMessageBox) if w.isVisible()]
    assert len(boxes) == 1
    assert boxes[0].windowTitle() == "Export conversation"
    assert f"The folder “{missing.parent}” does not exist." == boxes[0].text()
    assert boxes[0].informativeText() == "Choose another folder."
    boxes[0].close()
