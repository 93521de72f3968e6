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
import dataclasses
import hashlib
import io
import json
import math
import os
import types
import typing
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from desktop_app.core import paths, safe_zip
from desktop_app.core.atomic_files import write_error, write_json_atomically
from desktop_app.core.csv_cells import safe_row
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import coding
from desktop_app.core.runs.manifest import MANIFEST_FORMAT, MANIFEST_VERSION, RunManifest
from desktop_app.core.runs.storage import RowResult, RunRecord, RunStore
from desktop_app.core.runs.summary import summarize
from desktop_app.core.runs.tasks import Task, template_fields

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
    return template_fields(record.task.prompt)


def _write_csv(store: RunStore, record: RunRecord, fh: IO[str]) -> int:
    inputs = _input_columns(record)
    writer = csv.writer(fh)
    writer.writerow(safe_row(ROW_COLUMNS[:2] + [f"input:{name}" for name in inputs] + ROW_COLUMNS[2:]))
    count = 0
    for row in store.iter_rows(record.id):
        writer.writerow(safe_row(
            [row.key, row.index, *(row.inputs.get(name, "") for name in inputs), row.output,
             "" if row.reference is None else row.reference, _bool_text(row.valid), _bool_text(row.correct),
             "" if row.score is None else row.score, row.error, row.finish, row.seed, row.prompt_tokens,
             row.gen_tokens, round(row.seconds, 4), _bool_text(row.cited), _bool_text(row.flagged),
             _bool_text(row.source_hit), row.prompt]
        ))  # fmt: skip
        count += 1
    return count


def full_manifest(store: RunStore, record: RunRecord) -> dict[str, Any]:
    """The stored manifest with the run's task, status and results (what is exported)."""
    data = record.manifest.to_dict()
    data["run"] = record.to_dict()
    data["task"] = record.task.to_dict()
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
        from desktop_app.core.runs.methods import methods as methods_text

        archive.writestr("methods.md", methods_text(store, run_id))  # the methods section (core/runs/methods.py)
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


_INT64 = 2**63 - 1


