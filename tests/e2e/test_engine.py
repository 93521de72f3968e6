"""The engine on the real SmolLM2 model: streaming, seeds, timings, stopping, context overflow."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError, ModelLoadError
from desktop_app.core.inference.engine import Engine, Message, Reply
from desktop_app.core.settings import LoadSettings, SamplingSettings

QUESTION = [Message("system", "You are a helpful assistant."), Message("user", "Name three colours.")]


def _greedy(max_tokens: int = 24, seed: int = 1) -> SamplingSettings:
    return SamplingSettings(temperature=0.0, max_tokens=max_tokens, seed=seed)


def test_streams_text_then_a_reply_with_timings(engine: Engine) -> None:
    items = list(engine.stream_chat(QUESTION, _greedy()))
    pieces, final = items[:-1], items[-1]
    assert isinstance(final, Reply)
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == final.text  # type: ignore[arg-type]
    assert final.text.strip()
    t = final.timings
    assert t.prompt_tokens == len(engine.tokenize_chat(QUESTION))
    assert 0 < t.gen_tokens <= 24
    assert t.gen_tok_s > 0 and t.ttft_s > 0 and t.total_s >= t.ttft_s
    assert final.context_used == t.prompt_tokens + t.gen_tokens
    assert final.finish in ("stop", "length")


def test_same_seed_same_answer_and_seed_is_recorded(engine: Engine) -> None:
    sampling = SamplingSettings(temperature=0.9, max_tokens=20, seed=1234)
    a = engine.generate(QUESTION, sampling)
    b = engine.generate(QUESTION, sampling)
    assert a.text == b.text
    assert a.seed == 1234
    random_seeded = engine.generate(QUESTION, SamplingSettings(temperature=0.9, max_tokens=20, seed=-1))
    assert random_seeded.seed >= 0
    replay = engine.generate(QUESTION, SamplingSettings(temperature=0.9, max_tokens=20, seed=random_seeded.seed))
    assert replay.text == random_seeded.text


def test_max_tokens_ends_with_length(engine: Engine) -> None:
    reply = engine.generate([Message("user", "Write a long story about a dragon.")], _greedy(max_tokens=5))
    assert reply.finish == "length"
    assert reply.timings.gen_tokens == 5


def test_stop_mid_reply(engine: Engine) -> None:
    cancel = CancelToken()
    pieces: list[str] = []
    reply: Reply | None = None
    for item in engine.stream_chat([Message("user", "Write a long story about a dragon.")], _greedy(400), cancel):
        if isinstance(item, Reply):
            reply = item
        else:
            pieces.append(item)
            if len(pieces) == 3:
                cancel.cancel()
    assert reply is not None
    assert reply.finish == "cancelled" and reply.stopped
    assert reply.timings.gen_tokens <= 4  # stops after the token in flight
    assert reply.text == "".join(pieces)


def test_stop_while_reading_the_prompt_then_keep_working(engine: Engine) -> None:
    """Cancelling before prompt processing aborts llama_decode; the engine stays usable."""
    cancel = CancelToken()
    cancel.cancel()
    long_prompt = [Message("user", "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 80)]
    reply = engine.generate(long_prompt, _greedy(), cancel)
    assert reply.finish == "cancelled"
    assert reply.timings.gen_tokens == 0
    assert engine.generate(QUESTION, _greedy(8)).timings.gen_tokens > 0


def test_cancel_from_another_thread(engine: Engine) -> None:
    cancel = CancelToken()
    first_piece = threading.Event()
    result: list[Reply] = []

    def consume() -> None:
        for item in engine.stream_chat([Message("user", "Count from one to two hundred.")], _greedy(400), cancel):
            if isinstance(item, Reply):
                result.append(item)
            else:
                first_piece.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert first_piece.wait(60)
    cancel.cancel()
    worker.join(60)
    assert result and result[0].finish == "cancelled"
    assert result[0].timings.gen_tokens < 400


def test_long_conversation_drops_oldest_turns_visibly(engine: Engine) -> None:
    filler = "This is a long earlier message about many unrelated things. " * 30
    history = [Message("system", "You are terse.")]
    for i in range(12):
        history += [Message("user", f"{i}: {filler}"), Message("assistant", f"Noted {i}.")]
    history.append(Message("user", "What is 2 + 2?"))
    assert len(engine.tokenize_chat(history)) > engine.model.n_ctx  # type: ignore[union-attr]
    reply = engine.generate(history, _greedy(8))
    assert reply.dropped_messages > 0
    assert reply.dropped_messages % 2 == 0  # whole exchanges are dropped
    assert reply.context_used <= engine.model.n_ctx  # type: ignore[union-attr]
    plan = engine.plan_prompt(history, 8)
    kept = history[:1] + history[1 + plan.dropped_messages :]
    assert plan.tokens == engine.tokenize_chat(kept)


def test_single_message_too_long_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(HearthError, match="context"):
        engine.generate([Message("user", "word " * 3000)], _greedy(8))


def test_count_tokens(engine: Engine) -> None:
    assert engine.count_tokens("hello world") >= 2
    assert engine.count_tokens("") == 0


def test_broken_file_keeps_the_loaded_model(engine: Engine, tmp_path: Path) -> None:
    before = engine.model
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    with pytest.raises(ModelLoadError):
        engine.load(bad)
    assert engine.model is before
    assert engine.generate(QUESTION, _greedy(4)).text


def test_unloadable_architecture_is_a_plain_error(tmp_path: Path) -> None:
    """A well-formed GGUF that llama.cpp cannot load (unknown architecture)."""
    import gguf
    import numpy as np

    path = tmp_path / "alien.gguf"
    writer = gguf.GGUFWriter(str(path), "alienarch")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="could not load"):
        Engine().load(path, LoadSettings(n_ctx=256))


def test_load_reports_progress_and_settings(smollm2_path: Path) -> None:
    seen: list[float] = []
    eng = Engine()
    model = eng.load(smollm2_path, LoadSettings(n_ctx=512, n_threads=1), progress=lambda p: seen.append(p.done))
    try:
        assert seen and seen[-1] == pytest.approx(1.0)
        assert model.n_ctx == 512 and model.n_threads == 1
        assert model.backend == "CPU" and model.n_gpu_layers == 0  # this machine has no GPU
        assert model.llama_cpp_version
    finally:
        eng.unload()


def test_cancelled_load(smollm2_path: Path) -> None:
    from desktop_app.core.errors import Cancelled

    cancel = CancelToken()
    cancel.cancel()
    eng = Engine()
    with pytest.raises(Cancelled):
        eng.load(smollm2_path, LoadSettings(n_ctx=512), cancel=cancel)
    assert not eng.loaded


def test_context_is_capped_at_training_length(smollm2_path: Path) -> None:
    eng = Engine()
    model = eng.load(smollm2_path, LoadSettings(n_ctx=100_000))
    try:
        assert model.n_ctx == 8192
        assert model.notes
    finally:
        eng.unload()


def test_stop_interrupts_prompt_processing_midway(engine: Engine) -> None:
    """Cancel while llama.cpp is inside one long prompt decode: it returns without a token."""
    cancel = CancelToken()
    long_prompt = [Message("user", "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 150)]
    result: list[Reply] = []
    worker = threading.Thread(target=lambda: result.append(engine.generate(long_prompt, _greedy(), cancel)))
    worker.start()
    threading.Timer(0.05, cancel.cancel).start()
    worker.join(60)
    assert result[0].finish == "cancelled"
    assert result[0].timings.gen_tokens == 0
    # Only part of the prompt was processed before the abort.
    assert result[0].timings.prompt_eval_tokens < result[0].timings.prompt_tokens
    assert engine.generate(QUESTION, _greedy(4)).timings.gen_tokens > 0
