"""Small files (settings, documents settings, the download queue, exports) are written through a
temporary file: a failed write is a plain HearthError and leaves the earlier file as it was.
(A real full disk is exercised in tests/core/test_export_cli.py on a tiny tmpfs.)"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from desktop_app.core import settings as settings_store
from desktop_app.core.atomic_files import write_error, write_json_atomically
from desktop_app.core.errors import HearthError
from desktop_app.core.settings import Settings


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_json_atomically(target, {"a": 1})
    write_json_atomically(target, {"a": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_settings_save_is_plain_words_and_keeps_nothing_half_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    with pytest.raises(HearthError, match="does not exist"):
        settings_store.save(Settings(), blocker / "settings.json")
    assert blocker.read_text(encoding="utf-8") == "a file where a folder should be"


def test_full_disk_and_permission_errors_read_plainly(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    full = write_error(target, OSError(errno.ENOSPC, "No space left on device"))
    assert full.message == "The disk is full: “settings.json” was not written."
    assert "not allowed" in write_error(target, PermissionError(errno.EACCES, "Permission denied")).message
