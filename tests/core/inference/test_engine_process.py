"""The engine in its own process: real child processes, real signals, real GGUF files.

One SmolLM2 engine process serves the module (a spawn costs an interpreter and llama_cpp's
import); the tests that kill it rely on the proxy starting a fresh one at the next request.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from gguf_files import with_chat_template

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference import engine_crash
from desktop_app.core.inference.engine import Engine, Message, Reply
from desktop_app.core.inference.engine_crash import EngineCrashError
from desktop_app.core.inference.engine_process import EngineProcess, loaded_models
from desktop_app.core.settings import LoadSettings, SamplingSettings

GREEDY = SamplingSettings(temperature=0.0, max_tokens=6, seed=7)
LONG = SamplingSettings(temperature=0.7, max_tokens=400, seed=7)


@pytest.fixture(scope="module")
def proc(smollm2_path: Path) -> Iterator[EngineProcess]:
    engine = EngineProcess()
    engine.load(smollm2_path, LoadSettings(n_ctx=2048))
    yield engine
    engine.unload()


def test_the_proxy_is_an_engine_and_answers_as_the_engine_does(proc: EngineProcess, engine: Engine) -> None:
    assert isinstance(proc, Engine)
    messages = [Message("user", "Name a colour.")]
    assert proc.count_tokens("hello world") == engine.count_tokens("hello world")
    assert proc.tokenize_chat(messages) == engine.tokenize_chat(messages)
    assert proc.stops == engine.stops
    there, here = proc.generate(messages, GREEDY), engine.generate(messages, GREEDY)
    assert there.text == here.text and there.finish == here.finish
    items = list(proc.stream_chat(messages, GREEDY))
    assert isinstance(items[-1], Reply)
    assert "".join(str(i) for i in items[:-1]) == here.text
    assert proc.model is not None and proc.model.name == engine.model.name  # type: ignore[union-attr]
    assert proc.pid is not None and proc.pid != os.getpid()


def test_a_crash_mid_reply_is_told_plainly_and_the_next_request_gets_a_fresh_engine(
    proc: EngineProcess, hearth_home: Path
) -> None:
    messages = [Message("user", "Tell me a long story about a dragon.")]
    for attempt in (1, 2):
        first_pid = proc.pid
        assert first_pid is not None
        received: list[str | Reply] = []

        def read_and_crash(pid: int = first_pid, received: list[str | Reply] = received) -> None:
            for item in proc.stream_chat(messages, LONG):
                received.append(item)
                if len(received) == 2:
                    os.kill(pid, signal.SIGSEGV)

        with pytest.raises(EngineCrashError) as caught:
            read_and_crash()
        assert received and not any(isinstance(i, Reply) for i in received)  # the partial reply is the caller's
        error = caught.value
        assert "segmentation fault" in error.message and "SIGSEGV" in error.message
        assert "SmolLM2" in error.message and "writing a reply" in error.message
        assert error.report.repeat == attempt
        if attempt == 2:  # the same model and settings again: safer settings are offered
            assert "second crash" in error.hint and "threads" in error.hint and "context of" in error.hint
        assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE
        reply = proc.generate([Message("user", "Hi")], GREEDY)  # a fresh engine, the same model
        assert reply.text and proc.pid not in (None, first_pid)
    log_text = engine_crash.log_path().read_text(encoding="utf-8")
    assert log_text.count("engine crash") == 2 and "SIGSEGV" in log_text and "SmolLM2" in log_text
    assert "Fatal Python error" in log_text  # the engine's own last words (faulthandler) are kept


def test_stop_interrupts_a_long_prompt_without_killing_the_engine(proc: EngineProcess) -> None:
    pid = proc.pid
    words = "apple " * 1200  # over a thousand tokens to evaluate
    cancel = CancelToken()
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    try:
        reply = proc.generate([Message("user", words)], SamplingSettings(max_tokens=8, seed=1), cancel)
    finally:
        timer.cancel()
    assert reply.finish == "cancelled" and reply.timings.gen_tokens == 0
    assert proc.pid == pid  # the engine stopped by itself (the abort flag), no kill needed


def test_stop_ends_an_engine_that_cannot_notice_and_unload_ends_the_process(
    smollm2_path: Path, tmp_path: Path
) -> None:
    looping = with_chat_template(smollm2_path, tmp_path / "looping.gguf")
    engine = EngineProcess()
    try:
        engine.load(looping, LoadSettings(n_ctx=512))
        pid = engine.pid
        # A chat template that never ends: killed after Stop, unless the template sandbox's own
        # clock (3 s) ends it first on a machine too busy to give the engine its second of work.
        cancel = CancelToken()
        timer = threading.Timer(0.5, cancel.cancel)
        timer.start()
        with pytest.raises((Cancelled, HearthError)) as caught:
            list(engine.stream_chat([Message("user", "Hi")], GREEDY, cancel))
        if caught.type is Cancelled:
            assert engine.pid is None and not psutil.pid_exists(pid or 0)  # killed: it could not notice
        assert engine.model is not None  # the model stays chosen: the next request starts it again
        engine.set_template("chatml")  # ...for instance with a template that ends
        assert engine.generate([Message("user", "Hi")], GREEDY).text

        # An engine that does not answer at all (stopped, as a deadlock would leave it): killed too.
        hung = engine.pid
        assert hung is not None
        cancel = CancelToken()
        threading.Timer(0.5, cancel.cancel).start()
        os.kill(hung, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(Cancelled):
            engine.generate([Message("user", "Tell me a story.")], LONG, cancel)
        print(f"A hung engine was ended {time.monotonic() - started:.2f} s after the request")
        assert engine.pid is None and not psutil.pid_exists(hung)
        assert engine.generate([Message("user", "Hi")], GREEDY).text  # started again

        pid = engine.pid
        assert pid is not None and psutil.pid_exists(pid)
        engine.unload()  # the process ends: all of the model's memory returns
        assert engine.pid is None and engine.model is None and not psutil.pid_exists(pid)
        with pytest.raises(HearthError, match="No model is loaded"):
            engine.count_tokens("hi")
    finally:
        engine.unload()


def test_two_models_answer_in_turn_each_in_its_own_process(
    proc: EngineProcess, gemma_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from desktop_app.core import hardware
    from desktop_app.core.fit import together
    from desktop_app.core.models import gguf_meta

    gemma = EngineProcess()
    try:
        gemma.load(gemma_path, LoadSettings(n_ctx=512))
        assert gemma.pid not in (None, proc.pid)
        first = proc.generate([Message("user", "Hi")], GREEDY)
        second = gemma.generate([Message("user", "The sky is")], GREEDY)
        again = proc.generate([Message("user", "Hi")], GREEDY)
        assert first.text and second.text and again.text == first.text
        assert "llama_" not in capfd.readouterr().err  # llama.cpp's log lines stay off the terminal (no -v)
        names = {m.name for m in loaded_models()}
        assert {"SmolLM2-135M-Instruct.Q4_1", gemma_path.stem} <= names
        # Too little memory for a third beside them: a plain refusal that names what is loaded.
        small = dataclasses.replace(hardware.detect(), ram_available=64 * 1024 * 1024)
        with pytest.raises(HearthError, match="does not fit in memory beside") as refused:
            together.check_room(gguf_meta.read_local(gemma_path), "third.gguf", 512, loaded_models(), small)
        assert "SmolLM2" in refused.value.message and "Unload" in refused.value.hint
    finally:
        gemma.unload()
