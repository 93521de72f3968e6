"""Checking a task against its dataset before anything runs, and comparing two stored runs (no
model needed: the runs are constructed row by row in real SQLite)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from runs_data import LABEL_PROMPT, SCHEMA, review_rows, write_csv

from desktop_app.core import paths
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import paired, runner
from desktop_app.core.runs.generators import RowError
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task, build_messages, render, template_fields


def test_templates() -> None:
    assert template_fields("A {text} and {{literal}} and {text} then {stars}") == ["text", "stars"]
    assert render("{{x}} {text}!", {"text": "hi"}) == "{x} hi!"
    with pytest.raises(RowError, match="no value for “stars”"):
        render("{text} {stars}", {"text": "hi"})
    task = Task(prompt="Q: {q}", system="Be brief.", reference="a")
    messages = build_messages(task, {"q": "3?"}, [{"q": "1?", "a": "one"}, {"q": "2?", "a": "two"}])
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."), ("user", "Q: 1?"), ("assistant", "one"), ("user", "Q: 2?"),
        ("assistant", "two"), ("user", "Q: 3?"),
    ]  # fmt: skip


def _runs_stored() -> int:
    db = sqlite3.connect(paths.db_path())
    try:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # no database at all: nothing stored either
        return 0
    finally:
        db.close()


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (Task(prompt="Review: {txt}"), "not in the dataset: “txt”. Did you mean “text”?"),
        (Task(prompt="   "), "The prompt template is empty"),
        (Task(prompt="Classify the review."), "names no column"),
        (Task(prompt=LABEL_PROMPT, kind="labels", labels=["a", "a"]), "repeat"),
        (Task(prompt=LABEL_PROMPT, kind="labels", labels=[]), "at least one label"),
        (Task(prompt=LABEL_PROMPT, kind="labels", labels=["positive"], reference="label"), "“negative” is not one"),
        (Task(prompt=LABEL_PROMPT, kind="number", reference="label"), "“positive” is not a number"),
        (Task(prompt=LABEL_PROMPT, scorer="regex", reference="pattern"), "“(pos” is not a valid regular expression"),
        (Task(prompt=LABEL_PROMPT, kind="json", schema={"type": 12}), "schema is not valid"),
        (Task(prompt=LABEL_PROMPT, kind="json", schema=SCHEMA, reference="label"), "not a JSON object"),
        (Task(prompt=LABEL_PROMPT, scorer="bleu"), "no scorer called “bleu”"),
        (Task(prompt=LABEL_PROMPT, reference="answer"), "reference names a column"),
        (Task(prompt=LABEL_PROMPT, few_shot=[1]), "need a reference column"),
        (Task(prompt=LABEL_PROMPT, reference="label", few_shot=[40]), "no row 40"),
        (Task(prompt=LABEL_PROMPT, collection="papers"), "no document collection named “papers”"),
    ],
)
def test_bad_tasks_are_refused_before_anything_is_stored(tmp_path: Path, task: Task, message: str) -> None:
    rows = [{**row, "pattern": "^pos" if i != 5 else "(pos"} for i, row in enumerate(review_rows())]
    path = write_csv(tmp_path / "reviews.csv", rows)
    with pytest.raises(HearthError) as caught:
        runner.plan_run(path, task)
    assert message in str(caught.value)
    assert _runs_stored() == 0


def test_a_valid_plan_leaves_out_the_examples_and_keeps_the_limit(tmp_path: Path) -> None:
    task = Task(prompt=LABEL_PROMPT, kind="labels", labels=["positive", "negative"], reference="label")
    task.few_shot, task.limit = [0, 5], 4
    plan = runner.plan_run(write_csv(tmp_path / "reviews.csv"), task)
    assert plan.indices == [1, 2, 3, 4]
    assert [i for i, _ in plan.examples] == [0, 5]
    assert plan.task.scorer == "label"
    assert _runs_stored() == 0


def _constructed(store: RunStore, path: Path, correct: list[bool | None]) -> int:
    dataset_sha = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    run_id = store.create(
        "constructed", len(correct), "labels", str(path), dataset_sha, "model", None,
        Task.from_dict({"prompt": LABEL_PROMPT, "labels": ["positive", "negative"]}),
        RunManifest.from_dict({"seed": 0}),
    )  # fmt: skip
    rows = review_rows()
    for i, right in enumerate(correct):
        reference = rows[i % len(rows)]["label"]
        output = reference if right else ("negative" if reference == "positive" else "positive")
        store.add_row(
            run_id,
            RowResult(i, f"row{i}", {}, "", output, reference, True, right, None if right is None else float(right)),
        )
    store.set_status(run_id, "done")
    return run_id


def _exact_mcnemar(b: int, c: int) -> float:
    """Two-sided: double the smaller binomial(b + c, 1/2) tail, written out term by term."""
    n = b + c
    tail = 0.0
    for i in range(min(b, c) + 1):
        tail += math.factorial(n) / (math.factorial(i) * math.factorial(n - i)) * 0.5**n
    return min(1.0, 2 * tail)


def test_compare_gives_mcnemars_exact_p_on_a_constructed_pair(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "reviews.csv")
    #        both right x3   only A x7               only B x1  neither x2  unscored in B
    a_rows = [True] * 3 + [True] * 7 + [False] * 1 + [False] * 2 + [True]
    b_rows = [True] * 3 + [False] * 7 + [True] * 1 + [False] * 2 + [None]
    store = RunStore()
    try:
        a, b = _constructed(store, path, a_rows), _constructed(store, path, b_rows)
        result = paired.compare(store, a, b)
    finally:
        store.close()
    assert (result.n_paired, result.both, result.only_a, result.only_b, result.neither) == (13, 3, 7, 1, 2)
    assert result.p_value == pytest.approx(_exact_mcnemar(7, 1))
    assert result.p_value == pytest.approx(0.0703125)  # 2 * (1 + 8) / 256
    assert result.a_accuracy == pytest.approx(10 / 13) and result.b_accuracy == pytest.approx(4 / 13)
    assert result.n_disagree == 9  # 7 + 1 where the labels differ, and the row B did not score
    assert {d.id for d in result.disagreements} >= {f"row{i}" for i in range(3, 11)}
    assert "could be chance" in result.verdict
    data = result.to_dict()
    for key in ("a_accuracy", "b_accuracy", "only_a", "only_b", "p_value"):
        assert key in data


def test_compare_refuses_runs_on_different_datasets(tmp_path: Path) -> None:
    store = RunStore()
    try:
        a = _constructed(store, write_csv(tmp_path / "a.csv"), [True, False])
        b = _constructed(store, write_csv(tmp_path / "b.csv", review_rows(3)), [True, True])
        with pytest.raises(HearthError, match="different datasets"):
            paired.compare(store, a, b)
    finally:
        store.close()
