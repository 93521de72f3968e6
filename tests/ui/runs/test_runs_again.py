"""The Runs section used twice in a row, as a user does (issue 21): estimate → run → replay → run
again → delete, with the buttons usable after each; "Then also" and the quantisation lab's "On
my dataset…" running the second model and ending in the comparison (McNemar); the form kept when
the section is left and opened again; rename and note; the rows table and the manifest in words.

Each flow runs to its end at 1280×800 and then again at 1024×700."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.ui.runs.view import RunsView
from tests.ui.runs.test_runs_view import LOAD_TIMEOUT_MS, REVIEWS, RUN_TIMEOUT_MS, runs_section

SIZES = [(1280, 800), (1024, 700)]
ENABLED_MS = 5_000  # the buttons come back at once; a few seconds for a busy machine


def open_reviews(qtbot: Any, view: RunsView, path: Path) -> None:
    """Three reviews: enough rows to pair and compare, few enough to keep the suite fast."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "text", "label"), *REVIEWS[:3]])
    with qtbot.waitSignal(view.dataset_opened, timeout=LOAD_TIMEOUT_MS):
        view.open_dataset(path)
    qtbot.waitUntil(lambda: view.setup.model.count() > 0, timeout=LOAD_TIMEOUT_MS)


def label_task(view: RunsView) -> None:
    setup = view.setup
    setup.template.setPlainText("Review: {text}\nPositive or negative?")
    setup.kind.setCurrentIndex(setup.kind.findData("labels"))
    setup.labels.setText("positive, negative")
    setup.max_tokens.setValue(2)


def buttons_usable(view: RunsView) -> bool:
    setup = view.setup
    return setup.run_button.isEnabled() and setup.estimate_button.isEnabled() and view.delete_button.isEnabled()


def close_dialogs(view: RunsView) -> None:
    for dialog in view.findChildren(object):
        if dialog.__class__.__name__ == "DiffDialog":
            dialog.close()


def test_run_again_after_a_run_a_replay_an_estimate_and_a_delete(
    qtbot: Any, loaded_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = loaded_window
    view = runs_section(qtbot, window)
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    label_task(view)
    # The confirmation box is modal and would wait for a person: it answers Yes here.
    monkeypatch.setattr(QMessageBox, "question", lambda *_args, **_kw: QMessageBox.StandardButton.Yes)
    made: list[int] = []
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
        assert view.pages.currentWidget() is view.setup
        assert "Positive or negative?" in view.setup.template.toPlainText()  # the form as it was left
        with qtbot.waitSignal(view.estimated, timeout=RUN_TIMEOUT_MS):
            qtbot.mouseClick(view.setup.estimate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)  # estimate → run
        with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            qtbot.mouseClick(view.setup.run_button, Qt.MouseButton.LeftButton)
        made.append(finished.args[0].run_id)
        qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)  # run → run
        if width < SIZES[0][0]:  # the second time round, the short way: straight to Delete
            delete_and_check(qtbot, view)
            continue
        assert view.results.replay_button.isEnabled()
        with qtbot.waitSignal(view.replayed, timeout=RUN_TIMEOUT_MS) as replayed:
            qtbot.mouseClick(view.results.replay_button, Qt.MouseButton.LeftButton)
        assert replayed.args[0].n_differed == 0
        close_dialogs(view)
        qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)  # replay → run
        made.append(replayed.args[0].replay)
        # Run again straight from the form: a new run, not the old one shown.
        qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
        with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as again:
            qtbot.mouseClick(view.setup.run_button, Qt.MouseButton.LeftButton)
        assert again.args[0].status == "done" and again.args[0].run_id not in made
        qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)
        delete_and_check(qtbot, view)
    assert not window.context.models.busy


def delete_and_check(qtbot: Any, view: RunsView) -> None:
    """Deletes the run shown; the form comes back, usable."""
    before = view.runs_model.rowCount()
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert view.runs_model.rowCount() == before - 1
    assert view.pages.currentWidget() is view.setup
    qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)


