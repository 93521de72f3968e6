"""Settings › Data folder › Move…: the copy runs off the GUI thread with progress, then offers a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop_app.core import paths
from desktop_app.ui.settings.data_folder_box import MOVE_JOB, DataFolderBox


def test_moving_the_data_folder_copies_and_offers_a_restart(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEARTH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (paths.models_dir() / "a.gguf").write_bytes(b"GGUF" + b"\1" * 100_000)
    box = DataFolderBox()
    qtbot.addWidget(box)
    box.show()
    target = tmp_path / "other-disk" / "Hearth"
    monkeypatch.setattr(box, "ask_target", lambda: target)  # the folder dialog, answered
    with qtbot.waitSignal(box.jobs.finished, timeout=60_000):
        box.move_button.click()
        assert box.progress.isVisible() and not box.move_button.isEnabled()
    assert (target / "models" / "a.gguf").stat().st_size == 100_004
    assert box.restart_button.isVisible() and str(target) in box.status.text()
    assert paths.home() == target
    box.shutdown()
    assert not box.jobs.busy(MOVE_JOB)


def test_with_hearth_home_set_the_move_is_explained_not_done(qtbot: Any, tmp_path: Path) -> None:
    box = DataFolderBox()
    qtbot.addWidget(box)
    box.move_to(tmp_path / "new")
    assert "HEARTH_HOME" in box.status.text() and not box.progress.isVisible()
    assert not (tmp_path / "new").exists()
    box.shutdown()
