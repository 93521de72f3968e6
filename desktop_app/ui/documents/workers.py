"""Where the Documents section's work meets Qt: indexing and searching off the GUI thread.

:class:`DocumentsHost` (GUI thread) owns two QThreads, each with a
:class:`DocumentsWorker` moved to it: one indexes (jobs run one after another, in the
order asked), one searches (so a search is never stuck behind a long indexing run).
Every job carries a :class:`CancelToken`; progress comes back at most every 100 ms;
results, failures and cancellations come back as signals, queued to the GUI thread.
Shutdown is cancel -> quit -> wait.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.cancel import CancelToken, Throttle
from desktop_app.core.rag import index_report
from desktop_app.ui.threads import report_outcome, stop_thread

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1

# fn(cancel, progress, report) -> result
JobFunction = Callable[[CancelToken, Callable[[index_report.IndexProgress], None], index_report.IngestReport], Any]


@dataclass
class DocumentsJob:
    job_id: int
    kind: str  # "index" | "search" | "remove" | ...
    collection: str
    fn: JobFunction
    cancel: CancelToken = field(default_factory=CancelToken)
    report: index_report.IngestReport = field(default_factory=lambda: index_report.IngestReport(""))


class DocumentsWorker(QObject):
    """Runs jobs on its thread. Every job ends with exactly one of finished / failed / cancelled."""

    started = Signal(object)  # DocumentsJob
    progressed = Signal(object, object)  # DocumentsJob, IndexProgress
    finished = Signal(object, object)  # DocumentsJob, result
    failed = Signal(object, str, str)  # DocumentsJob, message, hint
    cancelled = Signal(object)  # DocumentsJob (its report says what was done before the stop)
    bug_raised = Signal(object)

    @Slot(object)
    def run(self, job: DocumentsJob) -> None:
        throttle = Throttle(PROGRESS_INTERVAL_S)
        held: index_report.IndexProgress | None = None  # the latest update the throttle kept back
        phase = ""

        def progress(update: index_report.IndexProgress) -> None:
            nonlocal held, phase
            if update.phase == "done" and held is not None:
                self.progressed.emit(job, held)  # the final counts are shown before "done"
            # A new phase always shows: "Preparing the embedding model…" right after a quick scan
            # was held back for the whole preparation (issue 21).
            if throttle.ready(force=update.phase == "done" or update.phase != phase):
                held = None
                self.progressed.emit(job, update)
            else:
                held = update
            phase = update.phase

        if job.cancel.cancelled:
            self.cancelled.emit(job)
            return
        self.started.emit(job)
        report_outcome(
            lambda: job.fn(job.cancel, progress, job.report),
            succeeded=lambda result: self.finished.emit(job, result),
            failed=lambda message, hint: self.failed.emit(job, message, hint),
            cancelled=lambda: self.cancelled.emit(job),
            bug=self.bug_raised.emit,
            what="The documents job",
        )


class _Requests(QObject):
    """Sends jobs to one worker (queued, since the worker lives on another thread)."""

    job = Signal(object)


class DocumentsHost(QObject):
    """The GUI thread's handle on the document workers. Use it from the GUI thread only."""

    job_started = Signal(object)
    job_progressed = Signal(object, object)
    job_finished = Signal(object, object)
    job_failed = Signal(object, str, str)
    job_cancelled = Signal(object)
    busy_changed = Signal(bool)  # the indexing thread started or ran out of work

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._pending: dict[int, DocumentsJob] = {}  # indexing jobs asked for and not ended
        self._threads: list[QThread] = []
        self._workers: list[DocumentsWorker] = []  # Python must hold them, or they are deleted
        self._index_requests: _Requests | None = None
        self._search_requests: _Requests | None = None
        self._closed = False  # shut down: a job asked for later (a deferred start-up check) never runs

    def _ensure_started(self) -> bool:
        """The threads start with the first job (a window that never indexes costs nothing)."""
        if self._closed:
            return False
        if not self._threads:
            self._index_requests = self._start_worker("hearth-documents-index")
            self._search_requests = self._start_worker("hearth-documents-search")
        return True

    def _start_worker(self, name: str) -> _Requests:
        thread = QThread()
        thread.setObjectName(name)
        worker = DocumentsWorker()
        worker.moveToThread(thread)
        thread.finished.connect(worker.deleteLater)
        requests = _Requests(self)
        requests.job.connect(worker.run)
        worker.started.connect(self.job_started)
        worker.progressed.connect(self.job_progressed)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        worker.cancelled.connect(self._on_worker_cancelled)
        worker.bug_raised.connect(self._on_worker_bug_raised)
        thread.start()
        self._threads.append(thread)
        self._workers.append(worker)
        return requests

    # -- requests ------------------------------------------------------------------------------------

    def submit(self, kind: str, collection: str, fn: JobFunction) -> DocumentsJob:
        """Queues a job that changes the index (they run one at a time, in order)."""
        job = DocumentsJob(next(self._ids), kind, collection, fn)
        job.report.collection = collection
        if not self._ensure_started():
            job.cancel.cancel()
            return job
        was_busy = self.busy
        self._pending[job.job_id] = job
        assert self._index_requests is not None
        self._index_requests.job.emit(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return job

    def search(self, collection: str, fn: JobFunction) -> DocumentsJob:
        job = DocumentsJob(next(self._ids), "search", collection, fn)
        if not self._ensure_started():
            job.cancel.cancel()
            return job
        assert self._search_requests is not None
        self._search_requests.job.emit(job)
        return job

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def jobs(self) -> list[DocumentsJob]:
        return list(self._pending.values())

    def cancel_all(self, collection: str | None = None) -> None:
        for job in self._pending.values():
            if collection is None or job.collection == collection:
                job.cancel.cancel()

    def shutdown(self) -> None:
        """Cancels every job, then ends the threads (queued jobs are dropped: indexing resumes next time)."""
        self._closed = True
        self.cancel_all()
        for thread in self._threads:
            if thread.isRunning():
                stop_thread(thread, thread.objectName())
        for requests in (self._index_requests, self._search_requests):
            if requests is not None:
                requests.deleteLater()  # its connection to the old worker goes with it
        self._index_requests = self._search_requests = None
        self._threads.clear()
        self._workers.clear()
        if self._pending:
            self._pending.clear()
            self.busy_changed.emit(False)

    # -- worker reports ------------------------------------------------------------------------------

    def _ended(self, job: DocumentsJob) -> None:
        if self._pending.pop(job.job_id, None) is not None and not self._pending:
            self.busy_changed.emit(False)

    @Slot(object, object)
    def _on_worker_finished(self, job: DocumentsJob, result: object) -> None:
        self._ended(job)
        self.job_finished.emit(job, result)

    @Slot(object, str, str)
    def _on_worker_failed(self, job: DocumentsJob, message: str, hint: str) -> None:
        self._ended(job)
        self.job_failed.emit(job, message, hint)

    @Slot(object)
    def _on_worker_cancelled(self, job: DocumentsJob) -> None:
        self._ended(job)
        self.job_cancelled.emit(job)

    @Slot(object)
    def _on_worker_bug_raised(self, error: BaseException) -> None:
        sys.excepthook(type(error), error, error.__traceback__)
