"""The download queue on its own thread, for the Models section.

:class:`DownloadService` owns the :class:`DownloadQueue` and a QThread whose worker runs queued
downloads one after another. The GUI pauses, resumes and cancels through the queue (it is
thread-safe); every change comes back as ``item_changed`` (the queue notifies at most every
0.2 s per download while bytes flow).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.hub.downloads import DownloadItem, DownloadQueue, DownloadState
from desktop_app.ui.threads import stop_thread

log = logging.getLogger(__name__)


class DownloadWorker(QObject):
    """Lives on the download thread: runs queued downloads until none is left."""

    idle = Signal()

    def __init__(self, queue: DownloadQueue) -> None:
        super().__init__()
        self._queue = queue
        self.stopping = False

    @Slot()
    def process(self) -> None:
        while not self.stopping and (item := self._queue.next_queued()) is not None:
            try:
                self._queue.run(item.id)
            except (Cancelled, HearthError):
                pass  # recorded on the item, which the GUI shows
            except Exception:  # a bug: recorded as a failed download and logged
                log.exception("Download of %s failed unexpectedly", item.filename)
        self.idle.emit()


class DownloadService(QObject):
    """The GUI's handle on the download queue and its thread. Use from the GUI thread."""

    item_changed = Signal(object)  # DownloadItem (a copy)
    item_finished = Signal(object)  # DownloadItem that reached "done"
    _wake = Signal()

    def __init__(self, queue: DownloadQueue | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue or DownloadQueue()
        self._unsubscribe = self.queue.subscribe(self._on_queue_changed)
        self._thread = QThread()
        self._thread.setObjectName("hearth-downloads")
        self._worker = DownloadWorker(self.queue)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._wake.connect(self._worker.process)
        self._thread.start()
        self._stopped = False
        self.wake()  # downloads left queued by the last session continue

    def _on_queue_changed(self, item: DownloadItem) -> None:
        # Any thread: a signal emitted here reaches GUI-thread slots queued.
        self.item_changed.emit(item)
        if item.state is DownloadState.DONE:
            self.item_finished.emit(item)

    def wake(self) -> None:
        """Starts the worker on queued downloads (a no-op while it is busy: it picks them up)."""
        if not self._stopped and self.queue.next_queued() is not None:
            self._wake.emit()

    def add(self, items: list[DownloadItem]) -> None:
        for item in items:
            self.item_changed.emit(item)
        self.wake()

    def pause(self, item_id: str) -> None:
        self.queue.pause(item_id)

    def resume(self, item_id: str) -> None:
        self.queue.resume(item_id)
        self.wake()

    def cancel(self, item_id: str) -> None:
        self.queue.cancel(item_id)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Stops the running download (it continues at the next start) and the thread. Safe twice."""
        if self._stopped:
            return
        self._stopped = True
        self._worker.stopping = True
        self.queue.suspend_all()
        stop_thread(self._thread, "download")
        self._unsubscribe()
