"""The window's start: hearth.db checked (and repaired when damaged) before any view opens it,
the daily backup made off the GUI thread, and what was found said in a window, not in a log."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.core import db, paths
from desktop_app.core.errors import HearthError

log = logging.getLogger(__name__)


def _backup_quietly() -> None:
    try:
        db.backup_if_due()
    except HearthError as exc:  # a full disk must not stop the app; the next start tries again
        log.warning("No backup of the database today: %s", exc)


def check_storage_at_start() -> list[HearthError] | None:
    """The notices to show once the window is up; None when Hearth cannot start (already said)."""
    try:
        db.connect().close()
    except (HearthError, OSError, sqlite3.DatabaseError) as exc:
        error = exc if isinstance(exc, HearthError) else _plain(exc)
        print(f"hearth: {error}", file=sys.stderr)  # noqa: T201 - also on the terminal that started it
        QMessageBox.critical(None, "Hearth cannot start", f"{error.message}\n\n{error.hint}".strip())
        return None
    threading.Thread(target=_backup_quietly, name="hearth-db-backup", daemon=True).start()
    return db.take_notices()


def _plain(exc: OSError | sqlite3.DatabaseError) -> HearthError:
    if isinstance(exc, sqlite3.DatabaseError):
        return db.database_error(paths.db_path(), exc)
    where = f"“{exc.filename}”" if exc.filename else "Hearth's data folder"
    return HearthError(f"{where} cannot be used: {exc.strerror or exc}.", "Check the folder and its permissions.")


def show_storage_notices(parent: QWidget, notices: list[HearthError]) -> None:
    for notice in notices:
        box = QMessageBox(QMessageBox.Icon.Warning, "Hearth repaired its database", notice.message, parent=parent)
        box.setInformativeText(notice.hint)
        box.setObjectName("storageNotice")
        box.show()  # not modal: the window is usable, and a scripted start is not held up
