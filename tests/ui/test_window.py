"""The main window: sections, shortcuts, settings, the conversation list, state kept on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.ui.main_window import SECTIONS
from desktop_app.ui.settings.view import SettingsView


def test_sections_and_keyboard_shortcuts(qtbot: Any, window: Any) -> None:
    assert [name for name, _factory in SECTIONS][:1] == ["Chat"] and "Settings" in window.sections
    assert window.sidebar.count() == len(SECTIONS)
    for number, (name, _factory) in enumerate(SECTIONS, start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0.value + number), Qt.KeyboardModifier.ControlModifier)
        assert window.stack.currentWidget() is window.sections[name]
        assert window.sidebar.currentRow() == number - 1


def test_settings_section_edits_the_defaults_and_saves_them(qtbot: Any, window: Any, hearth_home: Path) -> None:
    view = window.sections["Settings"]
    assert isinstance(view, SettingsView)
    assert view.data_folder_box.folder_label.text() == str(paths.home()) == str(hearth_home)
    view.sampling_form.top_k.setValue(12)
    view.load_form.n_ctx.setValue(2048)
    view.load_form.flash_attn.setChecked(False)
    saved = settings_store.load()
    assert (saved.sampling.top_k, saved.load.n_ctx, saved.load.flash_attn) == (12, 2048, False)
    # The chat's side panel shows the same values.
    panel = window.chat.settings_panel
    assert panel.sampling_form.top_k.value() == 12
    assert panel.load_form.n_ctx.value() == 2048
    with qtbot.waitSignal(window.context.settings_changed, timeout=5000):
        view.system_prompt_edit.setPlainText("Answer like a pirate.")
    assert settings_store.load().system_prompt == "Answer like a pirate."
    # A new chat starts with the default system prompt.
    window.chat.new_conversation()
    assert panel.system_prompt == "Answer like a pirate."
    view.reset_sampling_button.click()
    assert settings_store.load().sampling.top_k == 40


def test_window_geometry_is_kept_inside_the_data_folder(qtbot: Any, make_window: Any, hearth_home: Path) -> None:
    first = make_window()
    first.resize(780, 707)  # within the offscreen screen (800 x 800)
    first.show_section(1)
    first.close()
    assert (hearth_home / "window-state.ini").is_file()
    second = make_window()
    assert (second.width(), second.height()) == (780, 707)
    assert second.sidebar.currentRow() == 1


def _answer_next_dialog(button: QMessageBox.StandardButton | None = None, text: str = "") -> None:
    """Plays the user's part in the next modal dialog (a confirmation or a text prompt)."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QMessageBox) and button is not None:
            dialog.button(button).click()
        elif isinstance(dialog, QInputDialog):
            dialog.setTextValue(text)
            dialog.accept()
        else:
            QTimer.singleShot(10, answer)  # not open yet

    QTimer.singleShot(0, answer)


def test_conversation_list_search_rename_delete(qtbot: Any, window: Any) -> None:
    store = window.context.store
    owls = store.create("Owls", "")
    store.add_message(owls.id, "user", "Why do owls hoot at night?")
    rivers = store.create("Rivers", "")
    store.add_message(rivers.id, "user", "Which is the longest river?")
    panel = window.chat.conversations
    panel.refresh()
    assert panel.model.rowCount() == 2

    with qtbot.waitSignal(panel.model.modelReset, timeout=5000):
        qtbot.keyClicks(panel.search_edit, "hoot")
    assert [panel.model.conversation(r).title for r in range(panel.model.rowCount())] == ["Owls"]
    panel.search_edit.clear()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2)

    window.chat.open_conversation(owls.id)
    assert [v.text for v in window.chat.transcript.views] == ["Why do owls hoot at night?"]
    _answer_next_dialog(text="Night birds")
    panel.rename_button.click()
    assert store.get(owls.id).title == "Night birds"

    _answer_next_dialog(QMessageBox.StandardButton.Cancel)
    panel.delete_button.click()
    assert {c.id for c in store.list()} == {owls.id, rivers.id}  # cancelled: nothing deleted

    _answer_next_dialog(QMessageBox.StandardButton.Yes)
    panel.delete_button.click()
    assert [c.id for c in store.list()] == [rivers.id]
    assert window.chat.conversation_id is None and window.chat.transcript.views == []
    assert panel.model.rowCount() == 1


def test_settings_file_is_json_a_person_can_read(window: Any, hearth_home: Path) -> None:
    window.chat.settings_panel.sampling_form.seed.setValue(-1)
    data = json.loads((hearth_home / "settings.json").read_text(encoding="utf-8"))
    assert data["sampling"]["seed"] == -1
    assert window.chat.settings_panel.sampling_form.seed.text() == "Random"
