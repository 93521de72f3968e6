"""Servers in the window (issue 11): Settings → Servers with a real llama-cpp-python server on
loopback, its model in the chat's picker (marked remote, no fit badge) answering in the chat
with provenance; and Settings → Local server, answering the real ``openai`` client with the
model loaded in the window, on the window's own model thread."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import openai
import pytest
from api_servers import free_port
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.core import secrets
from desktop_app.core import settings as settings_store
from desktop_app.core.settings import RemoteEndpoint
from desktop_app.ui.chat.picker_models import RemoteEntry
from desktop_app.ui.chat.provenance_dialog import provenance_html
from desktop_app.ui.settings.servers_box import EndpointDialog

from .conftest import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, send_and_wait

SERVER_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def no_keyring() -> Any:
    """This machine has no keyring: make sure of it, so keys go to the private file."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def _remote_row(picker: Any) -> int:
    for row in range(picker.model.rowCount()):
        entry = picker.model.remote_at(row)
        if isinstance(entry, RemoteEntry) and entry.model_id:
            return row
    return -1


def test_a_server_is_added_tested_and_its_key_kept_out_of_the_settings(
    qtbot: Any, window: Any, llama_cpp_server: Any, hearth_home: Path
) -> None:
    settings_view = window.sections["Settings"]
    box = settings_view.servers_box

    def fill_in() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, EndpointDialog)
        dialog.name_edit.setText("lab box")
        dialog.url_edit.setText(llama_cpp_server.url)  # with /v1: normalised to the server's root
        dialog.key_edit.setText(llama_cpp_server.key)
        dialog.ctx_spin.setValue(2048)
        dialog.accept()

    QTimer.singleShot(0, fill_in)
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.result_label.text().startswith("Reached"), timeout=SERVER_TIMEOUT_MS)
    assert "llama-cpp-python server, 1 model" in box.result_label.text()
    (endpoint,) = window.context.settings.endpoints
    assert (endpoint.name, endpoint.url, endpoint.has_key) == ("lab box", llama_cpp_server.root, True)
    assert endpoint.n_ctx == 2048
    # The key is in the private file (no keyring here), not in settings.json.
    saved = (hearth_home / "settings.json").read_text()
    assert llama_cpp_server.key not in saved and json.loads(saved)["endpoints"][0]["url"] == llama_cpp_server.root
    assert secrets.get(f"endpoint:{endpoint.id}") == llama_cpp_server.key
    assert stat.S_IMODE(secrets.secrets_path().stat().st_mode) == 0o600
    # The chat's picker lists the server's model, marked remote, and says the fit check does not apply.
    picker = window.chat.model_picker
    qtbot.waitUntil(lambda: _remote_row(picker) >= 0, timeout=SERVER_TIMEOUT_MS)
    index = picker.model.index(_remote_row(picker))
    assert "remote" in picker.model.data(index) and "lab box" in picker.model.data(index)
    assert "Fit check does not apply" in picker.model.data(index, Qt.ItemDataRole.ToolTipRole)
    # Removing it forgets the key too.
    box.remove(endpoint)
    assert window.context.settings.endpoints == [] and secrets.get(f"endpoint:{endpoint.id}") is None
    qtbot.waitUntil(lambda: _remote_row(picker) < 0, timeout=SERVER_TIMEOUT_MS)


def test_a_wrong_key_shows_in_plain_words(qtbot: Any, window: Any, llama_cpp_server: Any) -> None:
    box = window.sections["Settings"].servers_box
    box.add(RemoteEndpoint(id="bad", name="lab box", url=llama_cpp_server.root, has_key=True), "wrong")
    qtbot.waitUntil(lambda: "refused the API key" in box.result_label.text(), timeout=SERVER_TIMEOUT_MS)


def test_a_remote_model_answers_in_the_chat_with_its_provenance(
    qtbot: Any, make_window: Any, llama_cpp_server: Any, gui_settings: Any
) -> None:
    secrets.put("endpoint:lab", llama_cpp_server.key)
    gui_settings.endpoints = [RemoteEndpoint(id="lab", name="lab box", url=llama_cpp_server.root, has_key=True)]
    settings_store.save(gui_settings)
    window = make_window()
    picker = window.chat.model_picker
    host = window.context.models
    qtbot.waitUntil(lambda: _remote_row(picker) >= 0, timeout=SERVER_TIMEOUT_MS)
    row = _remote_row(picker)
    with qtbot.waitSignal(host.remote_changed, timeout=LOAD_TIMEOUT_MS, check_params_cb=lambda m: m is not None):
        picker.combo.setCurrentIndex(row)
        picker.combo.activated.emit(row)
    assert host.model is None and host.remote is not None and host.remote.model_id == llama_cpp_server.model_id
    assert picker.combo.currentIndex() == row and picker.unload_button.isEnabled()
    assert window.status_bar.model_label.text().endswith("· remote")
    assert "llama-cpp-python server" in window.status_bar.backend_label.text()
    assert "2,048 tokens are assumed" in window.chat.notice.text  # the server does not report it

    message = send_and_wait(qtbot, window, "Name a planet.")
    assert message.content
    remote = message.provenance.settings["remote"]
    assert remote["url"] == llama_cpp_server.root and remote["model_reported"] == llama_cpp_server.model_id
    assert message.provenance.seed == 42 and message.provenance.settings["sampling"]["max_tokens"] == 24
    assert "Server" in provenance_html(message.provenance) and "sha256" in provenance_html(message.provenance)
    assert window.status_bar.speed_label.text().endswith("tok/s")


