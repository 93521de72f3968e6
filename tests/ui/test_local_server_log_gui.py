"""Settings → Local server (issue 23, item 6): answers kept as conversations is a setting that
persists, and the request log is browsable; at 1280x800 and at 1024x700, twice each."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.server.request_log import RequestLog


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_the_request_log_and_the_conversation_setting(qtbot: Any, window: Any, size: tuple[int, int]) -> None:
    window.resize(*size)
    box = window.sections["Settings"].local_server_box
    log = RequestLog(paths.db_path())  # what the server writes, as it writes it
    for round_ in range(2):
        box.save_check.setChecked(False)
        assert settings_store.load().server.save_conversations is False  # saved at once
        log.record_embeddings("LangChain", "all-MiniLM-L6-v2", inputs=3, tokens=21 + round_)
        log.record_failure("/v1/chat/completions", "curl", "The API key is missing or wrong.")
        log.drain()
        dialog = box.open_log()
        qtbot.addWidget(dialog)
        dialog.show()
        QApplication.processEvents()
        assert dialog.table.rowCount() == 2 * (round_ + 1)
        assert dialog.table.item(0, 1).text() == "/v1/chat/completions"  # newest first
        assert dialog.table.item(0, 4).text().startswith("refused: The API key")
        assert dialog.table.item(1, 5).text() == f"{21 + round_} / 0"
        dialog.table.selectRow(1)
        assert '"inputs": 3' in dialog.detail.toPlainText()
        request = dialog.detail.toPlainText().split("Request:\n", 1)[1].split("\n\nAnswer:")[0]
        assert json.loads(request) == {"inputs": 3}
        dialog.refresh_button.click()
        assert dialog.detail.toPlainText() == ""  # a refresh forgets the selection
        dialog.close()
        box.save_check.setChecked(True)
        assert settings_store.load().server.save_conversations is True
    log.close()
