"""One writer at a time: OS-level file locks between Hearth's processes (the window, `hearth …`).

A lock is a small file holding the holder's process id and command line, so a second
writer can say *who* has it. The OS releases the lock when the holder dies (flock on
POSIX, msvcrt on Windows), so a killed process never leaves a stale lock behind; the
text in the file is only ever read while someone holds it. Within one process a
thread lock per file does the same job (flock does not exclude the process itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from desktop_app.core.errors import Cancelled, HearthError

POLL_S = 0.2
_INFO_AT = 1  # Windows locks byte 0; the holder's details are written after it
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class LockHeldError(HearthError):
    """Another program (or task) is writing to the same thing."""


def holder(path: Path) -> str:
    """Who holds the lock at ``path``, in words ("hearth docs add …, process 123"), or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(_INFO_AT)
            data = json.loads(f.read(4096).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    command = str(data.get("command", "")).strip() or "another Hearth program"
    pid = data.get("pid")
    return f"{command}, process {pid}" if pid else command


def _describe_self() -> str:
    argv = [os.path.basename(sys.argv[0] or "hearth"), *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m", "-c") or argv[0].startswith("python"):
        argv[0] = "hearth"
    text = " ".join(argv[:6]) if len(argv) > 1 else "Hearth (the window)"
    return text[:200]


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


@contextlib.contextmanager
def hold(
    path: Path,
    what: str,
    wait_s: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    hint: str = "Wait for it to finish, or stop it, then try again.",
) -> Iterator[None]:
    """Holds the lock file ``path`` for the ``with`` block. When another process (or thread)
    holds it: waits up to ``wait_s`` seconds (``on_wait`` is told once, in words, who it waits
    for; ``cancelled`` is polled), then raises :class:`LockHeldError` naming ``what`` and the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    told = False
    in_process = _thread_lock(path)
    while not (in_process.acquire(timeout=POLL_S) if wait_s > 0 else in_process.acquire(blocking=False)):
        told = _wait_or_refuse(path, what, deadline, told, on_wait, cancelled, hint, "another task in this program")
    fd = -1
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        while not _try_lock(fd):
            told = _wait_or_refuse(path, what, deadline, told, on_wait, cancelled, hint, "")
            time.sleep(POLL_S)
        info = json.dumps({"pid": os.getpid(), "command": _describe_self(), "since": time.time()})
        with contextlib.suppress(OSError):
            os.ftruncate(fd, _INFO_AT)
            os.lseek(fd, _INFO_AT, os.SEEK_SET)
            os.write(fd, info.encode("utf-8"))
        yield
    finally:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, _INFO_AT)
            _unlock(fd)
            os.close(fd)
        in_process.release()


def _wait_or_refuse(
    path: Path,
    what: str,
    deadline: float,
    told: bool,
    on_wait: Callable[[str], None] | None,
    cancelled: Callable[[], bool] | None,
    hint: str,
    who: str,
) -> bool:
    who = who or holder(path) or "another Hearth program"
    if cancelled is not None and cancelled():
        raise Cancelled()
    if time.monotonic() >= deadline:
        raise LockHeldError(f"{what} is in use by {who}.", hint)
    if not told and on_wait is not None:
        object_ = what[0].lower() + what[1:] if what.startswith("The ") else what
        on_wait(f"Waiting for {who}, which is using {object_}")
    return True
