"""`hearth sweep` as a script uses it: real subprocesses, the real SmolLM2 (labels constrained,
temperature 0). A sweep killed with SIGKILL half-way resumes with `hearth sweep resume ID` to the
same cells, every row once; the JSON has the cells, the best, the pairwise tests and the test run."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.cli.hearth_cli import MODEL, TIMEOUT_S, hearth, hearth_env, hearth_json
from tests.cli.hearth_cli import REVIEWS as ALL_REVIEWS

REVIEWS = ALL_REVIEWS[:6]  # three development rows and three test rows


def _query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    path = home / "hearth.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return list(db.execute(sql))
    except sqlite3.OperationalError:  # not made yet
        return []
    finally:
        db.close()


def sweep_args(tmp_path: Path) -> list[str]:
    data = tmp_path / "reviews.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        writer.writerows(REVIEWS)
    (tmp_path / "a.txt").write_text("Review: {text}\nIs this review positive or negative?", encoding="utf-8")
    (tmp_path / "b.txt").write_text("{text}\nSentiment:", encoding="utf-8")
    return [
        "sweep", str(data), "--prompt", f"@{tmp_path / 'a.txt'}", "--prompt", f"@{tmp_path / 'b.txt'}",
        "--model", MODEL, "--labels", "positive,negative", "--reference", "label", "--dev-fraction", "0.5",
        "--seed", "2", "--max-tokens", "4", "--ctx", "512",
    ]  # fmt: skip


def test_a_killed_sweep_resumes_to_the_same_cells(hearth_home: Path, tmp_path: Path) -> None:
    args = sweep_args(tmp_path)
    estimate = hearth_json(*args, "--estimate", home=hearth_home)  # first rows run, nothing stored
    assert estimate["rows"] == 9 and estimate["seconds"] > 0 and list(estimate["seconds_per_row"]) == [f"{MODEL}.gguf"]
    assert _query(hearth_home, "SELECT COUNT(*) FROM runs") == [(0,)]
    child = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args], env=hearth_env(hearth_home),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        # Killed once the first cell has a row stored: a cell half done, the second not begun.
        while child.poll() is None and time.monotonic() < deadline and not _query(
            hearth_home, "SELECT 1 FROM run_rows JOIN sweep_cells USING (run_id) WHERE position = 0"
        ):
            time.sleep(0.02)
        assert child.poll() is None, "the sweep finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    cells_before = _query(hearth_home, "SELECT position, phase, prompt, model, run_id FROM sweep_cells ORDER BY 1")
    assert [c[:4] for c in cells_before] == [(0, "dev", 0, 0), (1, "dev", 1, 0)]
    (listed,) = hearth_json("sweep", "list", home=hearth_home)
    assert listed["status"] == "interrupted"

    found = hearth_json("sweep", "resume", str(listed["sweep_id"]), home=hearth_home)
    assert found["status"] == "done"
    cells = found["cells"]
    assert [(c["position"], c["phase"]) for c in cells] == [(0, "dev"), (1, "dev")]
    assert cells[0]["run_id"] == cells_before[0][4]  # the killed cell's own run, resumed
    for cell in cells:
        assert {"prompt", "model", "run_id", "n", "accuracy", "ci_low", "ci_high"} <= set(cell)
        assert cell["n"] == 3 and cell["model"] == f"{MODEL}.gguf" and cell["rows"] == "development rows"
        assert 0 <= cell["ci_low"] <= cell["accuracy"] <= cell["ci_high"] <= 1
    assert cells[0]["prompt"].startswith("Review: {text}")
    # Every row once: the resumed cell holds each of its development rows a single time.
    counts = _query(hearth_home, "SELECT run_id, COUNT(*), COUNT(DISTINCT idx) FROM run_rows GROUP BY run_id")
    assert all(n == distinct == 3 for _run, n, distinct in counts) and len(counts) == 3
    (pair,) = found["pairwise"]
    assert {"a", "b", "p_value", "p_holm"} <= set(pair) and pair["a"] == found["best"]["position"]
    test = found["test"]
    assert test["rows"] == "test rows" and test["n"] == 3 and test["prompt"] == found["best"]["prompt"]
    assert found["split"] == {"fraction": 0.5, "stratified": True, "seed": 2, "dev": 3, "test": 3, "examples": []}
    assert found["sentence"]

    shown = hearth("sweep", "show", str(listed["sweep_id"]), home=hearth_home)
    assert shown.returncode == 0 and "test rows" in shown.stdout and "Traceback" not in shown.stderr
    deleted = hearth("sweep", "delete", str(listed["sweep_id"]), home=hearth_home)
    assert deleted.returncode == 0 and hearth_json("sweep", "list", home=hearth_home) == []
    assert len(hearth_json("runs", "list", home=hearth_home)) == 3  # its cells stay, as ordinary runs


def test_a_bad_sweep_is_refused_before_a_model_loads(hearth_home: Path, tmp_path: Path) -> None:
    args = sweep_args(tmp_path)
    out = hearth(*args[:-8], "--reference", "verdict", home=hearth_home)
    assert out.returncode == 2 and "“verdict”" in out.stderr and "Traceback" not in out.stderr
    out = hearth("sweep", "resume", "99", home=hearth_home)
    assert out.returncode == 2 and "no sweep number 99" in out.stderr
    assert hearth_json("sweep", "list", home=hearth_home) == []


def test_the_options_become_the_sweep_as_hearth_run_reads_them(tmp_path: Path, smollm2_path: Path) -> None:
    """In process: the arguments parsed by the real parser into the sweep's spec (no model loads)."""
    from desktop_app.cli import build_parser
    from desktop_app.cli.sweep import spec_from_args
    from desktop_app.core import settings as settings_store

    args = build_parser().parse_args([
        *sweep_args(tmp_path), "--system", "", "--system", "Be brief.", "--shots", "0", "--shots", "2",
        "--few-shot", "0,1", "--server-model", "lab=qwen2.5:7b",
    ])  # fmt: skip
    spec = spec_from_args(args, settings_store.load())
    assert spec.prompts == ["Review: {text}\nIs this review positive or negative?", "{text}\nSentiment:"]
    assert spec.systems == ["", "Be brief."]
    assert [(s.rows, s.k) for s in spec.shots] == [([], 0), ([0, 1], 0), ([], 2)]
    assert [(m.name, m.server, m.model_id) for m in spec.models] == [
        (f"{MODEL}.gguf", None, None), ("qwen2.5:7b on lab", "lab", "qwen2.5:7b")
    ]
    assert Path(spec.models[0].path or "").resolve() == smollm2_path.resolve()
    assert (spec.task.kind, spec.task.labels, spec.task.reference) == ("labels", ["positive", "negative"], "label")
    assert (spec.dev_fraction, spec.seed, spec.task.sampling.max_tokens) == (0.5, 2, 4)
