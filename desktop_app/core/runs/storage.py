"""Runs in SQLite: the run with its manifest, and each dataset row as it finishes.

A row is committed on its own the moment it is done, so a run killed at any point keeps every
finished row and resumes at the next (``done_indices``). Summaries are computed by SQL over the
stored rows, and rows are read a page at a time (:meth:`RunStore.page`): a 10,000-row run is never
loaded whole. One :class:`RunStore` (one connection) per thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import db as dbmod
from desktop_app.core.errors import HearthError
from desktop_app.core.runs.manifest import RunManifest
from desktop_app.core.runs.tasks import Task

# running: in progress (or killed: see RunRecord.interrupted); paused: stopped, resumable;
# cancelled: stopped by the user, kept (still resumable); done: every row has a result.
STATUSES = ("running", "paused", "cancelled", "done")
ROW_FILTERS = ("all", "wrong", "invalid", "failed", "scored", "correct")
# The columns the results table can sort by (what the user sees -> the SQL column).
SORTABLE = {
    "index": "idx",
    "id": "row_key",
    "output": "output",
    "reference": "reference",
    "correct": "correct",
    "score": "score",
    "valid": "valid",
    "tokens": "gen_tokens",
    "time": "seconds",
    "seed": "seed",
    "error": "error",
}


@dataclass
class RowResult:
    """One dataset row's outcome, as stored."""

    index: int  # the row's position in the dataset (0-based, examples included)
    key: str  # the row's id column, or its index
    inputs: dict[str, str]
    prompt: str
    output: str
    reference: str | None
    valid: bool
    correct: bool | None  # None: not scored (no reference, or the row failed)
    score: float | None
    error: str = ""
    finish: str = "stop"
    seed: int = 0
    prompt_tokens: int = 0
    gen_tokens: int = 0
    seconds: float = 0.0
    cited: bool | None = None  # document runs: the answer cites a source
    flagged: bool | None = None  # ... and the citation check flags it
    source_hit: bool | None = None  # ... the expected source was among the top k retrieved
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = data.pop("key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowResult:
        """The inverse of :meth:`to_dict` (an imported run's rows); KeyError/TypeError if malformed."""
        values = {k: v for k, v in data.items() if k in _ROW_FIELDS}
        values["key"] = str(data["id"])
        return cls(**values)


_ROW_FIELDS = set(RowResult.__dataclass_fields__) - {"key"}


class RunningState:
    """What a stored run or sweep shows: its status, or "interrupted" when the process that
    marked it running is gone. Mixed into records with ``status`` and ``pid`` fields."""

    status: str
    pid: int | None

    @property
    def interrupted(self) -> bool:
        """Marked running, but the process that ran it is gone (killed, crashed, closed)."""
        return self.status == "running" and not _alive(self.pid)

    @property
    def state(self) -> str:
        """What to show: the status, or "interrupted"."""
        return "interrupted" if self.interrupted else self.status


@dataclass
class RunRecord(RunningState):
    id: int
    created_at: float
    updated_at: float
    title: str
    status: str
    message: str
    pid: int | None
    n: int
    done: int
    kind: str
    dataset_path: str
    dataset_sha256: str
    model_name: str
    model_sha256: str | None
    replay_of: int | None
    task: Task
    manifest: RunManifest
    note: str = ""  # the user's own words about the run

    @property
    def resumable(self) -> bool:
        return self.done < self.n and (self.status != "running" or self.interrupted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.id,
            "title": self.title,
            "note": self.note,
            "status": self.state,
            "message": self.message,
            "n": self.n,
            "done": self.done,
            "kind": self.kind,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "dataset": self.dataset_path,
            "dataset_sha256": self.dataset_sha256,
            "model": self.model_name,
            "model_sha256": self.model_sha256,
            "replay_of": self.replay_of,
        }


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _int(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _row(record: sqlite3.Row) -> RowResult:
    return RowResult(
        index=int(record["idx"]),
        key=str(record["row_key"]),
        inputs=json.loads(record["inputs_json"]),
        prompt=str(record["prompt"]),
        output=str(record["output"]),
        reference=record["reference"],
        valid=bool(record["valid"]),
        correct=_bool(record["correct"]),
        score=record["score"],
        error=str(record["error"]),
        finish=str(record["finish"]),
        seed=int(record["seed"]),
        prompt_tokens=int(record["prompt_tokens"]),
        gen_tokens=int(record["gen_tokens"]),
        seconds=float(record["seconds"]),
        cited=_bool(record["cited"]),
        flagged=_bool(record["flagged"]),
        source_hit=_bool(record["source_hit"]),
        detail=json.loads(record["detail_json"] or "{}"),
    )


def shared_columns(record: sqlite3.Row) -> dict[str, Any]:
    """The columns a run and a sweep (core/runs/sweep.py) both have, as their records' fields."""
    return {
        "id": int(record["id"]),
        "created_at": float(record["created_at"]),
        "updated_at": float(record["updated_at"]),
        "title": str(record["title"]),
        "status": str(record["status"]),
        "message": str(record["message"]),
        "pid": record["pid"],
        "dataset_path": str(record["dataset_path"]),
        "dataset_sha256": str(record["dataset_sha256"]),
    }


_FILTER_SQL = {
    "all": "",
    "wrong": " AND correct = 0",
    "correct": " AND correct = 1",
    "invalid": " AND valid = 0 AND error = ''",
    "failed": " AND error != ''",
    "scored": " AND correct IS NOT NULL",
}


class RunStore:
    def __init__(self, path: Path | None = None) -> None:
        self.db = dbmod.connect(path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------

    def create(
        self,
        title: str,
        n: int,
        kind: str,
        dataset_path: str,
        dataset_sha256: str,
        model_name: str,
        model_sha256: str | None,
        task: Task,
        manifest: RunManifest,
        replay_of: int | None = None,
        status: str = "running",
        created_at: float | None = None,
    ) -> int:
        now = time.time()
        with self.db:
            cur = self.db.execute(
                "INSERT INTO runs (created_at, updated_at, title, status, pid, n, kind, dataset_path, dataset_sha256,"
                " model_name, model_sha256, replay_of, task_json, manifest_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    created_at or now, now, title, status, os.getpid() if status == "running" else None, n, kind,
                    dataset_path, dataset_sha256, model_name, model_sha256, replay_of, json.dumps(task.to_dict()),
                    json.dumps(manifest.to_dict()),
                ),
            )  # fmt: skip
        return int(cur.lastrowid or 0)

    def get(self, run_id: int) -> RunRecord:
        record = self.db.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM run_rows x WHERE x.run_id = r.id) AS done FROM runs r WHERE r.id = ?",
            (run_id,),
        ).fetchone()
        if record is None:
            raise HearthError(f"There is no run number {run_id}.", "`hearth runs list` shows the runs there are.")
        return self._record(record)

    @staticmethod
    def _record(record: sqlite3.Row) -> RunRecord:
        return RunRecord(
            **shared_columns(record),
            n=int(record["n"]),
            done=int(record["done"]),
            kind=str(record["kind"]),
            model_name=str(record["model_name"]),
            model_sha256=record["model_sha256"],
            replay_of=record["replay_of"],
            task=Task.from_dict(json.loads(record["task_json"])),
            manifest=RunManifest.from_dict(json.loads(record["manifest_json"])),
            note=str(record["note"]),
        )

    def all_runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        records = self.db.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM run_rows x WHERE x.run_id = r.id) AS done FROM runs r"
            " ORDER BY r.created_at DESC, r.id DESC"
        ).fetchall()
        return [self._record(r) for r in records]

    def set_status(self, run_id: int, status: str, message: str = "") -> None:
        assert status in STATUSES
        pid = os.getpid() if status == "running" else None
        with self.db:
            self.db.execute(
                "UPDATE runs SET status=?, message=?, pid=?, updated_at=? WHERE id=?",
                (status, message, pid, time.time(), run_id),
            )

    def update_manifest(self, run_id: int, manifest: RunManifest) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET manifest_json=?, updated_at=? WHERE id=?",
                (json.dumps(manifest.to_dict()), time.time(), run_id),
            )

    def rename(self, run_id: int, title: str, note: str) -> None:
        """The run's title and the user's note (a title left empty keeps the old one)."""
        record = self.get(run_id)
        with self.db:
            self.db.execute(
                "UPDATE runs SET title=?, note=? WHERE id=?", (title.strip() or record.title, note.strip(), run_id)
            )

    def delete(self, run_id: int) -> None:
        self.get(run_id)
        with self.db:
            self.db.execute("DELETE FROM runs WHERE id=?", (run_id,))

    # -- rows -----------------------------------------------------------------------------------

    def add_row(self, run_id: int, row: RowResult) -> None:
        """Stores one finished row, committed at once. A row stored twice is an error (the
        primary key refuses it): resuming never repeats a row."""
        with self.db:
            self._insert(run_id, row)
            self.db.execute("UPDATE runs SET updated_at=? WHERE id=?", (time.time(), run_id))

    def add_rows(self, run_id: int, rows: Iterable[RowResult]) -> int:
        """Stores many rows in one transaction (an imported run): all of them or none."""
        count = 0
        with self.db:
            for row in rows:
                self._insert(run_id, row)
                count += 1
        return count

    def _insert(self, run_id: int, row: RowResult) -> None:
        self.db.execute(
            "INSERT INTO run_rows (run_id, idx, row_key, inputs_json, prompt, output, reference, valid, correct,"
            " score, error, finish, seed, prompt_tokens, gen_tokens, seconds, cited, flagged, source_hit,"
            " detail_json, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id, row.index, row.key, json.dumps(row.inputs, ensure_ascii=False), row.prompt, row.output,
                row.reference, int(row.valid), _int(row.correct), row.score, row.error, row.finish, row.seed,
                row.prompt_tokens, row.gen_tokens, row.seconds, _int(row.cited), _int(row.flagged),
                _int(row.source_hit), json.dumps(row.detail, ensure_ascii=False) if row.detail else None, time.time(),
            ),
        )  # fmt: skip

    def done_indices(self, run_id: int) -> set[int]:
        return {int(r[0]) for r in self.db.execute("SELECT idx FROM run_rows WHERE run_id=?", (run_id,))}

    def count(self, run_id: int, row_filter: str = "all") -> int:
        sql = "SELECT COUNT(*) FROM run_rows WHERE run_id=?" + _FILTER_SQL[row_filter]
        return int(self.db.execute(sql, (run_id,)).fetchone()[0])

    def page(
        self,
        run_id: int,
        offset: int = 0,
        limit: int = 200,
        row_filter: str = "all",
        order: str = "index",
        descending: bool = False,
    ) -> list[RowResult]:
        """Rows ``offset`` to ``offset + limit`` in the given order (ties by index)."""
        column = SORTABLE.get(order, "idx")
        direction = "DESC" if descending else "ASC"
        sql = (
            "SELECT * FROM run_rows WHERE run_id=?" + _FILTER_SQL[row_filter]
            + f" ORDER BY {column} {direction}, idx {direction} LIMIT ? OFFSET ?"
        )  # fmt: skip
        return [_row(r) for r in self.db.execute(sql, (run_id, limit, offset))]

    def iter_rows(self, run_id: int, row_filter: str = "all") -> Iterator[RowResult]:
        """Every row in index order, read as it is consumed."""
        sql = "SELECT * FROM run_rows WHERE run_id=?" + _FILTER_SQL[row_filter] + " ORDER BY idx"
        for record in self.db.execute(sql, (run_id,)):
            yield _row(record)

    def pairs(self, a: int, b: int) -> Iterator[tuple[RowResult, RowResult | None]]:
        """Run ``a``'s rows, each with run ``b``'s row of the same index (None if it has none)."""
        other = self.iter_rows(b)
        pending = next(other, None)
        for row in self.iter_rows(a):
            while pending is not None and pending.index < row.index:
                pending = next(other, None)
            yield row, pending if pending is not None and pending.index == row.index else None

    def row(self, run_id: int, index: int) -> RowResult | None:
        record = self.db.execute("SELECT * FROM run_rows WHERE run_id=? AND idx=?", (run_id, index)).fetchone()
        return _row(record) if record else None

    def counts(self, run_id: int) -> dict[str, Any]:
        """The numbers a summary is made of, in one pass over the rows."""
        record = self.db.execute(
            "SELECT COUNT(*) AS done, COUNT(correct) AS scored, COALESCE(SUM(correct), 0) AS correct,"
            " SUM(CASE WHEN valid = 0 AND error = '' THEN 1 ELSE 0 END) AS invalid,"
            " SUM(CASE WHEN error != '' THEN 1 ELSE 0 END) AS failed,"
            " AVG(score) AS mean_score, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,"
            " COALESCE(SUM(gen_tokens), 0) AS gen_tokens, COALESCE(SUM(seconds), 0) AS seconds,"
            " COUNT(cited) AS answered, COALESCE(SUM(cited), 0) AS cited, COALESCE(SUM(flagged), 0) AS flagged,"
            " COUNT(source_hit) AS with_source, COALESCE(SUM(source_hit), 0) AS source_hits"
            " FROM run_rows WHERE run_id=?",
            (run_id,),
        ).fetchone()
        # An empty run sums to NULL: count it as 0, except the mean score, which it does not have.
        return {key: record[key] if key == "mean_score" else record[key] or 0 for key in record.keys()}  # noqa: SIM118 - sqlite3.Row iterates values

    def accuracies(self) -> dict[int, float | None]:
        """Every run's accuracy so far, in one query (the lists of runs)."""
        found: dict[int, float | None] = {}
        for run_id, scored, correct in self.db.execute(
            "SELECT run_id, COUNT(correct), COALESCE(SUM(correct), 0) FROM run_rows GROUP BY run_id"
        ):
            found[int(run_id)] = correct / scored if scored else None
        return found

    def label_pairs(self, run_id: int) -> list[tuple[str, str, int]]:
        """(reference, output, count) over the scored rows, for the confusion matrix."""
        return [
            (str(r[0]), str(r[1]), int(r[2]))
            for r in self.db.execute(
                "SELECT TRIM(reference), TRIM(output), COUNT(*) FROM run_rows WHERE run_id=? AND correct IS NOT NULL"
                " GROUP BY TRIM(reference), TRIM(output)",
                (run_id,),
            )
        ]

    def field_results(self, run_id: int) -> Iterator[dict[str, bool]]:
        for record in self.db.execute(
            "SELECT detail_json FROM run_rows WHERE run_id=? AND correct IS NOT NULL AND detail_json IS NOT NULL",
            (run_id,),
        ):
            fields = json.loads(record[0]).get("fields")
            if isinstance(fields, dict):
                yield fields
