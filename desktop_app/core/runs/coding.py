"""Human coding of a run's rows: coders, their codes, the codebook, disagreements and adjudication.

A code is stored per (run, row, coder) the moment it is given (and a note on every keystroke),
so a coding session closed at any point loses nothing and resumes at the first row the coder
has not coded or skipped. Codes from elsewhere come in from a column of a CSV, TSV, JSONL or XLSX
file, matched by the run's row ids (an empty cell is a missing code); the whole file or nothing.

Raters: the human coders by name, and the model (named ``model``; its answer on a labels task,
none on a failed row). A row where two raters disagree goes to the review queue; the code
decided there (an *adjudication*) becomes the row's reference, while every original code is kept.

The statistics are in :mod:`agreement`, imported when asked for (it needs numpy).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.storage import RunRecord, RunStore

if TYPE_CHECKING:  # the statistics import numpy: loaded when a report is made
    from desktop_app.core.runs.agreement import AgreementEstimate, GroupAgreement, PairAgreement

MODEL = "model"
# Names a coder cannot take: the model's, and what the agreement table calls the reference.
RESERVED = (MODEL, "reference", "adjudicated")
MAX_NAME = 60
MAX_CODE = 200
MAX_NOTE = 10_000
CODEBOOK_KINDS = ("labels", "scale", "pass_fail")
PASS_FAIL = ("pass", "fail")


@dataclass
class CodebookLabel:
    name: str
    definition: str = ""
    example: str = ""


@dataclass
class Codebook:
    """What coders choose from: labels (keys 1–9), a rating scale, or pass/fail; each choice
    with a definition and an example."""

    kind: str = "labels"
    labels: list[CodebookLabel] = field(default_factory=list)
    instructions: str = ""

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def ordered(self) -> bool:
        """A scale has an order; labels and pass/fail are nominal unless the user says otherwise."""
        return self.kind == "scale"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Codebook:
        """A codebook from JSON (a file, an archive): checked, in plain words if wrong."""
        if not isinstance(data, dict):
            raise HearthError("The codebook is not a JSON object.", 'It reads {"kind": "labels", "labels": [...]}.')
        kind = str(data.get("kind", "labels"))
        if kind not in CODEBOOK_KINDS:
            raise HearthError(f"“{kind}” is not a kind of codebook.", f"Use one of: {', '.join(CODEBOOK_KINDS)}.")
        labels: list[CodebookLabel] = []
        raw = data.get("labels", [])
        if not isinstance(raw, list):
            raise HearthError("The codebook's labels are not a list.")
        for item in raw:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict) or not str(item.get("name", "")).strip():
                raise HearthError("Every label in the codebook needs a name.")
            labels.append(
                CodebookLabel(
                    _clip(str(item["name"]).strip(), MAX_CODE),
                    _clip(str(item.get("definition", "")), MAX_NOTE),
                    _clip(str(item.get("example", "")), MAX_NOTE),
                )
            )
        names = [label.name for label in labels]
        if len(set(names)) != len(names):
            raise HearthError("The codebook names a label twice.", "Give every label its own name.")
        if kind == "pass_fail" and not labels:
            labels = [CodebookLabel(name) for name in PASS_FAIL]
        if not labels:
            raise HearthError("The codebook has no labels to choose from.", "Add at least two labels.")
        return cls(kind, labels, _clip(str(data.get("instructions", "")), MAX_NOTE))


def scale_codebook(low: int, high: int) -> Codebook:
    return Codebook("scale", [CodebookLabel(str(v)) for v in range(low, high + 1)])


def default_codebook(record: RunRecord) -> Codebook:
    """From the run's task: its labels, else pass/fail (an open-ended output judged by hand)."""
    labels = [str(label) for label in record.task.labels]
    if record.task.kind == "labels" and labels:
        return Codebook("labels", [CodebookLabel(label) for label in labels])
    return Codebook("pass_fail", [CodebookLabel(name) for name in PASS_FAIL])


def _clip(text: str, limit: int) -> str:
    return text[:limit]


