"""Judge…, Compare blind… and Methods… with pytest-qt, each flow to its end and then again: the
blind screen saves every key press and resumes after the window is closed, reveals only when
asked; the methods text copies and saves; the judge, SmolLM2 on the window's model thread,
scores a run with the prompt as shown (and as edited), then is checked against a person
(test_judge_dialog.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from desktop_app.core.runs.datasets import open_dataset
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task
from desktop_app.ui.runs.blind_ab import BlindABDialog
from desktop_app.ui.runs.methods_dialog import MethodsDialog

QUESTIONS = [("q1", "What is the capital of France?", "Paris"), ("q2", "How many legs has a spider?", "eight"),
             ("q3", "What colour is the sky?", "blue")]  # fmt: skip
GOOD = ["Paris.", "Eight legs.", "Blue."]
POOR = ["Rome, I think.", "Six.", "Green."]


def stored_run(store: RunStore, dataset: Path, outputs: list[str], model: str) -> int:
    """A finished run with these outputs, stored as a run stores them (the screens' input)."""
    if not dataset.exists():
        dataset.write_text("".join(json.dumps({"id": i, "question": q, "answer": a}) + "\n" for i, q, a in QUESTIONS),
                           encoding="utf-8")  # fmt: skip
    data = open_dataset(dataset)
    task = Task(prompt="{question}", reference="answer", scorer="contains")
    run_id = store.create(f"{model} answers", len(outputs), "text", str(dataset), data.sha256, model, None,
                          task, RunManifest.from_dict({"model": {"kind": "local", "name": model}}))  # fmt: skip
    store.add_rows(run_id, [
        RowResult(index=i, key=qid, inputs={"question": q}, prompt=q, output=outputs[i], reference=a, valid=True,
                  correct=a.lower() in outputs[i].lower(), score=None)
        for i, (qid, q, a) in enumerate(QUESTIONS[: len(outputs)])
    ])  # fmt: skip
    store.set_status(run_id, "done")
    return run_id


def test_blind_screen_saves_each_key_resumes_and_reveals_when_asked(qtbot: Any, tmp_path: Path) -> None:
    store = RunStore()
    try:
        a = stored_run(store, tmp_path / "q.jsonl", GOOD, "model-a")
        b = stored_run(store, tmp_path / "q.jsonl", POOR, "model-b")
        for coder, size in (("Ana", (1280, 800)), ("Ben", (1024, 700))):  # the flow, then again
            dialog = BlindABDialog(store, a)
            qtbot.addWidget(dialog)
            dialog.resize(*size)
            dialog.show()
            assert dialog.other.currentData() == b
            dialog.coder.setText(coder)
            qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
            assert dialog.progress.text().startswith("Pair 1 of 3")
            shown = dialog.session.pair(0)
            assert {dialog.left.toPlainText(), dialog.right.toPlainText()} == {GOOD[shown.index], POOR[shown.index]}
            assert "model-a" not in dialog.left.toPlainText() + dialog.right.toPlainText()  # unlabelled
            # The good answer is preferred on the first pair, wherever it is; the second is a tie.
            with qtbot.waitSignal(dialog.chosen):
                qtbot.keyClick(dialog, Qt.Key.Key_1 if dialog.left.toPlainText() in GOOD else Qt.Key.Key_2)
            with qtbot.waitSignal(dialog.chosen):
                qtbot.keyClick(dialog, Qt.Key.Key_3)
            assert dialog.result_text.toPlainText() == ""  # no running score: it would give the sides away
            dialog.close()

            # Closed half-way: a new window resumes at the third pair with both choices kept.
            again = BlindABDialog(store, a)
            qtbot.addWidget(again)
            again.resize(*size)
            again.show()
            again.coder.setText(coder)
            again.start(b, coder)
            assert again.position == 2 and "2 rated" in again.progress.text()
            qtbot.keyClick(again, Qt.Key.Key_Left)
            assert again.position == 1 and "a tie" in again.choice_label.text()
            qtbot.keyClick(again, Qt.Key.Key_Right)
            with qtbot.waitSignal(again.chosen):
                qtbot.keyClick(again, Qt.Key.Key_1 if again.left.toPlainText() in GOOD else Qt.Key.Key_2)
            assert "every pair is rated" in again.progress.text()
            with qtbot.waitSignal(again.revealed) as revealed:
                qtbot.mouseClick(again.reveal_button, Qt.MouseButton.LeftButton)
            assert f"run {a} was preferred in 2 of 2 decided pairs" in revealed.args[0]
            text = again.result_text.toPlainText()
            assert text.count(f"you chose run {a}") == 2 and text.count("a tie") == 1
            again.close()
    finally:
        store.close()


def test_methods_dialog_copies_and_saves_the_text(qtbot: Any, tmp_path: Path) -> None:
    store = RunStore()
    try:
        run_id = stored_run(store, tmp_path / "q.jsonl", GOOD, "model-a")
    finally:
        store.close()
    for size in ((1280, 800), (1024, 700)):  # the flow, then again
        dialog = MethodsDialog(run_id)
        qtbot.addWidget(dialog)
        dialog.resize(*size)
        with qtbot.waitSignal(dialog.text_ready, timeout=30_000) as ready:
            dialog.show()
        text = ready.args[0]
        assert text.startswith("## Methods") and "100.0% (3 of 3" in text and "@software{hearth" in text
        qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
        assert QGuiApplication.clipboard().text() == text
        saved = tmp_path / f"methods-{size[0]}.md"
        dialog.export(saved)
        assert saved.read_text(encoding="utf-8") == text and "Saved" in dialog.status.text()
        dialog.close()
