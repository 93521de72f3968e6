"""Reading a dataset: CSV/TSV (delimiter and encoding detected), JSONL, XLSX.

:func:`open_dataset` reads the whole file once to check it (every row has as many fields as
the header, every JSONL line is an object, there is at least one row) and to take its sha256
and row count; a file that fails is refused in plain words before anything is run or stored.
Rows are then read again lazily, one at a time (:meth:`Dataset.rows`): a 10,000-row file is
never held in memory.

A row is a dict of column name to text. A JSONL row keeps only the keys it has, so a template
field missing from one row is told apart from an empty value (the row fails, the run goes on).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from desktop_app.core import safe_zip
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.parsers import UnreadableDocument
from desktop_app.core.rag.parsers.text import BOMS, decode_text

ID_COLUMNS = ("id", "row_id", "ID", "Id")
_SNIFF_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"

Row = dict[str, str]


@dataclass(frozen=True)
class Dataset:
    path: Path
    format: str  # "csv" | "tsv" | "jsonl" | "xlsx"
    columns: list[str]
    n_rows: int
    sha256: str
    size: int
    encoding: str = ""  # text formats only
    delimiter: str = ""  # csv/tsv only
    id_column: str | None = None  # the column that names each row, when there is one

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self) -> Iterator[tuple[int, Row]]:
        """(index, row) for every data row, in file order, read lazily."""
        if self.format == "jsonl":
            yield from _jsonl_rows(self.path, self.encoding)
        elif self.format == "xlsx":
            yield from _xlsx_rows(self.path, self.columns)
        else:
            yield from _csv_rows(self.path, self.encoding, self.delimiter, self.columns)

    def preview(self, n: int = 5) -> list[Row]:
        """The first ``n`` rows (what the user sees before running)."""
        out: list[Row] = []
        for _index, row in self.rows():
            if len(out) >= n:
                break
            out.append(row)
        return out

    def row_key(self, index: int, row: Row) -> str:
        """The row's name in results: its id column when there is one, else its index."""
        if self.id_column and row.get(self.id_column, "").strip():
            return row[self.id_column].strip()
        return str(index)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["name"] = self.name
        return data


def _refuse(path: Path, message: str, hint: str = "") -> HearthError:
    return HearthError(f"“{path.name}” cannot be used as a dataset: {message}", hint)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_dataset(path: str | Path, id_column: str | None = None) -> Dataset:
    """Checks and describes the dataset at ``path``; HearthError in plain words if it cannot be used."""
    path = Path(path).expanduser()
    if not path.exists():
        raise HearthError(f"There is no file at “{path}”.", "Check the path.")
    if path.is_dir():
        raise HearthError(f"“{path}” is a folder, not a dataset file.", "Choose a CSV, TSV, JSONL or XLSX file.")
    size = path.stat().st_size
    if size == 0:
        raise _refuse(path, "the file is empty.")
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if suffix == ".xlsx" or (head.startswith(_ZIP_MAGIC) and suffix not in (".csv", ".tsv", ".jsonl", ".txt")):
        dataset = _open_xlsx(path, size)
    else:
        if head.startswith(_ZIP_MAGIC):
            raise _refuse(path, "it is a compressed (zip) file, not text.", "Save it as CSV, or as XLSX.")
        encoding = _detect_encoding(path, head)
        if suffix in (".jsonl", ".ndjson") or (suffix not in (".csv", ".tsv", ".tab") and _looks_like_jsonl(head)):
            dataset = _open_jsonl(path, size, encoding)
        else:
            dataset = _open_csv(path, size, encoding, suffix)
    return _with_id_column(dataset, id_column)


def _with_id_column(dataset: Dataset, wanted: str | None) -> Dataset:
    if wanted:
        if wanted not in dataset.columns:
            raise HearthError(
                f"The dataset has no column “{wanted}” to name its rows.", f"Its columns: {', '.join(dataset.columns)}."
            )
        chosen: str | None = wanted
    else:
        chosen = next((c for c in ID_COLUMNS if c in dataset.columns), None)
    return Dataset(
        dataset.path, dataset.format, dataset.columns, dataset.n_rows, dataset.sha256, dataset.size,
        dataset.encoding, dataset.delimiter, chosen,
    )  # fmt: skip


# -- text: encoding ---------------------------------------------------------------------------------


