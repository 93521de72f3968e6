"""Code rows…: a coder codes by key, closes the window, opens it again and goes on where they
stopped, with every code and note kept; the model's answer stays hidden; at both window sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.core.runs.coding import Codebook, CodeStore
from desktop_app.core.runs.storage import RunStore
from desktop_app.ui.runs.codebook_dialog import CodebookDialog
from desktop_app.ui.runs.coding_view import CodingDialog
from tests.core.runs.coding_data import make_run

MODEL_SAYS = ["positive", "negative", "mixed", "positive", "negative", "positive"]


def _open(qtbot: QtBot, store: RunStore, run_id: int, size: tuple[int, int], coder: str | None = None) -> CodingDialog:
    dialog = CodingDialog(store, run_id, coder)
    qtbot.addWidget(dialog)
    dialog.resize(*size)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    dialog.setFocus()
    return dialog


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_coding_resumes_after_the_window_is_closed(qtbot: QtBot, tmp_path: Path, size: tuple[int, int]) -> None:
    store = RunStore()
    run_id = make_run(store, tmp_path, MODEL_SAYS)
    codes = CodeStore(store)
    codes.set_codebook(run_id, Codebook.from_dict({"kind": "labels", "labels": [
        {"name": "positive", "definition": "The reviewer liked the film.", "example": "Loved it."},
        {"name": "negative", "definition": "The reviewer did not.", "example": "Dull and loud."},
        {"name": "mixed", "definition": "Both.", "example": "Great music, thin plot."},
    ]}))  # fmt: skip

    for round_ in range(2):  # the whole flow, then again on the same run with another coder
        coder = ["Ann", "Bea"][round_]
        dialog = _open(qtbot, store, run_id, size, coder)
        assert dialog.current == 0
        # Blind: the input is shown, the model's answer is not (until asked for).
        assert "Review number 0" in dialog.row_text.toPlainText()
        assert "positive" not in dialog.row_text.toPlainText().split("rather")[0]
        assert "Answer" not in dialog.row_text.toPlainText()
        assert "The reviewer liked the film." in "".join(
            w.text() for w in dialog.findChildren(type(dialog.progress))
        )
        qtbot.keyClick(dialog, Qt.Key.Key_3)  # row 0: mixed
        qtbot.keyClick(dialog, Qt.Key.Key_1)  # row 1: positive
        assert dialog.current == 2
        qtbot.keyClick(dialog, Qt.Key.Key_Right)  # row 2: skipped
        dialog.note.setFocus()
        qtbot.keyClicks(dialog.note, "ironic?")  # a note on row 3, saved per keystroke
        qtbot.keyClick(dialog.note, Qt.Key.Key_Escape)
        assert dialog.isVisible()  # Escape in the note returns to coding, it does not close
        qtbot.keyClick(dialog, Qt.Key.Key_Left)  # back to row 2
        assert dialog.current == 2
        qtbot.keyClick(dialog, Qt.Key.Key_2)  # row 2: negative after all, then on to row 3
        assert dialog.current == 3
        dialog.show_answer.setChecked(True)
        assert "Answer" in dialog.row_text.toPlainText()  # shown on request, never the model's name
        assert "SmolLM2" not in dialog.row_text.toPlainText()
        dialog.close()
        dialog.deleteLater()
        qtbot.wait(1)

        again = _open(qtbot, store, run_id, size)  # no name given: the last coder goes on
        assert again.coder == coder
        assert again.current == 3  # the first row neither coded nor skipped
        assert again.note.toPlainText() == "ironic?"
        assert [CodeStore(store).get(run_id, i, coder).code for i in range(3)] == [  # type: ignore[union-attr]
            "mixed", "positive", "negative",
        ]  # fmt: skip
        assert [b.isChecked() for b in again.label_buttons] == [False, False, False]
        qtbot.keyClick(again, Qt.Key.Key_Left)
        assert [b.isChecked() for b in again.label_buttons] == [False, True, False]  # row 2's code shown
        for key in (Qt.Key.Key_2, Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2):
            qtbot.keyClick(again, key)
        assert "Every row is coded" in again.message.text()
        assert codes.progress(run_id, coder) == (6, 6)
        again.close()

    assert codes.coders(run_id) == ["Ann", "Bea"]


def test_a_coder_needs_a_name_before_codes_are_kept(qtbot: QtBot, tmp_path: Path) -> None:
    store = RunStore()
    run_id = make_run(store, tmp_path, MODEL_SAYS)
    dialog = _open(qtbot, store, run_id, (1024, 700))
    assert dialog.coder == ""
    qtbot.keyClick(dialog, Qt.Key.Key_1)
    assert "name" in dialog.message.text()
    assert CodeStore(store).coders(run_id) == []
    dialog.coder_box.setCurrentText("model")  # kept for the agreement table
    qtbot.keyClick(dialog, Qt.Key.Key_1)
    assert CodeStore(store).coders(run_id) == []
    dialog.coder_box.setCurrentText("Cy")
    qtbot.keyClick(dialog, Qt.Key.Key_1)
    assert CodeStore(store).coders(run_id) == ["Cy"]


def _saved(editor: CodebookDialog) -> Codebook | None:
    return editor.result_codebook


def test_the_codebook_is_edited_from_the_coding_window(qtbot: QtBot, tmp_path: Path) -> None:
    store = RunStore()
    run_id = make_run(store, tmp_path, MODEL_SAYS)
    dialog = _open(qtbot, store, run_id, (1024, 700), "Ann")
    qtbot.keyClick(dialog, Qt.Key.Key_1)  # a code under the old codebook stays

    editor = CodebookDialog(dialog.codebook)
    qtbot.addWidget(editor)
    editor.kind.setCurrentIndex(1)  # a rating scale
    editor.low.setValue(1)
    editor.high.setValue(4)
    editor.make_scale.click()
    assert editor._names() == ["1", "2", "3", "4"]
    editor.table.item(0, 1).setText("Wrong or harmful")  # type: ignore[union-attr]
    editor.table.item(3, 2).setText("Says exactly what the source says")  # type: ignore[union-attr]
    editor.table.item(2, 0).setText("1")  # type: ignore[union-attr]  # a label named twice
    editor._on_buttons_accepted()
    assert editor.result_codebook is None and "twice" in editor.error.text()
    editor.table.item(2, 0).setText("3")  # type: ignore[union-attr]
    editor._on_buttons_accepted()
    saved = _saved(editor)
    assert saved is not None and saved.kind == "scale"

    dialog.apply_codebook(saved)  # what Save in the window's own editor does
    assert [b.text() for b in dialog.label_buttons] == ["1  1", "2  2", "3  3", "4  4"]
    assert CodeStore(store).codebook(run_id).labels[0].definition == "Wrong or harmful"
    qtbot.keyClick(dialog, Qt.Key.Key_4)  # row 1: 4 on the scale
    assert CodeStore(store).get(run_id, 1, "Ann").code == "4"  # type: ignore[union-attr]
    assert CodeStore(store).get(run_id, 0, "Ann").code == "positive"  # type: ignore[union-attr]
