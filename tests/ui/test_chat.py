"""The Chat section with the real SmolLM2 model, loaded and run by the real model worker."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_app.core import settings as settings_store
from desktop_app.ui.chat.provenance_dialog import ProvenanceDialog

from .conftest import REPLY_TIMEOUT_MS, load_model, send_and_wait


def _views_text(window: Any) -> list[tuple[str, str]]:
    return [(v.role, v.text) for v in window.chat.transcript.views]


def test_tokens_stream_into_the_view_and_the_reply_is_saved(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    store = window.context.store
    host = window.context.models
    seen: list[dict[str, Any]] = []

    def on_tokens(_request_id: int, text: str) -> None:
        # Runs after the chat view's own slot (connected first): the view already shows the batch.
        reply_view = chat.transcript.reply_view
        seen.append(
            {
                "batch": text,
                "view_text": reply_view.text if reply_view is not None else None,
                "stored": [m.role for m in store.messages(chat.conversation_id)],
                "generating": chat.generating,
            }
        )

    host.tokens_received.connect(on_tokens)
    message = send_and_wait(qtbot, window, "Write three sentences about the sea.")

    assert seen, "no tokens reached the GUI"
    received = ""
    for snapshot in seen:
        received += snapshot["batch"]
        assert snapshot["view_text"] == received  # each batch is in the view as it arrives
        assert snapshot["stored"] == ["user"]  # ...before the reply is saved
        assert snapshot["generating"]
    assert received == message.content
    assert message.provenance is not None
    assert 0 < message.provenance.timings["gen_tokens"] <= 24
    assert len(seen) <= message.provenance.timings["gen_tokens"]  # batched, never more than one per token
    assert [m.role for m in store.messages(chat.conversation_id)] == ["user", "assistant"]
    assert _views_text(window) == [("user", "Write three sentences about the sea."), ("assistant", message.content)]
    assert chat.transcript.reply_view is None
    assert not chat.generating
    assert chat.send_button.isVisible() and chat.send_button.isEnabled()
    assert chat.composer.toPlainText() == ""
    # The conversation is listed, titled after the first message.
    assert chat.conversations.model.rowCount() == 1
    assert chat.conversations.model.conversation(0).title == "Write three sentences about the sea."
    # The status bar shows the model, the backend, the speed and the context used.
    bar = window.status_bar
    assert "SmolLM2" in bar.model_label.text() or host.model.name in bar.model_label.text()
    assert bar.backend_label.text() == host.model.backend
    assert bar.speed_label.text().endswith("tok/s")
    assert bar.context_label.text() == f"Context {host.last_reply.context_used:,} / {host.model.n_ctx:,}"
    assert bar.memory_label.text().startswith("Memory ")


def test_shift_enter_inserts_a_new_line_and_enter_sends(qtbot: Any, loaded_window: Any) -> None:
    chat = loaded_window.chat
    chat.composer.setFocus()
    qtbot.keyClicks(chat.composer, "Say hi")
    qtbot.keyClick(chat.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(chat.composer, "in French")
    assert chat.composer.toPlainText() == "Say hi\nin French"
    assert chat.conversation_id is None  # nothing sent yet
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS):
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return)
    messages = loaded_window.context.store.messages(chat.conversation_id)
    assert messages[0].content == "Say hi\nin French"


def test_stop_mid_reply_saves_the_reply_marked_stopped(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    window.context.settings.sampling.max_tokens = 400  # long enough that only Stop can end it early
    chat.composer.setPlainText("Count from one to two hundred in words, separated by commas.")
    with qtbot.waitSignal(window.context.models.tokens_received, timeout=REPLY_TIMEOUT_MS):
        qtbot.mouseClick(chat.send_button, Qt.MouseButton.LeftButton)
    assert chat.stop_button.isVisible()
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(chat.stop_button, Qt.MouseButton.LeftButton)
        assert chat.stop_button.text() == "Stopping…"
        assert not chat.stop_button.isEnabled()
    message = blocker.args[0]
    assert message.stopped
    assert message.provenance.finish == "cancelled"
    assert message.provenance.timings["gen_tokens"] < 400
    stored = window.context.store.messages(chat.conversation_id)
    assert stored[-1].id == message.id and stored[-1].stopped
    assert stored[-1].content == message.content
    view = chat.transcript.views[-1]
    assert view.message is not None and view.message.id == message.id
    assert view.stopped_badge.isVisible()
    assert chat.send_button.isVisible() and not chat.stop_button.isVisible()


def test_regenerate_keeps_the_earlier_reply_as_a_version(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    store = window.context.store
    first = send_and_wait(qtbot, window, "Name a fruit.")
    window.context.settings.sampling.seed = 7  # another seed, so another reply
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(chat.regenerate_button, Qt.MouseButton.LeftButton)
    second = blocker.args[0]
    messages = store.messages(chat.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    # The new reply (seed 7) is in the thread; the old one (seed 42) is kept as version 1 of 2.
    assert first.provenance.seed == 42
    assert messages[1].provenance.seed == second.provenance.seed == 7
    assert messages[1].content == second.content
    assert _views_text(window) == [("user", "Name a fruit."), ("assistant", second.content)]
    view = chat.transcript.views[-1]
    assert view.version_label.isVisible() and view.version_label.text() == "2/2"
    assert view.previous_version_button.isEnabled() and not view.next_version_button.isEnabled()

    qtbot.mouseClick(view.previous_version_button, Qt.MouseButton.LeftButton)
    messages = store.messages(chat.conversation_id)
    assert messages[1].content == first.content and messages[1].provenance.seed == 42
    assert _views_text(window) == [("user", "Name a fruit."), ("assistant", first.content)]
    view = chat.transcript.views[-1]
    assert view.version_label.text() == "1/2" and view.next_version_button.isEnabled()

    chat.open_conversation(chat.conversation_id)  # shown again later: the versions are still there
    view = chat.transcript.views[-1]
    assert view.version_label.text() == "1/2"
    qtbot.mouseClick(view.next_version_button, Qt.MouseButton.LeftButton)
    assert store.messages(chat.conversation_id)[1].provenance.seed == 7
    assert chat.transcript.views[-1].version_label.text() == "2/2"


def test_edit_and_resend_replaces_later_messages(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    chat = window.chat
    store = window.context.store
    send_and_wait(qtbot, window, "What is the capital of France?")
    send_and_wait(qtbot, window, "And of Italy?")
    assert len(store.messages(chat.conversation_id)) == 4

    first_view = chat.transcript.views[0]
    qtbot.mouseClick(first_view.edit_button, Qt.MouseButton.LeftButton)
    assert first_view.editing
    assert first_view.editor.toPlainText() == "What is the capital of France?"
    first_view.editor.setPlainText("What is the capital of Spain?")
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(first_view.resend_button, Qt.MouseButton.LeftButton)
    reply = blocker.args[0]
    messages = store.messages(chat.conversation_id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "What is the capital of Spain?"),
        ("assistant", reply.content),
    ]
    assert _views_text(window) == [("user", "What is the capital of Spain?"), ("assistant", reply.content)]


def test_provenance_shows_model_sha256_seed_and_settings(qtbot: Any, loaded_window: Any, smollm2_path: Path) -> None:
    window = loaded_window
    message = send_and_wait(qtbot, window, "Hello!")
    view = window.chat.transcript.views[-1]
    assert view.details_button.isVisible()
    assert "seed 42" in view.summary_label.text()
    qtbot.mouseClick(view.details_button, Qt.MouseButton.LeftButton)
    dialog = view.findChild(ProvenanceDialog)
    assert dialog is not None and dialog.isVisible()
    expected_sha = hashlib.sha256(smollm2_path.read_bytes()).hexdigest()
    text = dialog.view.toPlainText()
    assert expected_sha in text
    assert message.provenance.quant in text
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    data = json.loads(QApplication.clipboard().text())
    assert data["model_sha256"] == expected_sha
    assert data["seed"] == 42
    assert data["settings"]["sampling"]["max_tokens"] == 24
    assert data["settings"]["load"]["n_ctx"] == 1024
    assert data["timings"]["gen_tokens"] == message.provenance.timings["gen_tokens"]
    dialog.close()


def test_dropped_turns_are_announced_in_the_chat(qtbot: Any, window: Any, smollm2_path: Path) -> None:
    context = window.context
    context.settings.load.n_ctx = 512
    context.settings.sampling.max_tokens = 16
    load_model(qtbot, window, smollm2_path)
    assert context.models.model.n_ctx == 512
    # An earlier conversation, longer than the context can hold.
    store = context.store
    conversation = store.create("Long talk", "You are terse.")
    filler = " ".join(["The quick brown fox jumps over the lazy dog."] * 25)
    for i in range(3):
        store.add_message(conversation.id, "user", f"Part {i}: {filler}")
        store.add_message(conversation.id, "assistant", f"Noted part {i}.")
    chat = window.chat
    chat.conversations.refresh()
    chat.open_conversation(conversation.id)
    message = send_and_wait(qtbot, window, "Sum it up.")
    assert message.provenance.dropped_messages > 0
    view = chat.transcript.views[-1]
    assert view.dropped_label.isVisible()
    assert "left out" in view.dropped_label.text()
    assert "512" in view.dropped_label.text()


def test_conversation_survives_closing_the_window(
    qtbot: Any, make_window: Any, smollm2_path: Path, hearth_home: Path
) -> None:
    first = make_window()
    load_model(qtbot, first, smollm2_path)
    first.chat.settings_panel.sampling_form.temperature.setValue(0.3)  # a side-panel change, saved at once
    reply = send_and_wait(qtbot, first, "Tell me a short fact about owls.")
    conversation_id = first.chat.conversation_id
    first.close()
    assert not first.context.models.running  # the model thread stopped

    assert settings_store.load().sampling.temperature == 0.3
    second = make_window()
    chat = second.chat
    # The last model is loaded again at start.
    qtbot.waitUntil(lambda: second.context.models.model is not None and not second.context.models.busy, timeout=60_000)
    assert second.context.models.model.path.resolve() == smollm2_path.resolve()
    assert chat.settings_panel.sampling_form.temperature.value() == 0.3
    assert chat.conversations.model.rowCount() == 1
    listed = chat.conversations.model.conversation(0)
    assert listed.id == conversation_id
    index = chat.conversations.model.index(0, 0)
    qtbot.mouseClick(
        chat.conversations.list_view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=chat.conversations.list_view.visualRect(index).center(),
    )
    assert chat.conversation_id == conversation_id
    assert _views_text(second) == [("user", "Tell me a short fact about owls."), ("assistant", reply.content)]
    assert chat.transcript.views[-1].message.provenance == reply.provenance


def test_closing_the_window_mid_reply_keeps_what_was_written(qtbot: Any, make_window: Any, smollm2_path: Path) -> None:
    first = make_window()
    load_model(qtbot, first, smollm2_path)
    first.context.settings.sampling.max_tokens = 400
    with qtbot.waitSignal(first.context.models.tokens_received, timeout=REPLY_TIMEOUT_MS):
        first.chat.send("Count from one to two hundred in words, separated by commas.")
    conversation_id = first.chat.conversation_id
    first.close()
    assert not first.context.models.running

    second = make_window()
    messages = second.context.store.messages(conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].stopped and messages[1].content
