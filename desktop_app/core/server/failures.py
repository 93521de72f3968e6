"""A failure nobody foresaw (a bug in Hearth), told in plain words.

What the user reads says what failed and what to do; the exception itself (its type, text and
traceback) goes to the log only: a repr like ``RuntimeError('…')`` means nothing to them, and
an API client must not learn Hearth's internals from it.
"""

from __future__ import annotations

from pathlib import Path

REQUEST_FAILED = "Hearth could not answer this request"
START_FAILED = "The server could not start"


def unexpected(what: str, logs: Path | None = None) -> str:
    """``what`` failed (e.g. "The server could not start") through a fault in Hearth itself.

    ``logs``: the folder of the window's log, to name it (never sent to an API client).
    """
    where = f"Hearth's log (in {logs})" if logs is not None else "Hearth's log"
    return (
        f"{what} because of a fault in Hearth. Try again; if it happens again, "
        f"please report it with {where}, which has the details."
    )
