"""Sweep… in the Runs section with pytest-qt and the real SmolLM2 (labels constrained, temperature
0, 6 rows): two prompts × one model on the window's model thread, to the grid of dots and
intervals, the comparison table and the verdict; then again, stopped half-way, the dialog closed, and
continued from the list of earlier sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop_app.core.runs import sweep
from desktop_app.ui.runs.sweep_dialog import SweepDialog
from desktop_app.ui.runs.sweep_view import DEV, TEST
from tests.ui.runs.test_runs_view import RUN_TIMEOUT_MS, open_reviews, runs_section


def open_dialog(qtbot: Any, view: Any) -> SweepDialog:
    qtbot.mouseClick(view.sweep_button, Qt.MouseButton.LeftButton)
    dialog = next(d for d in view.findChildren(SweepDialog) if d.isVisible())
    return dialog


def test_a_sweep_from_the_window_to_the_grid_then_again_stopped_closed_and_continued(
    qtbot: Any, loaded_window: Any, tmp_path: Path
) -> None:
    window = loaded_window
    view = runs_section(qtbot, window)
    qtbot.mouseClick(view.sweep_button, Qt.MouseButton.LeftButton)
    assert "Choose a dataset" in view.notice.label.text()  # nothing to sweep yet, said plainly
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    setup = view.setup
    setup.template.setPlainText("Review: {text}\nPositive or negative?")
    setup.kind.setCurrentIndex(setup.kind.findData("labels"))
    setup.labels.setText("positive, negative")
    setup.max_tokens.setValue(4)

    for size in ((1280, 800), (1024, 700)):
        window.resize(*size)
        dialog = open_dialog(qtbot, view)
        assert dialog.prompts.texts() == ["Review: {text}\nPositive or negative?", ""]
        assert [m.path for m in dialog.chosen_models()] == [str(window.context.models.model.path)]
        dialog.prompts.boxes[1].setPlainText("{text}\nSentiment (positive or negative):")
        assert dialog.split.isChecked() and dialog.dev_fraction.value() == 0.5
        assert dialog.sizeHint().height() <= size[1] and dialog.height() <= size[1]

        sweeps_before = len(sweep.all_sweeps(dialog.store))
        with qtbot.waitSignal(dialog.estimated, timeout=RUN_TIMEOUT_MS) as estimated:
            qtbot.mouseClick(dialog.estimate_button, Qt.MouseButton.LeftButton)
        assert estimated.args[0] > 0 and "9 rows in all" in dialog.status.text()
        assert len(sweep.all_sweeps(dialog.store)) == sweeps_before  # the estimate stores nothing

        if size == (1280, 800):
            with qtbot.waitSignal(dialog.finished_sweep, timeout=RUN_TIMEOUT_MS) as finished:
                qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        else:  # again: stopped after the first rows, then continued with the same cells
            qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda d=dialog: d.progress.value() >= 1, timeout=RUN_TIMEOUT_MS)
            qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda d=dialog: d.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
            assert dialog.results is not None and dialog.results.status == "paused"
            assert "Paused" in dialog.status.text()
            sweep_id = dialog.results.sweep_id
            before = {c.position: c.run_id for c in sweep.get(dialog.store, sweep_id).cells}
            assert before[0] is not None and list(before) == [0, 1]
            # Closed and opened again: the paused sweep is listed, shown, and continued.
            dialog.close()
            qtbot.waitUntil(lambda d=dialog: not d.isVisible())
            dialog = open_dialog(qtbot, view)
            assert dialog.earlier.count() == 2 and "(paused)" in dialog.earlier.itemText(0)
            dialog.earlier.setCurrentIndex(0)
            qtbot.mouseClick(dialog.show_earlier_button, Qt.MouseButton.LeftButton)
            assert dialog.pages.currentWidget() is dialog.view and dialog.run_button.text() == "Continue sweep"
            with qtbot.waitSignal(dialog.finished_sweep, timeout=RUN_TIMEOUT_MS) as finished:
                qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
            after = {c.position: c.run_id for c in sweep.get(dialog.store, sweep_id).cells}
            assert all(after[p] == r for p, r in before.items() if r is not None)  # the same cells, continued
            assert finished.args[0].sweep_id == sweep_id and dialog.run_button.text() == "Run sweep"
        found = finished.args[0]
        assert found.status == "done" and len(found.cells) == 2 and found.test is not None
        assert all(c.n == 3 for c in found.cells) and found.test.n == 3
        assert dialog.pages.currentWidget() is dialog.view
        assert dialog.view.verdict.text() == found.sentence
        assert dialog.view.table.rowCount() == 1  # the other cell against the best
        assert "test rows" in dialog.view.test_line.text()
        # The grid is drawn: blue dots with whiskers for the development cells, a green one for the test run.
        image = dialog.view.chart.picture()
        colours = {QColor(image.pixel(x, y)).name() for x in range(0, image.width(), 2)
                   for y in range(0, image.height(), 2)}  # fmt: skip
        assert DEV.name() in colours and TEST.name() in colours
        assert len(dialog.view.chart.cells) == 3
        dialog.close()
        qtbot.waitUntil(lambda d=dialog: not d.isVisible())
        # Each cell is an ordinary run in the list.
        assert view.runs_model.rowCount() == 3 * (1 if size == (1280, 800) else 2)
