"""Hearth's database kept whole: the check of the file (``PRAGMA quick_check``), its repair, and backups.

A damaged file is moved aside with the date, what SQLite can still read is copied into a new
database (the ``sqlite3`` tool's ``.recover`` when it is installed, else the rows that read), or
the newest backup is restored when nothing could be read. A copy is kept every day (SQLite's backup
API, ``KEEP_BACKUPS`` of them), which Settings can restore.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core import migrations, paths
from desktop_app.core.db_file import (
    create_private,
    database_error,
    disk_full_error,
    open_db,
    remove_database,
    setup_lock,
)
from desktop_app.core.errors import HearthError

log = logging.getLogger(__name__)

KEEP_BACKUPS = 5
BACKUP_EVERY_S = 24 * 3600
BACKUP_FOLDER = "backups"


def quick_check(path: Path) -> str | None:
    """What is wrong with the file, in words, or None when SQLite finds it sound."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
    except sqlite3.DatabaseError as exc:
        return f"it cannot be opened ({exc})"
    try:
        rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc).lower() or "busy" in str(exc).lower():
            return None  # another process is writing: not damage
        if "not a database" in str(exc).lower():
            return "it is not a SQLite database any more (its header is damaged)"
        return f"SQLite cannot read it ({exc})"
    finally:
        db.close()
    if rows == ["ok"]:
        return None
    return f"SQLite's check found damage ({rows[0] if rows else 'no answer'})"


def _document_vectors(folder: Path) -> bool:
    store = folder / "chroma" / "chroma.sqlite3"
    with contextlib.suppress(OSError):
        return store.stat().st_size > 0
    return False


def check_and_repair(path: Path) -> HearthError | None:
    """Checks the database file; when it is damaged (or empty while this data folder has
    documents or backups), moves it aside with the date, copies what can be read into a new
    one (the newest backup instead when nothing could), and says so. None: all is well."""
    if not path.exists():
        return None
    size = path.stat().st_size
    if size == 0:
        if not _document_vectors(path.parent) and not list_backups(path):
            return None  # a new, empty file: nothing was lost
        problem = "it is empty (0 bytes) although this data folder holds documents or backups"
    else:
        found = quick_check(path)
        if found is None:
            return None
        problem = found
    log.info("hearth.db is damaged: %s", problem)
    aside = move_aside(path, "damaged")
    rows = 0
    try:
        rows = _recover_into(aside, path)
    except (sqlite3.DatabaseError, OSError, subprocess.SubprocessError) as exc:
        log.error("Recovering %s failed: %s", aside, exc)
        remove_database(path)
    newest = next(iter(list_backups(path)), None)
    if rows == 0 and newest is not None:
        _copy_database(newest.path, path)
        how = f"nothing could be read from it, so the newest backup ({newest.label}) was restored"
    elif rows:
        how = f"{rows:,} rows were recovered from it into a new database"
    else:
        how = "nothing could be read from it and there is no backup, so Hearth starts with a new database"
    hint = ""
    if rows == 0 and newest is None and _document_vectors(path.parent):
        hint = "Your document collections are no longer listed: add their files to a collection again."
    if list_backups(path):
        hint = (hint + " Settings › Data folder can restore an earlier backup.").strip()
    return HearthError(
        f"Hearth's database was damaged ({problem}). It was moved aside as “{aside.name}”; {how}.", hint
    )


