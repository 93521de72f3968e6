"""Printing helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TextIO, TypeVar

from desktop_app.core.cancel import CancelToken

T = TypeVar("T")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def stream_to_stdout(items: Iterable[str | T], final: type[T], echo: bool, cancel: CancelToken) -> T:
    """Writes a reply's text pieces as they come (when ``echo``) and returns the closing
    ``final`` object; Ctrl+C cancels the generation before it propagates."""
    result: T | None = None
    try:
        for item in items:
            if isinstance(item, final):
                result = item
            elif echo:
                sys.stdout.write(str(item))
                sys.stdout.flush()
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    assert result is not None
    return result


P = TypeVar("P")


class ProgressLine(Generic[P]):
    """A command's progress on stderr, one line: rewritten in place on a terminal (at most every
    ``tty_every`` seconds), else a new line at most every ``log_every`` seconds, or at each tenth
    of the way (``by_tenths``: a log, not an animation). The last update always shows, and so does
    the first of a new ``phase`` (a step that starts and ends between two lines is said). The text
    is the command's own (``words(progress, tty)``); ``close()`` ends a line left open."""

    def __init__(
        self,
        words: Callable[[P, bool], str],
        final: Callable[[P], bool],
        *,
        fraction: Callable[[P], float] | None = None,
        phase: Callable[[P], object] | None = None,
        tty_every: float = 0.1,
        log_every: float = 0.0,
        by_tenths: bool = False,
        pad: int = 0,  # on a terminal, the width a line is padded to (0: the previous line's)
        end_line_when_final: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.words, self.final, self.fraction, self.phase = words, final, fraction, phase
        self._phase: object = None
        self.tty_every, self.log_every, self.by_tenths = tty_every, log_every, by_tenths
        self.pad, self.end_line_when_final = pad, end_line_when_final
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._tenth = -1
        self._width = 0
        self._open = False  # a line drawn on the terminal and not ended yet

    def __call__(self, progress: P) -> None:
        final = self.final(progress)
        phase = self.phase(progress) if self.phase else None
        new_phase, self._phase = phase != self._phase, phase
        if self._due(final or new_phase, self.fraction(progress) if self.fraction else 0.0):
            self._show(self.words(progress, self.tty), final)

    def _due(self, must: bool, fraction: float) -> bool:
        if self.by_tenths and not self.tty:
            tenth = int(fraction * 10)
            if tenth <= self._tenth:
                return False
            self._tenth = tenth
            return True
        now = time.monotonic()
        if not must and now - self._last < (self.tty_every if self.tty else self.log_every):
            return False
        self._last = now
        return True

    def _show(self, line: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r" + line.ljust(self.pad or self._width))
            self._width = len(line)
            self._open = True
            if final and self.end_line_when_final:
                self.close()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
        self._open = False


def bar(fraction: float, width: int, full: str = "#", empty: str = "-") -> str:
    filled = int(fraction * width)
    return full * filled + empty * (width - filled)
