"""Moving the data folder: a real copy (the live database through SQLite's backup), the pointer
written only once the copy is whole, the next start using it, a refused target changing nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desktop_app.core import data_folder, paths
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.core.errors import Cancelled, HearthError


@pytest.fixture
def default_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The platform's own places (no HEARTH_HOME), inside this test's folder."""
    monkeypatch.delenv("HEARTH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    home = paths.home()
    assert home == tmp_path / "data" / "Hearth"
    return home


def test_a_move_copies_everything_and_the_next_start_uses_it(default_home: Path, tmp_path: Path) -> None:
    store = ConversationStore()  # open, with its WAL, as in the running app
    conversation = store.create("Kept")
    store.add_message(conversation.id, "user", "Hello")
    model = paths.models_dir() / "owner" / "repo" / "model.gguf"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"GGUF" + bytes(range(256)) * 40_000)
    seen: list[Progress] = []

    target = data_folder.move(tmp_path / "bigger-disk" / "Hearth", progress=seen.append)
    store.close()

    assert (target / "models" / "owner" / "repo" / "model.gguf").read_bytes() == model.read_bytes()
    copied = sqlite3.connect(target / "hearth.db")
    assert copied.execute("SELECT title FROM conversations").fetchall() == [("Kept",)]
    copied.close()
    assert seen and seen[-1].done == seen[-1].total
    assert paths.home() == target  # from now on (the app restarts to use it)
    assert default_home.is_dir()  # the old folder stays until the user deletes it


@pytest.mark.usefixtures("default_home")
def test_targets_that_cannot_take_it_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something.txt").write_text("mine")
    for target in (busy, paths.home() / "inside"):
        with pytest.raises(HearthError):
            data_folder.move(target)
    assert not paths.pointer_path().exists()
    assert (busy / "something.txt").read_text() == "mine"


def test_a_stopped_move_leaves_no_copy_and_no_pointer(default_home: Path, tmp_path: Path) -> None:
    (default_home / "models").mkdir(exist_ok=True)
    (default_home / "models" / "big.gguf").write_bytes(b"\0" * (3 * data_folder.CHUNK))
    cancel = CancelToken()

    def stop_soon(progress: Progress) -> None:
        if progress.done > data_folder.CHUNK:
            cancel.cancel()

    with pytest.raises(Cancelled):
        data_folder.move(tmp_path / "elsewhere", progress=stop_soon, cancel=cancel)
    assert not (tmp_path / "elsewhere").exists()
    assert paths.home() == default_home


def test_hearth_home_decides_when_set(tmp_path: Path) -> None:
    with pytest.raises(HearthError, match="HEARTH_HOME"):
        data_folder.check_target(tmp_path / "new")
