"""Unexpected errors reach the user in a dialog and the log; cancels stay silent."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.ui.shared.error_reporting import ErrorReporter, setup_logging


@pytest.fixture
def reporter(hearth_home: Path) -> Iterator[tuple[ErrorReporter, Path]]:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    log_path = setup_logging()
    reporter = ErrorReporter()
    reporter.install()
    yield reporter, log_path
    reporter.uninstall()
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _open_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def _raise(error: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    try:
        raise error
    except BaseException as exc:  # noqa: BLE001 - the point: hand it to the hook
        return type(exc), exc, exc.__traceback__


def test_a_bug_on_another_thread_is_logged_and_shown(qtbot: Any, reporter: tuple[ErrorReporter, Path]) -> None:
    hook, log_path = reporter

    def broken() -> None:
        raise RuntimeError("the flux capacitor is empty")

    with qtbot.waitSignal(hook.error_reported, timeout=5000):
        thread = threading.Thread(target=broken)
        thread.start()
        thread.join()
    qtbot.waitUntil(lambda: bool(_open_boxes()), timeout=5000)
    box = _open_boxes()[0]
    assert "Something went wrong" in box.text() and str(log_path) in box.text()
    assert "the flux capacitor is empty" in box.detailedText()
    assert "the flux capacitor is empty" in log_path.read_text(encoding="utf-8")
    assert hook.reported == 1
    box.close()


def test_user_errors_are_plain_and_cancels_silent(qtbot: Any, reporter: tuple[ErrorReporter, Path]) -> None:
    hook, _log_path = reporter
    with qtbot.assertNotEmitted(hook.error_reported):
        hook.handle(*_raise(Cancelled()))
    with qtbot.waitSignal(hook.error_reported, timeout=5000) as blocker:
        hook.handle(*_raise(HearthError("The disk is full.", "Free some space and try again.")))
    assert blocker.args[1:] == ["The disk is full.", "Free some space and try again."]
    qtbot.waitUntil(lambda: bool(_open_boxes()), timeout=5000)
    box = _open_boxes()[0]
    assert box.text() == "The disk is full." and box.informativeText() == "Free some space and try again."
    assert box.detailedText() == ""
    assert hook.reported == 0
    box.close()


def test_an_error_quoting_an_image_tag_shows_it_as_text(
    qtbot: Any, reporter: tuple[ErrorReporter, Path], tmp_path: Path
) -> None:
    """A message may quote a server's or a model's words: shown, never loaded (a FIFO would block)."""
    import os

    from PySide6.QtCore import Qt

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    hook, _log_path = reporter
    message, hint = f'<img src="{fifo}"> The server said no.', f'<img src="{fifo}"> Ask its owner.'
    hook.handle(*_raise(HearthError(message, hint)))
    qtbot.waitUntil(lambda: bool(_open_boxes()), timeout=5000)
    box = _open_boxes()[0]
    qtbot.wait(50)  # laid out and painted
    assert box.textFormat() == Qt.TextFormat.PlainText and box.text() == message
    assert "&lt;img" in box.informativeText()
    box.close()
