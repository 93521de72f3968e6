"""Indexing progress shows each new step at once (issue 21): the first preparation of the embedding
model takes many seconds right after a scan of a few milliseconds, and the throttle used to hold
"Preparing the embedding model…" back, so the window said "Looking for new and changed files…"
all along. The real worker, run on the test's thread, with a job that reports as indexing does."""

from __future__ import annotations

import time
from typing import Any

from desktop_app.core.rag import index_report
from desktop_app.ui.documents.workers import PROGRESS_INTERVAL_S, DocumentsJob, DocumentsWorker


def test_a_new_phase_is_shown_at_once_and_counts_stay_throttled(qtbot: Any) -> None:
    worker = DocumentsWorker()
    shown: list[index_report.IndexProgress] = []
    worker.progressed.connect(lambda _job, update: shown.append(update))

    def index(_cancel: Any, progress: Any, _report: Any) -> str:
        progress(index_report.IndexProgress(0, None, "Looking for new and changed files", phase="scanning"))
        preparing = "Preparing the embedding model for fast indexing (once)"
        progress(index_report.IndexProgress(0, 3, preparing, phase="loading"))
        seen_while_preparing = [u.message for u in shown]
        for done in range(50):  # a burst of counts within one interval: throttled
            progress(index_report.IndexProgress(done, 3, "a.pdf", files_total=3, files_done=0, phase="indexing"))
        time.sleep(PROGRESS_INTERVAL_S)
        progress(index_report.IndexProgress(3, 3, "", files_total=3, files_done=3, phase="done"))
        return " | ".join(seen_while_preparing)

    for _round in range(2):
        shown.clear()
        with qtbot.waitSignal(worker.finished) as finished:
            worker.run(DocumentsJob(1, "index", "papers", index))
        # While the model was being prepared, the window already said so.
        assert finished.args[1].endswith("Preparing the embedding model for fast indexing (once)")
        phases = [u.phase for u in shown]
        assert phases[:3] == ["scanning", "loading", "indexing"] and phases[-1] == "done"
        assert len(shown) <= 5  # the 50 counts came through once, plus the last before "done"
