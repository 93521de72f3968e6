"""GUI fixtures: a main window on the test's own HEARTH_HOME, SmolLM2 loaded through the
real model worker, and a check that no QThread is left running after a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QThread

from desktop_app.core import settings as settings_store
from desktop_app.core.conversations.store import StoredMessage
from desktop_app.core.settings import LoadSettings, SamplingSettings, Settings

LOAD_TIMEOUT_MS = 120_000
REPLY_TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def no_dangling_qthreads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails a test that leaves a QThread running (napari's ``_dangling_qthreads``)."""
    started: list[QThread] = []
    original = QThread.start

    def tracking_start(self: QThread, *args: Any, **kwargs: Any) -> None:
        started.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", tracking_start)
    yield
    running = [t.objectName() or repr(t) for t in started if shiboken6.isValid(t) and t.isRunning()]
    assert not running, f"QThreads still running after the test: {running}"


@pytest.fixture
def gui_settings(hearth_home: Path) -> Settings:
    """Short, reproducible replies so the GUI suite stays fast: written before the window opens."""
    config = Settings(
        sampling=SamplingSettings(temperature=0.7, max_tokens=24, seed=42),
        load=LoadSettings(n_ctx=1024, n_threads=0, n_gpu_layers=0, flash_attn=True),
        welcome_dismissed=True,  # the first-run page has its own tests (test_first_run.py)
    )
    settings_store.save(config)
    return config


WindowFactory = Callable[[], Any]


@pytest.fixture
def make_window(qtbot: Any, gui_settings: Settings, no_dangling_qthreads: None) -> Iterator[WindowFactory]:
    """Opens main windows on this test's HEARTH_HOME; closes any still open at the end."""
    from desktop_app.ui.main_window import GEOMETRY_KEY, MainWindow

    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        if window.context.window_state.value(GEOMETRY_KEY) is None:
            window.resize(1280, 800)  # a first window fits the offscreen screen (800×800); tests want 1280×800
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()  # cancel, quit the model thread and wait for it


@pytest.fixture
def window(make_window: WindowFactory) -> Any:
    return make_window()


def load_model(qtbot: Any, window: Any, path: Path) -> None:
    """Loads ``path`` the way a user does: picking it in the model list."""
    picker = window.chat.model_picker
    qtbot.waitUntil(lambda: picker.listed_once, timeout=LOAD_TIMEOUT_MS)  # models are listed off the GUI thread
    row = picker.model.row_of(path)
    host = window.context.models
    with qtbot.waitSignal(host.model_changed, timeout=LOAD_TIMEOUT_MS, check_params_cb=lambda m: m is not None):
        if row >= 0:
            picker.combo.setCurrentIndex(row)
            picker.combo.activated.emit(row)
        else:
            picker.open_file(path)
    qtbot.waitUntil(lambda: not host.busy, timeout=LOAD_TIMEOUT_MS)
    assert host.model is not None
    assert host.model.path.resolve() == Path(path).resolve()


@pytest.fixture
def loaded_window(qtbot: Any, window: Any, smollm2_path: Path) -> Any:
    load_model(qtbot, window, smollm2_path)
    return window


def send_and_wait(qtbot: Any, window: Any, text: str) -> StoredMessage:
    """Types ``text`` in the message box, presses Enter and waits for the saved reply."""
    from PySide6.QtCore import Qt

    chat = window.chat
    chat.composer.setFocus()
    with qtbot.waitSignal(chat.reply_saved, timeout=REPLY_TIMEOUT_MS) as blocker:
        qtbot.keyClicks(chat.composer, text)
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return)
    message = blocker.args[0]
    assert isinstance(message, StoredMessage)
    return message
