"""Agreement… shows the report's numbers in the table and the heat map (terms in tooltips);
Review disagreements… decides rows by key, keeps the coders' codes, and the agreement window
then counts the decision in the model's accuracy. At both window sizes, twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from desktop_app.core.runs.coding import CodeStore, agreement
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.runs.agreement_view import AgreementDialog, heat_colour
from desktop_app.ui.runs.coding_actions import CodingActions
from desktop_app.ui.runs.review_view import ReviewDialog
from tests.core.runs.coding_data import make_run

MODEL_SAYS = ["positive", "negative", "mixed", "positive", "negative", "positive"]
ANN = ["positive", "negative", "positive", "positive", "negative", "negative"]
BEA = ["positive", "mixed", "mixed", "positive", "negative", "negative"]


def _coded_run(tmp_path: Path) -> tuple[RunStore, int]:
    store = RunStore()
    run_id = make_run(store, tmp_path, MODEL_SAYS)
    codes = CodeStore(store)
    for name, column in (("Ann", ANN), ("Bea", BEA)):
        for i, code in enumerate(column):
            codes.set_code(run_id, i, name, code)
    return store, run_id


def _cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None
    return item


def _agreement(qtbot: QtBot, store: RunStore, run_id: int, size: tuple[int, int]) -> AgreementDialog:
    dialog = AgreementDialog(store, run_id)
    qtbot.addWidget(dialog)
    dialog.resize(*size)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.report is not None and "Working" not in dialog.summary.text(), timeout=30_000)
    return dialog


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_review_then_agreement(qtbot: QtBot, tmp_path: Path, size: tuple[int, int]) -> None:
    store, run_id = _coded_run(tmp_path)
    expected = agreement(CodeStore(store), run_id).to_dict()
    for _round in range(2):
        dialog = _agreement(qtbot, store, run_id, size)
        assert dialog.report is not None
        report = dialog.report.to_dict()
        assert [p["cohen_kappa"] for p in report["pairs"]] == [p["cohen_kappa"] for p in expected["pairs"]]
        # model and Ann, model and Bea, Ann and Bea, then both coders together
        assert dialog.table.rowCount() == 4
        assert _cell(dialog.table, 0, 0).text() == "model and Ann"
        kappa = expected["pairs"][0]["cohen_kappa"]
        assert _cell(dialog.table, 0, 3).text() == f"{kappa['value']:.2f}"
        assert "Cohen's κ" in _cell(dialog.table, 0, 3).toolTip()
        assert f"{kappa['ci_low']:.2f} to {kappa['ci_high']:.2f}" in _cell(dialog.table, 0, 3).toolTip()
        assert _cell(dialog.table, 3, 0).text() == "Both coders"
        assert len(dialog.heat.rows) == 4 and dialog.heat.cell_at(dialog.heat.LEFT + 1, dialog.heat.TOP + 1) == (0, 0)
        assert dialog.labels.rowCount() == 3  # per label for the selected pair
        dialog.table.selectRow(3)  # both coders together: per label too
        assert "all coders together" in dialog.labels_title.text()
        fleiss = expected["coders"]["per_label"][0]["fleiss_kappa"]["value"]
        assert _cell(dialog.labels, 0, 3).text() == (f"{fleiss:.2f}" if fleiss is not None else "—")
        dialog.grab()  # paints the heat map
        dialog.level.setCurrentIndex(1)  # ordered codes: computed again
        def ordinal(d: AgreementDialog = dialog) -> bool:
            return d.report is not None and d.report.level == "ordinal"

        qtbot.waitUntil(ordinal, timeout=30_000)
        dialog.close()

        review = ReviewDialog(store, run_id)
        qtbot.addWidget(review)
        review.resize(*size)
        review.show()
        open_rows = [row.index for row in review.rows if row.adjudicated is None]
        if _round == 0:
            assert [row.index for row in review.rows] == [1, 2, 5]
            assert review.current() is not None and review.current().index == 1  # type: ignore[union-attr]
            review.setFocus()
            qtbot.keyClick(review, Qt.Key.Key_2)  # row 1: negative
            assert review.current() is not None and review.current().index == 2  # type: ignore[union-attr]
            review.note.setText("the reviewer hedges")
            review.decide("mixed")
            assert CodeStore(store).adjudications(run_id) == {1: ("negative", ""), 2: ("mixed", "the reviewer hedges")}
            assert CodeStore(store).get(run_id, 2, "Ann").code == "positive"  # type: ignore[union-attr]
            review.only_open.setChecked(True)
            assert [row.index for row in review.rows] == [5]
        else:
            assert open_rows == [5]
            review.select(2)
            review.take_back()
            assert 2 not in CodeStore(store).adjudications(run_id)
            review.decide("mixed")
        review.close()

        after = _agreement(qtbot, store, run_id, size)
        assert after.report is not None and after.report.to_dict()["reference"]["adjudicated"] == 2
        assert "2 decided in review" in after.summary.text()
        after.close()


def test_heat_colours_run_from_red_to_green() -> None:
    low, mid, high = heat_colour(0.0), heat_colour(0.45), heat_colour(0.9)
    assert low.red() > low.green() and high.green() > high.red()
    assert mid.red() > mid.blue()
    assert heat_colour(None).red() == heat_colour(None).green()  # grey


def test_the_run_page_buttons_open_one_window_each(qtbot: QtBot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QWidget

    store, run_id = _coded_run(tmp_path)
    page = QWidget()
    qtbot.addWidget(page)
    selected: list[int | None] = [None]
    actions = CodingActions(store, lambda: selected[0], page)
    assert actions.open_coding() is None  # no run selected: nothing opens
    selected[0] = run_id
    coding = actions.open_coding()
    assert coding is not None and coding.isVisible()
    assert actions.open_coding() is coding  # the same window, raised
    review = actions.open_review()
    agreement_window = actions.open_agreement()
    assert review is not None and agreement_window is not None
    qtbot.waitUntil(lambda: agreement_window.report is not None, timeout=30_000)  # type: ignore[attr-defined]
    for window in (coding, review, agreement_window):
        window.close()
