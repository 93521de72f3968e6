"""What every background piece of the window shares: one way a job's end is reported, and one
way a thread is stopped. The model thread, the job pool, the download thread, indexing and the
comparison jobs all use these, so an error is routed the same everywhere: a ``HearthError`` is
told in its own words, ``Cancelled`` is silent, anything else is a bug (logged and shown as one)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QThread

from desktop_app.core.errors import Cancelled, HearthError

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 30_000  # how long closing the window waits for a background thread

T = TypeVar("T")


def report_outcome(
    work: Callable[[], T],
    *,
    succeeded: Callable[[T], Any],
    failed: Callable[[str, str], Any],
    cancelled: Callable[[], Any],
    bug: Callable[[BaseException], Any],
    what: str,
) -> None:
    """Runs ``work`` and reports how it ended, exactly once: ``succeeded(result)``,
    ``cancelled()``, ``failed(message, hint)`` for a HearthError, or for anything else
    ``failed("<what> failed because of an unexpected error.", "")`` and then ``bug(exc)``."""
    try:
        result = work()
    except Cancelled:
        cancelled()
    except HearthError as exc:
        failed(exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - a bug: reported, and the thread lives on
        failed(f"{what} failed because of an unexpected error.", "")
        bug(exc)
    else:
        succeeded(result)


def stop_thread(thread: QThread, name: str, *, quit_loop: bool = True) -> bool:
    """Ends ``thread``'s event loop (unless it ends itself) and waits for it; False, and a log
    line, when it did not stop in time."""
    if quit_loop:
        thread.quit()
    if thread.wait(SHUTDOWN_WAIT_MS):
        return True
    log.error("The %s thread did not stop within %d s", name, SHUTDOWN_WAIT_MS // 1000)
    return False
