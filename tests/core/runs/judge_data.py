"""Judged runs the judge tests build: answers to short questions, stored as a run would store
them (the judged run is the judge's input, so it is written directly; the judge itself is the
real SmolLM2)."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.storage import RowResult, RunStore
from desktop_app.core.runs.tasks import Task

QUESTIONS = [
    ("q1", "What is the capital of France?", "Paris"),
    ("q2", "How many legs does a spider have?", "Eight"),
    ("q3", "What colour is the sky on a clear day?", "Blue"),
    ("q4", "What is two plus two?", "Four"),
]
GOOD = ["The capital of France is Paris.", "A spider has eight legs.", "It is blue.", "Two plus two is four."]
POOR = ["I think it is Rome.", "Six, like an insect.", "Green, mostly.", "Five."]

RUBRIC_JSON = {
    "name": "Short answers",
    "instructions": "Judge only whether the answer is right and clear.",
    "criteria": [
        {"name": "correct", "description": "Agrees with the reference answer.", "scale": [1, 5]},
        {"name": "clear", "description": "Plain and short.", "scale": ["pass", "fail"]},
    ],
}
RUBRIC_TEXT = """# the same rubric as RUBRIC_JSON, in the text format
name: Short answers
instructions: Judge only whether the answer is right and clear.
correct | 1-5 | Agrees with the reference answer.
clear | pass, fail | Plain and short.
"""


def write_questions(path: Path, n: int = len(QUESTIONS)) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for qid, question, answer in QUESTIONS[:n]:
            fh.write(json.dumps({"id": qid, "question": question, "answer": answer}) + "\n")
    return path


def judged_run(store: RunStore, dataset: Path, outputs: list[str], model: str = "answerer") -> int:
    """A finished run of ``model`` over the questions, with these outputs."""
    from desktop_app.core.runs.datasets import open_dataset

    data = open_dataset(dataset)
    task = Task(prompt="Answer briefly: {question}", reference="answer", scorer="contains")
    run_id = store.create(
        f"{data.name} · text · {model}", len(outputs), "text", str(dataset), data.sha256, model, None,
        task, RunManifest.from_dict({"model": {"kind": "local", "name": model, "sha256": None}}),
    )  # fmt: skip
    rows = []
    for index, row in data.rows():
        if index >= len(outputs):
            break
        rows.append(
            RowResult(
                index=index, key=row["id"], inputs={"question": row["question"]},
                prompt=f"Answer briefly: {row['question']}", output=outputs[index], reference=row["answer"],
                valid=True, correct=row["answer"].lower() in outputs[index].lower(), score=None,
            )
        )
    store.add_rows(run_id, rows)
    store.set_status(run_id, "done")
    return run_id
