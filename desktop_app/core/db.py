"""Hearth's SQLite database: one file, WAL, and ordered named migrations.

Each migration runs once, in order, and is recorded in ``_migrations`` (the pattern
of Simon Willison's llm). Add new ones at the end; never edit an applied one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from desktop_app.core import paths

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_conversations(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            system_prompt TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            -- provenance of assistant messages: what exactly produced them
            finish TEXT,
            model_name TEXT,
            model_path TEXT,
            model_size INTEGER,
            model_sha256 TEXT,
            quant TEXT,
            llama_cpp_version TEXT,
            settings_json TEXT,
            seed INTEGER,
            timings_json TEXT,
            dropped_messages INTEGER,
            UNIQUE (conversation_id, position)
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
        """
    )


@migration
def m002_model_hashes(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE model_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
        " mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
    )


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Opens (and migrates) the database. One connection per thread."""
    path = path or paths.db_path()
    db = sqlite3.connect(path, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    migrate(db)
    return db


def migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db:
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, strftime('%s','now'))", (name,))
