"""Starts the GUI: the QApplication, the error hooks, the style, the main window.

``--smoke`` opens the window offscreen, reports how long that took and which heavy
libraries were already imported (none should be: they load lazily, later), lets
the app settle for a second, prints one JSON line and exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

HEAVY_MODULES = ("llama_cpp", "torch", "chromadb", "sentence_transformers", "pypdfium2")
SMOKE_SETTLE_MS = 1000


def heavy_modules_loaded() -> list[str]:
    return [m for m in HEAVY_MODULES if m in sys.modules]


def run_gui(args: list[str], process_start: float) -> int:
    smoke = "--smoke" in args
    if smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.shared.error_reporting import ErrorReporter, setup_logging
    from desktop_app.ui.shared.garbage import GuiThreadGarbageCollector
    from desktop_app.ui.shared.resources import icon, style_sheet
    from desktop_app.ui.shared.safe_text import install_tooltip_guard

    setup_logging()
    qt_args = [sys.argv[0], *(a for a in args if a != "--smoke")]
    app = QApplication.instance() or QApplication(qt_args)
    assert isinstance(app, QApplication)
    app.setApplicationName("Hearth")
    app.setApplicationDisplayName("Hearth")
    app.setDesktopFileName("hearth")
    app.setStyle("Fusion")  # the same base on every platform; the style sheet builds on it
    app.setStyleSheet(style_sheet())
    app.setWindowIcon(icon("hearth"))
    install_tooltip_guard(app)  # a tooltip with outside text never fetches an image (safe_text.py)
    reporter = ErrorReporter(app)
    reporter.install()
    collector = GuiThreadGarbageCollector(app)

    # storage: the database is checked (and repaired) before any view opens it; what was done is said.
    from desktop_app.ui.shared.storage_check import check_storage_at_start, show_storage_notices

    notices = check_storage_at_start()
    if notices is None:
        return 2
    window = MainWindow(load_last_model=not smoke)
    window.show()
    show_storage_notices(window, notices)
    report: dict[str, Any] = {
        "window_shown_s": round(time.perf_counter() - process_start, 3),
        "heavy_modules": heavy_modules_loaded(),
    }

    # Ctrl+C in the terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(500)

    if smoke:

        def finish() -> None:
            report["heavy_modules_after_settle"] = heavy_modules_loaded()
            report["sections"] = list(window.sections)
            report["errors"] = reporter.reported
            print(json.dumps(report), flush=True)  # noqa: T201 - the smoke run's one line of output
            window.close()
            app.quit()

        QTimer.singleShot(SMOKE_SETTLE_MS, finish)

    code = app.exec()
    collector.stop()
    reporter.uninstall()
    if smoke and report.get("errors"):  # the smoke run's own line (set when it settled), not a stored record
        return 1
    return int(code)
