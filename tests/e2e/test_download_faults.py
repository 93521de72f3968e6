"""Downloads under real faults: a disk that fills up mid-download (a real tmpfs, filled while
the transfer is held by the Hub stand-in) and two programs resuming one download at once.
The message names the model, the partial file is kept, and the next pull resumes at its byte."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubstub import SMOL_FILE, SMOL_REPO, HubStub, file_hashes, subprocess_env

from tests.tmpfs import small_tmpfs

COMMAND = [sys.executable, "-m", "desktop_app", "pull", SMOL_REPO, "Q4_1"]


def destination(home: Path) -> Path:
    return home / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / SMOL_FILE


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 128 MiB tmpfs (skipped where mounting is not allowed)."""
    with small_tmpfs(tmp_path, "128m") as mount:
        yield mount


def test_a_disk_filling_up_mid_download_names_the_model_and_resumes(
    hub_stub: HubStub, disk: Path, smollm2_path: Path
) -> None:
    home = disk / "home"
    hub_stub.knobs.stall_after[SMOL_FILE] = 8 * 1024 * 1024
    env = subprocess_env(hub_stub, home)
    pull = subprocess.Popen(COMMAND, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hub_stub.knobs.stalled.wait(120), "the download never reached the stall point"
        ballast = disk / "ballast"
        with open(ballast, "wb") as f:  # another program fills the disk while the download runs
            try:
                while True:
                    f.write(b"\0" * 2**20)
                    f.flush()
            except OSError:
                pass
        with open(ballast, "r+b") as f:  # ...leaving 2 MiB of room
            f.truncate(max(0, ballast.stat().st_size - 2 * 2**20))
        hub_stub.knobs.stall_after.clear()
        hub_stub.knobs.release.set()
        _out, err = pull.communicate(timeout=120)
    finally:
        if pull.poll() is None:
            pull.kill()
    assert pull.returncode == 2, err
    assert "Traceback" not in err and "downloads.json" not in err
    assert "The disk is full" in err and SMOL_FILE in err and "kept" in err
    partial = destination(home).with_name(SMOL_FILE + ".part")
    kept = partial.stat().st_size
    assert kept >= 8 * 1024 * 1024

    ballast.unlink()
    again = subprocess.run(COMMAND, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert "Resuming" in again.stderr
    assert file_hashes(destination(home))[0] == file_hashes(smollm2_path)[0]


def test_two_programs_resuming_one_download(hub_stub: HubStub, hearth_home: Path, smollm2_path: Path) -> None:
    hub_stub.knobs.stall_after[SMOL_FILE] = 4 * 1024 * 1024
    env = subprocess_env(hub_stub, hearth_home)
    first = subprocess.Popen(COMMAND, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hub_stub.knobs.stalled.wait(120), "the download never reached the stall point"
        second = subprocess.run(COMMAND, env=env, capture_output=True, text=True, timeout=120, check=False)
        hub_stub.knobs.stall_after.clear()
        hub_stub.knobs.release.set()
        _out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"“{SMOL_FILE}” is in use by" in second.stderr and f"process {first.pid}" in second.stderr
    assert first.returncode == 0, err
    assert file_hashes(destination(hearth_home))[0] == file_hashes(smollm2_path)[0]  # one writer, a sound file
