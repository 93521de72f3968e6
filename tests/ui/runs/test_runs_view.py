"""The Runs section with pytest-qt: a labelled dataset run through the window's own model thread,
pause and resume, replay and compare, export and import, a 10,000-row run read lazily, a bad
dataset refused, and the quantisation lab's link."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop_app.core import paths
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task
from desktop_app.ui.runs.view import RunsView

LOAD_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 240_000
REVIEWS = [
    ("g1", "I loved this film, the acting is wonderful.", "positive"),
    ("g2", "Terrible, boring and far too long.", "negative"),
    ("g3", "A masterpiece, I cried at the end.", "positive"),
    ("g4", "I want my money back.", "negative"),
    ("g5", "Great fun for the whole family.", "positive"),
    ("g6", "The worst movie of the year.", "negative"),
]


def write_reviews(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        writer.writerows(REVIEWS)
    return path


def runs_section(qtbot: Any, window: Any) -> RunsView:
    window.show_section(list(window.sections).index("Runs"))
    view = window.sections["Runs"]
    assert isinstance(view, RunsView)
    return view


def open_reviews(qtbot: Any, view: RunsView, path: Path) -> None:
    with qtbot.waitSignal(view.dataset_opened, timeout=LOAD_TIMEOUT_MS):
        view.open_dataset(write_reviews(path))
    qtbot.waitUntil(lambda: view.setup.model.count() > 0, timeout=LOAD_TIMEOUT_MS)


def test_a_label_run_from_the_window(qtbot: Any, loaded_window: Any, tmp_path: Path) -> None:
    window = loaded_window
    host = window.context.models
    view = runs_section(qtbot, window)
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    setup = view.setup
    assert "6 rows, 3 columns" in setup.dataset_label.text()
    assert setup.preview_model.rowCount() == 5 and setup.preview_model.columns == ["id", "text", "label"]
    setup.template.setPlainText("Review: {text}\nPositive or negative?")
    setup.kind.setCurrentIndex(setup.kind.findData("labels"))
    setup.labels.setText("positive, negative")
    setup.max_tokens.setValue(4)
    qtbot.waitUntil(lambda: "Review: I loved this film" in setup.preview.toPlainText())
    assert setup.reference.currentText() == "label"  # guessed from the column's name
    assert setup.model_path() is not None and setup.model_path().resolve() == host.model.path.resolve()

    loads: list[object] = []
    host.model_changed.connect(loads.append)
    with qtbot.waitSignal(view.estimated, timeout=RUN_TIMEOUT_MS) as estimated:
        qtbot.mouseClick(setup.estimate_button, Qt.MouseButton.LeftButton)
    assert [r.index for r in estimated.args[0].rows] == [0, 1, 2]
    assert "s a row" in setup.estimate_label.text() and view.store.all_runs() == []  # nothing stored
    with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(setup.run_button, Qt.MouseButton.LeftButton)
    summary = finished.args[0]
    assert (summary.status, summary.done, summary.invalid) == ("done", 6, 0)
    assert loads == []  # the run used the window's model: nothing loaded a second time
    assert not host.busy
    results = view.results
    assert view.pages.currentWidget() is results
    assert f"{summary.accuracy:.1%}" in results.summary_label.text()
    assert results.rows_model.rowCount() == 6
    outputs = {results.rows_model.row_at(i).output for i in range(6)}
    assert outputs <= {"positive", "negative"}
    # The confusion matrix is drawn: a picture with the right (green) and wrong (red) cells it counts.
    assert results.confusion.counts == summary.confusion
    image = results.confusion.picture()
    colours = {
        QColor(image.pixel(x, y)).name() for x in range(0, image.width(), 6) for y in range(0, image.height(), 6)
    }
    assert len(colours) > 4
    results.filter.setCurrentIndex(results.filter.findData("wrong"))
    assert results.rows_model.rowCount() == summary.n_scored - summary.correct
    results.filter.setCurrentIndex(0)
    results.table.selectRow(0)
    assert "Prompt (" in results.detail.toPlainText() and "Review: I loved" in results.detail.toPlainText()

    with qtbot.waitSignal(view.replayed, timeout=RUN_TIMEOUT_MS) as replayed:
        qtbot.mouseClick(results.replay_button, Qt.MouseButton.LeftButton)
    report = replayed.args[0]
    assert (report.identical, report.n_differed) == (6, 0)
    for dialog in view.findChildren(object):
        if dialog.__class__.__name__ == "DiffDialog":
            dialog.close()
    view.refresh_runs(select=summary.run_id)
    with qtbot.waitSignal(view.compared, timeout=10_000) as compared:
        view.compare_with(report.replay)
    assert (compared.args[0].only_a, compared.args[0].only_b, compared.args[0].p_value) == (0, 0, 1.0)

    archive = tmp_path / "run.zip"
    assert view.list_actions.export(summary.run_id, archive) == [archive]
    before = view.runs_model.rowCount()
    imported = view.list_actions.import_archive(archive)
    assert imported is not None and view.runs_model.rowCount() == before + 1


def test_pause_then_resume_gives_every_row_once(qtbot: Any, loaded_window: Any, tmp_path: Path) -> None:
    view = runs_section(qtbot, loaded_window)
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    setup = view.setup
    setup.template.setPlainText("Review: {text}\nSay what the reviewer felt.")
    setup.max_tokens.setValue(12)
    setup.temperature.setValue(0.7)
    setup.seed.setValue(3)
    with qtbot.waitSignal(view.run_started, timeout=RUN_TIMEOUT_MS) as started:
        setup.run_button.click()
    run_id = started.args[0]
    qtbot.waitUntil(lambda: view.store.count(run_id) >= 1, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as paused:
        view.results.pause_button.click()
    assert paused.args[0].status == "paused" and paused.args[0].done < 6
    assert view.results.resume_button.isVisibleTo(view.results)
    with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        view.results.resume_button.click()
    assert (resumed.args[0].status, resumed.args[0].done) == ("done", 6)
    db = sqlite3.connect(paths.db_path())
    indices = [r[0] for r in db.execute("SELECT idx FROM run_rows WHERE run_id=? ORDER BY idx", (run_id,))]
    db.close()
    assert indices == list(range(6))


def test_ten_thousand_rows_are_read_a_page_at_a_time(qtbot: Any, window: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "big.csv"
    dataset.write_text("text,label\n" + "".join(f"row {i},{'yes' if i % 3 else 'no'}\n" for i in range(10_000)))
    store = RunStore()
    run_id = store.create(
        "big", 10_000, "labels", str(dataset), "0" * 64, "model", None,
        Task.from_dict({"prompt": "{text}", "labels": ["yes", "no"], "reference": "label"}),
        RunManifest.from_dict({"seed": 0}),
    )  # fmt: skip
    store.add_rows(
        run_id,
        (
            RowResult(i, str(i), {"text": f"row {i}"}, f"prompt {i} " * 20, "yes", "yes" if i % 3 else "no",
                      True, bool(i % 3), float(bool(i % 3)))
            for i in range(10_000)
        ),
    )  # fmt: skip
    store.set_status(run_id, "done")
    store.close()
    view = runs_section(qtbot, window)
    view.refresh_runs(select=run_id)
    results = view.results
    model = results.rows_model
    assert model.rowCount() == 10_000
    qtbot.waitUntil(lambda: model.pages_read >= 1)
    assert model.pages_read <= 2  # only what is on screen
    before = model.pages_read
    results.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.pages_read > before)  # the view has asked for the rows now in sight
    assert model.row_at(9_999).key == "9999"
    assert model.pages_read <= 5
    correct = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())].index("Correct")
    results.table.sortByColumn(correct, Qt.SortOrder.AscendingOrder)  # the wrong ones first
    assert model.row_at(0).correct is False
    results.filter.setCurrentIndex(results.filter.findData("wrong"))
    assert model.rowCount() == len(range(0, 10_000, 3))
    assert "66.7%" in results.summary_label.text()


def test_a_ragged_dataset_is_refused_in_the_window(qtbot: Any, window: Any, tmp_path: Path) -> None:
    view = runs_section(qtbot, window)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,text\n1,ok\n2,too,many\n", encoding="utf-8")
    view.open_dataset(ragged)
    qtbot.waitUntil(lambda: view.notice.isVisible(), timeout=LOAD_TIMEOUT_MS)
    assert "line 3 has 3 fields" in view.notice.text
    assert view.setup.dataset is None
    view.setup.run_button.click()
    assert "Choose a dataset first" in view.notice.text


def test_the_quantisation_lab_links_to_a_comparison_on_a_dataset(
    qtbot: Any, window: Any, smollm2_path: Path, gemma_path: Path
) -> None:
    compare = window.sections["Compare"]
    compare.dataset_comparison_requested.emit([smollm2_path, gemma_path])
    view = window.sections["Runs"]
    assert window.stack.currentWidget() is view
    assert view.setup.model_path() == smollm2_path and view.setup.second_model_path() == gemma_path
    assert "compares the two runs" in view.notice.text
