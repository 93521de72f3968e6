"""The GUI-thread garbage collector: cycles made on the GUI thread are never collected by a
worker thread's allocations, only by the collector's check on the GUI thread."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest

from desktop_app.ui.shared import garbage
from desktop_app.ui.shared.garbage import GuiThreadGarbageCollector


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


def test_full_collections_are_spaced_out(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Which generation is due depends on gc's counters; they are set here rather than driven
    # by allocating (gc.collect is recorded, not run, for the same reason).
    was_enabled = gc.isenabled()
    collector = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        t0, t1, t2 = collector.thresholds
        collected: list[int] = []
        monkeypatch.setattr(gc, "get_count", lambda: (t0 + 1, t1 + 1, t2 + 1))
        monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
        collector.check()  # just started: a full collection is not due yet
        later = time.monotonic() + garbage.FULL_INTERVAL_S + 1
        monkeypatch.setattr(time, "monotonic", lambda: later)
        collector.check()
        collector.check()  # right after a full one: the younger generations only
        assert collected == [1, 2, 1]
    finally:
        monkeypatch.undo()
        collector.stop()
        if not was_enabled:
            gc.disable()
