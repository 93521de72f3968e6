"""Where the Models section's work meets Qt: one-off jobs on a thread pool, and the download queue
on its own thread.

- :class:`JobRunner` runs short jobs (a search, a repository page, file headers, a library scan)
  on a QThreadPool. Each job gets a CancelToken; its result, failure or partial results come back
  through signals, queued to the GUI thread. A job superseded by a newer one of the same kind is
  cancelled and its late result dropped.
- :class:`DownloadService` owns the :class:`DownloadQueue` and a QThread whose worker runs queued
  downloads one after another. The GUI pauses, resumes and cancels through the queue (it is
  thread-safe); every change comes back as ``item_changed`` (the queue notifies at most every
  0.2 s per download while bytes flow).
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktop_app.core.cancel import CancelToken
from desktop_app.ui.threads import SHUTDOWN_WAIT_MS, report_outcome

log = logging.getLogger(__name__)


JobFunction = Callable[[CancelToken, Callable[[Any], None]], Any]


class JobSignals(QObject):
    """Lives on the GUI thread; emitted from the pool thread (so delivered queued)."""

    succeeded = Signal(int, object)  # job id, result
    failed = Signal(int, str, str)  # job id, message, hint
    cancelled = Signal(int)
    partial = Signal(int, object)  # job id, a piece of the result as it arrives
    bug = Signal(object)  # an unexpected exception


class _Job(QRunnable):
    def __init__(self, job_id: int, fn: JobFunction, token: CancelToken, signals: JobSignals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job_id = job_id
        self._fn = fn
        self._token = token
        self._signals = signals

    def run(self) -> None:
        def report(piece: Any) -> None:
            if not self._token.cancelled:
                self._signals.partial.emit(self.job_id, piece)

        def work() -> Any:
            self._token.raise_if_cancelled()
            return self._fn(self._token, report)

        signals, job_id = self._signals, self.job_id
        report_outcome(
            work,
            succeeded=lambda result: signals.succeeded.emit(job_id, result),
            failed=lambda message, hint: signals.failed.emit(job_id, message, hint),
            cancelled=lambda: signals.cancelled.emit(job_id),
            bug=signals.bug.emit,
            what="This job",
        )


class JobRunner(QObject):
    """Runs jobs by kind ("search", "repo", ...): a new job of a kind cancels the previous one.

    ``succeeded(kind, result)`` / ``failed(kind, message, hint)`` / ``partial(kind, piece)``
    arrive on the GUI thread, only for the latest job of each kind.
    """

    succeeded = Signal(str, object)
    failed = Signal(str, str, str)
    partial = Signal(str, object)
    finished = Signal(str)  # the latest job of a kind ended, however it ended

    def __init__(self, parent: QObject | None = None, max_threads: int = 3) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._kinds: dict[int, str] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._closed = False
        self.signals = JobSignals(self)
        self.signals.succeeded.connect(self._on_signals_succeeded)
        self.signals.failed.connect(self._on_signals_failed)
        self.signals.cancelled.connect(self._on_signals_cancelled)
        self.signals.partial.connect(self._on_signals_partial)
        self.signals.bug.connect(self._on_signals_bug)

    def start(self, kind: str, fn: JobFunction) -> int:
        """Runs ``fn`` on the pool; returns the job id, or -1 once shut down (nothing runs)."""
        if self._closed:
            return -1
        self.cancel(kind)
        job_id = next(self._ids)
        token = CancelToken()
        self._latest[kind] = job_id
        self._kinds[job_id] = kind
        self._tokens[job_id] = token
        self.pool.start(_Job(job_id, fn, token, self.signals))
        return job_id

    def busy(self, kind: str) -> bool:
        return kind in self._latest

    def cancel(self, kind: str) -> None:
        job_id = self._latest.pop(kind, None)
        if job_id is not None and job_id in self._tokens:
            self._tokens[job_id].cancel()

    def shutdown(self) -> None:
        """Cancels every job and waits for the pool to drain; later starts are ignored."""
        self._closed = True
        for token in self._tokens.values():
            token.cancel()
        self._latest.clear()
        if not self.pool.waitForDone(SHUTDOWN_WAIT_MS):
            log.error("Model jobs still running after %d s", SHUTDOWN_WAIT_MS // 1000)

    def _end(self, job_id: int) -> str | None:
        """The job's kind when it is the latest of its kind (then no longer running), else None."""
        self._tokens.pop(job_id, None)
        kind = self._kinds.pop(job_id, None)
        if kind is None or self._latest.get(kind) != job_id:
            return None
        del self._latest[kind]
        return kind

    @Slot(int, object)
    def _on_signals_succeeded(self, job_id: int, result: object) -> None:
        kind = self._end(job_id)
        if kind is not None:
            self.succeeded.emit(kind, result)
            self.finished.emit(kind)

    @Slot(int, str, str)
    def _on_signals_failed(self, job_id: int, message: str, hint: str) -> None:
        kind = self._end(job_id)
        if kind is not None:
            self.failed.emit(kind, message, hint)
            self.finished.emit(kind)

    @Slot(int)
    def _on_signals_cancelled(self, job_id: int) -> None:
        kind = self._end(job_id)
        if kind is not None:
            self.finished.emit(kind)

    @Slot(int, object)
    def _on_signals_partial(self, job_id: int, piece: object) -> None:
        kind = self._kinds.get(job_id)
        if kind is not None and self._latest.get(kind) == job_id:
            self.partial.emit(kind, piece)

    @Slot(object)
    def _on_signals_bug(self, error: BaseException) -> None:
        sys.excepthook(type(error), error, error.__traceback__)
