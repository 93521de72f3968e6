"""Settings › Data folder: where everything lives, and moving it to another disk (copy, then restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import data_folder, paths
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.ui.settings.restart import restart_hearth
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.hint_label import hint_label
from desktop_app.ui.shared.labels import Label

MOVE_JOB = "move-data-folder"


class DataFolderBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Data folder", parent)
        self.folder_label = Label(str(paths.home()))
        self.folder_label.setObjectName("pathLabel")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setWordWrap(True)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_button_clicked)
        self.move_button = QPushButton("Move…")
        self.move_button.setToolTip("Copy everything to another folder (a bigger disk, say) and use it from then on")
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.status = hint_label()
        self.status.hide()
        self.restart_button = QPushButton("Restart Hearth now")
        self.restart_button.clicked.connect(self._on_restart_button_clicked)
        self.restart_button.hide()
        note = hint_label(
            "Conversations, settings, downloaded models, document indexes and logs live here. Move… copies "
            "them to a new folder, which Hearth uses from its next start; the old folder stays until you "
            "delete it. (The HEARTH_HOME environment variable, when set, decides instead.)"
        )

        row = QHBoxLayout()
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.open_folder_button)
        row.addWidget(self.move_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.restart_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(note)

        self.jobs = JobRunner(self, max_threads=1)
        self.jobs.partial.connect(self._on_jobs_partial)
        self.jobs.succeeded.connect(self._on_jobs_succeeded)
        self.jobs.failed.connect(self._on_jobs_failed)
        self.jobs.finished.connect(self._on_jobs_finished)

    def ask_target(self) -> Path | None:
        """The folder to move to, or None (tests replace this)."""
        chosen = QFileDialog.getExistingDirectory(self, "Move the data folder to", str(Path.home()))
        return Path(chosen) if chosen else None

    def move_to(self, target: Path) -> None:
        """Starts copying the data folder to ``target`` (off the GUI thread)."""
        try:
            data_folder.check_target(target)
        except data_folder.HearthError as exc:
            self._say(f"{exc.message} {exc.hint}".strip())
            return

        def work(cancel: CancelToken, report: Any) -> Path:
            return data_folder.move(target, progress=report, cancel=cancel)

        self.jobs.start(MOVE_JOB, work)
        self.move_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setValue(0)
        self.progress.show()
        self._say(f"Copying the data folder to {target}…")

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    @Slot()
    def _on_move_button_clicked(self) -> None:
        target = self.ask_target()
        if target is not None:
            self.move_to(target)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.jobs.cancel(MOVE_JOB)

    @Slot(str, object)
    def _on_jobs_partial(self, _kind: str, progress: Progress) -> None:
        self.progress.setValue(int(1000 * progress.fraction) if progress.fraction is not None else 0)

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, target: Path) -> None:
        self._say(f"Copied. Hearth uses {target} from its next start; the old folder stays until you delete it.")
        self.restart_button.show()

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self._say(f"The data folder was not moved: {message} {hint}".strip())

    @Slot(str)
    def _on_jobs_finished(self, _kind: str) -> None:
        self.move_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        if self.status.text().startswith("Copying"):
            self._say("Stopped: nothing was moved.")

    @Slot()
    def _on_open_folder_button_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.home())))

    @Slot()
    def _on_restart_button_clicked(self) -> None:
        if not restart_hearth():
            self.restart_button.show()
