"""Document-question runs: each row answered through the chat's retrieval and citation path,
with recall@k against the expected source checked against retrieval run independently."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from desktop_app.core import paths
from desktop_app.core.inference.engine import Engine
from desktop_app.core.rag import ingest, retrieve
from desktop_app.core.rag.store import DocumentStore
from desktop_app.core.runs import runner
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling

FILES = {
    "centrifuge.txt": "The centrifuge must spin at 4,500 rpm for twelve minutes to separate the plasma.",
    "freezer.txt": "Samples are stored at minus eighty degrees in freezer 3, rack C, in the basement.",
    "nitrogen.txt": "Liquid nitrogen deliveries arrive on Thursdays before noon at the loading dock.",
}
QUESTIONS = [
    ("q1", "How fast must the centrifuge spin?", "4,500", "centrifuge.txt"),
    ("q3", "On which day does liquid nitrogen arrive?", "Thursday", "nitrogen.txt"),
    ("q4", "Where are the samples stored?", "minus eighty", "protocol.pdf"),  # not in the collection: a miss
]


def test_document_run_reports_recall_citations_and_flags(tmp_path: Path, engine: Engine) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    store = DocumentStore()
    ingest.add_paths(store, "lab", [folder])
    dataset = tmp_path / "questions.csv"
    with dataset.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "question", "answer", "source"])
        writer.writerows(QUESTIONS)
    task = Task(
        prompt="{question}", reference="answer", scorer="contains", collection="lab", k=2, source_column="source",
        sampling=run_sampling(max_tokens=16),
    )  # fmt: skip
    runs = RunStore()
    try:
        summary = runner.start(runner.plan_run(dataset, task), LocalGenerator(engine, ""), runs)
        manifest = runs.get(summary.run_id).manifest.to_dict()
    finally:
        runs.close()
    db = sqlite3.connect(paths.db_path())
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM run_rows WHERE run_id=? ORDER BY idx", (summary.run_id,)).fetchall()
    db.close()
    assert len(rows) == 3 and all(not r["error"] for r in rows)
    # The same retrieval as the chat, run here on its own: recall@2 follows from it.
    expected_hits = []
    for _id, question, _answer, source in QUESTIONS:
        top = retrieve.search(store, ["lab"], question, 2)
        expected_hits.append(source in [hit.name for hit in top.hits])
    assert [bool(r["source_hit"]) for r in rows] == expected_hits
    assert expected_hits[2] is False and sum(expected_hits) >= 2
    documents = summary.documents
    assert documents is not None and documents.k == 2 and manifest["documents"]["k"] == 2
    assert documents.recall_at_k == pytest.approx(sum(expected_hits) / 3)
    details = [json.loads(r["detail_json"]) for r in rows]
    for r, detail in zip(rows, details, strict=True):
        assert len(detail["retrieved"]) <= 2
        assert bool(r["cited"]) == bool(detail["cited"])
        assert "Sources:" in r["prompt"] and detail["retrieved"][0]["name"] in r["prompt"]
    assert documents.cited_share == pytest.approx(sum(bool(r["cited"]) for r in rows) / 3)
    assert documents.flagged_share == pytest.approx(sum(bool(r["flagged"]) for r in rows) / 3)
    assert summary.n_scored == 3
