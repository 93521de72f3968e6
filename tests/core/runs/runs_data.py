"""Small datasets the runs tests write themselves: film reviews with a sentiment label, a star
rating and the film's name and year as JSON (a reference for extraction)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from desktop_app.core import paths

REVIEWS = [
    # id, text, label, stars, film (name, year)
    ("r1", "I loved this film, the acting is wonderful.", "positive", 5, ("Amélie", 2001)),
    ("r2", "Terrible, boring and far too long.", "negative", 1, ("Cats", 2019)),
    ("r3", "A masterpiece, I cried at the end.", "positive", 5, ("Up", 2009)),
    ("r4", "I want my money back; the plot makes no sense.", "negative", 1, ("Tenet", 2020)),
    ("r5", "Great fun for the whole family.", "positive", 4, ("Paddington", 2014)),
    ("r6", "The worst movie of the year, dull and loud.", "negative", 2, ("Morbius", 2022)),
    ("r7", "Beautiful music and a touching story.", "positive", 4, ("Coco", 2017)),
    ("r8", "Awful dialogue, I fell asleep.", "negative", 1, ("Dune", 1984)),
]
FIELDS = ["id", "text", "label", "stars", "film"]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["name", "year"],
    "additionalProperties": False,
}


def review_rows(n: int = len(REVIEWS)) -> list[dict[str, str]]:
    return [
        {
            "id": rid,
            "text": f"{text} (The film: {film[0]}, {film[1]}.)",
            "label": label,
            "stars": str(stars),
            "film": json.dumps({"name": film[0], "year": film[1]}, ensure_ascii=False),
        }
        for rid, text, label, stars, film in REVIEWS[:n]
    ]


def write_csv(
    path: Path, rows: list[dict[str, str]] | None = None, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    rows = review_rows() if rows is None else rows
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, object]] | None = None) -> Path:
    rows = rows if rows is not None else list(review_rows())  # type: ignore[arg-type]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


LABEL_PROMPT = "Review: {text}\nIs this review positive or negative?"
LABEL_SYSTEM = "You classify film reviews by their sentiment. Answer with one word: positive or negative."


def stored_rows(run_id: int) -> list[sqlite3.Row]:
    """A run's rows as SQLite has them, read without Hearth's code."""
    db = sqlite3.connect(paths.db_path())
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM run_rows WHERE run_id=? ORDER BY idx", (run_id,)).fetchall()
    finally:
        db.close()
