"""Hearth's SQLite database: one file, WAL, and ordered named migrations.

Each migration runs once, in order, and is recorded in ``_migrations`` (the pattern
of Simon Willison's llm). Add new ones at the end; never edit an applied one.

The file is checked once per process (``PRAGMA quick_check``) before anything uses it. A
damaged one is moved aside with the date, what SQLite can still read is copied into a
new database (the ``sqlite3`` tool's ``.recover`` when it is installed, else the rows that
read), and Hearth starts; the plain-words account waits in :func:`take_notices`. Set-up and
migrations run under a lock on the data folder, so two processes starting at once on a new
folder do not race. A copy is kept every day (SQLite's backup API, ``KEEP_BACKUPS`` of them),
which Settings can restore. The file is created readable by its owner only.
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import locks, paths
from desktop_app.core.errors import DiskFullError, HearthError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Registers a migration. They run in the order of their numbers (mNNN_), wherever they sit in
    this file: work on several features at once adds them out of order."""
    MIGRATIONS.append((fn.__name__, fn))
    MIGRATIONS.sort(key=lambda item: item[0])
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


@migration
def m003_documents(db: sqlite3.Connection) -> None:
    """Document collections, what the user added to them, and the manifest of indexed files
    (the vectors themselves live in Chroma; see core/rag/store.py)."""
    db.executescript(
        """
        CREATE TABLE rag_collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            store_name TEXT NOT NULL UNIQUE,
            embed_model TEXT NOT NULL,
            chunk_tokens INTEGER NOT NULL,
            chunk_overlap INTEGER NOT NULL,
            revision INTEGER NOT NULL DEFAULT 0,
            dirty INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE rag_sources (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            is_folder INTEGER NOT NULL,
            mode TEXT NOT NULL DEFAULT 'include',
            watch INTEGER NOT NULL DEFAULT 0,
            added_at REAL NOT NULL,
            scanned_at REAL,
            UNIQUE (collection_id, path)
        );
        CREATE TABLE rag_files (
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            status TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            pages INTEGER,
            chunks INTEGER NOT NULL DEFAULT 0,
            chunker TEXT NOT NULL DEFAULT '',
            embed_model_id TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            indexed_at REAL NOT NULL,
            PRIMARY KEY (collection_id, path)
        );
        CREATE TABLE rag_embed_rates (
            model_id TEXT PRIMARY KEY,
            chunks_per_s REAL NOT NULL,
            measured_at REAL NOT NULL
        );
        """
    )


@migration
def m004_quantlab_runs(db: sqlite3.Connection) -> None:
    """Quantisation-lab comparisons: one row per run (its full settings), one per variant measured."""
    db.executescript(
        """
        CREATE TABLE quantlab_runs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            title TEXT NOT NULL,
            duration_s REAL NOT NULL,
            settings_json TEXT NOT NULL,
            text_source TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            n_text_tokens INTEGER NOT NULL,
            kl_method TEXT NOT NULL,
            machine_json TEXT NOT NULL
        );
        CREATE TABLE quantlab_results (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES quantlab_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            model_path TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            quant TEXT NOT NULL,
            bits_per_weight REAL NOT NULL,
            size_bytes INTEGER NOT NULL,
            is_reference INTEGER NOT NULL,
            load_s REAL,
            peak_rss_bytes INTEGER,
            baseline_rss_bytes INTEGER,
            vram_bytes INTEGER,
            prompt_tok_s REAL,
            gen_tok_s REAL,
            perplexity REAL,
            kl_divergence REAL,
            kl_p99 REAL,
            top1_agreement REAL,
            n_scored INTEGER,
            answer TEXT,
            rating INTEGER,
            error TEXT,
            extra_json TEXT,
            UNIQUE (run_id, position)
        );
        CREATE INDEX quantlab_results_by_run ON quantlab_results(run_id, position);
        """
    )


@migration
def m005_fit_calibration(db: sqlite3.Connection) -> None:
    """The memory plan's estimate next to what a real load used (core/calibration.py)."""
    db.executescript(
        """
        CREATE TABLE fit_calibration (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            model_path TEXT NOT NULL,
            model_name TEXT NOT NULL,
            architecture TEXT NOT NULL,
            quant TEXT NOT NULL,
            n_ctx INTEGER NOT NULL,
            kv_type TEXT NOT NULL,
            gpu_layers INTEGER NOT NULL,
            backend TEXT NOT NULL,
            llama_cpp_version TEXT NOT NULL,
            estimated_ram INTEGER NOT NULL,
            measured_ram INTEGER NOT NULL,
            estimated_vram INTEGER NOT NULL,
            measured_vram INTEGER,
            estimate_json TEXT NOT NULL
        );
        CREATE INDEX fit_calibration_by_model ON fit_calibration(model_path, created_at);
        """
    )