def check_coder_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise HearthError("A coder needs a name.", "Type the name (or initials) of the person coding.")
    if len(name) > MAX_NAME:
        raise HearthError(f"A coder's name can have at most {MAX_NAME} characters.")
    if name.casefold() in RESERVED:
        raise HearthError(f"“{name}” is kept for the agreement table.", "Choose another name for the coder.")
    return name


@dataclass
class CodeRecord:
    index: int
    coder: str
    code: str | None
    skipped: bool
    note: str
    source: str
    updated_at: float

    @property
    def done(self) -> bool:
        return self.code is not None or self.skipped


@dataclass
class CodeDisagreement:
    """A row where two raters gave different codes."""

    index: int
    key: str
    codes: dict[str, str | None]  # rater -> code (None: no code)
    adjudicated: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.key, "codes": self.codes, "adjudicated": self.adjudicated,
                "note": self.note}  # fmt: skip


@dataclass
class ImportReport:
    coder: str
    coded: int  # codes stored
    missing: int  # rows of the file with an empty cell
    unmatched: list[str]  # ids in the file the run has no row for (first few)
    unmatched_count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RaterCodes:
    """Every rater's code for each row of the run: ``codes[r][u]`` for rater ``names[r]`` and the
    row ``indices[u]`` (None: missing)."""

    names: list[str]
    indices: list[int]
    keys: list[str]
    codes: list[list[str | None]]


