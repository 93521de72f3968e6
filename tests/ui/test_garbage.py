"""The GUI-thread garbage collector: cycles made on the GUI thread are never collected by a
worker thread's allocations, only by the collector's check on the GUI thread."""

from __future__ import annotations

import gc
import threading
from typing import Any

from desktop_app.ui.garbage import GuiThreadGarbageCollector


class Cyclic:
    finalized_in: list[int] = []  # noqa: RUF012 - shared on purpose: what __del__ saw

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cyclic.finalized_in.append(threading.get_ident())


def test_cycles_are_collected_on_the_gui_thread_only(qtbot: Any) -> None:
    was_enabled = gc.isenabled()
    gc.enable()  # as at app start: Python collects automatically
    collector = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        assert not gc.isenabled()
        Cyclic.finalized_in.clear()
        for _ in range(50):
            Cyclic()  # unreachable at once, freed only by a collection

        def allocate() -> None:  # a worker thread's allocations: enough to trigger collections if enabled
            kept = [(i, [i]) for i in range(200_000)]
            assert len(kept) == 200_000

        worker = threading.Thread(target=allocate)
        worker.start()
        worker.join()
        assert Cyclic.finalized_in == []

        assert collector.check() >= 50  # the counts passed the thresholds: it collects here
        assert set(Cyclic.finalized_in) == {threading.get_ident()}
        assert len(Cyclic.finalized_in) == 50
    finally:
        collector.stop()
        assert gc.isenabled()
        if not was_enabled:
            gc.disable()
