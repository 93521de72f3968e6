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


def run_aside(qtbot: Any, argv: list[str], env: dict[str, str]) -> Any:
    """Runs ``argv`` on a thread while Qt keeps running (the reply comes from the window's model thread)."""
    import subprocess
    import threading

    result: dict[str, Any] = {}

    def run() -> None:
        result["out"] = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)

    thread = threading.Thread(target=run)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=120_000)
    return result["out"]


def test_the_address_and_examples_are_copied_and_work(qtbot: Any, loaded_window: Any) -> None:
    """Issue 21: the page had no copy button or example. The examples, copied as shown, are run:
    curl in a shell and Python's openai package in a fresh interpreter, against the real server
    answering with the window's model, the key read from the environment as the examples say."""
    import os
    import shutil
    import sys

    from api_servers import free_port

    window = loaded_window
    window.resize(1280, 800)
    window.context.settings.sampling.max_tokens = 6  # the server's default for a request: a short test
    box = window.sections["Settings"].local_server_box
    server = window.context.server
    key = box.create_key()
    box.port_spin.setValue(free_port())
    assert not box.copy_address_button.isVisible()  # nothing to copy while off
    with qtbot.waitSignal(server.status_changed, timeout=30_000, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(True)
    assert server.running and server.guarded, server.error
    window.show_section(list(window.sections).index("Settings"))
    assert box.copy_address_button.isVisible() and box.examples_button.isVisible()
    box.copy_address_button.click()
    assert QApplication.clipboard().text() == server.url and "on the clipboard" in box.status_label.text()

    dialog = box.examples()
    qtbot.addWidget(dialog)
    dialog.show()
    model = window.context.models.model.name
    assert dialog.address_edit.toPlainText() == server.url
    env = {**os.environ, "HEARTH_API_KEY": key}
    commands = [[sys.executable, "-c"], [shutil.which("bash") or "/bin/sh", "-c"]]
    for command, view in zip(commands, (dialog.python_view, dialog.curl_view), strict=True):
        assert model in view.toPlainText() and server.url in view.toPlainText() and key not in view.toPlainText()
        dialog.copy(view.toPlainText())
        out = run_aside(qtbot, [*command, dialog.copied], env)
        assert out.returncode == 0 and out.stdout.strip(), out.stderr
        if view is dialog.curl_view:
            assert json.loads(out.stdout)["choices"][0]["message"]["content"]
    dialog.close()
    window.resize(1024, 700)  # the small window: the buttons still there, the examples within it
    again = box.examples()
    qtbot.addWidget(again)
    again.show()
    assert box.examples_button.isVisible() and again.width() <= 1024 and again.height() <= 700
    assert again.python_view.toPlainText() == dialog.python_view.toPlainText()
    with qtbot.waitSignal(server.status_changed, timeout=30_000, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(False)
    assert not box.copy_address_button.isVisible()
