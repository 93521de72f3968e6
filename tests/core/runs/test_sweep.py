"""Sweeps with the real SmolLM2 (labels constrained, temperature 0, a few tokens): each cell is an
ordinary run on the development rows, a sweep cancelled half-way resumes to the same cells and
the same outputs as one run straight through, the chosen cell runs on the test rows it never
saw, and the statistics equal an independent computation from the rows in SQLite."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from runs_data import LABEL_PROMPT, LABEL_SYSTEM, review_rows, write_csv

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine
from desktop_app.core.runs import runner, stats, sweep
from desktop_app.core.runs.generators import LocalGenerator, RowGenerator
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.sweep_results import results
from desktop_app.core.runs.sweep_split import FewShot
from desktop_app.core.runs.tasks import Task, run_sampling

LABELS = ["positive", "negative"]
EXTRA = [
    ("r9", "Charming and clever, a delight.", "positive"),
    ("r10", "A mess from start to finish.", "negative"),
    ("r11", "I would watch it again tomorrow.", "positive"),
    ("r12", "Painfully slow and badly acted.", "negative"),
]


EXTRA_ROWS = [{"id": i, "text": t, "label": lab, "stars": "3", "film": "{}"} for i, t, lab in EXTRA]


def spec(path: Path, smollm2_path: Path, **overrides: Any) -> sweep.SweepSpec:
    task = Task(prompt=LABEL_PROMPT, kind="labels", labels=list(LABELS), reference="label",
                sampling=run_sampling(max_tokens=4))  # fmt: skip
    values: dict[str, Any] = {
        "dataset": str(path),
        "task": task,
        "prompts": [LABEL_PROMPT, "{text}\nSentiment (positive or negative):"],
        "systems": [LABEL_SYSTEM],
        "models": [sweep.ModelRef("SmolLM2", str(smollm2_path))],
        "dev_fraction": 0.5,
        "seed": 3,
    }
    values.update(overrides)
    return sweep.SweepSpec(**values)


class Opener:
    """The session's SmolLM2, as the CLI's opener would load it (counted, so each model is opened once)."""

    def __init__(self, engine: Engine, sha: str) -> None:
        self.engine, self.sha, self.opened = engine, sha, 0

    def open(self, _model: sweep.ModelRef) -> RowGenerator:
        self.opened += 1
        return LocalGenerator(self.engine, self.sha)

    def close(self, _backend: RowGenerator) -> None:
        pass


def outputs(run_id: int) -> list[tuple[int, str]]:
    return [(i, o) for i, o, _r in stored(run_id)]


def test_a_sweep_scores_its_cells_fairly_and_a_cancelled_one_resumes_to_the_same_cells(
    tmp_path: Path, engine: Engine, smol_sha: str, smollm2_path: Path, store: RunStore
) -> None:
    path = write_csv(tmp_path / "reviews.csv")  # 8 rows: 4 to choose on, 4 to report on
    opener = Opener(engine, smol_sha)
    checked = sweep.plan(spec(path, smollm2_path))
    assert len(checked.split.dev) == 4 and len(checked.split.test) == 4
    # Straight through.
    straight = sweep.create(checked, store)
    sweep.run(store, straight, opener.open, opener.close)
    assert opener.opened == 2  # the model once for the two development cells, once for the test cell
    check_results(store, straight, smol_sha)

    # Again, cancelled after 2 rows (the middle of the first cell), then resumed.
    cancel = CancelToken()
    seen: list[sweep.SweepProgress] = []

    def progress(p: sweep.SweepProgress) -> None:
        seen.append(p)
        if p.rows_done >= 2:
            cancel.cancel()

    stopped = sweep.create(sweep.plan(spec(path, smollm2_path)), store)
    record = sweep.run(store, stopped, opener.open, opener.close, progress, cancel)
    assert record.status == "paused"
    assert [c.run_id is not None for c in record.cells] == [True, False]
    first_run = record.cells[0].run_id
    assert first_run is not None and store.get(first_run).done == 2
    assert seen[-1].rows_total == 12 and seen[-1].cells == 3
    cells_before = [(c.position, c.phase, c.prompt, c.system, c.model, c.shots) for c in record.cells]

    record = sweep.run(store, stopped, opener.open, opener.close)
    assert record.status == "done"
    assert [(c.position, c.phase, c.prompt, c.system, c.model, c.shots) for c in record.cells][:2] == cells_before
    assert record.cells[0].run_id == first_run  # the cell cut short resumed its own run
    reference = sweep.get(store, straight)
    assert len(record.cells) == len(reference.cells) == 3
    for resumed, whole in zip(record.cells, reference.cells, strict=True):
        assert (resumed.phase, resumed.prompt) == (whole.phase, whole.prompt)
        assert resumed.run_id is not None and whole.run_id is not None
        assert outputs(resumed.run_id) == outputs(whole.run_id)


def check_results(store: RunStore, sweep_id: int, smol_sha: str) -> None:
    """The sweep's statistics against a computation from the rows in SQLite."""
    found = results(store, sweep_id)
    data = found.to_dict()
    record = sweep.get(store, sweep_id)
    dev, test = set(record.split.dev), set(record.split.test)
    assert not dev & test and len(dev) + len(test) == 8

    by_run: dict[int, dict[int, bool]] = {}
    for cell in data["cells"]:
        rows = stored(cell["run_id"])
        assert {i for i, _o, _r in rows} == dev and cell["rows"] == "development rows"
        assert all(o in LABELS for _i, o, _r in rows)
        right = {i: o == r for i, o, r in rows}
        by_run[cell["run_id"]] = right
        assert cell["n"] == 4 and cell["accuracy"] == pytest.approx(sum(right.values()) / 4)
        low, high = wilson_by_hand(sum(right.values()), 4)
        assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((low, high))
        assert {"prompt", "model", "run_id", "n", "accuracy", "ci_low", "ci_high"} <= set(cell)
        # Each cell is an ordinary run: its task names its rows, its manifest its model.
        run = store.get(cell["run_id"])
        assert sorted(run.task.rows or []) == sorted(dev) and run.manifest.model.sha256 == smol_sha
        assert run.title.endswith(f"{cell['label']} (development rows)")
    best = data["best"]
    assert best["accuracy"] == max(c["accuracy"] for c in data["cells"])
    (pair,) = data["pairwise"]
    other = next(c for c in data["cells"] if c["position"] != best["position"])
    only_a = sum(by_run[best["run_id"]][i] and not by_run[other["run_id"]][i] for i in dev)
    only_b = sum(by_run[other["run_id"]][i] and not by_run[best["run_id"]][i] for i in dev)
    assert (pair["a"], pair["b"]) == (best["position"], other["position"])
    assert pair["p_value"] == pytest.approx(stats.mcnemar_exact(only_a, only_b))
    assert pair["p_holm"] == pytest.approx(pair["p_value"])  # one comparison: nothing to correct
    assert "within noise" in found.sentence or "better than" in found.sentence
    assert data["power"]["method"].startswith("Connor")

    # The chosen cell, on the test rows only.
    test_cell = data["test"]
    assert test_cell["rows"] == "test rows" and test_cell["prompt"] == best["prompt"]
    assert {i for i, _o, _r in stored(test_cell["run_id"])} == test
    assert test_cell["n"] == 4