def test_the_local_server_answers_with_the_window_model_and_logs_it(
    qtbot: Any, loaded_window: Any, smollm2_path: Path
) -> None:
    window = loaded_window
    box = window.sections["Settings"].local_server_box
    server = window.context.server
    port = free_port()
    box.port_spin.setValue(port)
    with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(True)
    assert server.running, server.error
    url = f"http://127.0.0.1:{port}/v1"
    assert box.status_label.text() == f"Listening on {url} (no API key)"
    assert window.context.settings.server.enabled  # saved: it comes back at the next start

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    with qtbot.waitSignal(server.request_served, timeout=REPLY_TIMEOUT_MS):
        # The reply is computed on the window's model thread, so the GUI thread must keep running.
        result: dict[str, Any] = {}

        def ask() -> None:
            result["reply"] = client.chat.completions.create(
                model=smollm2_path.stem, messages=[{"role": "user", "content": "Say hello."}], max_tokens=6
            )

        import threading

        thread = threading.Thread(target=ask)
        thread.start()
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=REPLY_TIMEOUT_MS)
    reply = result["reply"]
    assert reply.choices[0].message.content
    qtbot.waitUntil(lambda: box.served_label.text() == "Requests served: 1", timeout=SERVER_TIMEOUT_MS)
    # Logged as an "API: …" conversation in the chat's list, with the provenance of the window's model.
    conversations = window.chat.conversations.model
    titles = [conversations.conversation(i).title for i in range(conversations.rowCount())]
    assert "API: OpenAI/Python" in titles
    (api,) = [c for c in window.context.store.list() if c.title.startswith("API: ")]
    answer = window.context.store.messages(api.id)[-1]
    assert answer.content == reply.choices[0].message.content
    assert answer.provenance.model_sha256 == window.context.models.sha256
    assert "API request" in provenance_html(answer.provenance)

    # Another model than the loaded one is refused, not swapped in under the user.
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="not-in-the-library", messages=[{"role": "user", "content": "Hi"}])

    with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(False)
    assert not server.running and box.status_label.text() == "Off: nothing listens."
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_another_address_without_a_key_is_refused_in_the_settings(qtbot: Any, window: Any) -> None:
    box = window.sections["Settings"].local_server_box
    server = window.context.server
    port = free_port()
    box.port_spin.setValue(port)
    box.host_edit.setText("0.0.0.0")
    with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(True)
    assert not server.running
    assert box.status_label.text().startswith("Not running: Listening on 0.0.0.0") and "API key" in server.error
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=lambda: not server.pending):
        box.enabled_check.setChecked(False)
    # A key can be made (shown once); with it that address would be accepted (not started: tests stay local).
    key = box.create_key()
    assert key.startswith("hearth-") and box.key_label.text().startswith("Set")
    assert not server.running


def test_a_remote_model_answers_from_documents_in_the_chat(
    qtbot: Any, make_window: Any, llama_cpp_server: Any, gui_settings: Any, tmp_path: Path
) -> None:
    from desktop_app.core.rag import ingest
    from desktop_app.core.rag.documents_settings import RagSettings
    from desktop_app.core.rag.store import DocumentStore

    notes = tmp_path / "notes.md"
    notes.write_text("# Safety\n\nThe fire extinguisher is next to room 204, beside the lift.\n", encoding="utf-8")
    store = DocumentStore()
    ingest.create_collection(store, "notes", RagSettings())
    ingest.add_paths(store, "notes", [notes])
    del store
    secrets.put("endpoint:lab", llama_cpp_server.key)
    gui_settings.endpoints = [RemoteEndpoint(id="lab", name="lab box", url=llama_cpp_server.root, has_key=True,
                                             n_ctx=2048)]  # fmt: skip
    settings_store.save(gui_settings)
    window = make_window()
    picker = window.chat.model_picker
    qtbot.waitUntil(lambda: _remote_row(picker) >= 0, timeout=SERVER_TIMEOUT_MS)
    row = _remote_row(picker)
    with qtbot.waitSignal(window.context.models.remote_changed, timeout=LOAD_TIMEOUT_MS):
        picker.combo.activated.emit(row)
    documents = window.chat.documents
    documents.menu.aboutToShow.emit()
    next(a for a in documents.collection_actions() if a.data() == "notes").trigger()

    message = send_and_wait(qtbot, window, "Where is the fire extinguisher?")
    rag = message.rag
    assert rag is not None and rag.citations[0].name == "notes.md"  # retrieved here, answered there
    assert rag.budget.n_ctx == 2048
    remote = message.provenance.settings["remote"]
    assert remote["model_reported"] == llama_cpp_server.model_id
    assert "Cite" in message.provenance.settings["system_prompt"]  # the grounding rules the server saw
