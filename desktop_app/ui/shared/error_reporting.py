"""Logging to a file, and hooks that turn unexpected errors into a dialog.

A :class:`HearthError` that escapes is shown in plain words without a traceback,
:class:`Cancelled` is silent, anything else is a bug: logged with its traceback to
``logs/hearth.log`` and shown in a dialog that says where the log is. The hooks
cover ``sys.excepthook`` (the GUI thread, Qt slots) and ``threading.excepthook``;
both may fire on any thread, so the dialog is raised through a queued signal.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.core import paths
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.ui.shared.safe_text import as_plain_html, loads_resources

log = logging.getLogger(__name__)

LOG_FILE_NAME = "hearth.log"


def log_file() -> Path:
    return paths.logs_dir() / LOG_FILE_NAME


def setup_logging() -> Path:
    """Sends INFO and above to a rotating file in the logs folder (and warnings to stderr)."""
    path = log_file()
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root.addHandler(handler)
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    root.setLevel(logging.INFO)
    return path


class ErrorReporter(QObject):
    """Lives on the GUI thread; shows what the hooks report."""

    error_reported = Signal(str, str, str)  # title, text, details

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.error_reported.connect(self._on_self_error_reported, Qt.ConnectionType.QueuedConnection)
        self.reported = 0  # unexpected errors shown so far
        self._boxes: list[QMessageBox] = []
        self._previous_sys_hook = sys.excepthook
        self._previous_threading_hook = threading.excepthook

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous_sys_hook
        threading.excepthook = self._previous_threading_hook

    def handle(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if isinstance(error, Cancelled):
            return
        if isinstance(error, KeyboardInterrupt):
            QApplication.quit()
            return
        if isinstance(error, HearthError):
            log.warning("Unhandled user-facing error: %s", error)
            self.error_reported.emit("Hearth", error.message, error.hint)
            return
        log.error("Unexpected error", exc_info=(kind, error, tb))
        self.reported += 1
        details = "".join(traceback.format_exception(kind, error, tb))
        text = (
            "Something went wrong inside Hearth. Your conversations are safe; you can keep working, "
            f"but if this happens again please report it with the log file:\n{log_file()}"
        )
        self.error_reported.emit("Unexpected error", text, details)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str, str)
    def _on_self_error_reported(self, title: str, text: str, details: str) -> None:
        box = QMessageBox(QApplication.activeWindow())
        box.setIcon(QMessageBox.Icon.Critical if title == "Unexpected error" else QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        # A message may quote a file, a model or a server: shown as text, never as markup that loads.
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        if details and title == "Unexpected error":
            box.setDetailedText(details)
        elif details:
            box.setInformativeText(as_plain_html(details) if loads_resources(details) else details)
        # Without a parent window nothing else holds the box: keep it until it is closed.
        self._boxes.append(box)
        box.finished.connect(lambda _result, shown=box: self._boxes.remove(shown))
        box.open()
