"""How an engine process ended, told in plain words, and the crash log in the data folder.

A native crash inside llama.cpp (a kernel bug, a GGUF that slips past the loader's checks), the
system's out-of-memory killer or a kill after Stop all end the engine process, never the app.
:func:`describe` turns the exit status into words the user can act on; a second crash of the
same model with the same settings suggests safer settings; every crash is appended to
``logs/engine-crashes.log`` (Help › Engine crash log) with what the process wrote last.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core import paths
from desktop_app.core.errors import HearthError
from desktop_app.core.settings import LoadSettings

log = logging.getLogger(__name__)

LOG_NAME = "engine-crashes.log"
_TAIL_BYTES = 4000  # of the engine's own output, kept in the log with each crash

# What the engine was asked to do, in the words of the message ("while …").
_DOING = {
    "load": "loading the model",
    "stream_chat": "writing a reply",
    "stream_tokens": "writing a reply",
    "generate": "writing a reply",
    "keep_prefix": "reading a prompt",
    "plan_prompt": "preparing the prompt",
    "render": "preparing the prompt",
    "tokenize_chat": "preparing the prompt",
    "tokenize_text": "reading the prompt's text",
    "count_tokens": "counting tokens",
    "set_template": "switching the chat template",
}

# Windows reports a native crash as an NTSTATUS exit code, not a signal.
_WINDOWS_CODES = {
    0xC0000005: "it crashed (access violation)",
    0xC000001D: "it crashed (illegal instruction: this build uses an instruction the processor lacks)",
    0xC00000FD: "it crashed (stack overflow)",
    0xC0000409: "it aborted (a check inside llama.cpp failed)",
    0xC0000017: "it ran out of memory",
}

_lock = threading.Lock()
_crash_counts: dict[tuple[str, str], int] = {}


@dataclass(frozen=True)
class CrashReport:
    """One engine process that ended without being asked to."""

    model: str  # the file name, "" when no model was loaded
    path: str
    settings: LoadSettings | None
    exit_code: int | None
    how: str  # "it crashed (segmentation fault, SIGSEGV)"
    doing: str  # "writing a reply"
    repeat: int  # how many times this model with these settings has crashed in this session
    output_tail: str = ""
    n_threads: int = 0  # what the engine really used (0: not known)
    n_ctx: int = 0  # the last of what the process wrote to its error output

    @property
    def out_of_memory(self) -> bool:
        return self.exit_code == -getattr(signal, "SIGKILL", 9)


class EngineCrashError(HearthError):
    """The engine process ended in the middle of a request (a crash, out of memory, killed)."""

    def __init__(self, report: CrashReport) -> None:
        super().__init__(message(report), hint(report))
        self.report = report


def describe(exit_code: int | None) -> str:
    """How a process ended, in words: "it crashed (segmentation fault, SIGSEGV)"."""
    if exit_code is None:
        return "it stopped answering"
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            return f"it was ended by signal {-exit_code}"
        words = {
            "SIGSEGV": f"it crashed (segmentation fault, {name})",
            "SIGBUS": f"it crashed (bus error, {name})",
            "SIGILL": f"it crashed (illegal instruction, {name}: this build uses an instruction the processor lacks)",
            "SIGFPE": f"it crashed (arithmetic error, {name})",
            "SIGABRT": f"it aborted ({name}: a check inside llama.cpp failed)",
            "SIGKILL": f"it was killed ({name}), most likely by the system because memory ran out",
            "SIGTERM": f"it was told to end ({name}) by another program",
        }
        return words.get(name, f"it was ended by {name}")
    if sys.platform == "win32" and exit_code in _WINDOWS_CODES:
        return _WINDOWS_CODES[exit_code]
    return f"it exited with status {exit_code}"


def doing(method: str, items_received: int = 0) -> str:
    """What the engine was doing, from the method it was running."""
    if method in ("stream_chat", "stream_tokens", "generate") and items_received == 0:
        return "reading the prompt"
    return _DOING.get(method, f"running {method.replace('_', ' ')}")


def _settings_key(path: str, settings: LoadSettings | None) -> tuple[str, str]:
    return path, repr(settings)


def record(
    path: str,
    settings: LoadSettings | None,
    exit_code: int | None,
    method: str,
    items_received: int = 0,
    output_tail: str = "",
    used: tuple[int, int] = (0, 0),
) -> CrashReport:
    """Counts the crash, appends it to the crash log and returns its report (``used``: the
    threads and context the engine really had, when known)."""
    with _lock:
        key = _settings_key(path, settings)
        _crash_counts[key] = _crash_counts.get(key, 0) + 1
        repeat = _crash_counts[key]
    report = CrashReport(
        model=Path(path).name if path else "",
        path=path,
        settings=settings,
        exit_code=exit_code,
        how=describe(exit_code),
        doing=doing(method, items_received),
        repeat=repeat,
        output_tail=output_tail[-_TAIL_BYTES:],
        n_threads=used[0],
        n_ctx=used[1],
    )
    _append_to_log(report)
    return report


def message(report: CrashReport) -> str:
    model = f"“{report.model}”" if report.model else "no model"
    then = (
        f"{model} is not loaded."
        if report.doing == _DOING["load"]
        else f"the engine for {model} starts again with your next request."
    )
    return f"The model's engine stopped while {report.doing}: {report.how}. Hearth is fine; {then}"


def safer_settings(settings: LoadSettings | None, threads_used: int = 0, n_ctx_used: int = 0) -> LoadSettings:
    """Settings less likely to crash again: half the threads, half the context (not under 512)."""
    base = settings or LoadSettings()
    threads = threads_used or base.n_threads
    n_ctx = n_ctx_used or base.n_ctx
    if not threads:
        from desktop_app.core import hardware

        threads = hardware.physical_cores()
    return dataclasses.replace(base, n_threads=max(1, threads // 2), n_ctx=max(512, n_ctx // 2))


def hint(report: CrashReport) -> str:
    if report.repeat < 2:
        if report.out_of_memory:
            return "Close other programs to free memory, or load the model with a smaller context."
        return f"The details are in the engine crash log (Help menu): {log_path()}."
    safer = safer_settings(report.settings, report.n_threads, report.n_ctx)
    threads = report.n_threads or (report.settings.n_threads if report.settings else 0)
    return (
        f"This is the {_ordinal(report.repeat)} crash of this model with these settings. Try safer ones in "
        f"Settings › Model: {safer.n_threads} threads{f' instead of {threads}' if threads else ''}, "
        f"a context of {safer.n_ctx:,} tokens, or without the GPU (0 GPU layers). "
        f"Details are in the engine crash log (Help menu)."
    )


def _ordinal(n: int) -> str:
    return {2: "second", 3: "third"}.get(n, f"{n}th")


def log_path() -> Path:
    return paths.logs_dir() / LOG_NAME


def _append_to_log(report: CrashReport) -> None:
    lines = [
        f"== {time.strftime('%Y-%m-%d %H:%M:%S')}  engine crash",
        f"model: {report.path or '(none)'}",
        f"settings: {report.settings!r}",
        f"how it ended: {report.how} (exit code {report.exit_code})",
        f"while: {report.doing}",
        f"crashes with this model and these settings in this session: {report.repeat}",
    ]
    if report.output_tail.strip():
        lines += ["last output of the engine process:", report.output_tail.rstrip()]
    try:
        with log_path().open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n\n")
    except OSError:  # a full or read-only disk must not hide the crash itself
        log.warning("Could not write the engine crash log", exc_info=True)
