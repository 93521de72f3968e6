"""The Documents section's "New collection" dialog: a name, and where the collection lives —
on this computer (the default), or on a Chroma server shared with others (address, optional token)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import secrets
from desktop_app.ui.shared.labels import Label


class NewCollectionDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New collection")
        self.name = QLineEdit()
        self.local = QRadioButton("On this computer")
        self.remote = QRadioButton("On a Chroma server, shared with others")
        self.local.setChecked(True)
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://192.168.1.20:8000")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Only if the server asks for one")
        self.note = Label(
            "A collection of that name already on the server is joined: its files, model and passage length "
            f"are the server's. A token is kept in {secrets.where()}."
        )
        self.note.setWordWrap(True)
        server = QWidget()
        server_form = QFormLayout(server)
        server_form.setContentsMargins(24, 0, 0, 0)
        server_form.addRow("Address", self.url)
        server_form.addRow("Token", self.token)
        server_form.addRow(self.note)
        self.server_fields = server
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.name)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.local)
        layout.addWidget(self.remote)
        layout.addWidget(server)
        layout.addWidget(buttons)
        layout.setSpacing(10)
        layout.setContentsMargins(16, 16, 16, 12)
        self.name.setPlaceholderText("e.g. Lab reports 2024")
        self.setMinimumWidth(480)  # room for the address and the note without a cramped wrap
        self.remote.toggled.connect(self._on_remote_toggled)
        self._on_remote_toggled(False)

    def _on_remote_toggled(self, remote: bool) -> None:
        self.server_fields.setEnabled(remote)

    def values(self) -> tuple[str, str | None, str | None]:
        """(name, server address or None for the local store, token or None for the saved one)."""
        if not self.remote.isChecked():
            return self.name.text().strip(), None, None
        return self.name.text().strip(), self.url.text().strip(), self.token.text().strip() or None
