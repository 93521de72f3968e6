"""Settings › Database backups: back up now, then restore that copy (the current database kept
beside it) and offer a restart; the flow twice, at 1280x800 and 1024x700, off the GUI thread."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from desktop_app.core import db, paths
from desktop_app.core.conversations.store import ConversationStore
from desktop_app.ui.settings.backups_box import BackupsBox


def titles() -> list[str]:
    connection = sqlite3.connect(paths.db_path())
    try:
        return [r[0] for r in connection.execute("SELECT title FROM conversations ORDER BY id")]
    finally:
        connection.close()


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_back_up_then_restore(qtbot: Any, size: tuple[int, int]) -> None:
    store = ConversationStore()  # the window's own open connection, as in the app
    store.create("Kept")
    box = BackupsBox()
    qtbot.addWidget(box)
    box.resize(size[0] // 2, 300)
    box.show()
    assert box.list.count() == 0 and "No backup yet" in box.status.text()
    for round_ in range(2):
        with qtbot.waitSignal(box.jobs.finished, timeout=60_000):
            box.backup_button.click()
        assert box.list.count() == round_ + 1 and "Backed up" in box.status.text()
        store.create(f"After backup {round_}")
        with qtbot.waitSignal(box.jobs.finished, timeout=60_000):
            box.restore(0, confirm=False)
        assert "Restored" in box.status.text() and box.restart_button.isVisible()
        assert titles() == ["Kept"]  # back as it was when copied
        assert sorted(paths.home().glob("hearth.db.before-restore-*")), "the database from before is kept"
        # Backups are named by the second: the next one needs a new name.
        qtbot.wait(1100)
    assert len(db.list_backups()) == 2
    store.close()
    box.shutdown()
