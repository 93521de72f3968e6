"""A full disk (a real tmpfs, filled by a ballast file) under every write path: conversations,
settings and a dataset run from the CLI. Each says so in plain words, keeps what was written,
and a run says how to continue — which then works once there is room again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core import settings as settings_store
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import DiskFullError
from tests.core.runs.runs_data import LABEL_PROMPT, LABEL_SYSTEM, review_rows, write_csv
from tests.tmpfs import small_tmpfs

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs (skipped where mounting is not allowed)."""
    with small_tmpfs(tmp_path, "8m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Writes a ballast file until the disk is full."""
    ballast = disk / "ballast"
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return ballast


def test_conversations_and_settings_on_a_full_disk(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_HOME", str(disk / "home"))
    store = ConversationStore()
    conversation = store.create("Before")
    store.add_message(conversation.id, "user", "kept")
    settings_store.save(settings_store.Settings(system_prompt="kept"))
    ballast = fill(disk)
    def write_until_full() -> None:
        for i in range(200):  # the WAL grows until the disk says no
            store.add_message(conversation.id, "user", f"more {i} " + "x" * 4000)

    with pytest.raises(DiskFullError, match="full"):
        write_until_full()
    with pytest.raises(DiskFullError, match=r"settings\.json"):
        settings_store.save(settings_store.Settings(system_prompt="y" * 100_000))
    store.close()
    ballast.unlink()
    again = ConversationStore()
    assert again.messages(conversation.id)[0].content == "kept"  # nothing written before is lost
    again.close()
    assert settings_store.load().system_prompt == "kept"


def test_a_run_on_a_full_disk_stops_in_plain_words_and_resumes(disk: Path, smollm2_path: Path) -> None:
    home = disk / "home"
    env = {**os.environ, "HEARTH_HOME": str(home)}
    rows = review_rows()
    data = write_csv(disk.parent / "reviews.csv", rows)
    command = [
        sys.executable, "-m", "desktop_app", "run", str(data), "--model", str(smollm2_path), "--prompt", LABEL_PROMPT,
        "--system", LABEL_SYSTEM, "--labels", "positive,negative", "--reference", "label", "--max-tokens", "2",
    ]  # fmt: skip
    run = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ballast: Path | None = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run.poll() is None and len(stored(home)) < 2:
            time.sleep(0.02)
        ballast = fill(disk)  # another program fills the disk mid-run
        _out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 2, err
    assert "Traceback" not in err and "disk" in err and "full" in err
    assert "hearth runs resume 1" in err
    kept = stored(home)
    assert 2 <= len(kept) < len(rows)

    assert ballast is not None
    ballast.unlink()
    resumed = subprocess.run(
        [sys.executable, "-m", "desktop_app", "runs", "resume", "1"], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert stored(home) == list(range(len(rows)))  # none lost, none twice


def stored(home: Path) -> list[int]:
    try:
        db = sqlite3.connect(f"file:{home / 'hearth.db'}?mode=ro", uri=True, timeout=5)
        try:
            return [r[0] for r in db.execute("SELECT idx FROM run_rows ORDER BY idx")]
        finally:
            db.close()
    except sqlite3.Error:
        return []
