"""Cancellation and progress reporting shared by all long-running core work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from desktop_app.core.errors import Cancelled


class CancelToken:
    """A flag that a worker checks; set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` when the token is cancelled (at once if it already is), on the
        cancelling thread: for waking up or flagging work that cannot poll the token."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled


@dataclass(frozen=True)
class Progress:
    """How far a long job has come. ``total`` is None when unknown."""

    done: float
    total: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class Throttle:
    """Lets at most one call a ``interval_s`` through: progress reported from a tight loop
    reaches a view (a queued signal, a file) a few times a second, not per item. The first
    call passes at once unless ``wait_first``; ``force`` lets a final update through."""

    def __init__(self, interval_s: float, *, wait_first: bool = False) -> None:
        self.interval_s = interval_s
        self._last = time.monotonic() if wait_first else float("-inf")

    def ready(self, force: bool = False) -> bool:
        """True (and the clock restarts) when the interval has passed since the last pass, or ``force``."""
        now = time.monotonic()
        if force or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False
