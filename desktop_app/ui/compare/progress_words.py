"""Compare's progress in words: the step being measured, the time left, and whether other
programs are keeping the processors busy (which makes the measured speeds read low).

A bare percentage that sits at 93% for minutes tells the user nothing; this says what is being
measured now, how long the rest should take at the pace so far, and why it may be slow.
"""

from __future__ import annotations

import time
from typing import Any

from desktop_app.core.cancel import Progress
from desktop_app.core.units import human_duration

BUSY_SHARE = 0.25  # the share of the processors other programs use before the page says so
MIN_FRACTION = 0.03  # before this much is done, the pace says nothing yet
MIN_ELAPSED_S = 5.0
BUSY_SAMPLE_S = 2.0  # the processors' load is read at most this often


class OthersLoad:
    """The share of the processors used by programs other than Hearth and its measuring children,
    between two readings (psutil, imported when first read)."""

    def __init__(self) -> None:
        self._last: tuple[float, float, float] | None = None  # (wall, busy all, busy ours)
        self.share = 0.0

    def read(self) -> float:
        import psutil

        try:
            times = psutil.cpu_times()
            busy = float(sum(times)) - float(times.idle) - float(getattr(times, "iowait", 0.0))
            me = psutil.Process()
            ours = 0.0
            for process in (me, *me.children(recursive=True)):
                try:
                    ours += sum(process.cpu_times()[:2])
                except psutil.Error:  # a child that ended meanwhile
                    continue
        except (OSError, psutil.Error):
            return self.share
        now = time.monotonic()
        if self._last is not None:
            wall = now - self._last[0]
            others = (busy - self._last[1]) - (ours - self._last[2])
            if wall > 0:
                self.share = max(0.0, min(1.0, others / (wall * (psutil.cpu_count() or 1))))
        self._last = (now, busy, ours)
        return self.share


class ProgressWords:
    """Turns the comparison's progress into one or two lines for the status label."""

    def __init__(self, load: Any = None) -> None:
        self.started = time.monotonic()
        self.load = load if load is not None else OthersLoad()
        self._last_sample = 0.0
        self.load.read()  # the first reading is the baseline

    def left_s(self, fraction: float, now: float | None = None) -> float | None:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        if fraction < MIN_FRACTION or elapsed < MIN_ELAPSED_S or fraction >= 1.0:
            return None
        return elapsed * (1.0 - fraction) / fraction

    def describe(self, progress: Progress) -> str:
        fraction = progress.fraction or 0.0
        left = self.left_s(fraction)
        when = f"about {human_duration(left)} left" if left is not None else "working out the time left…"
        step = progress.message or "Measuring"
        lines = [f"{fraction:.0%} · {when}", f"Now: {step}"]
        now = time.monotonic()
        if now - self._last_sample >= BUSY_SAMPLE_S:
            self._last_sample = now
            self.load.read()
        if self.load.share >= BUSY_SHARE:
            lines.append(
                f"Other programs are using about {self.load.share:.0%} of the processors: this takes longer, "
                "and the speeds measured now may read low. Close them for figures to quote."
            )
        return "\n".join(lines)
