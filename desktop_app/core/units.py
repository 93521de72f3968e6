"""Sizes, durations, parameter counts and counts of things ("1 file") in words a person reads at
a glance (status bar, CLI, exports). Every formatter of these lives here."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_parameters(n: float) -> str:
    """A model's parameter count as people write it: "135M", "1.7B"."""
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    return f"{n / 1e6:.0f}M"


def human_duration(seconds: float) -> str:
    """A time taken, in whole seconds: "under a second", "42 s", "3 min 05 s", "1 h 02 min"."""
    return "under a second" if seconds < 1 else _clock(int(seconds))


def about_duration(seconds: float) -> str:
    """An estimate, said after "about": to the nearest second, and "0 s" rather than "under a second"."""
    return _clock(max(0, round(seconds)))


def _clock(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 file", "2 files", "1,204 files" ("1 files" is what a bare f-string writes)."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"
