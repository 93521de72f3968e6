"""Document collections under real faults: Chroma's files emptied or truncated, a run killed
mid-way, two programs indexing one collection, a full disk (a real tmpfs) during indexing.
Afterwards every collection is listed with its state, the damaged one is named with the fix,
the fix (rebuild, sync) completes, and no command prints a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.rag import ingest, retrieve
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from tests.tmpfs import small_tmpfs

REPO = Path(__file__).resolve().parents[3]
TEXTS = {
    "centrifuge.md": "The centrifuge must run at 4,500 rpm for twelve minutes to separate the plasma.",
    "freezer.md": "Samples are stored in the freezer at minus eighty degrees, in racks of one hundred.",
    "grant.md": "The Wexler Foundation grant pays 38,000 euros for reagents and consumables.",
}


def hearth(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, cwd=REPO,
        timeout=timeout, check=False,
    )  # fmt: skip


def start(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=REPO,
    )  # fmt: skip


def write_texts(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, text) in enumerate(TEXTS.items()):
        if i < n:
            (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def segment_folders(chroma: Path) -> list[Path]:
    return [p for p in chroma.iterdir() if p.is_dir() and (p / "header.bin").exists()]


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr


def test_damaged_index_files_are_found_named_and_rebuilt(tmp_path: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.create_collection(store, "lab", RagSettings())
    ingest.add_paths(store, "lab", [write_texts(tmp_path / "docs")])
    info = store.collection("lab")
    assert store.health(info).state == "ok"
    (folder,) = segment_folders(store.chroma_path)
    (folder / "header.bin").write_bytes(b"")  # what a full disk left behind

    fresh = DocumentStore()  # as the next program opens it
    health = fresh.health(info)
    assert health.state == "damaged" and "header.bin" in health.reason
    with pytest.raises(HearthError, match=r"“lab” is damaged.*rebuild"):
        ingest.index_collection(fresh, "lab")  # never a false "3 unchanged"
    with pytest.raises(HearthError, match="“lab” is damaged"):
        retrieve.search(fresh, ["lab"], "centrifuge speed")

    report = ingest.rebuild_collection(fresh, "lab")
    assert sorted(Path(p).name for p in report.indexed) == sorted(TEXTS)
    rebuilt = fresh.collection("lab")
    assert (rebuilt.embed_model, rebuilt.chunk_tokens) == (info.embed_model, info.chunk_tokens)  # settings kept
    assert fresh.health(rebuilt).state == "ok"
    assert not folder.exists()  # the damaged index is gone from the disk
    hits = retrieve.search(fresh, ["lab"], "How fast must the centrifuge spin?", k=1).hits
    assert Path(hits[0].source).name == "centrifuge.md"

    # Chroma's pickle of the index, emptied, is found too.
    (new_folder,) = segment_folders(fresh.chroma_path)
    (new_folder / "index_metadata.pickle").write_bytes(b"")
    assert DocumentStore().health(rebuilt).state == "damaged"

    # Dropping takes the collection's folder with it.
    fresh.delete_collection("lab")
    assert segment_folders(fresh.chroma_path) == []


def test_a_damaged_store_from_the_cli_and_a_broken_pipe(tmp_path: Path, hearth_home: Path) -> None:
    docs = write_texts(tmp_path / "docs", 2)
    assert hearth("docs", "add", "Lab", str(docs), home=hearth_home).returncode == 0
    catalogue = hearth_home / "chroma" / "chroma.sqlite3"
    with open(catalogue, "r+b") as f:
        f.truncate(catalogue.stat().st_size // 3)

    listed = hearth("docs", "list", home=hearth_home)
    no_traceback(listed)
    assert listed.returncode == 0 and "DAMAGED" in listed.stdout and "rebuild" in listed.stderr
    as_json = json.loads(hearth("docs", "list", "--json", home=hearth_home).stdout)
    assert as_json[0]["health"]["state"] == "damaged"
    synced = hearth("docs", "sync", "Lab", home=hearth_home)
    no_traceback(synced)
    assert synced.returncode == 2 and "“Lab”" in synced.stderr and "rebuild" in synced.stderr
    assert "unchanged" not in synced.stdout
    searched = hearth("docs", "search", "Lab", "centrifuge", home=hearth_home)
    no_traceback(searched)
    assert searched.returncode == 2

    rebuilt = hearth("docs", "rebuild", "Lab", home=hearth_home)
    no_traceback(rebuilt)
    assert rebuilt.returncode == 0 and "2 files indexed" in rebuilt.stdout
    assert list(hearth_home.glob("chroma.damaged-*"))  # the damaged store is kept aside, not deleted
    found = hearth("docs", "search", "Lab", "centrifuge rpm", "--k", "1", home=hearth_home)
    assert found.returncode == 0 and "centrifuge.md" in found.stdout

    env = {**os.environ, "HEARTH_HOME": str(hearth_home)}
    piped = subprocess.run(
        f"{sys.executable} -m desktop_app docs list --json | head -c 1", shell=True, capture_output=True, text=True,
        env=env, cwd=REPO, check=False,
    )  # fmt: skip
    assert piped.stdout == "[" and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_a_killed_run_is_flagged_interrupted_and_sync_finishes_it(tmp_path: Path, hearth_home: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    # Many one-chunk files: the indexer embeds up to 256 chunks at a time and stores the files of
    # each such window in several writes, so the kill lands between two of them.
    files = 400
    for i in range(files):
        (docs / f"note{i:03}.md").write_text(f"Note {i}: the plasma is kept cold.", encoding="utf-8")
    run = start("docs", "add", "Notes", str(docs), home=hearth_home)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and indexed_files(hearth_home) < 1:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)  # a crash mid-run
    finally:
        run.wait()
    assert indexed_files(hearth_home) < files
    listed = hearth("docs", "list", home=hearth_home)
    assert "interrupted" in listed.stdout and "hearth docs sync" in listed.stderr
    synced = hearth("docs", "sync", "Notes", home=hearth_home)
    assert synced.returncode == 0, synced.stderr
    assert "interrupted" not in hearth("docs", "list", home=hearth_home).stdout
    assert indexed_files(hearth_home) == files


def indexed_files(home: Path) -> int:
    with contextlib.suppress(sqlite3.Error):
        connection = sqlite3.connect(home / "hearth.db", timeout=5)
        try:
            return int(connection.execute("SELECT COUNT(*) FROM rag_files WHERE status = 'indexed'").fetchone()[0])
        finally:
            connection.close()
    return 0


def test_two_programs_indexing_one_collection(tmp_path: Path, hearth_home: Path) -> None:
    docs = write_texts(tmp_path / "docs")
    assert hearth("docs", "list", home=hearth_home).returncode == 0  # the database set up first
    first = start("docs", "add", "Lab", str(docs), home=hearth_home)
    try:
        lock = hearth_home / "locks" / "collection-1.lock"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (lock.exists() and lock.stat().st_size > 1):
            time.sleep(0.05)
        second = start("docs", "add", "Lab", str(docs), home=hearth_home)
        dropped = hearth("docs", "drop", "Lab", home=hearth_home)  # while the first one writes
        out1, err1 = first.communicate(timeout=300)
        out2, err2 = second.communicate(timeout=300)
    finally:
        first.kill()
    assert dropped.returncode == 2 and "in use by hearth docs add" in dropped.stderr, dropped.stderr
    assert f"process {first.pid}" in dropped.stderr
    no_traceback(dropped)
    assert first.returncode == 0 and "3 files indexed" in out1, err1
    assert second.returncode == 0, err2
    assert "Waiting for" in err2 and "0 files indexed" in out2 and "3 unchanged" in out2  # embedded once


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB tmpfs (skipped where mounting is not allowed)."""
    with small_tmpfs(tmp_path, "16m") as mount:
        yield mount


