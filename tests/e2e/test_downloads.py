"""Downloading from the loopback Hub stand-in (tests/hubstub.py; the real Hub is not reachable
here): resumable, verified, safe. The files are the real SmolLM2 GGUF."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from hubstub import (
    GATED_REPO,
    HOSTILE_FILE,
    HOSTILE_REPO,
    SMOL_FILE,
    SMOL_REPO,
    SPLIT_REPO,
    SPLIT_STEM,
    VALID_TOKEN,
    HubStub,
    closed_port,
    file_hashes,
    point_hub_at,
    subprocess_env,
)

from desktop_app.core import paths
from desktop_app.core.cancel import Progress
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub import transfer
from desktop_app.core.hub.client import HubFile
from desktop_app.core.hub.downloads import DownloadQueue
from desktop_app.core.models import files as model_files
from desktop_app.core.models import library


def cdn_gets(stub: HubStub) -> list:
    return [s for s in stub.requests("GET", SMOL_FILE) if s.path.startswith("/repos/")]


def queue_smol(queue: DownloadQueue, to_hf_cache: bool = False) -> str:
    page = hub_client.open_repo(SMOL_REPO)
    (item,) = queue.add_model(page, page.find(SMOL_FILE), to_hf_cache=to_hf_cache)
    return item.id


def test_full_download_is_verified_and_records_its_revision(hub_stub: HubStub, smollm2_path: Path) -> None:
    queue = DownloadQueue()
    item_id = queue_smol(queue)
    seen: list[Progress] = []
    path = queue.run(item_id, progress=seen.append)

    assert path == paths.models_dir() / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / SMOL_FILE
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    assert not path.with_name(path.name + ".part").exists()
    sidecar = model_files.read_sidecar(path)
    assert sidecar is not None
    assert sidecar["revision"] == hub_stub.repos[SMOL_REPO].sha
    assert sidecar["verified"] == sidecar["sha256"] == file_hashes(smollm2_path)[0]
    assert seen[-1].done == seen[-1].total == smollm2_path.stat().st_size

    item = queue.get(item_id)
    assert item.state == "done" and item.path == str(path)
    persisted = json.loads((paths.home() / "downloads.json").read_text())
    assert persisted["items"][0]["state"] == "done"

    (model,) = [m for m in library.list_models(other_apps=False) if m.path == path]
    assert model.source == "downloaded" and model.repo_id == SMOL_REPO and model.deletable
    # Downloaded once: queueing it again finds it done.
    again = queue.add_model(hub_client.open_repo(SMOL_REPO), hub_client.open_repo(SMOL_REPO).models[0])
    assert again[0].state == "done" and len(cdn_gets(hub_stub)) == 1


def test_a_dropped_connection_resumes_with_a_range_request(hub_stub: HubStub, smollm2_path: Path) -> None:
    size = smollm2_path.stat().st_size
    cut = 30 * 1024 * 1024
    hub_stub.knobs.drop_after[SMOL_FILE] = cut
    queue = DownloadQueue(retry_delays=())  # no automatic retry: the failure is what we look at first
    item_id = queue_smol(queue)
    with pytest.raises(HearthError, match="interrupted"):
        queue.run(item_id)
    item = queue.get(item_id)
    partial = queue.partial_path(item)
    assert item.state == "failed" and "Resume" in item.hint
    kept = partial.stat().st_size
    assert 0 < kept <= cut

    queue.resume(item_id)
    path = queue.run(item_id)
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    first, second = cdn_gets(hub_stub)
    assert first.range == "" and first.sent == cut
    assert second.status == 206 and second.range == f"bytes={kept}-"
    assert second.sent == size - kept  # only the missing bytes were sent again
    assert hub_stub.bytes_sent(SMOL_FILE) < size + cut


def test_a_dropped_connection_is_retried_by_itself(hub_stub: HubStub, smollm2_path: Path) -> None:
    hub_stub.knobs.drop_after[SMOL_FILE] = 10 * 1024 * 1024
    queue = DownloadQueue(retry_delays=(0.01,))
    path = queue.run(queue_smol(queue))
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    assert [s.status for s in cdn_gets(hub_stub)] == [200, 206]


def test_pause_then_restart_the_app_then_resume(hub_stub: HubStub, smollm2_path: Path) -> None:
    size = smollm2_path.stat().st_size
    queue = DownloadQueue()
    item_id = queue_smol(queue)

    def pause_past_20_mb(progress: Progress) -> None:
        if progress.done > 20 * 1024 * 1024:
            queue.pause(item_id)  # what the Pause button does, from the GUI thread

    with pytest.raises(Cancelled):
        queue.run(item_id, progress=pause_past_20_mb)
    paused = queue.get(item_id)
    assert paused.state == "paused"
    partial = queue.partial_path(paused)
    kept = partial.stat().st_size
    assert kept == paused.downloaded > 20 * 1024 * 1024

    restarted = DownloadQueue()  # a new process reads the queue back from disk
    item = restarted.get(item_id)
    assert item.state == "paused" and item.downloaded == kept and item.revision == paused.revision
    restarted.resume(item_id)
    path = restarted.run(item_id)
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    second = cdn_gets(hub_stub)[-1]
    assert second.range == f"bytes={kept}-" and second.sent == size - kept


def test_an_app_crash_mid_download_resumes_at_next_start(hub_stub: HubStub, smollm2_path: Path) -> None:
    queue = DownloadQueue()
    item_id = queue_smol(queue)

    def crash(progress: Progress) -> None:
        if progress.done > 5 * 1024 * 1024:
            raise KeyboardInterrupt  # what Ctrl+C does in the CLI

    with pytest.raises(KeyboardInterrupt):
        queue.run(item_id, progress=crash)
    restarted = DownloadQueue()
    assert restarted.get(item_id).state == "paused"
    restarted.resume(item_id)
    assert file_hashes(restarted.run(item_id))[0] == file_hashes(smollm2_path)[0]


def test_cancel_deletes_the_partial_file(hub_stub: HubStub) -> None:
    queue = DownloadQueue()
    item_id = queue_smol(queue)

    def cancel_past_5_mb(progress: Progress) -> None:
        if progress.done > 5 * 1024 * 1024:
            queue.cancel(item_id)

    with pytest.raises(Cancelled):
        queue.run(item_id, progress=cancel_past_5_mb)
    item = queue.get(item_id)
    assert item.state == "cancelled" and item.downloaded == 0
    assert not queue.partial_path(item).exists()
    assert not queue.paths_for(item)[0].exists()


def test_corrupted_bytes_are_rejected_and_deleted(hub_stub: HubStub) -> None:
    hub_stub.knobs.corrupt.add(SMOL_FILE)
    queue = DownloadQueue()
    item_id = queue_smol(queue)
    with pytest.raises(HearthError, match="damaged") as info:
        queue.run(item_id)
    assert "deleted" in info.value.message
    item = queue.get(item_id)
    dest, partial = queue.paths_for(item)
    assert item.state == "failed"
    assert not dest.exists() and not partial.exists()
    assert not list(paths.models_dir().rglob("*.gguf"))


def test_a_hostile_file_name_is_refused(hub_stub: HubStub, tmp_path: Path) -> None:
    queue = DownloadQueue()
    with pytest.raises(HearthError, match="Refused"):
        queue.request(HOSTILE_REPO, HOSTILE_FILE)
    page = hub_client.open_repo(HOSTILE_REPO)
    evil = HubFile(HOSTILE_FILE, 15, "0" * 64)
    with pytest.raises(HearthError, match="Refused"):
        queue.add_file(page.repo_id, evil, page.revision)
    # A tampered queue file is not trusted either.
    tampered = {"id": "x", "repo_id": HOSTILE_REPO, "filename": HOSTILE_FILE, "revision": "0" * 40, "size": 15}
    (paths.home() / "downloads.json").write_text(json.dumps({"items": [tampered]}))
    assert DownloadQueue().items() == []
    assert queue.items() == []
    assert not list(tmp_path.rglob("evil.gguf"))


def test_a_full_disk_is_refused_before_downloading(hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real full disk cannot be made safely on a shared machine, so the free space is faked.
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(model_files.shutil, "disk_usage", lambda _path: usage(10**12, 10**12 - 10**6, 10**6))
    queue = DownloadQueue()
    item_id = queue_smol(queue)
    with pytest.raises(HearthError, match="Not enough free disk space") as info:
        queue.run(item_id)
    assert "93.8 MB" in info.value.message and "Free some space" in info.value.hint
    assert queue.get(item_id).state == "failed"
    assert cdn_gets(hub_stub) == []  # not a byte was asked for


def test_a_gated_repo_needs_a_token_that_stays_off_the_cdn(
    hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    queue = DownloadQueue()
    page = hub_client.open_repo(GATED_REPO)
    with pytest.raises(HearthError, match="gated repository"):
        queue.add_model(page, page.models[0])

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    (item,) = queue.add_model(page, page.models[0])
    with pytest.raises(HearthError, match="gated repository"):
        queue.run(item.id)

    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    queue.resume(item.id)
    path = queue.run(item.id)
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    cdn = [s for s in hub_stub.requests("GET") if s.path.startswith("/repos/")]
    assert cdn and not any(s.authorized for s in cdn)


def test_download_into_the_shared_hugging_face_cache(hub_stub: HubStub, smollm2_path: Path) -> None:
    from huggingface_hub import scan_cache_dir

    queue = DownloadQueue()
    queue.set_prefer_hf_cache(True)
    assert DownloadQueue().prefer_hf_cache  # remembered
    item_id = queue_smol(queue, to_hf_cache=True)
    path = queue.run(item_id)
    cache = model_files.hf_cache_dir()
    assert path.is_relative_to(cache)
    assert file_hashes(path)[0] == file_hashes(smollm2_path)[0]
    (repo,) = scan_cache_dir(cache).repos
    assert repo.repo_id == SMOL_REPO
    (revision,) = repo.revisions
    assert revision.commit_hash == hub_stub.repos[SMOL_REPO].sha and "main" in revision.refs
    assert len(cdn_gets(hub_stub)) == 1  # hf_hub_download found the blob and downloaded nothing
    found = library.discover_hf_cache(cache)
    assert [(f.repo_id, f.path) for f in found] == [(SMOL_REPO, path)]


def test_offline_download_fails_plainly_and_keeps_the_queue(hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = DownloadQueue()
    item_id = queue_smol(queue)
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(HearthError, match="offline or the Hub is unreachable"):
        queue.run(item_id)
    assert DownloadQueue().get(item_id).state == "failed"


def test_cli_pull_ctrl_c_leaves_a_partial_that_the_next_pull_resumes(
    hub_stub: HubStub, hearth_home: Path, smollm2_path: Path
) -> None:
    size = smollm2_path.stat().st_size
    hub_stub.knobs.stall_after[SMOL_FILE] = 12 * 1024 * 1024
    env = subprocess_env(hub_stub, hearth_home)
    command = [sys.executable, "-m", "desktop_app", "pull", SMOL_REPO, "Q4_1"]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background (as CI may be) inherits SIGINT ignored, and Python then
        # never raises KeyboardInterrupt: give the CLI the terminal's default, as a user's shell does.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert hub_stub.knobs.stalled.wait(120), "the download never reached the stall point"
        process.send_signal(signal.SIGINT)  # Ctrl+C
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Run the same command again to resume" in err
    dest = hearth_home / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / SMOL_FILE
    partial = dest.with_name(dest.name + ".part")
    kept = partial.stat().st_size
    assert kept > 0 and not dest.exists()

    hub_stub.knobs.stall_after.clear()
    hub_stub.knobs.release.set()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert "Resuming" in again.stderr
    assert again.stdout.strip() == str(dest)
    assert file_hashes(dest)[0] == file_hashes(smollm2_path)[0]
    last = cdn_gets(hub_stub)[-1]
    assert last.range == f"bytes={kept}-" and last.sent == size - kept


def test_the_models_folder_survives_a_failed_move(hub_stub: HubStub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download that fails at the very end (the final rename) keeps its verified partial."""
    queue = DownloadQueue()
    item_id = queue_smol(queue)

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(src).endswith(".part"):
            raise PermissionError(13, "Permission denied")
        shutil.move(src, dst)

    monkeypatch.setattr(transfer.os, "replace", failing_replace)  # the transfer moves the file into place
    with pytest.raises(PermissionError):
        queue.run(item_id)
    item = queue.get(item_id)
    assert item.state == "failed"
    assert queue.partial_path(item).stat().st_size == item.size


def test_a_split_model_downloads_every_part_and_lists_as_one(hub_stub: HubStub, smollm2_split: list[Path]) -> None:
    queue = DownloadQueue()
    page = hub_client.open_repo(SPLIT_REPO)
    items = queue.add_model(page, page.models[0])
    assert [i.filename for i in items] == [f"Q4_1/{p.name}" for p in smollm2_split]
    queue.run_pending()
    assert [queue.get(i.id).state for i in items] == ["done", "done"]
    folder = paths.models_dir() / SPLIT_REPO / "Q4_1"
    for part in smollm2_split:
        assert file_hashes(folder / part.name) == file_hashes(part)
    (model,) = [m for m in library.list_models(other_apps=False) if m.path.parent == folder]
    assert model.source == "downloaded" and model.name == SPLIT_STEM
    assert model.size_bytes == sum(p.stat().st_size for p in smollm2_split)
