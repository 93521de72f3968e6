"""Judge… from the Runs page with pytest-qt: SmolLM2 on the window's model thread scores a stored
run with the judge's prompt exactly as shown, then again with the prompt edited (a second judge
run), and the judge is checked against a person's ratings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop_app.core.runs.coding import CodeStore
from desktop_app.ui.runs.view import RunsView
from tests.ui.runs.test_judge_gui import GOOD, POOR, stored_run

JUDGE_TIMEOUT_MS = 240_000


def test_judge_from_the_runs_page_with_the_prompt_as_shown_then_checked(
    qtbot: Any, loaded_window: Any, tmp_path: Path
) -> None:
    window = loaded_window
    window.show_section(list(window.sections).index("Runs"))
    view = window.sections["Runs"]
    assert isinstance(view, RunsView)
    qtbot.waitUntil(lambda: view.setup.model.count() > 0, timeout=60_000)
    judged = stored_run(view.store, tmp_path / "q.jsonl", [GOOD[0], POOR[1]], "answerer")
    view.refresh_runs(select=judged)
    view.show_run(judged)
    dialog = view.judging.open_judge()
    assert dialog is not None and view.judging.open_judge() is dialog  # one at a time
    loaded = window.context.models.model.path.resolve()
    dialog.model.setCurrentIndex(next(i for i in range(dialog.model.count())
                                      if Path(dialog.model.itemData(i)).resolve() == loaded))  # fmt: skip
    dialog.rubric.setPlainText("correct | 1-3 | agrees with the reference\n")
    assert "correct (a whole number from 1 to 3)" in dialog.prompt.toPlainText()
    runs: list[int] = []
    for size, extra in (((1280, 800), ""), ((1024, 700), "\nBe brief.")):  # the flow, then again (edited)
        dialog.resize(*size)
        if extra:
            dialog.prompt.setPlainText(dialog.prompt.toPlainText() + extra)
            dialog.rubric.setPlainText("correct | 1-3 | agrees with the reference\n# edited rubric comment\n")
            assert dialog.prompt.toPlainText().endswith("Be brief.")  # an edited prompt is kept
        shown = dialog.prompt.toPlainText()
        with qtbot.waitSignal(dialog.judged, timeout=JUDGE_TIMEOUT_MS) as done:
            qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        report = done.args[0]
        runs.append(report.run_id)
        assert (report.done, report.valid) == (2, 2)
        record = view.store.get(report.run_id)
        assert record.task.prompt == shown and record.manifest.judge is not None
        assert record.manifest.judge.prompt == shown
        assert all(json.loads(r.output)["correct"] in (1, 2, 3) for r in view.store.iter_rows(report.run_id))
        assert "correct: 2 scored" in dialog.report.toPlainText()
    assert runs[0] != runs[1]
    # Checked against a person who rated both rows.
    qtbot.mouseClick(dialog.prepare_button, Qt.MouseButton.LeftButton)
    assert "Rate these 2 rows" in dialog.check_label.text()
    for index, value in enumerate(("3", "1")):
        CodeStore(view.store).set_code(judged, index, "Ana", value)
    dialog.refresh_people()
    dialog.coder.setCurrentText("Ana")
    with qtbot.waitSignal(dialog.checked) as checked:
        qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    assert checked.args[0].rated == 2 and "too few" in dialog.check_label.text()
    dialog.close()
