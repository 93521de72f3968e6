"""The worst GUI event-loop stall while a reply streams (target: under 50 ms).

A 5 ms QTimer probe runs on the GUI thread while the real window loads SmolLM2 and
streams a reply; the largest gap between two probe ticks, minus the interval, is the
longest time the GUI could not respond.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from pathlib import Path
from typing import Any

PROBE_MS = 5
MAX_TOKENS = 160


def measure_stall(model_path: Path) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import tempfile

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    with tempfile.TemporaryDirectory() as home:
        os.environ["HEARTH_HOME"] = home
        from desktop_app.core import settings as settings_store
        from desktop_app.core.settings import LoadSettings, SamplingSettings, Settings

        settings_store.save(
            Settings(
                sampling=SamplingSettings(temperature=0.7, max_tokens=MAX_TOKENS, seed=7),
                load=LoadSettings(n_ctx=2048),
            )
        )
        from desktop_app.ui.main_window import MainWindow
        from desktop_app.ui.shared.garbage import GuiThreadGarbageCollector

        app = QApplication.instance() or QApplication([])
        collector = GuiThreadGarbageCollector(app)  # as run_gui installs it: collections happen here
        window = MainWindow()
        window.show()
        host = window.context.models
        chat = window.chat

        def wait_for(signal: Any, timeout_s: float = 300) -> None:
            loop = QEventLoop()
            signal.connect(loop.quit)
            QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec()
            signal.disconnect(loop.quit)

        picker = chat.model_picker
        if not picker.listed_once:
            wait_for(picker.listed)
        row = picker.model.row_of(model_path)
        picker.combo.setCurrentIndex(row)
        picker.combo.activated.emit(row)
        wait_for(host.model_changed)
        while host.busy:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

        ticks: list[float] = []
        probe = QTimer()
        probe.setInterval(PROBE_MS)
        probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
        probe.start()
        chat.send("Write a long story about a lighthouse keeper and a storm.")
        wait_for(chat.reply_saved)
        probe.stop()
        window.close()
        collector.stop()
        app.processEvents()

    gaps_ms = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
    return {
        "probe_interval_ms": PROBE_MS,
        "samples": len(gaps_ms),
        "worst_stall_ms": round(max(gaps_ms) - PROBE_MS, 2) if gaps_ms else None,
        "p99_gap_ms": round(statistics.quantiles(gaps_ms, n=100)[98], 2) if len(gaps_ms) > 100 else None,
        "target_ms": 50,
    }
