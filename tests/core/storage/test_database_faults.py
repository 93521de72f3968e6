"""hearth.db under real faults: truncated, a damaged header, zero bytes; backups and restore;
the data folder's permissions; two processes setting up one new folder at once; the lock's
message naming its holder. Every fault is done to the real file, and the CLI runs in a real
process (no traceback may reach the user)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop_app.core import db, locks, paths
from desktop_app.core.conversations.store import ConversationStore

REPO = Path(__file__).resolve().parents[3]


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


def fill(n: int = 300) -> None:
    store = ConversationStore()
    for i in range(n):
        conversation = store.create(f"Conversation {i}")
        store.add_message(conversation.id, "user", f"question {i} " + "x" * 200)
    store.close()


def count_conversations(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM conversations").fetchone()[0])
    finally:
        connection.close()


def checkpoint(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def test_a_truncated_database_is_moved_aside_recovered_and_hearth_starts(hearth_home: Path) -> None:
    fill()
    path = paths.db_path()
    checkpoint(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size * 2 // 3)
    done = hearth("conversations", "--json", home=hearth_home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "damaged" in done.stderr and "moved aside" in done.stderr
    aside = [p for p in hearth_home.glob("hearth.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].stat().st_size == size * 2 // 3
    assert count_conversations(path) <= 300  # what still read is back; the cut-off pages are gone
    store = ConversationStore()
    assert store.create("After the repair").id > 0  # a working database
    store.close()
    # Checked again at the next start: sound now, nothing more is said.
    again = hearth("conversations", home=hearth_home)
    assert again.returncode == 0 and "damaged" not in again.stderr


def test_an_overwritten_page_keeps_the_rows_that_read(hearth_home: Path) -> None:
    fill()
    path = paths.db_path()
    checkpoint(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size - 4096)
        f.write(os.urandom(4096))  # the last page: one table's leaf
    done = hearth("conversations", "--json", home=hearth_home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "rows were recovered" in done.stderr


def test_a_damaged_header_with_a_backup(hearth_home: Path) -> None:
    fill(20)
    path = paths.db_path()
    kept = db.backup_now(path)
    checkpoint(path)
    with open(path, "r+b") as f:
        f.write(b"this is no database header!" * 4)
    done = hearth("conversations", "--json", home=hearth_home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "damaged" in done.stderr
    assert count_conversations(path) == 20  # recovered from the pages, or the backup restored
    assert kept.path.exists()


def test_zero_bytes_while_documents_exist_restores_the_newest_backup(hearth_home: Path) -> None:
    fill(5)
    path = paths.db_path()
    db.backup_now(path)
    (paths.chroma_dir() / "chroma.sqlite3").write_bytes(b"x" * 4096)  # "the document store has vectors"
    checkpoint(path)
    path.write_bytes(b"")
    problem = db.check_and_repair(path)
    assert problem is not None
    assert "empty" in problem.message and "backup" in problem.message
    assert count_conversations(path) == 5
    # A new data folder's empty file is not damage.
    fresh = hearth_home / "elsewhere"
    fresh.mkdir()
    (fresh / "hearth.db").write_bytes(b"")
    assert db.check_and_repair(fresh / "hearth.db") is None


def test_backups_rotate_and_restore(hearth_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(3)
    path = paths.db_path()
    first = db.backup_if_due(path)
    assert first is not None and db.backup_if_due(path) is None  # one a day
    store = ConversationStore()
    store.create("Made after the backup")
    store.close()
    kept = db.restore_backup(first.path, path)
    assert kept.exists() and count_conversations(kept) == 4
    assert count_conversations(path) == 3
    for n in range(db.KEEP_BACKUPS + 2):  # made a second apart: names are by the second
        monkeypatch.setattr(time, "strftime", lambda fmt, n=n: f"2026011{n % 10}-00000{n % 10}")
        db.backup_now(path)
    monkeypatch.undo()
    assert len(db.list_backups(path)) == db.KEEP_BACKUPS
    broken = db.backups_dir(path) / "hearth-20250101-000000.db"
    broken.write_bytes(b"junk" * 100)
    with pytest.raises(db.HearthError, match="cannot be restored"):
        db.restore_backup(broken, path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_data_folder_and_its_files_are_private(hearth_home: Path) -> None:
    os.umask(0o022)
    fill(1)
    from desktop_app.core import settings

    settings.save(settings.Settings())
    assert stat.S_IMODE(hearth_home.stat().st_mode) == 0o700
    for name in ("hearth.db", "hearth.db-wal", "settings.json"):
        file = hearth_home / name
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, name


def test_two_processes_setting_up_a_new_folder_at_once(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    script = "from desktop_app.core import db; db.connect().close(); print(' '.join(n for n, _ in db.MIGRATIONS))"
    env = {**os.environ, "HEARTH_HOME": str(home)}
    command = [sys.executable, "-c", script]
    procs = [
        subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
    connection = sqlite3.connect(home / "hearth.db")
    applied = [r[0] for r in connection.execute("SELECT name FROM _migrations")]
    connection.close()
    assert sorted(applied) == sorted(results[0][0].split())  # each once


def test_a_held_lock_names_the_program_holding_it(tmp_path: Path) -> None:
    lock = tmp_path / "thing.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from desktop_app.core import locks
            with locks.hold(Path({str(lock)!r}), "the thing"):
                print("held", flush=True)
                time.sleep(60)
        """), "holder-marker"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.LockHeldError) as refused, locks.hold(lock, "The thing"):
            pass
        assert f"process {holder.pid}" in refused.value.message
        assert "The thing is in use by" in refused.value.message
        told: list[str] = []
        with pytest.raises(locks.LockHeldError), locks.hold(lock, "The thing", wait_s=0.5, on_wait=told.append):
            pass
        assert told and "Waiting for" in told[0]
    finally:
        holder.kill()
        holder.wait()
    with locks.hold(lock, "The thing"):  # the OS let go when the holder died: no stale lock
        pass


def test_a_reader_that_went_away_is_a_quiet_end(hearth_home: Path) -> None:
    fill(3)
    env = {**os.environ, "HEARTH_HOME": str(hearth_home)}
    command = [sys.executable, "-m", "desktop_app", "conversations", "--json"]
    done = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert done.stdout is not None and done.stderr is not None
    done.stdout.close()  # `| head` that has already read enough
    assert done.wait(timeout=120) == 0
    err = done.stderr.read().decode()
    done.stderr.close()
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
