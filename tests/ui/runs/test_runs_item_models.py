"""The Runs section's item models under pytest-qt's model tester: the stored runs, a dataset's
first rows, and a run's rows read page by page (sorted, filtered, growing while a run goes on)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.runs import datasets
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task
from desktop_app.ui.runs.item_models import PAGE_ROWS, PreviewModel, RunListModel, RunRowsModel
from desktop_app.ui.shared.item_models import ItemRole

PROMPT = "Review: {text}\nPositive or negative?"
TASK = {"prompt": PROMPT, "labels": ["positive", "negative"], "reference": "label"}
REVIEWS = [
    ("I loved this film, the acting is wonderful.", "positive"),
    ("Terrible, boring and far too long.", "negative"),
    ("A masterpiece, I cried at the end.", "positive"),
    ("I want my money back.", "negative"),
]


def review_row(i: int) -> RowResult:
    """Row ``i`` of a labelled run: every third answer wrong, every seventh row failed."""
    text, label = REVIEWS[i % len(REVIEWS)]
    failed = i % 7 == 6
    output = "" if failed else (label if i % 3 else ("negative" if label == "positive" else "positive"))
    return RowResult(
        index=i,
        key=f"r{i}",
        inputs={"text": text, "label": label},
        prompt=PROMPT.format(text=text),
        output=output,
        reference=label,
        valid=not failed,
        correct=None if failed else output == label,
        score=None if failed else float(output == label),
        error="The model stopped before answering." if failed else "",
        seed=42 + i,
        prompt_tokens=20 + i % 5,
        gen_tokens=2,
        seconds=0.05 + i / 1000,
    )


@pytest.fixture
def store() -> Iterator[RunStore]:
    runs = RunStore()
    yield runs
    runs.close()


def make_run(store: RunStore, title: str, n: int, done: int) -> int:
    run_id = store.create(title, n, "labels", "/data/reviews.csv", "0" * 64, "SmolLM2-135M-Instruct", None,
                          Task.from_dict(TASK), RunManifest.from_dict({}))
    store.add_rows(run_id, (review_row(i) for i in range(done)))
    store.set_status(run_id, "done" if done == n else "paused")
    return run_id


def test_run_list_model(qtmodeltester: Any, store: RunStore) -> None:
    model = RunListModel()
    qtmodeltester.check(model)  # empty
    first = make_run(store, "Reviews", 20, 20)
    second = make_run(store, "Reviews", 20, 9)
    store.rename(second, "Reviews again", "Half done: paused to free the machine.")
    model.set_runs(store.all_runs(), store.accuracies())
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    rows = {model.index(r, 0).data(ItemRole.key): r for r in range(2)}
    assert set(rows) == {first, second}
    done_line = model.index(rows[first], 0).data(Qt.ItemDataRole.DisplayRole)
    assert f"#{first} Reviews\n" in done_line and "20 rows" in done_line and "accuracy" in done_line
    paused = model.index(rows[second], 0).data(Qt.ItemDataRole.DisplayRole)
    assert "9 of 20 rows done" in paused and paused.endswith("Half done: paused to free the machine.")
    assert model.index(rows[second], 0).data(ItemRole.item).id == second

    store.add_rows(second, (review_row(i) for i in range(9, 20)))
    store.set_status(second, "done")
    model.update_run(store.get(second), store.accuracies()[second])
    qtmodeltester.check(model)
    assert "20 rows" in model.index(rows[second], 0).data(Qt.ItemDataRole.DisplayRole)


def test_preview_model(qtmodeltester: Any, tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "text", "label"), *((f"g{i}", t, lab) for i, (t, lab) in enumerate(REVIEWS))])
    dataset = datasets.open_dataset(path)
    model = PreviewModel()
    qtmodeltester.check(model)  # empty
    model.set_rows(dataset.columns, dataset.preview(3))
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (3, 3)
    assert model.headerData(1, Qt.Orientation.Horizontal) == "text"
    assert model.headerData(0, Qt.Orientation.Vertical) == "1"  # counted from 1, as a spreadsheet does
    assert model.index(1, 1).data() == REVIEWS[1][0]
    model.set_rows(["text"], dataset.preview(5))  # another column choice: fewer columns, more rows
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (4, 1)


def test_run_rows_model(qtmodeltester: Any, store: RunStore) -> None:
    n = 2 * PAGE_ROWS + 30  # three pages, the last one short
    run_id = make_run(store, "Reviews", n + 20, n)
    model = RunRowsModel(store)
    qtmodeltester.check(model)  # no run shown
    model.set_run(run_id)
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (n, 12)
    assert model.index(n - 1, 1).data() == f"r{n - 1}"
    assert model.index(6, 7).data() == "failed" and model.index(0, 5).data() == "✗"
    assert model.index(1, 2).data(Qt.ItemDataRole.ToolTipRole) == f"text: {REVIEWS[1][0]}\nlabel: {REVIEWS[1][1]}"
    assert model.index(2, 0).data(ItemRole.item) == review_row(2)

    model.sort(5, Qt.SortOrder.AscendingOrder)  # "Correct": the failed rows, then the wrong ones, then the right
    qtmodeltester.check(model)
    ranks = [{None: 0, False: 1, True: 2}[model.row_at(r).correct] for r in range(n)]  # type: ignore[union-attr]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 2
    model.set_filter("wrong")
    qtmodeltester.check(model)
    assert model.rowCount() == sum(review_row(i).correct is False for i in range(n))

    model.set_filter("all")
    model.sort(0, Qt.SortOrder.AscendingOrder)
    store.add_rows(run_id, (review_row(i) for i in range(n, n + 20)))  # the run goes on: rows appended
    model.refresh()
    qtmodeltester.check(model)
    assert model.rowCount() == n + 20 and model.index(n + 19, 1).data() == f"r{n + 19}"