class CodeStore:
    """Codes on the same SQLite connection as a :class:`RunStore` (one per thread)."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs
        self.db: sqlite3.Connection = runs.db

    # -- coders ---------------------------------------------------------------------------------

    def coder_id(self, name: str, create: bool = True) -> int | None:
        name = check_coder_name(name)
        row = self.db.execute("SELECT id FROM coders WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        with self.db:
            cur = self.db.execute("INSERT INTO coders (name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(cur.lastrowid or 0)

    def coders(self, run_id: int | None = None) -> list[str]:
        """Every coder known, or those with a code in the run, by name."""
        if run_id is None:
            rows = self.db.execute("SELECT name FROM coders ORDER BY name COLLATE NOCASE")
        else:
            rows = self.db.execute(
                "SELECT DISTINCT k.name FROM codes c JOIN coders k ON k.id = c.coder_id"
                " WHERE c.run_id = ? AND c.code IS NOT NULL ORDER BY k.name COLLATE NOCASE",
                (run_id,),
            )
        return [str(r[0]) for r in rows]

    def last_coder(self, run_id: int) -> str | None:
        """Who coded this run last (the coding window starts as them)."""
        row = self.db.execute(
            "SELECT k.name FROM codes c JOIN coders k ON k.id = c.coder_id WHERE c.run_id = ?"
            " ORDER BY c.updated_at DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return str(row[0]) if row else None

    # -- the codebook ---------------------------------------------------------------------------

    def codebook(self, run_id: int) -> Codebook:
        row = self.db.execute("SELECT codebook_json FROM codebooks WHERE run_id = ?", (run_id,)).fetchone()
        if row is not None:
            return Codebook.from_dict(json.loads(row[0]))
        return default_codebook(self.runs.get(run_id))

    def set_codebook(self, run_id: int, codebook: Codebook) -> None:
        self.runs.get(run_id)
        with self.db:
            self.db.execute(
                "INSERT INTO codebooks (run_id, codebook_json, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(run_id) DO UPDATE SET codebook_json = excluded.codebook_json,"
                " updated_at = excluded.updated_at",
                (run_id, json.dumps(codebook.to_dict(), ensure_ascii=False), time.time()),
            )

    # -- codes ----------------------------------------------------------------------------------

    def _upsert(self, run_id: int, index: int, coder: str, sets: dict[str, Any], source: str = "screen") -> None:
        coder_id = self.coder_id(coder)
        now = time.time()
        values = {"code": None, "skipped": 0, "note": "", **sets}
        assignments = ", ".join(f"{column} = excluded.{column}" for column in sets)
        with self.db:
            self.db.execute(
                "INSERT INTO codes (run_id, idx, coder_id, code, skipped, note, source, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, coder_id, idx) DO UPDATE SET "
                + assignments + ", source = excluded.source, updated_at = excluded.updated_at",
                (run_id, index, coder_id, values["code"], int(values["skipped"]), values["note"], source, now, now),
            )  # fmt: skip

    def set_code(self, run_id: int, index: int, coder: str, code: str | None) -> None:
        """The coder's code for the row (None: take it back); the note stays."""
        if code is not None:
            code = _clip(str(code).strip(), MAX_CODE) or None
        self._upsert(run_id, index, coder, {"code": code, "skipped": 0})

    def set_note(self, run_id: int, index: int, coder: str, note: str) -> None:
        self._upsert(run_id, index, coder, {"note": _clip(note, MAX_NOTE)})

    def skip(self, run_id: int, index: int, coder: str) -> None:
        """Passed over without a code (a missing code; coding goes on past it)."""
        self._upsert(run_id, index, coder, {"code": None, "skipped": 1})

    def get(self, run_id: int, index: int, coder: str) -> CodeRecord | None:
        row = self.db.execute(
            "SELECT c.*, k.name FROM codes c JOIN coders k ON k.id = c.coder_id"
            " WHERE c.run_id = ? AND c.idx = ? AND k.name = ?",
            (run_id, index, check_coder_name(coder)),
        ).fetchone()
        return _code(row) if row else None

    def row_codes(self, run_id: int, index: int) -> list[CodeRecord]:
        rows = self.db.execute(
            "SELECT c.*, k.name FROM codes c JOIN coders k ON k.id = c.coder_id"
            " WHERE c.run_id = ? AND c.idx = ? ORDER BY k.name COLLATE NOCASE",
            (run_id, index),
        )
        return [_code(r) for r in rows]

    def progress(self, run_id: int, coder: str) -> tuple[int, int]:
        """(rows the coder coded or skipped, rows in the run)."""
        coder_id = self.coder_id(coder, create=False)
        total = int(self.db.execute("SELECT COUNT(*) FROM run_rows WHERE run_id = ?", (run_id,)).fetchone()[0])
        if coder_id is None:
            return 0, total
        done = self.db.execute(
            "SELECT COUNT(*) FROM codes WHERE run_id = ? AND coder_id = ? AND (code IS NOT NULL OR skipped = 1)",
            (run_id, coder_id),
        ).fetchone()[0]
        return int(done), total

    def row_indices(self, run_id: int) -> list[int]:
        """The run's stored rows, in order (what is coded, one after another)."""
        return [int(r[0]) for r in self.db.execute("SELECT idx FROM run_rows WHERE run_id = ? ORDER BY idx", (run_id,))]

    def next_to_code(self, run_id: int, coder: str, after: int = -1) -> int | None:
        """The first row after ``after`` the coder has neither coded nor skipped, wrapping round
        to the start; None when every row is done."""
        coder_id = self.coder_id(coder, create=False)
        sql = (
            "SELECT r.idx FROM run_rows r WHERE r.run_id = ? AND r.idx {op} ? AND NOT EXISTS ("
            "SELECT 1 FROM codes c WHERE c.run_id = r.run_id AND c.coder_id = ? AND c.idx = r.idx"
            " AND (c.code IS NOT NULL OR c.skipped = 1)) ORDER BY r.idx LIMIT 1"
        )
        for op, bound in ((">", after), ("<=", after)):
            row = self.db.execute(sql.format(op=op), (run_id, bound, coder_id or -1)).fetchone()
            if row is not None:
                return int(row[0])
        return None

    # -- import ---------------------------------------------------------------------------------

    def import_column(
        self, run_id: int, path: Path, coder: str, column: str, id_column: str | None = None
    ) -> ImportReport:
        """Codes from ``column`` of a CSV/TSV/JSONL/XLSX file, its rows matched to the run's by
        row id (``id_column``, else the file's id column, else its row numbers, as a run names
        rows). A code that is not in the codebook refuses the file; nothing is stored unless all
        of it reads."""
        from desktop_app.core.runs.datasets import open_dataset

        coder = check_coder_name(coder)
        self.runs.get(run_id)  # the run exists
        dataset = open_dataset(path, id_column)
        if column not in dataset.columns:
            raise HearthError(
                f"“{dataset.name}” has no column “{column}”.", f"Its columns: {', '.join(dataset.columns)}."
            )
        keys = {
            str(key): int(idx)
            for key, idx in self.db.execute("SELECT row_key, idx FROM run_rows WHERE run_id = ?", (run_id,))
        }
        allowed = set(self.codebook(run_id).names)
        found: list[tuple[int, str | None]] = []
        unmatched: list[str] = []
        unknown: dict[str, str] = {}
        missing = 0
        for index, row in dataset.rows():
            key = dataset.row_key(index, row)
            if key not in keys:
                unmatched.append(key)
                continue
            code = _clip(str(row.get(column, "")).strip(), MAX_CODE) or None
            if code is None:
                missing += 1
            elif code not in allowed:
                unknown.setdefault(code, key)
            found.append((keys[key], code))
        if unknown:
            shown = ", ".join(f"“{code}” (row {key})" for code, key in list(unknown.items())[:5])
            raise HearthError(
                f"Some codes in “{column}” are not in the run's codebook: {shown}.",
                f"The codebook's labels: {', '.join(sorted(allowed))}. Nothing was imported.",
            )
        if not any(code is not None for _index, code in found):
            why = "none of its rows matched the run's rows" if not found else "the column is empty"
            raise HearthError(
                f"Nothing to import from “{dataset.name}”: {why}.",
                f"Rows are matched by id (the run names them like “{next(iter(keys), '0')}”); "
                "--id-column says which column holds it.",
            )
        coder_id = self.coder_id(coder)
        now = time.time()
        source = f"import:{path.name}"
        with self.db:
            self.db.executemany(
                "INSERT INTO codes (run_id, idx, coder_id, code, skipped, note, source, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 0, '', ?, ?, ?) ON CONFLICT(run_id, coder_id, idx) DO UPDATE SET"
                " code = excluded.code, skipped = 0, source = excluded.source, updated_at = excluded.updated_at",
                [(run_id, idx, coder_id, code, source, now, now) for idx, code in found],
            )
        coded = sum(1 for _idx, code in found if code is not None)
        return ImportReport(coder, coded, missing, unmatched[:10], len(unmatched))

    # -- raters side by side ----------------------------------------------------------------------

    def model_codes(self, run_id: int) -> dict[int, str | None]:
        """The model as a rater: its answer on each row (None where the row failed)."""
        return {
            int(idx): (str(output).strip() or None) if not error else None
            for idx, output, error in self.db.execute(
                "SELECT idx, output, error FROM run_rows WHERE run_id = ?", (run_id,)
            )
        }

    def rater_codes(self, run_id: int, include_model: bool | None = None) -> RaterCodes:
        """Every rater's codes over the run's rows. The model is a rater on a labels codebook
        (its answers are codes); on a scale or pass/fail its answers are what is being rated."""
        if include_model is None:
            include_model = self.codebook(run_id).kind == "labels"
        rows = self.db.execute("SELECT idx, row_key FROM run_rows WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
        position = {int(r[0]): i for i, r in enumerate(rows)}
        names = self.coders(run_id)
        codes: list[list[str | None]] = [[None] * len(rows) for _ in names]
        by_name = {name: i for i, name in enumerate(names)}
        for idx, name, code in self.db.execute(
            "SELECT c.idx, k.name, c.code FROM codes c JOIN coders k ON k.id = c.coder_id"
            " WHERE c.run_id = ? AND c.code IS NOT NULL",
            (run_id,),
        ):
            if int(idx) in position and name in by_name:
                codes[by_name[name]][position[int(idx)]] = str(code)
        if include_model:
            model = self.model_codes(run_id)
            names.insert(0, MODEL)
            codes.insert(0, [model.get(int(r[0])) for r in rows])
        return RaterCodes(names, [int(r[0]) for r in rows], [str(r[1]) for r in rows], codes)

    # -- review and adjudication ----------------------------------------------------------------

    def disagreements(self, run_id: int, include_decided: bool = True) -> list[CodeDisagreement]:
        """Rows where two raters (the model among them) gave different codes, in row order."""
        raters = self.rater_codes(run_id)
        decided = self.adjudications(run_id)
        out: list[CodeDisagreement] = []
        for u, index in enumerate(raters.indices):
            given = {name: raters.codes[r][u] for r, name in enumerate(raters.names)}
            if len({code for code in given.values() if code is not None}) < 2:
                continue
            if index in decided and not include_decided:
                continue
            code, note = decided.get(index, (None, ""))
            out.append(CodeDisagreement(index, raters.keys[u], given, code, note))
        return out

    def adjudicate(self, run_id: int, index: int, code: str, note: str = "", decided_by: str = "") -> None:
        """The code decided for a disputed row: it becomes the row's reference; the coders'
        own codes stay as they were."""
        if self.runs.row(run_id, index) is None:
            raise HearthError(f"Run {run_id} has no row {index}.", "`hearth runs review RUN` lists the disputed rows.")
        code = _clip(str(code).strip(), MAX_CODE)
        allowed = self.codebook(run_id).names
        if code not in allowed:
            raise HearthError(f"“{code}” is not in the run's codebook.", f"Choose one of: {', '.join(allowed)}.")
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO adjudications (run_id, idx, code, note, decided_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, idx) DO UPDATE SET code = excluded.code,"
                " note = excluded.note, decided_by = excluded.decided_by, updated_at = excluded.updated_at",
                (run_id, index, code, _clip(note, MAX_NOTE), _clip(decided_by, MAX_NAME), now, now),
            )

    def clear_adjudication(self, run_id: int, index: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM adjudications WHERE run_id = ? AND idx = ?", (run_id, index))

    def adjudications(self, run_id: int) -> dict[int, tuple[str, str]]:
        return {
            int(r[0]): (str(r[1]), str(r[2]))
            for r in self.db.execute("SELECT idx, code, note FROM adjudications WHERE run_id = ?", (run_id,))
        }

    def references(self, run_id: int) -> dict[int, str | None]:
        """Each row's reference: the adjudicated code where there is one, else the dataset's."""
        decided = self.adjudications(run_id)
        return {
            int(idx): decided[int(idx)][0] if int(idx) in decided else (None if ref is None else str(ref).strip())
            for idx, ref in self.db.execute("SELECT idx, reference FROM run_rows WHERE run_id = ?", (run_id,))
        }

    # -- the archive ----------------------------------------------------------------------------

    def to_document(self, run_id: int) -> dict[str, Any]:
        """The run's codebook, codes and adjudications as JSON (an archive's codes.json)."""
        codes = [
            {"index": int(r["idx"]), "coder": str(r["name"]), "code": r["code"], "skipped": bool(r["skipped"]),
             "note": str(r["note"]), "source": str(r["source"]), "updated_at": float(r["updated_at"])}
            for r in self.db.execute(
                "SELECT c.*, k.name FROM codes c JOIN coders k ON k.id = c.coder_id WHERE c.run_id = ?"
                " ORDER BY c.idx, k.name",
                (run_id,),
            )
        ]  # fmt: skip
        decided = [
            {"index": int(r["idx"]), "code": str(r["code"]), "note": str(r["note"]), "decided_by": str(r["decided_by"])}
            for r in self.db.execute("SELECT * FROM adjudications WHERE run_id = ? ORDER BY idx", (run_id,))
        ]
        return {"format": "hearth-run-codes", "version": 1, "codebook": self.codebook(run_id).to_dict(),
                "codes": codes, "adjudications": decided}  # fmt: skip

    def from_document(self, run_id: int, data: Any) -> int:
        """Stores an archive's codes.json into the run (all or nothing); returns the codes stored."""
        if not isinstance(data, dict) or data.get("format") != "hearth-run-codes":
            raise HearthError("The archive's codes are not in Hearth's format.")
        codebook = Codebook.from_dict(data.get("codebook"))
        rows = set(self.row_indices(run_id))
        entries = [_entry(item, rows) for item in _list(data.get("codes"))]
        decisions = [_decision(item, rows) for item in _list(data.get("adjudications"))]
        coder_ids = {name: self.coder_id(name) for name in {e[1] for e in entries}}
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO codebooks (run_id, codebook_json, updated_at) VALUES (?, ?, ?)",
                (run_id, json.dumps(codebook.to_dict(), ensure_ascii=False), now),
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO codes (run_id, idx, coder_id, code, skipped, note, source, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, idx, coder_ids[name], code, int(skipped), note, source, now, now)
                 for idx, name, code, skipped, note, source in entries],
            )  # fmt: skip
            self.db.executemany(
                "INSERT OR REPLACE INTO adjudications (run_id, idx, code, note, decided_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, idx, code, note, by, now, now) for idx, code, note, by in decisions],
            )
        return len(entries)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise HearthError("The archive's codes are not a list.")
    return value


