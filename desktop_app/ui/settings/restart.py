"""Restarting Hearth from Settings (after a restored backup or a moved data folder): a new
process is started, then every window closes and this one quits."""

from __future__ import annotations

import sys

from PySide6.QtCore import QProcess
from PySide6.QtWidgets import QApplication


def restart_hearth() -> bool:
    """Starts a new Hearth and quits this one; False (nothing closed) when it could not start."""
    # A frozen app's executable is Hearth itself; from source, the same interpreter and module.
    arguments = [] if getattr(sys, "frozen", False) else ["-m", "desktop_app"]
    if not QProcess.startDetached(sys.executable, arguments):
        return False
    app = QApplication.instance()
    for window in QApplication.topLevelWidgets():
        window.close()
    if app is not None:
        app.quit()
    return True
