"""Run one piece of lab work in a fresh child process, stream its messages back, kill it on cancel.

Why a process and not a thread: llama.cpp's quantiser cannot be interrupted (it has
no progress or abort callback), and a process is the only honest unit for peak
memory — one model's pages must not count against the next. Children are started
with ``multiprocessing``'s *spawn* method (a fresh interpreter, also in a frozen
app once ``multiprocessing.freeze_support()`` has run) and talk through a pipe:
each message is a dict with an ``event`` key ("progress", ..., then one "result"
or "error").
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import traceback
from collections.abc import Callable
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError

log = logging.getLogger(__name__)

Message = dict[str, Any]
ChildTarget = Callable[[dict[str, Any], Any], None]

# How often the parent looks at the cancel token while the child is quiet.
_CANCEL_POLL_S = 0.1


class ChildSender:
    """The child's end of the pipe: sends messages, turns exceptions into an "error" message."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def send(self, event: str, **data: Any) -> None:
        self._conn.send({"event": event, **data})

    def run(self, fn: Callable[[ChildSender], dict[str, Any]]) -> None:
        try:
            result = fn(self)
        except HearthError as exc:
            self.send("error", message=exc.message, hint=exc.hint)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it there
            self.send("error", message=f"{type(exc).__name__}: {exc}", hint="", traceback=traceback.format_exc())
        else:
            self.send("result", **result)
        finally:
            self._conn.close()


def run_child(
    target: ChildTarget,
    job: dict[str, Any],
    on_message: Callable[[Message], None] | None = None,
    cancel: CancelToken | None = None,
    what: str = "The measurement",
) -> Message:
    """Runs ``target(job, conn)`` in a spawned process and returns its "result" message.

    Other messages go to ``on_message`` as they arrive (on the calling thread).
    Raises Cancelled (the child is killed at once), HearthError for an "error"
    message, and HearthError when the child dies without a word (killed for lack
    of memory, a crash inside llama.cpp).
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(job, sender), daemon=True, name="hearth-quantlab")
    process.start()
    sender.close()  # the child holds its own copy; ours must go so EOF is seen when it exits
    result: Message | None = None
    error: Message | None = None
    try:
        while result is None and error is None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled
            ready = multiprocessing.connection.wait([receiver, process.sentinel], timeout=_CANCEL_POLL_S)
            if not ready:
                continue
            if receiver in ready or receiver.poll():
                try:
                    message: Message = receiver.recv()
                except EOFError:
                    break
                event = message.get("event")
                if event == "result":
                    result = message
                elif event == "error":
                    error = message
                elif on_message is not None:
                    on_message(message)
            elif not process.is_alive():
                break
    finally:
        exit_code = _stop(process, force=result is None and error is None)
        receiver.close()
    if error is not None:
        if error.get("traceback"):
            log.error("%s failed in its child process:\n%s", what, error["traceback"])
        raise HearthError(str(error.get("message", "")), str(error.get("hint", "")))
    if result is None:
        why = "it ran out of memory or crashed" if exit_code and exit_code < 0 else f"exit status {exit_code}"
        raise HearthError(
            f"{what} stopped unexpectedly ({why}).",
            "Close other programs to free memory, or try a smaller model or fewer tokens.",
        )
    return result


def _stop(process: Any, force: bool) -> int | None:
    """Waits for the child (killing it first when ``force``); returns its exit code."""
    if force and process.is_alive():
        process.kill()
    process.join(timeout=30)
    if process.is_alive():  # pragma: no cover - a child that ignores SIGKILL
        log.warning("Child process %s did not exit", process.pid)
        return None
    code: int | None = process.exitcode
    process.close()
    return code