def _entry(item: Any, rows: set[int]) -> tuple[int, str, str | None, bool, str, str]:
    try:
        index = int(item["index"])
        name = check_coder_name(str(item["coder"]))
        code = None if item.get("code") is None else _clip(str(item["code"]), MAX_CODE)
        entry = (index, name, code, bool(item.get("skipped")), _clip(str(item.get("note", "")), MAX_NOTE),
                 _clip(str(item.get("source", "archive")), MAX_NAME))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        raise HearthError("A code in the archive does not read.") from None
    if index not in rows:
        raise HearthError(f"The archive has a code for row {index}, which the run does not have.")
    return entry


def _decision(item: Any, rows: set[int]) -> tuple[int, str, str, str]:
    try:
        index = int(item["index"])
        decision = (index, _clip(str(item["code"]), MAX_CODE), _clip(str(item.get("note", "")), MAX_NOTE),
                    _clip(str(item.get("decided_by", "")), MAX_NAME))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        raise HearthError("An adjudicated code in the archive does not read.") from None
    if index not in rows:
        raise HearthError(f"The archive decides row {index}, which the run does not have.")
    return decision


def _code(row: sqlite3.Row) -> CodeRecord:
    return CodeRecord(
        int(row["idx"]), str(row["name"]), row["code"], bool(row["skipped"]), str(row["note"]), str(row["source"]),
        float(row["updated_at"]),
    )  # fmt: skip


