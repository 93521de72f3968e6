"""The window started on a damaged hearth.db (a header overwritten): it opens, says what it
repaired in a message box (not only in the log), and no traceback reaches the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from desktop_app.core.conversations.store import ConversationStore

REPO = Path(__file__).resolve().parents[2]


def test_the_window_opens_on_a_damaged_database(hearth_home: Path) -> None:
    store = ConversationStore()
    store.create("Before the damage")
    store.close()
    with open(hearth_home / "hearth.db", "r+b") as f:
        f.write(b"not a database header at all")
    env = {**os.environ, "HEARTH_HOME": str(hearth_home), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--smoke"], capture_output=True, text=True, env=env, cwd=REPO,
        timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0 and "Chat" in report["sections"]
    assert "Traceback" not in done.stderr
    assert [p.name for p in hearth_home.glob("hearth.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]


def test_the_repair_is_said_in_a_message_box(qtbot: Any, hearth_home: Path) -> None:
    from PySide6.QtWidgets import QMessageBox, QWidget

    from desktop_app.core import db
    from desktop_app.ui.shared.storage_check import check_storage_at_start, show_storage_notices

    hearth_home.mkdir(parents=True, exist_ok=True)
    (hearth_home / "hearth.db").write_bytes(b"\x00garbage" * 512)
    db._CHECKED.clear()  # a new process, as far as the check goes
    notices = check_storage_at_start()
    assert notices is not None and len(notices) == 1
    window = QWidget()
    qtbot.addWidget(window)
    show_storage_notices(window, notices)
    (box,) = window.findChildren(QMessageBox, "storageNotice")
    assert box.isVisible() and "moved aside" in box.text()
    box.close()