@migration
def m006_conversation_documents(db: sqlite3.Connection) -> None:
    """Answers from documents in the chat: which collections a conversation is attached to
    (by id, so a renamed collection stays attached and a deleted one drops out), its
    "documents only" switch (NULL: the documents settings' default), and each answer's
    citations, budget and retrieval inspector (``rag_json``; see core/rag/answer.py)."""
    db.executescript(
        """
        CREATE TABLE conversation_collections (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (conversation_id, collection_id)
        );
        ALTER TABLE conversations ADD COLUMN documents_only INTEGER;
        ALTER TABLE messages ADD COLUMN rag_json TEXT;
        """
    )


@migration
def m007_runs(db: sqlite3.Connection) -> None:
    """Dataset runs (core/runs/): one row per run with its manifest, one per dataset row done,
    committed as each finishes (a killed run resumes from what is here)."""
    db.executescript(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            n INTEGER NOT NULL,
            kind TEXT NOT NULL,
            dataset_path TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT,
            replay_of INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            task_json TEXT NOT NULL,
            manifest_json TEXT NOT NULL
        );
        CREATE TABLE run_rows (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            row_key TEXT NOT NULL,
            inputs_json TEXT NOT NULL,
            prompt TEXT NOT NULL,
            output TEXT NOT NULL,
            reference TEXT,
            valid INTEGER NOT NULL,
            correct INTEGER,
            score REAL,
            error TEXT NOT NULL DEFAULT '',
            finish TEXT NOT NULL,
            seed INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            gen_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            cited INTEGER,
            flagged INTEGER,
            source_hit INTEGER,
            detail_json TEXT,
            finished_at REAL NOT NULL,
            PRIMARY KEY (run_id, idx)
        );
        CREATE INDEX run_rows_by_correct ON run_rows(run_id, correct);
        """
    )


@migration
def m008_document_embedding_backend(db: sqlite3.Connection) -> None:
    """The backend a collection's vectors are made with (core/rag/embed_backends.py); every
    collection from before was made with PyTorch."""
    db.execute("ALTER TABLE rag_collections ADD COLUMN embed_backend TEXT NOT NULL DEFAULT 'torch'")


@migration
def m009_document_servers(db: sqlite3.Connection) -> None:
    """Collections on a Chroma server (core/rag/remote_store.py): its address ('' for the local
    store), and a digest of the server's file manifest as last mirrored into rag_files."""
    db.execute("ALTER TABLE rag_collections ADD COLUMN server_url TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE rag_collections ADD COLUMN remote_digest TEXT NOT NULL DEFAULT ''")


@migration
def m010_reply_versions(db: sqlite3.Connection) -> None:
    """Earlier replies at a place in a conversation, kept when the user regenerates (1/2, 2/2)."""
    db.executescript(
        """
        CREATE TABLE reply_versions (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            created_at REAL NOT NULL,
            message_json TEXT NOT NULL  -- every column of the messages row it was
        );
        CREATE INDEX reply_versions_by_place ON reply_versions(conversation_id, position);
        """
    )


@migration
def m012_sweeps(db: sqlite3.Connection) -> None:
    """Sweeps (core/runs/sweep.py): several prompts × models on one dataset, each cell an ordinary
    run; the cells are listed when the sweep is made, their run linked once it exists."""
    db.executescript(
        """
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            dataset_path TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL,
            spec_json TEXT NOT NULL,
            split_json TEXT NOT NULL
        );
        CREATE TABLE sweep_cells (
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            phase TEXT NOT NULL,  -- dev | test | all (no split)
            model INTEGER NOT NULL,
            system INTEGER NOT NULL,
            prompt INTEGER NOT NULL,
            shots INTEGER NOT NULL,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            PRIMARY KEY (sweep_id, position)
        );
        """
    )



@migration
def m015_run_notes(db: sqlite3.Connection) -> None:
    """A note the user keeps with a dataset run (the Runs page: Rename / note…)."""
    db.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''")

# -- opening, checking, repairing --------------------------------------------------------------

log = logging.getLogger(__name__)

KEEP_BACKUPS = 5
BACKUP_EVERY_S = 24 * 3600
BACKUP_FOLDER = "backups"
SETUP_WAIT_S = 120.0
_CHECKED: set[str] = set()
_CHECKED_LOCK = threading.Lock()
_NOTICES: list[HearthError] = []


