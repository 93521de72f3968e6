"""Background jobs of the Compare section: a comparison run and making a variant.

Each job is a QObject moved to its own QThread; the core function runs there with a
CancelToken and callbacks, and everything reaches the GUI through queued signals.
Progress is throttled to one signal per 50 ms, answer text is batched the same way
(the last report and all text always get through). Stopping: :meth:`cancel` sets the
token; the core kills its child process at once and the job reports ``cancelled``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.cancel import CancelToken, Progress, Throttle
from desktop_app.core.quantlab.measure import CompareEvent
from desktop_app.ui.threads import report_outcome, stop_thread

log = logging.getLogger(__name__)

EMIT_INTERVAL_S = 0.05

# work(progress, cancel, on_event) -> result
Work = Callable[[Callable[[Progress], None], CancelToken, Callable[[CompareEvent], None]], Any]


class _JobWorker(QObject):
    progress = Signal(object)  # Progress
    lab_event = Signal(object)  # CompareEvent ("answer" events carry batched text)
    finished = Signal(object)  # the work's result
    failed = Signal(str, str)  # message, hint
    cancelled = Signal()
    bug_raised = Signal(object)

    def __init__(self, work: Work, cancel: CancelToken) -> None:
        super().__init__()
        self._work = work
        self._cancel = cancel
        self._progress_throttle = Throttle(EMIT_INTERVAL_S)
        self._pending: dict[int, list[str]] = {}
        self._text_throttle = Throttle(EMIT_INTERVAL_S)

    @Slot()
    def run(self) -> None:
        def work() -> Any:
            try:
                return self._work(self._on_progress, self._cancel, self._on_event)
            finally:
                self._flush_text()  # all the text written before the end reaches the view first

        try:
            report_outcome(
                work,
                succeeded=self.finished.emit,
                failed=self.failed.emit,
                cancelled=self.cancelled.emit,
                bug=self.bug_raised.emit,
                what="The comparison",
            )
        finally:
            thread = self.thread()
            if thread is not None:
                thread.quit()

    def _on_progress(self, progress: Progress) -> None:
        if self._progress_throttle.ready(force=progress.fraction == 1.0):
            self.progress.emit(progress)

    def _on_event(self, event: CompareEvent) -> None:
        if event.kind != "answer":
            self._flush_text()
            self.lab_event.emit(event)
            return
        self._pending.setdefault(event.index, []).append(event.text)
        if self._text_throttle.ready():
            self._flush_text()

    def _flush_text(self) -> None:
        for index, pieces in self._pending.items():
            if pieces:
                self.lab_event.emit(CompareEvent("answer", index, text="".join(pieces)))
        self._pending.clear()


class BackgroundJob(QObject):
    """One run of ``work`` on a thread of its own. Use from the GUI thread."""

    progress = Signal(object)  # Progress
    lab_event = Signal(object)  # CompareEvent
    finished = Signal(object)  # result
    failed = Signal(str, str)  # message, hint
    cancelled = Signal()
    done = Signal()  # after any of finished / failed / cancelled, once the thread has stopped

    def __init__(self, work: Work, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _JobWorker(work, self.cancel_token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.lab_event.connect(self.lab_event)
        self._worker.finished.connect(self.finished)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        self._worker.bug_raised.connect(self._on_worker_bug_raised)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def cancelling(self) -> bool:
        return self.cancel_token.cancelled

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Cancel and wait for the thread (the window is closing)."""
        if self._thread.isRunning():
            self.cancel()
            stop_thread(self._thread, self._thread.objectName(), quit_loop=False)  # it quits after the work

    @Slot()
    def _on_thread_finished(self) -> None:
        self._worker.deleteLater()
        self.done.emit()

    @Slot(object)
    def _on_worker_bug_raised(self, error: BaseException) -> None:
        sys.excepthook(type(error), error, error.__traceback__)