def _detect_encoding(path: Path, head: bytes) -> str:
    """A BOM, else UTF-8 if the whole file decodes as UTF-8, else what charset-normalizer finds."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:
        raise _refuse(path, "it is binary data, not text.", "Choose a CSV, TSV, JSONL or XLSX file.")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        _text, encoding = decode_text(path.read_bytes())
    except UnreadableDocument:
        raise _refuse(path, "it is binary data, not text.", "Choose a CSV, TSV, JSONL or XLSX file.") from None
    return encoding


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    # newline="" lets the csv module see quoted line breaks; errors are impossible after detection,
    # but a file changed since is read with replacement characters rather than crashing a run.
    return open(path, encoding=encoding, errors="replace", newline="")


# -- CSV / TSV --------------------------------------------------------------------------------------


def _sniff_delimiter(sample: str, suffix: str) -> str:
    if suffix in (".tsv", ".tab"):
        return "\t"
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        # One column, or too little text to tell: the delimiter that the header uses most.
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _header(path: Path, raw: list[str]) -> list[str]:
    columns = [(name.strip() or f"column {i + 1}") for i, name in enumerate(raw)]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise _refuse(
                path, f"the column name “{name}” appears twice in the header.", "Give each column its own name."
            )
        seen.add(name)
    return columns


def _open_csv(path: Path, size: int, encoding: str, suffix: str) -> Dataset:
    with _open_text(path, encoding) as fh:
        sample = fh.read(_SNIFF_BYTES)
    delimiter = _sniff_delimiter(sample, suffix)
    n_rows = 0
    columns: list[str] = []
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for record in reader:
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank lines
                if not columns:
                    columns = _header(path, record)
                    continue
                if len(record) != len(columns):
                    line = reader.line_num
                    raise _refuse(
                        path,
                        f"line {line} has {len(record)} fields but the header has {len(columns)} columns.",
                        "Every row needs one value per column (quote values that contain the delimiter).",
                    )
                n_rows += 1
        except csv.Error as exc:
            raise _refuse(path, f"it is not valid CSV near line {reader.line_num} ({exc}).") from None
    if not columns:
        raise _refuse(path, "it has no header row.")
    if n_rows == 0:
        raise _refuse(path, "it has a header but no rows.")
    fmt = "tsv" if delimiter == "\t" else "csv"
    return Dataset(path, fmt, columns, n_rows, sha256_of(path), size, encoding, delimiter)


def _csv_rows(path: Path, encoding: str, delimiter: str, columns: list[str]) -> Iterator[tuple[int, Row]]:
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header_seen = False
        index = 0
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue
            if not header_seen:
                header_seen = True
                continue
            # A file changed after it was checked: pad or cut rather than shift values between columns.
            values = (record + [""] * len(columns))[: len(columns)]
            yield index, dict(zip(columns, values, strict=True))
            index += 1


# -- JSONL ------------------------------------------------------------------------------------------


def _looks_like_jsonl(head: bytes) -> bool:
    return head.lstrip().startswith(b"{")


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _open_jsonl(path: Path, size: int, encoding: str) -> Dataset:
    columns: dict[str, None] = {}
    n_rows = 0
    with _open_text(path, encoding) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise _refuse(path, f"line {line_no} is not valid JSON ({exc.args[0]}).") from None
            if not isinstance(record, dict):
                raise _refuse(path, f"line {line_no} is not a JSON object.", "Each line must be one object: {…}.")
            for key in record:
                columns.setdefault(str(key), None)
            n_rows += 1
    if n_rows == 0:
        raise _refuse(path, "it has no rows.")
    if not columns:
        raise _refuse(path, "its objects have no fields.")
    return Dataset(path, "jsonl", list(columns), n_rows, sha256_of(path), size, encoding)


def _jsonl_rows(path: Path, encoding: str) -> Iterator[tuple[int, Row]]:
    with _open_text(path, encoding) as fh:
        index = 0
        for line in fh:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {}
            if not isinstance(record, dict):
                record = {}
            yield index, {str(k): _text_value(v) for k, v in record.items()}
            index += 1


# -- XLSX -------------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _open_xlsx(path: Path, size: int) -> Dataset:
    columns: list[str] = []
    n_rows = 0
    for i, cells in enumerate(_xlsx_values(path)):
        if i == 0:
            columns = _header(path, _trim([_cell_text(cells.get(c)) for c in range(max(cells) + 1)]))
        elif any(_cell_text(v).strip() for v in cells.values()):
            n_rows += 1
    if not columns:
        raise _refuse(path, "its first sheet is empty.")
    if n_rows == 0:
        raise _refuse(path, "its first sheet has a header but no rows.")
    return Dataset(path, "xlsx", columns, n_rows, sha256_of(path), size)


def _trim(cells: list[str]) -> list[str]:
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _xlsx_values(path: Path) -> Iterator[dict[int, Any]]:
    """The first sheet's rows that hold a value, from the header on, each as {column index:
    value} of the cells present. Only what the sheet really contains is read: the dimension it
    declares (``A1:XFD1048576`` would be 17 billion cells) and the gaps between row numbers are
    never filled in. A damaged workbook is refused in plain words."""
    import zipfile

    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            safe_zip.check_all(archive)
        book = load_workbook(path, read_only=True, data_only=True)
    except safe_zip.ZipTooLarge as exc:
        raise _refuse(path, exc.message, exc.hint) from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _refuse(path, f"it is not a readable XLSX workbook ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a damaged workbook
        raise _damaged(path, exc) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return
        started = False
        for cells in _present_rows(sheet):
            started = started or any(_cell_text(v).strip() for v in cells.values())
            if started:
                yield cells
    except HearthError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or damaged sheet raises anything
        raise _damaged(path, exc) from None
    finally:
        book.close()


def _damaged(path: Path, exc: BaseException) -> HearthError:
    why = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return _refuse(
        path, f"the workbook is damaged and its first sheet cannot be read ({why}).", "Open it in a spreadsheet "
        "program and save it again, or save it as CSV."
    )


def _present_rows(sheet: Any) -> Iterator[dict[int, Any]]:
    """The rows the sheet's XML holds, as openpyxl parses them (its read-only worksheet pads every
    row to the declared width and fills every missing row, which a hostile file makes endless)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    book = sheet.parent
    with sheet._get_source() as source:
        parser = WorkSheetParser(
            source, sheet._shared_strings, data_only=book.data_only, epoch=book.epoch,
            date_formats=book._date_formats, timedelta_formats=book._timedelta_formats,
        )  # fmt: skip
        for _number, row in parser.parse():
            cells = {int(cell["column"]) - 1: cell["value"] for cell in row if cell["value"] is not None}
            if cells:
                yield cells


def _xlsx_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, Row]]:
    index = 0
    for i, cells in enumerate(_xlsx_values(path)):
        if i == 0 or not any(_cell_text(v).strip() for v in cells.values()):
            continue
        yield index, {name: _cell_text(cells.get(c)) for c, name in enumerate(columns)}
        index += 1