@migration
def m011_human_coding(db: sqlite3.Connection) -> None:
    """Human coding of a run's rows (core/runs/coding.py): coders by name, one code per (run,
    row, coder) with a note, saved on every keystroke; the adjudicated code of a disputed row
    (the originals stay); the run's codebook."""
    db.executescript(
        """
        CREATE TABLE coders (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        CREATE TABLE codes (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            coder_id INTEGER NOT NULL REFERENCES coders(id) ON DELETE CASCADE,
            code TEXT,  -- NULL: no code (yet), or skipped
            skipped INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'screen',  -- 'screen', or the file it was imported from
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, coder_id, idx)
        );
        CREATE INDEX codes_by_row ON codes(run_id, idx);
        CREATE TABLE adjudications (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            code TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            decided_by TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, idx)
        );
        CREATE TABLE codebooks (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            codebook_json TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        """
    )

@migration
def m013_judges(db: sqlite3.Connection) -> None:
    """A second model as judge (core/runs/judge.py): which runs a judge run judged, with the rubric
    and which judged row each of its rows is; and blind A/B comparisons by a person
    (core/runs/blind.py), each choice saved as it is made, in the runs' terms (unblinded on demand)."""
    db.executescript(
        """
        CREATE TABLE judge_runs (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            mode TEXT NOT NULL,  -- 'rubric' | 'pairwise'
            judged_a INTEGER NOT NULL,
            judged_b INTEGER,
            rubric_json TEXT NOT NULL,
            rubric_sha256 TEXT NOT NULL,
            rows_json TEXT NOT NULL,  -- the judged row index behind each judge row
            created_at REAL NOT NULL
        );
        CREATE INDEX judge_runs_by_judged ON judge_runs(judged_a, judged_b);
        CREATE TABLE blind_sessions (
            id INTEGER PRIMARY KEY,
            run_a INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            run_b INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            coder TEXT NOT NULL,
            seed INTEGER NOT NULL,
            revealed INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE blind_choices (
            session_id INTEGER NOT NULL REFERENCES blind_sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,  -- the dataset row
            a_left INTEGER NOT NULL,  -- run A's answer was shown on the left
            choice TEXT NOT NULL,  -- 'a' | 'b' | 'tie', in the runs' terms
            note TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            PRIMARY KEY (session_id, idx)
        );
        """
    )


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Opens (and migrates) the database. One connection per thread. The first time in a
    process the file is checked (and repaired when damaged: see :func:`check_and_repair`)."""
    path = path or paths.db_path()
    key = str(path.resolve())
    if key not in _CHECKED:
        _prepare(path, key)
    db = _open(path)
    try:
        if _pending(db):
            db.close()
            with _setup_lock(path):
                db = _open(path)
                migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_error(path, exc) from exc
    return db


class _Connection(sqlite3.Connection):
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


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, factory=_Connection)
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


def _pending(db: sqlite3.Connection) -> bool:
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:  # no such table: a new database
        return True
    return any(name not in done for name, _ in MIGRATIONS)


def _setup_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    return locks.hold(
        path.with_name(path.name + ".lock"),
        f"Hearth's database in “{path.parent}”",
        wait_s=SETUP_WAIT_S,
        on_wait=lambda text: log.warning("%s", text),
        hint="Another Hearth program is setting it up or repairing it; try again when it has finished.",
    )


def _prepare(path: Path, key: str) -> None:
    with _CHECKED_LOCK:
        if key in _CHECKED:
            return
        with _setup_lock(path):
            _create_private(path)
            notice = check_and_repair(path)
            if notice is not None:
                _NOTICES.append(notice)
            db = _open(path)
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


def _create_private(path: Path) -> None:
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


def _problem(path: Path) -> str | None:
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
        found = _problem(path)
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
        _remove_database(path)
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


def _remove_database(path: Path) -> None:
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def _recover_into(damaged: Path, path: Path) -> int:
    """A new database at ``path`` with Hearth's schema, holding every row that could be read
    from ``damaged``. Returns how many rows were copied."""
    salvage = path.with_name(f".{path.name}.recovering")
    _remove_database(salvage)
    try:
        if not _recover_with_tool(damaged, salvage):
            _recover_rows(damaged, salvage)
        _remove_database(path)
        _create_private(path)
        fresh = _open(path)
        try:
            migrate(fresh)
            return _copy_rows(fresh, salvage)
        finally:
            fresh.close()
    finally:
        _remove_database(salvage)


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
        _create_private(target)
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
        _remove_database(partial)
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
    problem = _problem(backup) if backup.is_file() else "it is missing"
    if problem is not None:
        raise HearthError(f"The backup “{backup.name}” cannot be restored: {problem}.", "Choose another backup.")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.before-restore-{stamp}")
    try:
        with _setup_lock(path):
            if path.exists():
                _copy_database(path, kept)
            _copy_database(backup, path)  # the backup API: open connections see the restored pages
            db = _open(path)
            try:
                migrate(db)
            finally:
                db.close()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path.parent, "the backup was not restored") from exc
        raise HearthError(f"The backup could not be restored: {exc}.") from exc
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc) from exc
    return kept


def migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db:
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, strftime('%s','now'))", (name,))
