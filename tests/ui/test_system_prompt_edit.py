"""The system-prompt editor reports an edit once typing pauses, or at once when the user
moves elsewhere (another chat, the Export… menu), and never for text it was only shown."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QApplication

from desktop_app.ui.shared.system_prompt_edit import SAVE_DELAY_MS, SystemPromptEdit


def test_reports_after_a_pause_or_on_leaving(qtbot: Any) -> None:
    edit = SystemPromptEdit(height=80)
    qtbot.addWidget(edit)
    edited: list[str] = []
    edit.edited.connect(edited.append)

    edit.show_text("Shown, not typed.")
    with qtbot.waitSignal(edit.edited, timeout=SAVE_DELAY_MS * 10):
        edit.setPlainText("Answer briefly.")
    assert edited == ["Answer briefly."]

    edit.setPlainText("Answer briefly, in French.")  # still typing: nothing yet
    assert edited == ["Answer briefly."]
    QApplication.sendEvent(edit, QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.MouseFocusReason))
    assert edited == ["Answer briefly.", "Answer briefly, in French."]  # at once, not after the pause
    with qtbot.assertNotEmitted(edit.edited, wait=SAVE_DELAY_MS * 2):
        pass  # and only once: the pending report was taken, not repeated
