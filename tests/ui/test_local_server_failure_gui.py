"""Settings → Local server when starting fails unexpectedly (a bug, not a refused address): the
page says in plain words what failed and what to do, and the exception itself goes to the log
only — never its repr ("OverflowError('bind(): port must be 0-65535.')"). Provoked for real: a
hand-edited settings.json with a port beyond 65535 (the page's spin box cannot enter one), which
Python's socket refuses with an OverflowError the server does not foresee. At 1280x800 and
1024x700; the user then picks a good port and the server runs, twice."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from api_servers import free_port

from desktop_app.core import paths
from desktop_app.core import settings as settings_store
from desktop_app.core.settings import Settings

SERVER_TIMEOUT_MS = 30_000


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_an_unexpected_start_failure_is_told_in_words(
    qtbot: Any, make_window: Any, gui_settings: Settings, caplog: pytest.LogCaptureFixture, size: tuple[int, int]
) -> None:
    gui_settings.server.enabled = True
    gui_settings.server.port = 70_000  # as if edited by hand: out of range
    settings_store.save(gui_settings)
    caplog.set_level(logging.ERROR, logger="desktop_app.ui.api_server")
    window = make_window()
    window.resize(*size)
    server = window.context.server
    box = window.sections["Settings"].local_server_box
    qtbot.waitUntil(lambda: not server.pending and bool(server.error), timeout=SERVER_TIMEOUT_MS)
    assert not server.running
    shown = box.status_label.text()
    assert shown.startswith("Not running: The server could not start because of a fault in Hearth. Try again;")
    assert f"Hearth's log (in {paths.logs_dir()})" in shown  # where the details are
    assert "OverflowError" not in shown and "Error(" not in shown  # no exception's name, no repr
    assert "OverflowError" in caplog.text and "port must be 0-65535" in caplog.text  # the details: in the log

    def settled() -> bool:
        return not server.pending

    for _round in range(2):  # the way out: a port in range, then off again
        box.port_spin.setValue(free_port())
        with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=settled):
            box.port_spin.editingFinished.emit()
        assert server.running and server.error == ""
        assert box.status_label.text().startswith("Listening on http://127.0.0.1:")
        with qtbot.waitSignal(server.status_changed, timeout=SERVER_TIMEOUT_MS, check_params_cb=settled):
            box.enabled_check.setChecked(False)
        assert box.status_label.text() == "Off: nothing listens."
        box.enabled_check.setChecked(True)  # on again for the next round (its port is chosen there)
        qtbot.waitUntil(settled, timeout=SERVER_TIMEOUT_MS)