def stored(run_id: int) -> list[tuple[int, str, str]]:
    """(index, output, reference) of a run's rows, read from SQLite without Hearth's code."""
    db = sqlite3.connect(paths.db_path())
    try:
        query = "SELECT idx, output, reference FROM run_rows WHERE run_id=? ORDER BY idx"
        return [(int(i), str(o), str(r)) for i, o, r in db.execute(query, (run_id,))]
    finally:
        db.close()


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_a_sweep_over_a_local_file_and_a_model_on_a_server(
    tmp_path: Path, engine: Engine, smol_sha: str, smollm2_path: Path, store: RunStore, hearth_server: Any
) -> None:
    """The same prompt with SmolLM2 loaded here and SmolLM2 behind Hearth's own server on 127.0.0.1:
    one cell each, each run's manifest naming what produced it."""
    from desktop_app.core.inference.remote import RemoteClient
    from desktop_app.core.runs.remote_generator import RemoteGenerator

    local = sweep.ModelRef("SmolLM2 here", str(smollm2_path))
    served = sweep.ModelRef("SmolLM2 on the server", server="test", model_id=hearth_server.model_id)
    opened: list[str] = []

    def open_backend(model: sweep.ModelRef) -> RowGenerator:
        opened.append(model.name)
        if model.server:
            client = RemoteClient(hearth_server.root, hearth_server.key, "test")
            return RemoteGenerator(client, client.describe_model(hearth_server.model_id, "test"), 2)
        return LocalGenerator(engine, smol_sha)

    def close_backend(backend: RowGenerator) -> None:
        if isinstance(backend, RemoteGenerator):
            backend.close()

    path = write_csv(tmp_path / "reviews.csv", review_rows(4))
    checked = sweep.plan(spec(path, smollm2_path, prompts=[LABEL_PROMPT], models=[local, served], dev_fraction=None))
    sweep_id = sweep.create(checked, store)
    record = sweep.run(store, sweep_id, open_backend, close_backend)
    assert record.status == "done" and opened == ["SmolLM2 here", "SmolLM2 on the server"]
    found = results(store, sweep_id)
    assert [c.model for c in found.cells] == ["SmolLM2 here", "SmolLM2 on the server"]
    assert all(c.n == 4 and c.rows == "all rows" for c in found.cells) and found.test is None
    kinds = [store.get(c.run_id).manifest.model.kind for c in found.cells if c.run_id is not None]
    assert kinds[0] == "local" and kinds[1] != "local"
    for cell in found.cells:
        assert cell.run_id is not None and all(o in LABELS for _i, o in outputs(cell.run_id))


