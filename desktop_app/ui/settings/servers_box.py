"""Settings → Servers: OpenAI-compatible servers whose models Hearth can chat with (llama-server,
vLLM, Ollama, another Hearth). Add one, test it (what it is, which models), remove it. A key goes
to the keyring (or the private file), never to the settings file. Nothing is sent to a server
until it is added here."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import secrets
from desktop_app.core.errors import HearthError
from desktop_app.core.inference import remote
from desktop_app.core.settings import RemoteEndpoint
from desktop_app.ui.context import AppContext
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.hint_label import hint_label
from desktop_app.ui.shared.labels import Label


class EndpointDialog(QDialog):
    """Name, address, optional key, and the two figures a server may not report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a server")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Lab GPU box")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://192.168.1.20:8080")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("none")
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setRange(0, 1_048_576)
        self.ctx_spin.setSingleStep(1024)
        self.ctx_spin.setSpecialValueText("as the server says")
        self.ctx_spin.setToolTip("The context size the server runs the model with, if it does not report it")
        self.concurrency_spin = QSpinBox()
        self.concurrency_spin.setRange(1, 64)
        self.concurrency_spin.setValue(RemoteEndpoint().concurrency)
        self.concurrency_spin.setToolTip("How many rows a dataset run sends at once (the server batches them)")
        self.error_label = Label("")
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Address", self.url_edit)
        form.addRow("API key", self.key_edit)
        form.addRow("Context size", self.ctx_spin)
        form.addRow("Requests at once", self.concurrency_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def endpoint(self) -> RemoteEndpoint:
        url = remote.normalise_url(self.url_edit.text())
        return RemoteEndpoint(
            id=remote.new_endpoint_id(),
            name=self.name_edit.text().strip() or url.split("://", 1)[-1],
            url=url,
            has_key=bool(self.key_edit.text().strip()),
            n_ctx=self.ctx_spin.value(),
            concurrency=self.concurrency_spin.value(),
        )

    def key(self) -> str:
        return self.key_edit.text().strip()

    @Slot()
    def _on_buttons_accepted(self) -> None:
        try:
            self.endpoint()
        except HearthError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()


def _test(endpoint: RemoteEndpoint) -> dict[str, Any]:
    """On a pool thread: what the server is and which models it has."""
    client = remote.RemoteClient.for_endpoint(endpoint)
    try:
        models = client.model_ids()
        kind = client.kind()
        return {"kind": remote.KINDS.get(kind, kind), "models": models}
    finally:
        client.close()


class ServersBox(QGroupBox):
    endpoints_changed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Servers", parent)
        self._context = context
        self.list = QListWidget()
        self.list.setObjectName("serversList")
        self.list.setMaximumHeight(110)
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Ask the server what it is and which models it has")
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.result_label = Label("")
        self.result_label.setObjectName("hintLabel")
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)  # the server names its models: its words, not markup
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = hint_label(
            "OpenAI-compatible servers (llama.cpp's llama-server, vLLM, Ollama, another Hearth): their "
            f"models appear in the chat's model list, marked remote. Keys are kept in {secrets.where()}."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.result_label)
        layout.addWidget(note)
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._show()

    def shutdown(self) -> None:
        self._jobs.shutdown()

    # -- the list ---------------------------------------------------------------------------------

    def _show(self) -> None:
        self.list.clear()
        for endpoint in self._context.settings.endpoints:
            key = " · key" if endpoint.has_key else ""
            item = QListWidgetItem(f"{endpoint.name}  —  {endpoint.url}{key}")
            item.setData(Qt.ItemDataRole.UserRole, endpoint.id)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        self.test_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)

    def selected(self) -> RemoteEndpoint | None:
        row = self.list.currentRow()
        endpoints = self._context.settings.endpoints
        return endpoints[row] if 0 <= row < len(endpoints) else None

    def add(self, endpoint: RemoteEndpoint, key: str = "") -> None:
        """Keeps ``endpoint`` (its key, if any, in the keyring or the private file) and tests it."""
        if key:
            secrets.put(remote.key_name(endpoint.id), key)
        self._context.settings.endpoints.append(endpoint)
        self._context.save_settings(self)
        self._show()
        self.endpoints_changed.emit()
        self.test()

    def remove(self, endpoint: RemoteEndpoint) -> None:
        secrets.delete(remote.key_name(endpoint.id))
        self._context.settings.endpoints = [e for e in self._context.settings.endpoints if e.id != endpoint.id]
        self._context.save_settings(self)
        self.result_label.setText("")
        self._show()
        self.endpoints_changed.emit()

    def test(self) -> None:
        endpoint = self.selected()
        if endpoint is None:
            return
        self.result_label.setText(f"Asking {endpoint.url}…")
        self._jobs.start("test", lambda _cancel, _report: _test(endpoint))

    # -- widgets ----------------------------------------------------------------------------------

    @Slot()
    def _on_add_button_clicked(self) -> None:
        dialog = EndpointDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add(dialog.endpoint(), dialog.key())

    @Slot()
    def _on_test_button_clicked(self) -> None:
        self.test()

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        endpoint = self.selected()
        if endpoint is not None:
            self.remove(endpoint)

    @Slot(int)
    def _on_list_current_row_changed(self, _row: int) -> None:
        self._update_buttons()

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, result: dict[str, Any]) -> None:
        models = result["models"]
        listed = ", ".join(models[:6]) + (f" and {len(models) - 6} more" if len(models) > 6 else "")
        self.result_label.setText(
            f"Reached: {result['kind']}, {len(models)} model{'s' if len(models) != 1 else ''}: {listed or 'none'}."
        )

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.result_label.setText(f"{message} {hint}".strip())
