"""`hearth conversations` and `hearth export` as a script uses them: real subprocesses on a
database holding a real SmolLM2 reply with its provenance."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.conversations.chat import build_messages, make_provenance
from desktop_app.core.conversations.store import ConversationStore, StoredMessage
from desktop_app.core.inference.engine import Engine
from desktop_app.core.models.fingerprint import cached_sha256
from desktop_app.core.settings import SamplingSettings

SAMPLING = SamplingSettings(temperature=0.5, max_tokens=8, seed=77)


def hearth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def saved(engine: Engine) -> tuple[int, StoredMessage]:
    """Two conversations in this test's HEARTH_HOME; the second holds a real reply."""
    model = engine.model
    assert model is not None
    store = ConversationStore()
    store.create("Empty one")
    conversation = store.create("Owls at night", "Answer briefly.")
    store.add_message(conversation.id, "user", "Why do owls hoot?")
    reply = engine.generate(build_messages(conversation.system_prompt, store.messages(conversation.id)), SAMPLING)
    provenance = make_provenance(model, cached_sha256(model.path), SAMPLING, conversation.system_prompt, reply)
    message = store.add_message(conversation.id, "assistant", reply.text, provenance)
    store.close()
    return conversation.id, message


def test_conversations_lists_them_newest_first_with_counts(saved: tuple[int, StoredMessage], hearth_home: Path) -> None:
    owls, _ = saved
    out = hearth("conversations", "--json", home=hearth_home)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["title"], r["messages"]) for r in rows] == [("Owls at night", 2), ("Empty one", 0)]
    assert rows[0]["id"] == owls
    assert rows[0]["updated_at"] >= rows[0]["created_at"] and rows[0]["updated"].startswith("20")
    found = json.loads(hearth("conversations", "--search", "HOOT", "--json", home=hearth_home).stdout)
    assert [r["id"] for r in found] == [owls]  # matched on a message's text
    text = hearth("conversations", home=hearth_home)
    assert text.returncode == 0 and "Owls at night" in text.stdout and "2 msgs" in text.stdout
    none = hearth("conversations", "--search", "zebra", home=hearth_home)
    assert none.returncode == 0 and none.stdout.strip() == "No conversations match."


def test_export_prints_markdown_or_writes_json(saved: tuple[int, StoredMessage], hearth_home: Path) -> None:
    owls, message = saved
    p = message.provenance
    assert p is not None
    md = hearth("export", str(owls), home=hearth_home)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Owls at night\n")
    assert message.content.strip() in md.stdout
    assert p.model_sha256 in md.stdout and f"seed {SAMPLING.seed}" in md.stdout
    assert json.loads(hearth("export", str(owls), "--format", "json", home=hearth_home).stdout)["version"] == 1

    target = hearth_home.parent / "owls.json"
    written = hearth("export", str(owls), "-o", str(target), home=hearth_home)  # the format from the suffix
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and str(target) in written.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["format"] == "hearth-conversation"
    assert data["messages"][1]["provenance"] == dataclasses.asdict(p)
    forced = hearth("export", str(owls), "--format", "md", "-o", str(target), home=hearth_home)
    assert forced.returncode == 0 and target.read_text(encoding="utf-8").startswith("# Owls at night")


def test_unknown_id_and_unwritable_target_are_one_line_errors(
    saved: tuple[int, StoredMessage], hearth_home: Path
) -> None:
    owls, _ = saved
    out = hearth("export", "9999", home=hearth_home)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == "hearth: There is no conversation with id 9999. `hearth conversations` lists them."
    missing = hearth_home.parent / "no-such-folder" / "owls.md"
    out = hearth("export", str(owls), "-o", str(missing), home=hearth_home)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "does not exist" in out.stderr
    assert not missing.parent.exists()


def test_a_full_disk_is_a_plain_error_and_the_earlier_file_survives(
    saved: tuple[int, StoredMessage], hearth_home: Path, tmp_path: Path
) -> None:
    """A real full disk: a 64 KB tmpfs, filled up, mounted in a private mount namespace
    (needs root or CAP_SYS_ADMIN; skipped elsewhere)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    owls, _ = saved
    disk = tmp_path / "small-disk"
    disk.mkdir()
    target = disk / "owls.md"
    script = (
        f'mount -t tmpfs -o size=64k tmpfs "{disk}" || exit 90\n'
        f'printf "an earlier export" > "{target}"\n'
        f'head -c 1000000 /dev/zero > "{disk}/filler" 2>/dev/null\n'
        f'"{sys.executable}" -m desktop_app export {owls} -o "{target}"\n'
        'echo "status=$?"\n'
        f'echo "kept=$(cat "{target}")"\n'
        f'echo "files=$(ls -A "{disk}" | tr "\\n" " ")"\n'
    )
    env = {**os.environ, "HEARTH_HOME": str(hearth_home)}
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")
    assert "status=2" in done.stdout
    assert (
        done.stderr.strip()
        == "hearth: The disk is full: “owls.md” was not written. Free some space, or choose another folder."
    )
    assert "kept=an earlier export" in done.stdout
    assert "files=filler owls.md " in done.stdout  # no temporary file left behind
