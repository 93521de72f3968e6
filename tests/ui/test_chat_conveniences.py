"""Small things a user of the chat expects: a fresh status bar for a new chat, distinct titles,
the side panel's state kept, Ctrl+F to search, a shortcuts list, exports to Documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from desktop_app.ui.chat.conversation_list_view import default_export_folder
from desktop_app.ui.shared.shortcuts_dialog import SHORTCUTS, ShortcutsDialog

from .conftest import send_and_wait


def test_a_new_chat_clears_the_last_replys_speed_and_context(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    send_and_wait(qtbot, window, "Hello!")
    bar = window.status_bar
    assert bar.speed_label.text().endswith("tok/s")
    assert not bar.context_label.text().startswith("Context 0 /")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.chat.composer.setFocus()
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.conversation_id is None
    assert bar.speed_label.text() == ""
    assert bar.context_label.text().startswith("Context 0 /")


def test_a_second_chat_with_the_same_first_line_gets_the_date(qtbot: Any, loaded_window: Any) -> None:
    window = loaded_window
    send_and_wait(qtbot, window, "Summarise this")
    first = window.context.store.get(window.chat.conversation_id).title
    window.chat.new_conversation()
    send_and_wait(qtbot, window, "Summarise this")
    second = window.context.store.get(window.chat.conversation_id).title
    assert first == "Summarise this"
    assert second.startswith("Summarise this (") and second != first


def test_the_side_panel_stays_hidden_once_hidden(qtbot: Any, make_window: Any) -> None:
    window = make_window()
    assert window.chat.settings_panel.isVisible()
    window.chat.panel_button.click()
    assert not window.chat.settings_panel.isVisible()
    window.close()
    again = make_window()
    assert not again.chat.panel_button.isChecked() and not again.chat.settings_panel.isVisible()


def test_ctrl_f_goes_to_the_conversation_search(qtbot: Any, window: Any) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.chat.composer.setFocus()
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.chat.conversations.search_edit


def test_the_help_menu_lists_the_shortcuts(qtbot: Any, window: Any) -> None:
    (action,) = [a for a in window.help_menu.actions() if "shortcuts" in a.text().lower()]
    assert action.shortcut() == QKeySequence(QKeySequence.StandardKey.HelpContents)
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert rows == {does for _keys, does in SHORTCUTS}
    assert "Search the conversations" in rows


def test_exports_go_to_documents_or_home_never_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(tmp_path)
    assert default_export_folder() == home  # no Documents folder: home, not the working folder
    (home / "Documents").mkdir()
    assert default_export_folder() == home / "Documents"
