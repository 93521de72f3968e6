"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate: a model
scan or an indexing thread. When the garbage holds Qt objects (a closed dialog or view
caught in a reference cycle through a connected lambda), their C++ destructors then
run off the GUI thread, and Qt crashes the process. So automatic collection is off
while the GUI runs, and a timer on the GUI thread collects with the same generation
thresholds (calibre's ``GarbageCollector`` does the same, for the same reason).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer, Slot

CHECK_INTERVAL_MS = 1000
FULL_INTERVAL_S = 120.0


class GuiThreadGarbageCollector(QObject):
    """Owns automatic garbage collection from construction until :meth:`stop`."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._last_full = time.monotonic()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.check()

    def check(self) -> int:
        """Collects the generations whose counts passed their thresholds, as gc itself would.
        Returns the number of unreachable objects found."""
        counts = gc.get_count()
        found = 0
        if counts[0] > self.thresholds[0]:
            generation = 0
            if counts[1] > self.thresholds[1]:
                generation = 1
                # A full collection walks every object (a quarter of a second once torch is
                # loaded, with the GIL held): at most every FULL_INTERVAL_S, as Python itself
                # also defers full collections until enough long-lived objects have piled up.
                if counts[2] > self.thresholds[2] and time.monotonic() - self._last_full >= FULL_INTERVAL_S:
                    generation = 2
                    self._last_full = time.monotonic()
            found = gc.collect(generation)
        return found

    def stop(self) -> None:
        """Hands collection back to Python (the GUI is closing)."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()
