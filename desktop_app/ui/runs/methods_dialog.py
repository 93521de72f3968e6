"""Methods…: the selected run's methods section (core/runs/methods.py) as Markdown text to copy
into a paper or save as a file. The text is made off the GUI thread (agreement's bootstrap
and a judge's check take a moment on a large run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.atomic_files import write_text_atomically
from desktop_app.core.errors import HearthError
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label


def _methods_text(run_id: int) -> str:
    from desktop_app.core.runs.methods import methods
    from desktop_app.core.runs.storage import RunStore

    store = RunStore()  # this worker thread's own connection
    try:
        return methods(store, run_id)
    finally:
        store.close()


class MethodsDialog(QDialog):
    text_ready = Signal(str)

    def __init__(self, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_id = run_id
        self.setProperty("run_id", run_id)
        self.setWindowTitle(f"Methods — run {run_id}")
        self.resize(820, 640)
        self.note = Label(
            "A methods section with every number this run recorded, in Markdown. Copy it into your paper, "
            "or save it as a file. It is also inside the run's exported archive (methods.md)."
        )
        self.note.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setPlaceholderText("Writing the methods text…")
        self.text.setFont(QFont("monospace"))
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the Markdown text (Ctrl+Shift+C)")
        self.copy_button.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_button.clicked.connect(self.copy)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save it as a Markdown file (Ctrl+S)")
        self.export_button.setShortcut(QKeySequence.StandardKey.Save)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.status = Label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        for button in (self.copy_button, self.export_button):
            button.setEnabled(False)
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self._jobs.start("methods", lambda _cancel, _report: _methods_text(run_id))

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, result: Any) -> None:
        self.text.setPlainText(str(result))
        for button in (self.copy_button, self.export_button):
            button.setEnabled(True)
        self.text_ready.emit(str(result))

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.status.setText(f"{message} {hint}".strip())

    @Slot()
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
        self.status.setText("Copied.")

    @Slot()
    def _on_export_button_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save the methods text", str(Path.home() / f"run-{self.run_id}-methods.md"), "Markdown (*.md)"
        )
        if name:
            self.export(Path(name))

    def export(self, path: Path) -> None:
        try:
            write_text_atomically(path, self.text.toPlainText())
        except HearthError as exc:
            self.status.setText(f"{exc.message} {exc.hint}".strip())
            return
        self.status.setText(f"Saved {path}.")

    def done(self, result: int) -> None:
        self._jobs.shutdown()  # no worker left behind when the dialog closes
        super().done(result)
