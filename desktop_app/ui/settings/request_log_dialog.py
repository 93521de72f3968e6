"""Settings → Local server → Request log: the newest requests the server answered or refused,
newest first, with each one's request and answer as the log keeps them (cut to a size)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError
from desktop_app.core.server.request_log import LoggedRequest, read_log
from desktop_app.ui.shared.labels import Label

SHOWN = 500
COLUMNS = ["When", "Endpoint", "Client", "Model", "Outcome", "Tokens in / out", "Seeds"]


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def outcome(entry: LoggedRequest) -> str:
    if entry.ok:
        return {"stop": "answered", "length": "answered (length)", "cancelled": "stopped"}.get(entry.finish, "answered")
    if entry.finish == "cancelled":
        return "client left"
    return f"refused: {entry.message}"


class RequestLogDialog(QDialog):
    def __init__(self, log_file: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Local server: request log")
        self.resize(980, 620)
        self._log_file = log_file
        self._entries: list[LoggedRequest] = []
        self.summary_label = Label("")
        self.summary_label.setObjectName("hintLabel")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Choose a request to see what was asked and answered.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setSizes([380, 240])
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the log again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        refresh = QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self)
        refresh.activated.connect(self.refresh)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.refresh_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        try:
            self._entries = read_log(self._log_file, SHOWN)
        except HearthError as exc:
            self._entries = []
            self.summary_label.setText(str(exc))
        else:
            shown = len(self._entries)
            self.summary_label.setText(
                f"The newest {shown} requests, newest first." if shown else "No requests yet: the log is empty."
            )
        self.table.setRowCount(len(self._entries))
        for row, entry in enumerate(self._entries):
            cells = [
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at)),
                entry.endpoint,
                entry.client,
                entry.model,
                outcome(entry),
                f"{entry.prompt_tokens} / {entry.completion_tokens}",
                ", ".join(str(s) for s in entry.seeds),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.detail.clear()

    @Slot()
    def _on_table_selection_changed(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) != 1:
            self.detail.clear()
            return
        entry = self._entries[rows.pop()]
        parts = [f"{entry.endpoint}  {entry.response_id}  {outcome(entry)}"]
        if entry.conversation_id is not None:
            parts.append("Kept as a conversation in the Chat.")
        parts += ["", "Request:", _pretty(entry.request) or "(not kept)", "", "Answer:", _pretty(entry.response) or "—"]
        self.detail.setPlainText("\n".join(parts))
