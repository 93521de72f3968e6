"""Hearth's SQLite file at the lowest level: a connection (WAL, foreign keys, rows by name) whose
writes on a full disk fail in plain words, the file and its journals readable by their owner only,
the lock held while it is set up or repaired, and SQLite's failures said in words."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from desktop_app.core import locks
from desktop_app.core.errors import DiskFullError, HearthError

log = logging.getLogger(__name__)

SETUP_WAIT_S = 120.0


class Connection(sqlite3.Connection):
    """A connection whose writes on a full disk fail as :class:`DiskFullError` in plain words
    (every store of Hearth's writes through one: runs, conversations, documents…)."""

    hearth_path: Path

    def _full(self, exc: sqlite3.OperationalError) -> BaseException:
        if "disk is full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == 13:  # SQLITE_FULL
            return disk_full_error(self.hearth_path.parent, f"“{self.hearth_path.name}” could not be written")
        return exc

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise self._full(exc) from exc

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise self._full(exc) from exc

    def executescript(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().executescript(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise self._full(exc) from exc

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.OperationalError as exc:
            raise self._full(exc) from exc

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return super().__exit__(*exc_info)
        except sqlite3.OperationalError as exc:
            raise self._full(exc) from exc


def open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, factory=Connection)
    db.hearth_path = path
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_error(path, exc) from exc
    return db


def create_private(path: Path) -> None:
    """The database, its journal and the set-up lock: readable by their owner only."""
    if str(path) == ":memory:":
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if os.name == "posix":
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(OSError):
                if part.stat().st_mode & 0o077:
                    part.chmod(0o600)


def remove_database(path: Path) -> None:
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def setup_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    return locks.hold(
        path.with_name(path.name + ".lock"),
        f"Hearth's database in “{path.parent}”",
        wait_s=SETUP_WAIT_S,
        on_wait=lambda text: log.warning("%s", text),
        hint="Another Hearth program is setting it up or repairing it; try again when it has finished.",
    )


def database_error(path: Path, exc: BaseException) -> HearthError:
    """A SQLite failure in plain words (a full disk, a damaged or locked file)."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or "disk is full" in text:
        return disk_full_error(path.parent, f"“{path.name}” could not be written")
    if "locked" in text or "busy" in text:
        return HearthError(
            f"Hearth's database “{path}” is busy in another program.", "Wait a moment, then try again."
        )
    if "readonly" in text or "read-only" in text:
        return HearthError(
            f"Hearth's database “{path}” cannot be written (read-only).", "Check the folder's permissions."
        )
    return HearthError(
        f"Hearth's database “{path}” cannot be read: {exc}.",
        "Start Hearth again: it checks the database at start and repairs it, keeping a copy of the damaged file.",
    )


def disk_full_error(folder: Path, what: str) -> DiskFullError:
    free = ""
    with contextlib.suppress(OSError):
        free = f" ({shutil.disk_usage(folder).free / 1e6:,.1f} MB free)"
    return DiskFullError(
        f"The disk holding “{folder}” is full{free}: {what}. What was saved before is kept.",
        "Free some space, then try again.",
    )