# -- agreement --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceCheck:
    """The model's codes against the reference (adjudicated codes where decided)."""

    n: int  # rows with a reference
    adjudicated: int
    accuracy: AgreementEstimate

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "adjudicated": self.adjudicated, "accuracy": self.accuracy.to_dict()}


@dataclass(frozen=True)
class BootstrapInfo:
    samples: int
    seed: int
    resampled: str = "rows"


@dataclass
class AgreementReport:
    """Every pair of raters, all the human coders together, and the model against the reference."""

    run_id: int
    level: str
    codebook: Codebook
    raters: list[str]
    rows: int
    coded: dict[str, int]  # codes given, per rater
    pairs: list[PairAgreement]
    coders: GroupAgreement | None  # None: fewer than two human coders
    bootstrap: BootstrapInfo
    reference: ReferenceCheck | None = None  # None: the model is not among the raters

    def to_dict(self) -> dict[str, Any]:
        """As `hearth coding agreement --json` prints it and a run archive holds it."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "level": self.level,
            "codebook": self.codebook.to_dict(),
            "raters": self.raters,
            "rows": self.rows,
            "coded": self.coded,
            "pairs": [p.to_dict() for p in self.pairs],
            "coders": self.coders.to_dict() if self.coders else None,
            "bootstrap": asdict(self.bootstrap),
        }
        if self.reference is not None:
            data["reference"] = self.reference.to_dict()
        return data


def agreement(
    store: CodeStore, run_id: int, level: str | None = None, samples: int | None = None, seed: int | None = None
) -> AgreementReport:
    """The run's agreement report: every pair of raters (the model named ``model``), all the
    human coders together, and the model's accuracy against the reference (adjudicated codes
    where decided). Numbers with seeded bootstrap 95% intervals."""
    from desktop_app.core.runs import agreement as stats
    from desktop_app.core.runs.stats import wilson

    codebook = store.codebook(run_id)
    level = level or ("ordinal" if codebook.ordered else "nominal")  # a scale is ordered
    if level not in stats.LEVELS:
        raise HearthError(f"“{level}” is not a level of measurement.", f"Use one of: {', '.join(stats.LEVELS)}.")
    options: dict[str, int] = {}
    if samples is not None:
        options["samples"] = samples
    if seed is not None:
        options["seed"] = seed
    order = codebook.names
    raters = store.rater_codes(run_id)
    named = list(zip(raters.names, raters.codes, strict=True))
    pairs = [
        stats.pair_agreement(a, b, a_codes, b_codes, level, order, **options)
        for (a, a_codes), (b, b_codes) in itertools.combinations(named, 2)
    ]
    humans = [(name, codes) for name, codes in named if name != MODEL]
    group = (
        stats.group_agreement([n for n, _c in humans], [c for _n, c in humans], level, order, **options)
        if len(humans) >= 2
        else None
    )
    report = AgreementReport(
        run_id=run_id,
        level=level,
        codebook=codebook,
        raters=raters.names,
        rows=len(raters.indices),
        coded={name: sum(c is not None for c in codes) for name, codes in named},
        pairs=pairs,
        coders=group,
        bootstrap=BootstrapInfo(
            options.get("samples", stats.BOOTSTRAP_SAMPLES), options.get("seed", stats.BOOTSTRAP_SEED)
        ),
    )
    if MODEL in raters.names:
        refs = store.references(run_id)
        decided = store.adjudications(run_id)
        model = raters.codes[raters.names.index(MODEL)]
        scored = [(code, refs.get(idx)) for idx, code in zip(raters.indices, model, strict=True) if refs.get(idx)]
        correct = sum(code == ref for code, ref in scored)
        low, high = wilson(correct, len(scored))
        accuracy = stats.AgreementEstimate(None)  # nothing scored: no interval either
        if scored:
            accuracy = stats.AgreementEstimate(correct / len(scored), low, high)
        report.reference = ReferenceCheck(len(scored), len(decided), accuracy)
    return report


# -- in a run archive (core/runs/exchange.py) -------------------------------------------------------

ARCHIVE_MEMBER = "codes.json"
MAX_ARCHIVE_CODES_BYTES = 256 * 1024 * 1024


def write_archive_codes(store: RunStore, run_id: int, archive: zipfile.ZipFile) -> None:
    """The run's codebook, codes, adjudications and agreement report as ``codes.json`` (nothing
    when no one has coded the run)."""
    codes = CodeStore(store)
    document = codes.to_document(run_id)
    if not document["codes"] and not document["adjudications"]:
        return
    if len(codes.rater_codes(run_id).names) >= 2:
        document["agreement"] = agreement(codes, run_id).to_dict()
    archive.writestr(ARCHIVE_MEMBER, json.dumps(document, indent=1, ensure_ascii=False))


def read_archive_codes(archive: zipfile.ZipFile) -> Any:
    """An archive's ``codes.json``, parsed (None when it has none); checked when stored."""
    try:
        info = archive.getinfo(ARCHIVE_MEMBER)
    except KeyError:
        return None
    if info.file_size > MAX_ARCHIVE_CODES_BYTES:
        raise HearthError("The archive's human codes are too large to be real.", "Export the run again with Hearth.")
    try:
        return json.loads(archive.read(info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise HearthError("The archive's human codes (codes.json) do not read.", "Export the run again.") from None


def restore_archive_codes(store: RunStore, run_id: int, document: Any) -> None:
    if document is not None:
        CodeStore(store).from_document(run_id, document)