def test_a_full_disk_stops_indexing_cleanly_and_sync_continues(tmp_path: Path, small_disk: Path) -> None:
    home = small_disk / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(16):
        (docs / f"note{i:02}.md").write_text(f"Note {i}: " + "the plasma is kept cold. " * 60, encoding="utf-8")
    first = hearth("docs", "add", "Notes", str(docs / "note00.md"), home=home)  # the store exists
    assert first.returncode == 0, first.stderr
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as f:  # leaves a little more than the reserve Hearth keeps free (1 MiB here) by 200 kB
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 2**20 - 200_000))
    stopped = hearth("docs", "add", "Notes", str(docs), home=home)
    no_traceback(stopped)
    assert stopped.returncode == 2 and "nearly full" in stopped.stderr
    assert "hearth docs sync “Notes”" in stopped.stderr
    listed = hearth("docs", "list", "--json", home=home)
    (collection,) = json.loads(listed.stdout)
    assert collection["health"]["state"] == "interrupted"  # stopped in time: not damaged
    kept = collection["files"]
    assert 1 < kept < 16

    ballast.unlink()
    synced = hearth("docs", "sync", "Notes", home=home)
    assert synced.returncode == 0, synced.stderr
    assert f"{16 - kept} files indexed" in synced.stdout and f"{kept} unchanged" in synced.stdout
    (collection,) = json.loads(hearth("docs", "list", "--json", home=home).stdout)
    assert collection["files"] == 16 and collection["health"]["state"] == "ok"
