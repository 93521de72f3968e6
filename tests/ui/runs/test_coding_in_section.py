"""The Runs section's page of a run offers Code rows…, Agreement… and Review disagreements…, which
open for the selected run (the window's own RunStore); at both window sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.runs.coding import CodeStore
from desktop_app.ui.runs.coding_view import CodingDialog
from desktop_app.ui.runs.view import RunsView
from tests.core.runs.coding_data import make_run


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_code_rows_from_a_runs_page(qtbot: Any, window: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    window.resize(*size)
    window.show_section(list(window.sections).index("Runs"))
    view = window.sections["Runs"]
    assert isinstance(view, RunsView)
    run_id = make_run(view.store, tmp_path, ["positive", "negative", "mixed"])
    view.refresh_runs(select=run_id)
    view.show_run(run_id)
    button = view.coding.code_button
    qtbot.waitUntil(button.isVisible)
    for round_ in range(2):
        button.click()
        dialog = view.coding.open_windows["coding"]
        assert isinstance(dialog, CodingDialog) and dialog.run_id == run_id
        dialog.coder_box.setCurrentText("Ann")
        dialog._on_coder_chosen()
        qtbot.keyClick(dialog, Qt.Key.Key_2)
        assert CodeStore(view.store).get(run_id, round_, "Ann").code == "negative"  # type: ignore[union-attr]
        dialog.close()
    view.coding.review_button.click()
    assert view.coding.open_windows["review"].isVisible()
    view.coding.open_windows["review"].close()
