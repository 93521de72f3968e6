from __future__ import annotations

import ctypes
import threading

from desktop_app.core.cancel import CancelToken, Throttle
from desktop_app.core.inference.abort_flag import AbortFlag

ABORT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)  # ggml_abort_callback's signature


def test_on_cancel_runs_once_on_cancel_or_at_once_when_already_cancelled() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    assert calls == []
    token.cancel()
    token.cancel()
    assert calls == ["a"]
    token.on_cancel(lambda: calls.append("b"))
    assert calls == ["a", "b"]


def test_abort_flag_reads_false_until_set_through_the_native_callback() -> None:
    """Calls the callback exactly as llama.cpp does: a C function pointer with the data pointer."""
    flag = AbortFlag(ABORT_CALLBACK)
    assert flag.callback(flag.data) is False
    setter = threading.Thread(target=flag.set)
    setter.start()
    setter.join()
    assert flag.callback(flag.data) is True
    assert flag.is_set


def test_a_throttle_passes_the_first_call_then_one_per_interval_and_any_forced_one() -> None:
    hourly = Throttle(3600)
    assert hourly.ready()  # the first update is shown at once
    assert not hourly.ready()  # the next ones wait for the interval
    assert hourly.ready(force=True)  # the last one (done) always goes through
    assert not hourly.ready()
    waiting = Throttle(3600, wait_first=True)  # e.g. a save: not at the very start
    assert not waiting.ready()
    always = Throttle(0)
    assert always.ready() and always.ready()
