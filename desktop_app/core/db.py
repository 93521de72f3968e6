"""Hearth's SQLite database: one file, WAL, and ordered named migrations (:mod:`.migrations`).

The file is checked once per process before anything uses it, and repaired when damaged
(:mod:`.db_recovery`, which also keeps the daily backups); the plain-words account waits in
:func:`take_notices`. Set-up and migrations run under a lock on the data folder
(:mod:`.db_file`), so two processes starting at once on a new folder do not race. The file is
created readable by its owner only.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from desktop_app.core import migrations, paths
from desktop_app.core.db_file import create_private, database_error, disk_full_error, open_db, setup_lock
from desktop_app.core.db_recovery import (
    KEEP_BACKUPS,
    Backup,
    backup_if_due,
    backup_now,
    backups_dir,
    check_and_repair,
    list_backups,
    restore_backup,
)
from desktop_app.core.errors import HearthError
from desktop_app.core.migrations import MIGRATIONS, migrate, migration

# What callers use through ``db.``: the migrations' registry, the backups, the errors in words.
__all__ = [
    "KEEP_BACKUPS",
    "MIGRATIONS",
    "Backup",
    "backup_if_due",
    "backup_now",
    "backups_dir",
    "check_and_repair",
    "connect",
    "database_error",
    "disk_full_error",
    "list_backups",
    "migrate",
    "migration",
    "restore_backup",
    "take_notices",
]

_CHECKED: set[str] = set()
_CHECKED_LOCK = threading.Lock()
_NOTICES: list[HearthError] = []


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Opens (and migrates) the database. One connection per thread. The first time in a
    process the file is checked (and repaired when damaged: see :func:`check_and_repair`)."""
    path = path or paths.db_path()
    key = str(path.resolve())
    if key not in _CHECKED:
        _prepare(path, key)
    db = open_db(path)
    try:
        if migrations.pending(db):
            db.close()
            with setup_lock(path):
                db = open_db(path)
                migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_error(path, exc) from exc
    return db


def _prepare(path: Path, key: str) -> None:
    with _CHECKED_LOCK:
        if key in _CHECKED:
            return
        with setup_lock(path):
            create_private(path)
            notice = check_and_repair(path)
            if notice is not None:
                _NOTICES.append(notice)
            db = open_db(path)
            try:
                migrate(db)
            except sqlite3.DatabaseError as exc:
                raise database_error(path, exc) from exc
            finally:
                db.close()
        _CHECKED.add(key)


def take_notices() -> list[HearthError]:
    """What the checks of this process found and did (a damaged database moved aside…), once."""
    notices = list(_NOTICES)
    _NOTICES.clear()
    return notices
