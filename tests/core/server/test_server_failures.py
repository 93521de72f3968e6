"""A request that fails through a bug in Hearth is told in plain words in the window's "Last
errors" and the request log; the exception's details go to the log only.

A bug cannot be provoked on purpose, so the model thread's answer is a real ``Future`` holding a
RuntimeError (how a failing job reports to the server); the rest is the real request log. The
start of the server fails for real in tests/ui/test_local_server_failure_gui.py."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.server.failures import REQUEST_FAILED, unexpected
from desktop_app.core.server.request_log import RequestLog, RequestRecord, read_log
from desktop_app.core.settings import SamplingSettings


def test_a_failed_request_is_logged_in_words(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="desktop_app.core.server.request_log")
    log = RequestLog(tmp_path / "hearth.db")
    record = RequestRecord("/v1/chat/completions", "curl", "smollm2", "chatcmpl-1", "Hi", "", SamplingSettings())
    future: Future[Any] = Future()
    log.record_generation(record, future)
    future.set_exception(RuntimeError("the job's internals"))
    log.drain()
    try:
        (error,) = log.stats().errors
        (row,) = read_log(log.path)
    finally:
        log.close()
    words = unexpected(REQUEST_FAILED)
    assert error.message == row.message == words and not error.ok
    assert words.startswith("Hearth could not answer this request because of a fault in Hearth. Try again;")
    assert "RuntimeError" not in words and "internals" not in words
    assert "RuntimeError: the job's internals" in caplog.text  # the details: in the log only
