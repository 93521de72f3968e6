"""Saved comparisons: every run with its full settings and model hashes, in SQLite;
listed, re-opened, rated, deleted, and exported to CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import db as dbmod
from desktop_app.core.csv_cells import safe_cell
from desktop_app.core.errors import HearthError
from desktop_app.core.quantlab.results import (
    MEASURED_METRICS,
    QUALITY_FIELDS,
    CompareSettings,
    ComparisonRun,
    MachineInfo,
    VariantResult,
)

# The columns of the CSV export (and of the CLI's JSON rows), in order.
CSV_COLUMNS = [
    "name",
    "quant",
    "is_reference",
    "bits_per_weight",
    "size_bytes",
    "load_s",
    "peak_rss_bytes",
    "model_rss_bytes",
    "vram_bytes",
    "prompt_tok_s",
    "gen_tok_s",
    "perplexity",
    "perplexity_unc",
    "ppl_ratio",
    "ppl_ratio_unc",
    "kl_divergence",
    "kl_unc",
    "kl_p99",
    "kl_p999",
    "rms_dp",
    "rms_dp_unc",
    "top1_agreement",
    "top1_unc",
    "kl_method",
    "n_scored",
    "rating",
    "error",
    "path",
    "sha256",
    "answer",
]


@dataclass(frozen=True)
class RunSummary:
    id: int
    title: str
    created_at: float
    n_models: int
    text_source: str


@contextmanager
def _connect() -> Iterator[sqlite3.Connection]:
    db = dbmod.connect()
    try:
        yield db
    finally:
        db.close()


def save(run: ComparisonRun) -> int:
    """Stores ``run`` (setting ``run.id``) and returns its id."""
    with _connect() as db, db:
        cur = db.execute(
            "INSERT INTO quantlab_runs (created_at, title, duration_s, settings_json, text_source, text_sha256,"
            " n_text_tokens, kl_method, machine_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.created_at,
                run.title,
                run.duration_s,
                json.dumps(run.settings.to_dict()),
                run.text_source,
                run.text_sha256,
                run.n_text_tokens,
                run.kl_method,
                json.dumps(run.machine.to_dict()),
            ),
        )
        run_id = int(cur.lastrowid or 0)
        for position, r in enumerate(run.results):
            db.execute(
                "INSERT INTO quantlab_results (run_id, position, model_path, model_name, model_sha256, quant,"
                " bits_per_weight, size_bytes, is_reference, load_s, peak_rss_bytes, baseline_rss_bytes, vram_bytes,"
                " prompt_tok_s, gen_tok_s, perplexity, kl_divergence, kl_p99, top1_agreement, n_scored, answer,"
                " rating, error, extra_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?)",
                (
                    run_id,
                    position,
                    r.path,
                    r.name,
                    r.sha256,
                    r.quant,
                    r.bits_per_weight,
                    r.size_bytes,
                    int(r.is_reference),
                    *(getattr(r, key) for key in MEASURED_METRICS),
                    r.n_scored,
                    r.answer,
                    r.rating,
                    r.error,
                    json.dumps(
                        {
                            "notes": r.notes,
                            "details": r.details,
                            "answer_timings": r.answer_timings,
                            "quality": {key: getattr(r, key) for key in QUALITY_FIELDS},
                        }
                    ),
                ),
            )
    run.id = run_id
    return run_id


def list_runs() -> list[RunSummary]:
    """Saved runs, newest first."""
    with _connect() as db:
        rows = db.execute(
            "SELECT r.id, r.title, r.created_at, r.text_source, COUNT(x.id) AS n FROM quantlab_runs r"
            " LEFT JOIN quantlab_results x ON x.run_id = r.id GROUP BY r.id ORDER BY r.created_at DESC, r.id DESC"
        ).fetchall()
    return [RunSummary(int(r["id"]), r["title"], float(r["created_at"]), int(r["n"]), r["text_source"]) for r in rows]


def load(run_id: int) -> ComparisonRun:
    with _connect() as db:
        head = db.execute("SELECT * FROM quantlab_runs WHERE id=?", (run_id,)).fetchone()
        if head is None:
            raise HearthError(f"There is no saved comparison number {run_id}.", "It may have been deleted.")
        rows = db.execute("SELECT * FROM quantlab_results WHERE run_id=? ORDER BY position", (run_id,)).fetchall()
    results = []
    for row in rows:
        extra = json.loads(row["extra_json"] or "{}")
        results.append(
            VariantResult(
                path=row["model_path"],
                name=row["model_name"],
                sha256=row["model_sha256"],
                quant=row["quant"],
                bits_per_weight=float(row["bits_per_weight"]),
                size_bytes=int(row["size_bytes"]),
                is_reference=bool(row["is_reference"]),
                n_scored=int(row["n_scored"] or 0),
                answer=row["answer"],
                rating=row["rating"],
                error=row["error"],
                notes=list(extra.get("notes", [])),
                details=dict(extra.get("details", {})),
                answer_timings=extra.get("answer_timings"),
                **{key: row[key] for key in MEASURED_METRICS},
                **{k: v for k, v in dict(extra.get("quality", {})).items() if k in QUALITY_FIELDS},
            )
        )
    return ComparisonRun(
        settings=CompareSettings.from_dict(json.loads(head["settings_json"])),
        text_source=head["text_source"],
        text_sha256=head["text_sha256"],
        n_text_tokens=int(head["n_text_tokens"]),
        kl_method=head["kl_method"],
        results=results,
        machine=MachineInfo.from_dict(json.loads(head["machine_json"])),
        created_at=float(head["created_at"]),
        duration_s=float(head["duration_s"]),
        title=head["title"],
        id=int(head["id"]),
    )


def set_rating(run_id: int, position: int, rating: int | None) -> None:
    """The user's 1–5 rating of one variant's answer (None clears it)."""
    if rating is not None and not 1 <= rating <= 5:
        raise ValueError("rating must be 1 to 5")
    with _connect() as db, db:
        db.execute("UPDATE quantlab_results SET rating=? WHERE run_id=? AND position=?", (rating, run_id, position))


def delete(run_id: int) -> None:
    with _connect() as db, db:
        db.execute("DELETE FROM quantlab_runs WHERE id=?", (run_id,))


def result_row(result: VariantResult) -> dict[str, Any]:
    """One result as a flat dict with the CSV columns."""
    data = result.to_dict()
    return {key: data.get(key) for key in CSV_COLUMNS}


def to_csv(run: ComparisonRun) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in run.results:
        writer.writerow({k: safe_cell("" if v is None else v) for k, v in result_row(r).items()})
    return out.getvalue()


def to_json(run: ComparisonRun) -> str:
    return json.dumps(run.to_dict(), indent=2, default=str)


def export(run: ComparisonRun, path: str | Path) -> Path:
    """Writes ``run`` as CSV or JSON, by the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        content = to_csv(run)
    elif suffix == ".json":
        content = to_json(run)
    else:
        raise HearthError(f"Cannot export to “{path.suffix or path.name}”.", "Use a .csv or .json file name.")
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise HearthError(f"Cannot write “{path}”: {exc.strerror or exc}.") from None
    return path