def _type_error(value: Any, hint: Any) -> str | None:
    """None when ``value`` (from JSON) has the type ``hint`` names, else what is wrong. Numbers
    must be finite and fit SQLite's integers; a bool is not a number."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if any(_type_error(value, option) is None for option in options):
            return None
        return f"{_json_type(value)} where {' or '.join(_type_name(o) for o in options)} was expected"
    if hint is type(None):
        return None if value is None else f"{_json_type(value)} where nothing was expected"
    if hint is bool:
        return None if isinstance(value, bool) else f"{_json_type(value)} where true or false was expected"
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _INT64:
            return None
        return f"{_json_type(value)} where a whole number was expected"
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return None if abs(value) <= 1e300 else "a number too large"
        return f"{_json_type(value)} where a number was expected"
    if hint is str:
        return None if isinstance(value, str) else f"{_json_type(value)} where text was expected"
    if origin is list or hint is list:
        if not isinstance(value, list):
            return f"{_json_type(value)} where a list was expected"
        (item,) = typing.get_args(hint) or (Any,)
        return next((f"in the list, {e}" for v in value if (e := _type_error(v, item))), None)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return f"{_json_type(value)} where an object was expected"
        _key, item = typing.get_args(hint) or (str, Any)
        return next((f"in “{k}”, {e}" for k, v in value.items() if (e := _type_error(v, item))), None)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _fields_error(value, hint)
    return None  # pragma: no cover - every field type used is handled above


def _fields_error(value: Any, cls: type) -> str | None:
    """What is wrong with ``value`` as the JSON of dataclass ``cls`` (fields it lacks take their
    defaults, or fail when built)."""
    if not isinstance(value, dict):
        return f"{_json_type(value)} where an object was expected"
    hints = typing.get_type_hints(cls)
    for key, field_value in value.items():
        if key in hints and (error := _type_error(field_value, hints[key])):
            return f"“{key}” is {error}"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float) and not math.isfinite(value):
        return "an endless number (Infinity or NaN)"
    if isinstance(value, int) and abs(value) > _INT64:
        return "a number too large to store"
    if isinstance(value, int | float):
        return "a number"
    return {str: "text", list: "a list", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _type_name(hint: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "nothing"}
    return names.get(hint, "an object" if typing.get_origin(hint) is dict else "a list")


# The manifest's "run" as exported (RunRecord.to_dict): the keys import reads, with their types.
_RUN_KEYS: dict[str, Any] = {
    "title": str, "n": int, "kind": str, "dataset_sha256": str, "model": str, "model_sha256": str | None,
    "created_at": float | None, "run_id": int | None,
}  # fmt: skip


_MANIFEST_KEYS: dict[str, Any] = {
    "run": dict, "task": dict, "dataset": dict | None, "archive": dict | None, "model": dict | None,
    "documents": dict | None, "seed": int | None,
}  # fmt: skip
_MODEL_KEYS: dict[str, Any] = {
    "kind": str | None, "name": str | None, "path": str | None, "sha256": str | None, "quant": str | None,
    "load": dict[str, int | float | bool | None] | None,
}  # fmt: skip


def _check_manifest(path: Path, manifest: Any) -> None:
    """Refuses, in one plain line, a manifest whose parts have the wrong type."""
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise _bad_archive(path, "its manifest is not a run manifest")
    version = manifest.get("version", 0)
    if _type_error(version, int) is not None:
        raise _bad_archive(path, f"its manifest's “version” is {_json_type(version)}, not a whole number")
    if version > MANIFEST_VERSION:
        raise HearthError(f"“{path.name}” was made by a newer Hearth.", "Update Hearth to import it.")
    for key, kind in _MANIFEST_KEYS.items():
        if key not in manifest and kind is dict:
            raise _bad_archive(path, f"its manifest has no “{key}”")
        if (error := _type_error(manifest.get(key), kind)) is not None:
            raise _bad_archive(path, f"its manifest's “{key}” is {error}")
    run = manifest["run"]
    for key, kind in _RUN_KEYS.items():
        if key in run and (error := _type_error(run[key], kind)) is not None:
            raise _bad_archive(path, f"its run's “{key}” is {error}")
    if run.get("n", 0) < 0:
        raise _bad_archive(path, "its run's “n” is negative")
    if (error := _fields_error(manifest["task"], Task)) is not None:
        raise _bad_archive(path, f"its task's {error}")
    if _type_error(manifest["task"].get("prompt"), str) is not None:
        raise _bad_archive(path, "its task has no prompt")
    model = manifest.get("model") or {}
    for key, kind in _MODEL_KEYS.items():
        if key in model and (error := _type_error(model[key], kind)) is not None:
            raise _bad_archive(path, f"its model's “{key}” is {error}")
    if (error := _type_error((manifest.get("documents") or {}).get("k"), int | None)) is not None:
        raise _bad_archive(path, f"its documents' “k” is {error}")
    for key in ("path", "sha256"):
        if (error := _type_error((manifest.get("dataset") or {}).get(key, ""), str)) is not None:
            raise _bad_archive(path, f"its dataset's “{key}” is {error}")
    member = (manifest.get("archive") or {}).get("dataset_file")
    if (error := _type_error(member, str | None)) is not None:
        raise _bad_archive(path, f"its archive's “dataset_file” is {error}")


_REQUIRED_ROW_FIELDS = [
    f.name
    for f in dataclasses.fields(RowResult)
    if f.name != "key" and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
]


def _read_rows(path: Path, archive: zipfile.ZipFile) -> list[RowResult]:
    """Every row of ``rows.jsonl``, each checked field by field against RowResult's types."""
    try:
        info = archive.getinfo("rows.jsonl")
    except KeyError:
        raise _bad_archive(path, "it has no rows.jsonl") from None
    safe_zip.check_member(info)
    rows: list[RowResult] = []
    with archive.open(info) as fh:
        for number, raw in enumerate(io.TextIOWrapper(fh, encoding="utf-8"), start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                raise _bad_archive(path, f"line {number} of its rows is not valid JSON") from None
            error = _fields_error(data, RowResult)
            key = data.get("id") if isinstance(data, dict) else None
            if error is None and (isinstance(key, bool) or _type_error(key, str | int) is not None):
                error = "“id” is missing, or not text or a whole number"
            if error is None:
                missing = [name for name in _REQUIRED_ROW_FIELDS if name not in data]
                error = f"“{missing[0]}” is missing" if missing else None
            if error is not None:
                raise _bad_archive(path, f"row {number} of its rows does not read: {error}")
            try:
                rows.append(RowResult.from_dict(data))
            except (KeyError, TypeError, ValueError) as exc:  # a required field missing
                raise _bad_archive(path, f"row {number} of its rows does not read ({exc})") from None
    return rows


def import_archive(store: RunStore, path: Path) -> int:
    """Adds the run in the archive at ``path`` as a new run; returns its id. Nothing is stored
    unless all of it reads: the manifest and every row are checked by type first, and each
    member's unpacked size before it is read (a run archive may be a zip bomb)."""
    if not path.is_file():
        raise HearthError(f"There is no file at “{path}”.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise _bad_archive(path, "it is not a zip archive") from None
    with archive:
        try:
            manifest = json.loads(safe_zip.read_member(archive, "manifest.json", 64 * 1024 * 1024))
        except KeyError:
            raise _bad_archive(path, "it has no manifest.json") from None
        except ValueError:
            raise _bad_archive(path, "its manifest is not valid JSON") from None
        except safe_zip.ZipTooLarge as exc:
            raise _bad_archive(path, f"{exc.message[0].lower()}{exc.message[1:-1]}") from None
        _check_manifest(path, manifest)
        run, task = manifest["run"], manifest["task"]
        try:
            rows = _read_rows(path, archive)
        except safe_zip.ZipTooLarge as exc:
            raise _bad_archive(path, f"{exc.message[0].lower()}{exc.message[1:-1]}") from None
        except (UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
            raise _bad_archive(path, f"its rows do not read ({exc})") from None
        codes = coding.read_archive_codes(archive)  # human codes, if any (core/runs/coding.py)
        dataset_path = Path(str((manifest.get("dataset") or {}).get("path", "")))
        sha256 = str(run.get("dataset_sha256", ""))
        member = (manifest.get("archive") or {}).get("dataset_file")
        if member:
            try:
                data = safe_zip.read_member(archive, member)
            except KeyError:
                raise _bad_archive(path, "its dataset file is missing") from None
            except safe_zip.ZipTooLarge as exc:
                raise _bad_archive(path, f"{exc.message[0].lower()}{exc.message[1:-1]}") from None
            except (zipfile.BadZipFile, EOFError) as exc:
                raise _bad_archive(path, f"its dataset file does not read ({exc})") from None
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
        str(dataset_path), sha256, str(run.get("model", "")), run.get("model_sha256"), Task.from_dict(task),
        RunManifest.from_dict(manifest),
        status=status, created_at=float(run.get("created_at") or 0) or None,
    )  # fmt: skip
    try:
        store.add_rows(run_id, rows)
        coding.restore_archive_codes(store, run_id, codes)
    except Exception:
        store.delete(run_id)
        raise
    return run_id
