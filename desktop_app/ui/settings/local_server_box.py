"""Settings → Local server: Hearth's own OpenAI-compatible API for scripts, notebooks and
editor plug-ins. Off by default; on, it listens on this computer only unless another address is
chosen, which needs the API key (made here, shown once). Shows the address, the requests served
and the last errors, and opens the request log; each answer it gives is kept as an "API: …"
conversation in the Chat unless that is turned off here (or by the client, per request)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import paths, secrets
from desktop_app.core.errors import HearthError
from desktop_app.core.server import access
from desktop_app.core.server.request_log import log_path
from desktop_app.ui.context import AppContext
from desktop_app.ui.settings.request_log_dialog import RequestLogDialog
from desktop_app.ui.settings.server_examples import NO_MODEL, ExamplesDialog
from desktop_app.ui.shared.hint_label import hint_label
from desktop_app.ui.shared.labels import Label


class KeyDialog(QDialog):
    """The new key, shown once, with a Copy button."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New API key")
        self.key_edit = QLineEdit(key)
        self.key_edit.setReadOnly(True)
        self.key_edit.setMinimumWidth(420)
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(key))
        note = Label(
            "Programs send it as their API key (Authorization: Bearer …). It is shown only now; "
            f"Hearth keeps it in {secrets.where()}."
        )
        note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.key_edit, 1)
        row.addWidget(copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(note)
        layout.addWidget(buttons)


class LocalServerBox(QGroupBox):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Local server (OpenAI-compatible API)", parent)
        self._context = context
        self._server = context.server
        config = context.settings.server
        self.enabled_check = QCheckBox("Serve the loaded model to other programs")
        self.enabled_check.setChecked(config.enabled)
        self.enabled_check.toggled.connect(self._on_enabled_check_toggled)
        self.host_edit = QLineEdit(config.host)
        self.host_edit.setToolTip("127.0.0.1: this computer only. Any other address needs the API key.")
        self.host_edit.editingFinished.connect(self._on_address_edited)
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(config.port)
        self.port_spin.editingFinished.connect(self._on_address_edited)
        self.key_label = Label("")
        self.new_key_button = QPushButton("Create new key…")
        self.new_key_button.clicked.connect(self._on_new_key_button_clicked)
        self.remove_key_button = QPushButton("Remove key")
        self.remove_key_button.clicked.connect(self._on_remove_key_button_clicked)
        self.status_label = Label("")
        self.status_label.setObjectName("serverStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_address_button = QPushButton("Copy address")
        self.copy_address_button.setToolTip("The base URL programs use (OpenAI's base_url), on the clipboard")
        self.copy_address_button.clicked.connect(self._on_copy_address_button_clicked)
        self.examples_button = QPushButton("Examples…")
        self.examples_button.setToolTip("How to call it from a terminal (curl) or Python, ready to copy")
        self.examples_button.clicked.connect(self._on_examples_button_clicked)
        self.served_label = Label("")
        self.errors_label = hint_label()
        self.save_check = QCheckBox("Keep each answer as an “API: …” conversation in the Chat")
        self.save_check.setChecked(config.save_conversations)
        self.save_check.setToolTip(
            "Off: answers are only in the request log. A client may choose for itself with the header "
            "X-Hearth-Save-Conversation: false (or true), e.g. a benchmark of thousands of requests."
        )
        self.save_check.toggled.connect(self._on_save_check_toggled)
        self.log_button = QPushButton("Request log…")
        self.log_button.setToolTip("Every request answered or refused, newest first, with what was asked and answered")
        self.log_button.clicked.connect(self._on_log_button_clicked)

        key_row = QHBoxLayout()
        key_row.addWidget(self.key_label, 1)
        key_row.addWidget(self.new_key_button)
        key_row.addWidget(self.remove_key_button)
        form = QFormLayout()
        form.addRow("Address", self.host_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("API key", key_row)
        note = hint_label(
            "Answers the OpenAI API (chat, completions, embeddings, tools, log-probabilities) with the model "
            "loaded in the Chat, one request at a time after the chat's own. Every request is kept in the "
            "request log (the newest 5,000)."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled_check)
        layout.addLayout(form)
        layout.addWidget(self.status_label)
        address_row = QHBoxLayout()
        address_row.addWidget(self.copy_address_button)
        address_row.addWidget(self.examples_button)
        address_row.addStretch(1)
        layout.addLayout(address_row)
        layout.addWidget(self.served_label)
        layout.addWidget(self.errors_label)
        log_row = QHBoxLayout()
        log_row.addWidget(self.save_check, 1)
        log_row.addWidget(self.log_button)
        layout.addLayout(log_row)
        layout.addWidget(note)
        self._server.status_changed.connect(self._on_server_status_changed)
        self._server.request_served.connect(self._on_server_request_served)
        self._show_key()
        self._show_status()

    # -- what is shown ------------------------------------------------------------------------------

    def _show_key(self) -> None:
        try:
            has_key = access.stored_key() is not None
        except HearthError as exc:
            self.key_label.setText(str(exc))
            return
        self.key_label.setText("Set: programs must send it" if has_key else "None: only this computer may connect")
        self.remove_key_button.setEnabled(has_key)

    def _show_status(self) -> None:
        server = self._server
        if server.pending:
            text = "Starting…" if self._context.settings.server.enabled else "Stopping…"
        elif server.running:
            guarded = "API key required" if server.guarded else "no API key"
            text = f"Listening on {server.url} ({guarded})"
        elif server.error:
            text = f"Not running: {server.error}"
        else:
            text = "Off: nothing listens."
        self.status_label.setText(text)
        for button in (self.copy_address_button, self.examples_button):
            button.setVisible(server.running)
        stats = server.stats()
        self.served_label.setText(f"Requests served: {stats.served}" if stats is not None else "")
        self.served_label.setVisible(stats is not None)
        errors = stats.errors[-3:] if stats is not None else []
        lines = [f"{time.strftime('%H:%M:%S', time.localtime(e.at))}  {e.endpoint}: {e.message}" for e in errors[::-1]]
        self.errors_label.setText("Last errors:\n" + "\n".join(lines) if lines else "")
        self.errors_label.setVisible(bool(lines))  # (an empty line of the box's height otherwise)

    # -- changes --------------------------------------------------------------------------------------

    def _save_and_apply(self) -> None:
        config = self._context.settings.server
        config.enabled = self.enabled_check.isChecked()
        config.host = self.host_edit.text().strip() or "127.0.0.1"
        config.port = self.port_spin.value()
        self._context.save_settings(self)
        self._server.apply()

    @Slot(bool)
    def _on_enabled_check_toggled(self, _checked: bool) -> None:
        self._save_and_apply()

    @Slot()
    def _on_address_edited(self) -> None:
        config = self._context.settings.server
        if (self.host_edit.text().strip(), self.port_spin.value()) != (config.host, config.port):
            self._save_and_apply()

    @Slot()
    def _on_new_key_button_clicked(self) -> None:
        key = self.create_key()
        KeyDialog(key, self).exec()

    def create_key(self) -> str:
        """A new key (the old one stops working); a running server restarts to require it."""
        key = access.new_key()
        self._show_key()
        if self._context.settings.server.enabled:
            self._server.apply()
        return key

    @Slot()
    def _on_remove_key_button_clicked(self) -> None:
        access.forget_key()
        self._show_key()
        if self._context.settings.server.enabled:
            self._server.apply()

    @Slot(bool)
    def _on_save_check_toggled(self, checked: bool) -> None:
        # Read per request: no restart needed.
        self._context.settings.server.save_conversations = checked
        self._context.save_settings(self)

    @Slot()
    def _on_copy_address_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._server.url)
        self.status_label.setText(f"Listening on {self._server.url}: the address is on the clipboard.")

    @Slot()
    def _on_examples_button_clicked(self) -> None:
        self.examples().exec()

    def examples(self) -> ExamplesDialog:
        """The examples for the address served now and the model loaded in the Chat."""
        model = self._context.models.model
        name = model.name if model is not None else NO_MODEL
        return ExamplesDialog(self._server.url, name, self._server.guarded, self)

    @Slot()
    def _on_log_button_clicked(self) -> None:
        self.open_log().exec()

    def open_log(self) -> RequestLogDialog:
        return RequestLogDialog(log_path(paths.db_path()), self)

    @Slot()
    def _on_server_status_changed(self) -> None:
        self._show_status()

    @Slot(object)
    def _on_server_request_served(self, _event: object) -> None:
        self._show_status()