def test_then_also_and_on_my_dataset_run_the_second_model_and_compare(
    qtbot: Any, loaded_window: Any, smollm2_path: Path, gemma_path: Path, tmp_path: Path
) -> None:
    window = loaded_window
    host = window.context.models
    view = runs_section(qtbot, window)
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    label_task(view)
    compare = window.sections["Compare"]
    for round_number, (width, height) in enumerate(SIZES):
        window.resize(width, height)
        if round_number == 0:  # the Runs form's own "Then also"
            view.setup.choose_models(smollm2_path, gemma_path)
        else:  # the quantisation lab's "On my dataset…" with two ticked variants
            window.show_section(list(window.sections).index("Compare"))
            compare.dataset_comparison_requested.emit([smollm2_path, gemma_path])
            assert window.stack.currentWidget() is view
            assert view.pages.currentWidget() is view.setup  # the form, not the last run's page
            assert "Positive or negative?" in view.setup.template.toPlainText()
        started: list[int] = []
        view.run_started.connect(started.append)
        with qtbot.waitSignal(view.compared, timeout=2 * RUN_TIMEOUT_MS) as compared:
            qtbot.mouseClick(view.setup.run_button, Qt.MouseButton.LeftButton)
        view.run_started.disconnect(started.append)
        result = compared.args[0]
        assert len(set(started)) == 2, "both models ran"
        assert 0.0 <= result.p_value <= 1.0 and result.n_paired == 3
        assert host.model is not None and host.model.path.resolve() == gemma_path.resolve()
        assert "busy" not in view.notice.text
        dialogs = [d for d in view.findChildren(object) if d.__class__.__name__ == "DiffDialog"]
        assert dialogs and any(d.isVisible() for d in dialogs)
        close_dialogs(view)
        qtbot.waitUntil(lambda: buttons_usable(view), timeout=ENABLED_MS)
        records = {r.id: r for r in view.store.all_runs()}
        assert records[started[0]].model_sha256 != records[started[-1]].model_sha256


def test_the_form_stays_and_a_run_can_be_renamed_and_read(qtbot: Any, loaded_window: Any, tmp_path: Path) -> None:
    window = loaded_window
    view = runs_section(qtbot, window)
    open_reviews(qtbot, view, tmp_path / "reviews.csv")
    label_task(view)
    with qtbot.waitSignal(view.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        view.setup.run_button.click()
    run_id = finished.args[0].run_id
    for number, (width, height) in enumerate(SIZES):
        window.resize(width, height)
        # The list says what its figures are: rows done, then the accuracy.
        line = view.runs_model.data(view.runs_model.index(view.runs_model.row_of(run_id)))
        assert "3 rows" in line and "accuracy" in line and "/" not in line.splitlines()[1]
        # Editing a new run's form, leaving the section and coming back keeps the form.
        view.new_button.click()
        view.setup.template.setPlainText(f"Review {number}: {{text}}\nPositive or negative?")
        window.show_section(list(window.sections).index("Chat"))
        window.show_section(list(window.sections).index("Runs"))
        assert view.pages.currentWidget() is view.setup
        assert f"Review {number}:" in view.setup.template.toPlainText()
        # Rename and note.
        view.refresh_runs(select=run_id)
        assert view.pages.currentWidget() is view.results
        view.list_actions.rename(run_id, f"Sentiment, try {number}", "Short labels; the model tends to say positive.")
        line = view.runs_model.data(view.runs_model.index(view.runs_model.row_of(run_id)))
        assert line.startswith(f"#{run_id} Sentiment, try {number}") and "tends to say positive" in line
        assert "tends to say positive" in view.results.title.text()
        # Rows counted from 1, with the input text; the manifest in words with the JSON a button away.
        model = view.results.rows_model
        headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
        assert headers[:3] == ["Row", "ID", "Input"]
        first = model.row_at(0)
        assert model.data(model.index(0, 0)) == "1" and first is not None
        assert "I loved this film" in model.data(model.index(0, 2))
        manifest = view.results.manifest
        shown = dict(manifest.rows())
        assert "Dataset" in shown and "Model" in shown
        assert manifest.stack.currentWidget() is manifest.tree
        manifest.json_button.click()
        assert manifest.stack.currentWidget() is manifest.json and '"sha256"' in manifest.json.toPlainText()
        manifest.json_button.click()
        assert manifest.stack.currentWidget() is manifest.tree