def move_aside(path: Path, why: str) -> Path:
    """Renames the database (and its journal files) to ``hearth.db.<why>-<date>``."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        journal = path.with_name(path.name + suffix)
        if journal.exists():
            os.replace(journal, aside.with_name(aside.name + suffix))
    return aside


def _recover_into(damaged: Path, path: Path) -> int:
    """A new database at ``path`` with Hearth's schema, holding every row that could be read
    from ``damaged``. Returns how many rows were copied."""
    salvage = path.with_name(f".{path.name}.recovering")
    remove_database(salvage)
    try:
        if not _recover_with_tool(damaged, salvage):
            _recover_rows(damaged, salvage)
        remove_database(path)
        create_private(path)
        fresh = open_db(path)
        try:
            migrations.migrate(fresh)
            return _copy_rows(fresh, salvage)
        finally:
            fresh.close()
    finally:
        remove_database(salvage)


def _recover_with_tool(damaged: Path, salvage: Path) -> bool:
    """SQLite's own recovery (the ``sqlite3`` tool's ``.recover``), when it is installed."""
    tool = shutil.which("sqlite3")
    if tool is None:
        return False
    done = subprocess.run(
        [tool, str(damaged), ".recover"], capture_output=True, timeout=600, check=False
    )
    sql = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 or "CREATE" not in sql:
        return False
    out = sqlite3.connect(salvage)
    try:
        out.executescript(sql)
    except sqlite3.DatabaseError as exc:
        log.warning("sqlite3 .recover's output did not load: %s", exc)
        return False
    finally:
        out.close()
    return True


def _recover_rows(damaged: Path, salvage: Path) -> None:
    """Copies table by table the rows that read, stepping over pages that do not."""
    src = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    out = sqlite3.connect(salvage)
    try:
        try:
            src.execute("PRAGMA writable_schema=ON")  # read past a header that promises more pages than are left
            tables = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.DatabaseError:
            return
        for name, sql in tables:
            if not sql or name.startswith("sqlite_"):
                continue
            with contextlib.suppress(sqlite3.DatabaseError):
                out.execute(sql)
            columns = _columns(src, name)
            try:
                for row in src.execute(f'SELECT rowid, * FROM "{name}" ORDER BY rowid'):
                    _salvage_row(out, name, columns, row)
            except sqlite3.DatabaseError:
                _probe_rows(src, out, name, columns)
        out.commit()
    finally:
        src.close()
        out.close()


def _salvage_row(out: sqlite3.Connection, table: str, columns: str, row: tuple[object, ...]) -> None:
    marks = ", ".join("?" * len(row))
    with contextlib.suppress(sqlite3.DatabaseError):
        out.execute(f'INSERT OR IGNORE INTO "{table}" (rowid, {columns}) VALUES ({marks})', row)


def _probe_rows(src: sqlite3.Connection, out: sqlite3.Connection, table: str, columns: str) -> None:
    """A table whose scan breaks: its rows asked for by ranges of rowids, so that each read
    only touches the pages it needs (those that were lost fail alone)."""
    step, misses, start = 64, 0, 1
    while misses < 64:
        try:
            rows = src.execute(
                f'SELECT rowid, * FROM "{table}" WHERE rowid BETWEEN ? AND ?', (start, start + step - 1)
            ).fetchall()
        except sqlite3.DatabaseError:
            rows = []
        for row in rows:
            _salvage_row(out, table, columns, row)
        misses = 0 if rows else misses + 1
        start += step


def _columns(db: sqlite3.Connection, table: str) -> str:
    return ", ".join(f'"{r[1]}"' for r in db.execute(f'PRAGMA table_info("{table}")'))


def _copy_rows(fresh: sqlite3.Connection, salvage: Path) -> int:
    """Rows of every table Hearth knows, from the salvaged file into the migrated one (columns
    they share; a row that breaks a rule is left out)."""
    fresh.execute("ATTACH DATABASE ? AS salvage", (str(salvage),))
    fresh.execute("PRAGMA foreign_keys=OFF")
    copied = 0
    try:
        names = [r[0] for r in fresh.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")]
        theirs = {r[0] for r in fresh.execute("SELECT name FROM salvage.sqlite_master WHERE type = 'table'")}
        for name in names:
            if name not in theirs or name.startswith("sqlite_") or name == "_migrations":
                continue
            ours = [r[1] for r in fresh.execute(f'PRAGMA main.table_info("{name}")')]
            have = {r[1] for r in fresh.execute(f'PRAGMA salvage.table_info("{name}")')}
            columns = ", ".join(f'"{c}"' for c in ours if c in have)
            if not columns:
                continue
            with fresh:
                cursor = fresh.execute(
                    f'INSERT OR IGNORE INTO main."{name}" ({columns}) SELECT {columns} FROM salvage."{name}"'
                )
            copied += max(cursor.rowcount, 0)
    finally:
        fresh.execute("PRAGMA foreign_keys=ON")
        fresh.execute("DETACH DATABASE salvage")
    return copied



# -- backups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    path: Path
    created: float

    @property
    def label(self) -> str:
        return datetime.datetime.fromtimestamp(self.created).strftime("%Y-%m-%d %H:%M")

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def backups_dir(path: Path | None = None) -> Path:
    return (path or paths.db_path()).parent / BACKUP_FOLDER


def list_backups(path: Path | None = None) -> list[Backup]:
    """The kept copies of the database, newest first."""
    folder = backups_dir(path)
    found = []
    for item in folder.glob("hearth-*.db") if folder.is_dir() else []:
        try:
            created = time.mktime(time.strptime(item.stem[len("hearth-") :], "%Y%m%d-%H%M%S"))
        except ValueError:
            continue
        found.append(Backup(item, created))
    return sorted(found, key=lambda b: b.created, reverse=True)


def _copy_database(source: Path, target: Path) -> None:
    """``source`` into ``target`` through SQLite's backup API (consistent while others write)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        create_private(target)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def backup_now(path: Path | None = None) -> Backup:
    """A copy of the database in ``backups/`` now; the oldest beyond KEEP_BACKUPS go."""
    path = path or paths.db_path()
    folder = backups_dir(path)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"hearth-{stamp}.db"
    partial = folder / f".hearth-{stamp}.db.partial"
    try:
        _copy_database(path, partial)
        os.replace(partial, target)
    except (OSError, sqlite3.DatabaseError) as exc:
        remove_database(partial)
        if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or "full" in str(exc).lower():
            raise disk_full_error(folder, "the database's backup was not made") from exc
        raise HearthError(f"The database could not be backed up: {exc}.", "Check the data folder.") from exc
    for old in list_backups(path)[KEEP_BACKUPS:]:
        with contextlib.suppress(OSError):
            old.path.unlink()
    return Backup(target, time.mktime(time.strptime(stamp, "%Y%m%d-%H%M%S")))


def backup_if_due(path: Path | None = None) -> Backup | None:
    """The daily backup: made when the newest is older than a day (or there is none)."""
    path = path or paths.db_path()
    if not path.exists() or path.stat().st_size == 0:
        return None
    newest = next(iter(list_backups(path)), None)
    if newest is not None and time.time() - newest.created < BACKUP_EVERY_S:
        return None
    return backup_now(path)


def restore_backup(backup: Path, path: Path | None = None) -> Path:
    """Puts a backup back as the database. The current one is kept beside it
    (``hearth.db.before-restore-<date>``), which is returned. Restart the app afterwards."""
    path = path or paths.db_path()
    problem = quick_check(backup) if backup.is_file() else "it is missing"
    if problem is not None:
        raise HearthError(f"The backup “{backup.name}” cannot be restored: {problem}.", "Choose another backup.")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.before-restore-{stamp}")
    try:
        with setup_lock(path):
            if path.exists():
                _copy_database(path, kept)
            _copy_database(backup, path)  # the backup API: open connections see the restored pages
            db = open_db(path)
            try:
                migrations.migrate(db)
            finally:
                db.close()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path.parent, "the backup was not restored") from exc
        raise HearthError(f"The backup could not be restored: {exc}.") from exc
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc) from exc
    return kept
