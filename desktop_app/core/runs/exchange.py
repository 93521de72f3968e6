"""A run out of Hearth and back in: CSV per row with its JSON manifest, or one archive.

- :func:`export_csv` writes one line per row (its inputs, output, reference, score, tokens,
  time, seed, prompt) and the manifest beside it (``results.csv`` -> ``results.manifest.json``).
- :func:`export_archive` writes a zip holding the manifest, every stored field of every row
  (``rows.jsonl``), the CSV, and the dataset file itself: another Hearth imports it with
  :func:`import_archive` and can show, compare and replay the run.

Files are written beside the target and moved into place, so a full disk never leaves half a
file; rows are streamed from SQLite, never all held in memory.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from desktop_app.core import paths
from desktop_app.core.atomic_files import write_error, write_json_atomically
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import coding
from desktop_app.core.runs.provenance import MANIFEST_FORMAT, MANIFEST_VERSION
from desktop_app.core.runs.storage import RowResult, RunRecord, RunStore
from desktop_app.core.runs.summary import summarize

ARCHIVE_FORMAT = "hearth-run-archive"
ROW_COLUMNS = [
    "id", "index", "output", "reference", "valid", "correct", "score", "error", "finish", "seed",
    "prompt_tokens", "gen_tokens", "seconds", "cited", "flagged", "source_hit", "prompt",
]  # fmt: skip


@contextlib.contextmanager
def _atomic(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """A file written beside ``path`` and moved onto it once complete; plain-words errors."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with open(tmp, "xb" if binary else "x", **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _bool_text(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _input_columns(record: RunRecord) -> list[str]:
    from desktop_app.core.runs.tasks import template_fields

    return template_fields(str(record.task.get("prompt", "")))


def _write_csv(store: RunStore, record: RunRecord, fh: IO[str]) -> int:
    inputs = _input_columns(record)
    writer = csv.writer(fh)
    writer.writerow(ROW_COLUMNS[:2] + [f"input:{name}" for name in inputs] + ROW_COLUMNS[2:])
    count = 0
    for row in store.iter_rows(record.id):
        writer.writerow(
            [row.key, row.index, *(row.inputs.get(name, "") for name in inputs), row.output,
             "" if row.reference is None else row.reference, _bool_text(row.valid), _bool_text(row.correct),
             "" if row.score is None else row.score, row.error, row.finish, row.seed, row.prompt_tokens,
             row.gen_tokens, round(row.seconds, 4), _bool_text(row.cited), _bool_text(row.flagged),
             _bool_text(row.source_hit), row.prompt]
        )  # fmt: skip
        count += 1
    return count


def full_manifest(store: RunStore, record: RunRecord) -> dict[str, Any]:
    """The stored manifest with the run's task, status and results (what is exported)."""
    data = dict(record.manifest)
    data["run"] = record.to_dict()
    data["task"] = record.task
    data["summary"] = summarize(store, record.id, record).to_dict()
    return data


def manifest_path_for(path: Path) -> Path:
    return path.with_name(path.stem + ".manifest.json")


def export_csv(store: RunStore, run_id: int, path: Path) -> tuple[Path, Path]:
    """The rows as CSV at ``path`` and the manifest beside it; returns both paths."""
    record = store.get(run_id)
    with _atomic(path) as fh:
        _write_csv(store, record, fh)
    manifest = manifest_path_for(path)
    write_json_atomically(manifest, full_manifest(store, record))
    return path, manifest


def export_archive(store: RunStore, run_id: int, path: Path) -> Path:
    record = store.get(run_id)
    dataset = Path(record.dataset_path)
    manifest = full_manifest(store, record)
    manifest["archive"] = {"format": ARCHIVE_FORMAT, "version": MANIFEST_VERSION, "dataset_file": None}
    with _atomic(path, binary=True) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("rows.jsonl", "w") as out:
            for row in store.iter_rows(run_id):
                out.write((json.dumps(row.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
        with archive.open("results.csv", "w") as out_bytes:
            text = io.TextIOWrapper(out_bytes, encoding="utf-8", newline="")
            _write_csv(store, record, text)
            text.flush()
            text.detach()
        if dataset.is_file():
            name = f"dataset/{dataset.name}"
            archive.write(dataset, name)
            manifest["archive"]["dataset_file"] = name
        coding.write_archive_codes(store, run_id, archive)  # human codes, if any (core/runs/coding.py)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return path


def export(store: RunStore, run_id: int, path: Path) -> list[Path]:
    """By the file's extension: ``.zip`` an archive, ``.json`` the manifest, else CSV + manifest."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return [export_archive(store, run_id, path)]
    if suffix == ".json":
        write_json_atomically(path, full_manifest(store, store.get(run_id)))
        return [path]
    return list(export_csv(store, run_id, path))


def _bad_archive(path: Path, why: str) -> HearthError:
    return HearthError(f"“{path.name}” is not a run exported by Hearth: {why}.", "Export the run again with Hearth.")


def import_archive(store: RunStore, path: Path) -> int:
    """Adds the run in the archive at ``path`` as a new run; returns its id. Nothing is stored
    unless all of it reads."""
    if not path.is_file():
        raise HearthError(f"There is no file at “{path}”.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise _bad_archive(path, "it is not a zip archive") from None
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except KeyError:
            raise _bad_archive(path, "it has no manifest.json") from None
        except ValueError:
            raise _bad_archive(path, "its manifest is not valid JSON") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise _bad_archive(path, "its manifest is not a run manifest")
        if int(manifest.get("version", 0)) > MANIFEST_VERSION:
            raise HearthError(f"“{path.name}” was made by a newer Hearth.", "Update Hearth to import it.")
        try:
            run, task = manifest["run"], manifest["task"]
            rows = [
                RowResult.from_dict(json.loads(line))
                for line in archive.read("rows.jsonl").decode("utf-8").splitlines()
                if line.strip()
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_archive(path, f"its rows do not read ({exc})") from None
        codes = coding.read_archive_codes(archive)
        dataset_path = Path(str(manifest.get("dataset", {}).get("path", "")))
        sha256 = str(run.get("dataset_sha256", ""))
        member = (manifest.get("archive") or {}).get("dataset_file")
        if member:
            data = archive.read(member)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise _bad_archive(path, "its dataset file does not match the manifest's sha256")
            folder = paths.home() / "runs" / sha256[:16]
            folder.mkdir(parents=True, exist_ok=True)
            dataset_path = folder / Path(member).name  # the name only: never a path from the archive
            if not dataset_path.exists():
                dataset_path.write_bytes(data)
    status = "done" if len(rows) >= int(run.get("n", 0)) else "paused"
    for key in ("run", "summary", "archive"):
        manifest.pop(key, None)
    manifest["imported_from"] = {"file": str(path), "run_id": run.get("run_id")}
    run_id = store.create(
        str(run.get("title", path.stem)), int(run.get("n", len(rows))), str(run.get("kind", "text")),
        str(dataset_path), sha256, str(run.get("model", "")), run.get("model_sha256"), task, manifest,
        status=status, created_at=float(run.get("created_at") or 0) or None,
    )  # fmt: skip
    try:
        store.add_rows(run_id, rows)
        coding.restore_archive_codes(store, run_id, codes)
    except Exception:
        store.delete(run_id)
        raise
    return run_id
