"""Runs with the real SmolLM2 (and Gemma once): constrained outputs are always valid, the stored
results equal an independent computation from the rows in SQLite, a stopped run resumes to the
same rows, replay on the CPU is identical, export and import round-trip."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from runs_data import LABEL_PROMPT, LABEL_SYSTEM, SCHEMA, review_rows, stored_rows, write_csv, write_jsonl

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, Message
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs import exchange, provenance, replay, runner
from desktop_app.core.runs.generators import Constraint, Generation, LocalGenerator
from desktop_app.core.runs.manifest import ModelRecord
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.runs.tasks import Task, run_sampling
from desktop_app.core.settings import LoadSettings, SamplingSettings

LABELS = ["positive", "negative"]


def label_task(**overrides: Any) -> Task:
    return Task(
        prompt=LABEL_PROMPT, system=LABEL_SYSTEM, kind="labels", labels=list(LABELS), reference="label",
        sampling=run_sampling(max_tokens=4), **overrides,
    )  # fmt: skip


def test_label_run_every_output_is_a_label_and_the_numbers_recompute(
    tmp_path: Path, backend: LocalGenerator, store: RunStore, smol_sha: str
) -> None:
    path = write_csv(tmp_path / "reviews.csv", encoding="cp1252")
    summary = runner.start(runner.plan_run(path, label_task()), backend, store)
    rows = stored_rows(summary.run_id)
    assert len(rows) == summary.n == summary.done == 8
    assert all(r["output"] in LABELS for r in rows), [r["output"] for r in rows]
    assert summary.invalid == 0
    # Accuracy and its Wilson interval, recomputed from the stored rows with the textbook formula.
    right = sum(r["output"] == r["reference"] for r in rows)
    assert [bool(r["correct"]) for r in rows] == [r["output"] == r["reference"] for r in rows]
    assert summary.correct == right and summary.n_scored == 8
    assert summary.accuracy == pytest.approx(right / 8)
    z, p, n = 1.959963984540054, right / 8, 8
    centre, spread = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert summary.ci_low == pytest.approx((centre - spread) / (1 + z * z / n))
    assert summary.ci_high == pytest.approx((centre + spread) / (1 + z * z / n))
    counted = Counter((r["reference"], r["output"]) for r in rows)
    assert summary.confusion == {ref: {out: counted[(ref, out)] for out in LABELS} for ref in LABELS}
    # Each row's seed follows the recorded rule; the manifest says how the run was made.
    record = store.get(summary.run_id)
    manifest = record.manifest.to_dict()
    assert [r["seed"] for r in rows] == [provenance.row_seed(manifest["seed"], r["idx"]) for r in rows]
    assert manifest["dataset"]["sha256"] == record.dataset_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["dataset"]["encoding"] in ("cp1252", "windows-1252")
    assert manifest["model"]["sha256"] == smol_sha and manifest["model"]["quant"] == "Q4_1"
    assert manifest["model"]["llama_cpp_version"] and manifest["machine"]["backend"] == "CPU"
    assert manifest["output"] == {"kind": "labels", "labels": LABELS, "schema": None}
    assert manifest["scorer"]["name"] == "label" and manifest["finished_at"]
    assert manifest["sessions"][0]["rows"] == 8
    # The shared instructions were read once: later rows evaluated only their own part.
    evaluated = [json.loads(r["detail_json"])["backend"]["prompt_eval_tokens"] for r in rows[1:]]
    assert all(e < t for e, t in zip(evaluated, [r["prompt_tokens"] for r in rows[1:]], strict=True))
    assert "I loved this film" in rows[0]["prompt"] and LABEL_SYSTEM in rows[0]["prompt"]


def test_json_run_every_output_validates_and_fields_are_scored(
    tmp_path: Path, backend: LocalGenerator, store: RunStore
) -> None:
    task = Task(
        prompt="Review: {text}\nGive the film's name and year as JSON.", kind="json", schema=SCHEMA,
        reference="film", sampling=run_sampling(max_tokens=48),
    )  # fmt: skip
    summary = runner.start(runner.plan_run(write_csv(tmp_path / "reviews.csv"), task), backend, store)
    rows = stored_rows(summary.run_id)
    assert len(rows) == 8
    for r in rows:
        assert r["finish"] == "stop", r["output"]
        jsonschema.validate(json.loads(r["output"]), SCHEMA)
    assert summary.invalid == 0
    expected = {"name": 0, "year": 0}
    for r in rows:
        got, want = json.loads(r["output"]), json.loads(r["reference"])
        expected["year"] += got["year"] == want["year"]
        expected["name"] += " ".join(got["name"].casefold().split()) == want["name"].casefold()
    assert summary.per_field is not None
    assert {k: v.correct for k, v in summary.per_field.items()} == expected
    assert summary.correct == sum(
        json.loads(r["output"])["year"] == json.loads(r["reference"])["year"]
        and " ".join(json.loads(r["output"])["name"].casefold().split())
        == json.loads(r["reference"])["name"].casefold()
        for r in rows
    )


def test_number_run_outputs_numbers(tmp_path: Path, backend: LocalGenerator, store: RunStore) -> None:
    task = Task(
        prompt="Review: {text}\nHow many stars (1 to 5) did the reviewer give?", kind="number",
        reference="stars", tolerance=1.0, sampling=run_sampling(max_tokens=6), limit=4,
    )  # fmt: skip
    summary = runner.start(runner.plan_run(write_csv(tmp_path / "reviews.csv"), task), backend, store)
    rows = stored_rows(summary.run_id)
    assert len(rows) == summary.n == 4  # the limit
    for r in rows:
        value = float(r["output"])
        assert bool(r["correct"]) == (abs(value - float(r["reference"])) <= 1.0)
    assert summary.invalid == 0 and summary.scorer == "numeric"


def test_examples_are_not_scored_and_failed_rows_are_recorded(
    engine: Engine, backend: LocalGenerator, store: RunStore, tmp_path: Path
) -> None:
    rows: list[dict[str, object]] = list(review_rows(6))
    rows[3] = {"id": "no-text", "label": "positive"}  # the template's field is missing in this row
    rows[4] = dict(rows[4], text="very long " * 2000)  # far more than the 2,048-token context
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    summary = runner.start(runner.plan_run(path, label_task(few_shot=[0, 1])), backend, store)
    stored = stored_rows(summary.run_id)
    assert [r["idx"] for r in stored] == [2, 3, 4, 5]  # the examples (rows 0 and 1) are left out
    by_id = {r["row_key"]: r for r in stored}
    assert "no value for “text”" in by_id["no-text"]["error"]
    assert "more than the model's context" in by_id["r5"]["error"]
    assert summary.failed == 2 and summary.n_scored == 2 and summary.done == summary.n == 4
    prompt = by_id["r3"]["prompt"]
    assert "I loved this film" in prompt and "Terrible, boring" in prompt  # both examples, with their answers
    assert prompt.index("positive") < prompt.index("A masterpiece")


def test_a_stopped_run_resumes_to_the_rows_of_one_run_straight_through(
    tmp_path: Path, backend: LocalGenerator, store: RunStore
) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(5))
    task = Task(
        prompt="Review: {text}\nSummarise it in a few words.", reference="label", scorer="contains",
        sampling=run_sampling(temperature=0.9, seed=11, max_tokens=8),
    )  # fmt: skip
    straight = runner.start(runner.plan_run(path, task), backend, store)
    cancel = CancelToken()

    def stop_after_three(progress: runner.RunProgress) -> None:
        if progress.done == 2:
            cancel.cancel()

    stopped = runner.start(runner.plan_run(path, task), backend, store, stop_after_three, cancel)
    assert (stopped.status, stopped.done) == ("paused", 2)
    assert store.get(stopped.run_id).resumable
    resumed = runner.resume(stopped.run_id, backend, store)
    assert resumed.status == "done"
    a, b = stored_rows(straight.run_id), stored_rows(stopped.run_id)
    assert [r["idx"] for r in b] == list(range(5))  # none missing, none twice
    assert [(r["output"], r["seed"], r["correct"]) for r in b] == [(r["output"], r["seed"], r["correct"]) for r in a]
    assert len(store.get(stopped.run_id).manifest.sessions) == 2
    # A finished run cannot be resumed into duplicates.
    again = runner.resume(stopped.run_id, backend, store)
    assert again.done == 5 and len(stored_rows(stopped.run_id)) == 5


def test_replay_on_the_cpu_is_identical(tmp_path: Path, backend: LocalGenerator, store: RunStore) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(4))
    task = Task(prompt="Review: {text}\nOne word for it:", sampling=run_sampling(temperature=1.0, seed=5, max_tokens=6))
    original = runner.start(runner.plan_run(path, task), backend, store)
    report = replay.replay(original.run_id, backend, store)
    assert (report.n, report.identical, report.n_differed, report.differed) == (4, 4, 0, [])
    assert store.get(report.replay).replay_of == original.run_id
    assert not [note for note in report.notes if "differs" in note]


def test_changed_dataset_or_other_model_cannot_resume(tmp_path: Path, backend: LocalGenerator, store: RunStore) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(4))
    cancel = CancelToken()
    cancel.cancel()
    paused = runner.start(runner.plan_run(path, label_task()), backend, store, cancel=cancel)
    assert paused.done == 0 and paused.status == "paused"
    other = LocalGenerator(backend.engine, "0" * 64)
    with pytest.raises(HearthError, match="not the model loaded now"):
        runner.resume(paused.run_id, other, store)
    write_csv(path, review_rows(3))
    with pytest.raises(HearthError, match="has changed since run"):
        runner.resume(paused.run_id, backend, store)


class TwoEngines:
    """A real backend that allows two requests at once: two SmolLM2 engines, each row on a free one."""

    concurrency = 2

    def __init__(self, first: LocalGenerator, second: LocalGenerator) -> None:
        self.free = [first, second]
        self.lock = threading.Condition()
        self.in_flight = self.most_in_flight = 0

    def describe(self) -> ModelRecord:
        return self.free[0].describe() if self.free else ModelRecord()

    def share_prefix(self, a: Sequence[Message], b: Sequence[Message]) -> None:
        for backend in self.free:
            backend.share_prefix(a, b)

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken,
        constraint: Constraint | None = None,
    ) -> Generation:
        with self.lock:
            self.lock.wait_for(lambda: bool(self.free))
            backend = self.free.pop()
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return backend.generate(messages, sampling, cancel, constraint)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.free.append(backend)
                self.lock.notify()


def test_a_backend_allowing_two_requests_gets_two_and_the_same_rows(
    tmp_path: Path, backend: LocalGenerator, store: RunStore, smollm2_path: Path, smol_sha: str
) -> None:
    second = Engine()
    second.load(smollm2_path, LoadSettings(n_ctx=2048))
    try:
        path = write_csv(tmp_path / "reviews.csv", review_rows(4))
        one = runner.start(runner.plan_run(path, label_task()), backend, store)
        pair = TwoEngines(backend, LocalGenerator(second, smol_sha))
        two = runner.start(runner.plan_run(path, label_task()), pair, store)
    finally:
        second.unload()
    assert pair.most_in_flight == 2
    assert [(r["idx"], r["output"]) for r in stored_rows(two.run_id)] == [
        (r["idx"], r["output"]) for r in stored_rows(one.run_id)
    ]


def test_export_and_import_round_trip(tmp_path: Path, backend: LocalGenerator, store: RunStore) -> None:
    path = write_csv(tmp_path / "reviews.csv", review_rows(4))
    summary = runner.start(runner.plan_run(path, label_task()), backend, store)
    (tmp_path / "out").mkdir()
    csv_path, manifest_path = exchange.export_csv(store, summary.run_id, tmp_path / "out" / "results.csv")
    with csv_path.open(encoding="utf-8", newline="") as fh:
        exported = list(csv.DictReader(fh))
    rows = stored_rows(summary.run_id)
    assert [(e["id"], e["input:text"], e["output"], e["correct"]) for e in exported] == [
        (r["row_key"], json.loads(r["inputs_json"])["text"], r["output"], "true" if r["correct"] else "false")
        for r in rows
    ]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["summary"]["accuracy"] == summary.accuracy and manifest["model"]["sha256"]
    archive = exchange.export_archive(store, summary.run_id, tmp_path / "out" / "run.zip")
    path.unlink()  # the archive carries the dataset: the import does not need the original file
    imported = exchange.import_archive(store, archive)
    record = store.get(imported)
    assert record.done == record.n == 4 and record.status == "done"
    assert Path(record.dataset_path).is_file() and Path(record.dataset_path).parent.parent == paths.home() / "runs"
    again = stored_rows(imported)
    keys = ("idx", "row_key", "output", "reference", "correct", "seed", "prompt")
    assert [tuple(r[k] for k in keys) for r in again] == [tuple(r[k] for k in keys) for r in rows]
    assert replay.replay(imported, backend, store).identical == 4  # an imported run replays
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    before = len(store.all_runs())
    with pytest.raises(HearthError, match="not a zip archive"):
        exchange.import_archive(store, broken)
    assert len(store.all_runs()) == before


def test_gemma_label_run(tmp_path: Path, gemma_path: Path, store: RunStore) -> None:
    engine = Engine()
    engine.load(gemma_path, LoadSettings(n_ctx=1024))
    try:
        backend = LocalGenerator(engine, sha256_file(gemma_path))
        summary = runner.start(
            runner.plan_run(write_csv(tmp_path / "reviews.csv", review_rows(3)), label_task()), backend, store
        )
    finally:
        engine.unload()
    rows = stored_rows(summary.run_id)
    assert len(rows) == 3 and all(r["output"] in LABELS for r in rows)
    assert store.get(summary.run_id).manifest.model.architecture == "gemma3"