def test_a_bad_sweep_is_refused_before_anything_is_stored(tmp_path: Path, smollm2_path: Path, store: RunStore) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows() + EXTRA_ROWS)
    with pytest.raises(HearthError, match="not in the dataset"):
        sweep.plan(spec(path, smollm2_path, prompts=[LABEL_PROMPT, "Classify {body}"]))
    with pytest.raises(HearthError, match="reference column"):
        sweep.plan(spec(path, smollm2_path, task=Task(prompt=LABEL_PROMPT, kind="labels", labels=LABELS)))
    with pytest.raises(HearthError, match="one part would be empty"):
        sweep.plan(spec(path, smollm2_path, dev_fraction=0.01))
    assert sweep.all_sweeps(store) == [] and store.all_runs() == []
    # Without a split, the cells run on every row and nothing is held back.
    checked = sweep.plan(spec(path, smollm2_path, dev_fraction=None))
    assert len(checked.split.dev) == 12 and checked.split.test == [] and checked.cells[0].phase == "all"
    assert runner.plan_run(path, checked.task(checked.cells[0])).n == 12


def test_few_shot_choices_become_cells_shown_their_examples_and_never_scored_on_them(
    tmp_path: Path, smollm2_path: Path
) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows() + EXTRA_ROWS)
    shots = [FewShot(), FewShot(rows=[0]), FewShot(k=2)]
    checked = sweep.plan(spec(path, smollm2_path, prompts=[LABEL_PROMPT], shots=shots))
    assert [c.shots for c in checked.cells] == [0, 1, 2]
    assert [c.label(checked.spec) for c in checked.cells] == ["no examples", "examples 0", "2 drawn examples"]
    examples = {i for shot in checked.split.shots for i in shot}
    assert 0 in examples and len(examples) == 3
    for cell in checked.cells:
        task = checked.task(cell)
        assert task.few_shot == checked.split.shots[cell.shots]
        plan = runner.plan_run(path, task)
        # Every cell is scored on the same development rows, none of them an example of any cell.
        assert plan.indices == checked.split.dev and not set(plan.indices) & examples
        assert [i for i, _row in plan.examples] == task.few_shot
    assert not set(checked.split.shots[2]) & set(checked.split.test)  # drawn from the development rows


def test_statistics_on_constructed_rows_holm_over_three_cells_and_the_rows_needed(
    tmp_path: Path, smollm2_path: Path, store: RunStore
) -> None:
    """Rows written straight into the store (no model): three prompts right on 20, 19 and 5 of 20
    rows, the best's misses nowhere else. By hand: against the 95% cell only the best is right on
    one row, p = 1; against the 25% cell on 15, p = 2 / 2^15; Holm doubles the smaller."""
    from desktop_app.core.runs.storage import RowResult

    rows = [{"id": f"x{i}", "text": f"review {i}", "label": "positive" if i % 2 else "negative"} for i in range(20)]
    path = write_csv(tmp_path / "rows.csv", rows)
    checked = sweep.plan(spec(path, smollm2_path, prompts=["A {text}", "B {text}", "C {text}"], dev_fraction=None))
    sweep_id = sweep.create(checked, store)
    for cell, right in zip(checked.cells, (20, 19, 5), strict=True):
        run_id = store.create("constructed", 20, "labels", str(path), checked.dataset.sha256, "m", None,
                              checked.task(cell), RunManifest.from_dict({"seed": 0}), status="done")  # fmt: skip
        store.add_rows(run_id, (
            RowResult(i, f"x{i}", {}, "", r["label"] if i < right else "wrong", r["label"], True, i < right, None)
            for i, r in enumerate(rows)
        ))  # fmt: skip
        with store.db:
            store.db.execute("UPDATE sweep_cells SET run_id=? WHERE sweep_id=? AND position=?",
                             (run_id, sweep_id, cell.position))  # fmt: skip
    found = results(store, sweep_id)
    assert found.best is not None and found.best.label == "prompt 1"
    by_b = {p.b: p for p in found.pairwise}
    assert (by_b[1].only_a, by_b[1].only_b, by_b[1].p_value) == (1, 0, 1.0)
    assert (by_b[2].only_a, by_b[2].only_b) == (15, 0) and by_b[2].p_value == pytest.approx(2 / 2**15)
    assert by_b[2].p_holm == pytest.approx(2 * 2 / 2**15) and by_b[1].p_holm == 1.0
    assert found.sentence.startswith("prompt 1 (100%) is better than prompt 3 by more than chance")
    assert "the other 1 cell is within noise of it" in found.sentence
    # The best two (100% and 95%): p10 = 1/20, p01 = 0 -> (1.959964·√0.05 + 0.841621·√0.0475)² / 0.05² = 154.6.
    assert found.power is not None and (found.power.b, found.power.rows_needed) == (1, 155)
    assert "about 155 rows" in found.sentence
