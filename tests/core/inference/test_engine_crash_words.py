"""How an engine process's end is told: pure functions, no process needed."""

from __future__ import annotations

import signal
from pathlib import Path

from desktop_app.core.inference import engine_crash
from desktop_app.core.settings import LoadSettings


def test_each_way_of_ending_is_said_in_words() -> None:
    assert engine_crash.describe(-signal.SIGSEGV) == "it crashed (segmentation fault, SIGSEGV)"
    assert "memory ran out" in engine_crash.describe(-signal.SIGKILL)
    assert "a check inside llama.cpp failed" in engine_crash.describe(-signal.SIGABRT)
    assert "instruction the processor lacks" in engine_crash.describe(-signal.SIGILL)
    assert engine_crash.describe(3) == "it exited with status 3"
    assert engine_crash.describe(None) == "it stopped answering"
    assert engine_crash.doing("stream_chat", 0) == "reading the prompt"
    assert engine_crash.doing("stream_chat", 5) == "writing a reply"
    assert engine_crash.doing("load") == "loading the model"
    assert engine_crash.doing("some_new_method") == "running some new method"


def test_a_second_crash_with_the_same_settings_offers_safer_ones(hearth_home: Path) -> None:
    settings = LoadSettings(n_ctx=4096, n_threads=8)
    path = str(hearth_home / "words-test.gguf")
    first = engine_crash.record(path, settings, -signal.SIGSEGV, "generate", 3, "ggml: boom\n", (8, 4096))
    assert first.repeat == 1 and "crash log" in engine_crash.hint(first)
    assert "words-test.gguf" in engine_crash.message(first) and "starts again" in engine_crash.message(first)
    second = engine_crash.record(path, settings, -signal.SIGSEGV, "generate", 3, "", (8, 4096))
    hint = engine_crash.hint(second)
    assert second.repeat == 2 and "second crash" in hint
    assert "4 threads instead of 8" in hint and "2,048 tokens" in hint
    other = engine_crash.record(path, LoadSettings(n_ctx=1024), -signal.SIGKILL, "load", 0, "", (0, 0))
    assert other.repeat == 1 and other.out_of_memory and "is not loaded" in engine_crash.message(other)
    log = engine_crash.log_path().read_text(encoding="utf-8")
    assert log.count("engine crash") == 3 and "ggml: boom" in log
