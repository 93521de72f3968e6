"""Settings › Database backups: the daily copies of hearth.db (core/db.py keeps a few), made now
on request or put back. Restoring keeps the current database beside it, then asks for a restart
so that every view reads the restored one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import db
from desktop_app.core.units import human_bytes
from desktop_app.ui.settings.restart import restart_hearth
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.hint_label import hint_label


class BackupsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Database backups", parent)
        self.list = QListWidget()
        self.list.setObjectName("backupsList")
        self.list.setMaximumHeight(100)
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        self.backup_button = QPushButton("Back up now")
        self.backup_button.setToolTip("Copy the database now (SQLite's backup API: safe while Hearth runs)")
        self.backup_button.clicked.connect(self._on_backup_button_clicked)
        self.restore_button = QPushButton("Restore…")
        self.restore_button.setToolTip("Put the chosen copy back; the current database is kept beside it")
        self.restore_button.clicked.connect(self._on_restore_button_clicked)
        self.restart_button = QPushButton("Restart Hearth now")
        self.restart_button.clicked.connect(self._on_restart_button_clicked)
        self.restart_button.hide()
        self.status = hint_label()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = hint_label(
            f"Conversations, runs and collections are kept in one database; Hearth copies it once a day and "
            f"keeps the last {db.KEEP_BACKUPS} copies. A damaged database is repaired at start from what can "
            "still be read."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.backup_button)
        buttons.addWidget(self.restore_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.restart_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(note)
        self.jobs = JobRunner(self, max_threads=1)
        self.jobs.succeeded.connect(self._on_jobs_succeeded)
        self.jobs.failed.connect(self._on_jobs_failed)
        self.jobs.finished.connect(self._on_jobs_finished)
        self.show_backups()

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def show_backups(self) -> None:
        self.list.clear()
        for backup in db.list_backups():
            item = QListWidgetItem(f"{backup.label}  ·  {human_bytes(backup.size)}")
            item.setData(Qt.ItemDataRole.UserRole, str(backup.path))
            item.setToolTip(str(backup.path))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.status.setText("No backup yet: the first is made at the next start, or with “Back up now”.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.jobs.busy("backup") or self.jobs.busy("restore")
        self.backup_button.setEnabled(not busy)
        self.restore_button.setEnabled(not busy and self.list.currentRow() >= 0)

    def back_up(self) -> None:
        self.status.setText("Copying the database…")
        self.jobs.start("backup", lambda _cancel, _report: db.backup_now())
        self._update_buttons()

    def restore(self, row: int, confirm: bool = True) -> None:
        """Restores the backup at ``row`` of the list (newest first), off the GUI thread."""
        item = self.list.item(row)
        if item is None:
            return
        path = Path(str(item.data(Qt.ItemDataRole.UserRole)))
        if confirm:
            answer = QMessageBox.question(
                self,
                "Restore a backup",
                f"Put back the database as it was on {item.text().split('  ·')[0]}?\n\nWhat was saved since then "
                "is not in it; the current database is kept beside it. Restart Hearth afterwards.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.status.setText("Restoring…")
        self.jobs.start("restore", lambda _cancel, _report: db.restore_backup(path))
        self._update_buttons()

    @Slot()
    def _on_backup_button_clicked(self) -> None:
        self.back_up()

    @Slot()
    def _on_restore_button_clicked(self) -> None:
        self.restore(self.list.currentRow())

    @Slot(int)
    def _on_list_current_row_changed(self, _row: int) -> None:
        self._update_buttons()

    @Slot(str, object)
    def _on_jobs_succeeded(self, kind: str, result: object) -> None:
        if kind == "backup" and isinstance(result, db.Backup):
            self.show_backups()
            self.status.setText(f"Backed up ({result.label}).")
        elif kind == "restore":
            kept = getattr(result, "name", str(result))
            self.status.setText(f"Restored. The database from before is kept as “{kept}”. Restart Hearth to use it.")
            self.restart_button.show()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.status.setText(f"{message} {hint}".strip())

    @Slot(str)
    def _on_jobs_finished(self, _kind: str) -> None:
        self._update_buttons()

    @Slot()
    def _on_restart_button_clicked(self) -> None:
        if not restart_hearth():
            self.restart_button.show()
